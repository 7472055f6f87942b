//! The profile's `registry:` section: where versions are recorded, the channels, and the SSM
//! parameter names deployments read.

use std::path::Path;

use super::template::Template;
use super::{Diagnostics, Located, Profile, Seg, rules};

/// The placeholders of `registry.ssm_parameter`.
pub const PARAMETER_PLACEHOLDERS: &[&str] = &[
    "artifact",
    "channel",
    "release",
    "release_dotted",
    "virt",
    "virtualization",
    "arch",
];

/// Checks the registry section, if there is one; returns its parameter-name template.
pub fn check(path: &Path, p: &Located<Profile>, diags: &mut Diagnostics) -> Option<Template> {
    let r = p.value.registry.as_ref()?;
    let at = |key: &'static str| p.line(&[Seg::Key("registry"), Seg::Key(key)]);
    if let Err(e) = rules::check_bucket_name(&r.bucket) {
        diags.push(path, at("bucket"), format!("registry.bucket: {e}"), None);
    }
    if !rules::is_known_region(&r.region) {
        diags.push(
            path,
            at("region"),
            format!("registry.region: unknown region \"{}\"", r.region),
            Some("the region of the registry's bucket, e.g. us-east-1".into()),
        );
    }
    if let Err(e) = check_name(&r.artifact) {
        diags.push(path, at("artifact"), format!("registry.artifact {e}"), None);
    }
    for name in r.channels.keys() {
        if let Err(e) = check_name(name) {
            let line = p.key_line(&[Seg::Key("registry"), Seg::Key("channels")], name);
            diags.push(path, line, format!("registry.channels: channel {e}"), None);
        }
    }
    if let Some(bus) = &r.event_bus
        && (bus.is_empty() || bus.len() > 256)
    {
        diags.push(
            path,
            at("event_bus"),
            "registry.event_bus is empty or too long",
            None,
        );
    }
    let template = match Template::parse_with(&r.ssm_parameter, PARAMETER_PLACEHOLDERS) {
        Ok(t) => t,
        Err(e) => {
            diags.push(
                path,
                at("ssm_parameter"),
                format!("registry.ssm_parameter: {e} in \"{}\"", r.ssm_parameter),
                Some(format!(
                    "placeholders are {{{}}}",
                    PARAMETER_PLACEHOLDERS.join("}, {")
                )),
            );
            return None;
        }
    };
    let multi_arch = p.value.architectures.len() > 1;
    match check_parameter_template(&template, &r.artifact, multi_arch) {
        Ok(()) => Some(template),
        Err(e) => {
            diags.push(
                path,
                at("ssm_parameter"),
                format!("registry.ssm_parameter {e}"),
                None,
            );
            None
        }
    }
}

/// Artifact and channel names: what S3 keys, SSM parameter names and people read alike.
fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && name.as_bytes()[0].is_ascii_alphanumeric();
    if ok {
        Ok(())
    } else {
        Err(format!(
            "\"{name}\" must be 1 to 64 lowercase letters, digits, '-' or '_', starting with a letter or digit"
        ))
    }
}

/// A parameter template must name one parameter per channel, release, virtualization type
/// and (when the profile builds several) architecture, and render names SSM accepts: a
/// hierarchy (`/a/b`) of letters, digits and `_.-`, at most 15 levels and 1011 characters, not
/// under the reserved `/aws` and `/ssm`.
fn check_parameter_template(t: &Template, artifact: &str, multi_arch: bool) -> Result<(), String> {
    let needs = [
        ("channel", t.uses("channel")),
        ("release", t.uses("release") || t.uses("release_dotted")),
        ("virt", t.uses("virt") || t.uses("virtualization")),
        ("arch", t.uses("arch") || !multi_arch),
    ];
    if let Some((missing, _)) = needs.iter().find(|(_, used)| !used) {
        let dimensions = if multi_arch {
            "channel, release, virtualization type and architecture"
        } else {
            "channel, release and virtualization type"
        };
        return Err(format!(
            "must use {{{missing}}}: each {dimensions} needs a parameter of its own"
        ));
    }
    let sample = t.render_by(|name| match name {
        "artifact" => artifact.to_string(),
        "channel" => "stable".into(),
        "release" => "1404".into(),
        "release_dotted" => "14.04".into(),
        "virt" => "pv".into(),
        "arch" => "x86_64".into(),
        _ => "paravirtual".into(),
    });
    check_parameter_name(&sample).map_err(|e| format!("renders \"{sample}\", which {e}"))
}

/// SSM's rules for a hierarchical parameter name.
pub fn check_parameter_name(name: &str) -> Result<(), String> {
    if !name.starts_with('/') {
        return Err("must start with '/' (a hierarchy, e.g. /comboami/stable/...)".into());
    }
    if name.len() > 1011 {
        return Err("is longer than SSM's 1011 characters".into());
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '/')))
    {
        return Err(format!(
            "holds '{c}'; SSM allows letters, digits, '_', '.', '-' and '/'"
        ));
    }
    if name.split('/').filter(|s| !s.is_empty()).count() > 15 {
        return Err("has more than SSM's 15 levels".into());
    }
    if name.contains("//") || name.ends_with('/') {
        return Err("has an empty level".into());
    }
    let first = name[1..]
        .split('/')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    if first.starts_with("aws") || first.starts_with("ssm") {
        return Err("starts with aws or ssm, which AWS reserves".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameter_names_follow_ssm_rules() {
        assert!(check_parameter_name("/comboami/stable/1404/hvm/ami-id").is_ok());
        assert!(
            check_parameter_name("comboami/x")
                .unwrap_err()
                .contains("start with '/'")
        );
        assert!(
            check_parameter_name("/aws/service/x")
                .unwrap_err()
                .contains("reserves")
        );
        assert!(check_parameter_name("/a/b c").unwrap_err().contains("' '"));
        assert!(
            check_parameter_name("/a//b")
                .unwrap_err()
                .contains("empty level")
        );
        let deep = "/a".repeat(16);
        assert!(
            check_parameter_name(&deep)
                .unwrap_err()
                .contains("15 levels")
        );
    }

    #[test]
    fn a_template_without_the_channel_would_share_parameters() {
        let t =
            Template::parse_with("/{artifact}/{release}/{virt}", PARAMETER_PLACEHOLDERS).unwrap();
        assert!(
            check_parameter_template(&t, "comboami", false)
                .unwrap_err()
                .contains("{channel}")
        );
        let one_arch = Template::parse_with(
            "/{artifact}/{channel}/{release}/{virt}",
            PARAMETER_PLACEHOLDERS,
        )
        .unwrap();
        assert!(
            check_parameter_template(&one_arch, "comboami", true)
                .unwrap_err()
                .contains("{arch}")
        );
        let t = Template::parse_with(
            super::super::RegistrySettings::DEFAULT_PARAMETER,
            PARAMETER_PLACEHOLDERS,
        )
        .unwrap();
        assert!(check_parameter_template(&t, "comboami", false).is_ok());
    }
}
