//! Configuration: the regions file and a publishing profile, parsed and checked together.
//!
//! Every problem in either file is collected and reported at once (exit code 2), each with the
//! file and line it stands on, before anything else happens.

pub mod ami;
mod architecture;
mod diagnostics;
mod profile;
mod regions;
pub mod registry;
pub mod rules;
pub mod signing;
pub mod template;
pub mod yaml;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use ami::AmiSettings;
pub use architecture::{Architecture, PerArch};
pub use diagnostics::{Diagnostic, Diagnostics};
pub use profile::{
    Backing, Bundle, ChannelSettings, CopySettings, LaunchPermissions, Profile, Provision,
    RegistrySettings, SourceSettings, Strategy, Timeouts,
};
pub use regions::{RegionEntry, RegionsFile};
pub use signing::SigningMaterial;
pub use template::{Template, Vars};
pub use yaml::{Located, Seg};

/// An EC2 virtualization type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Virtualization {
    /// `paravirtual`, written `pv` in build names.
    Paravirtual,
    /// `hvm`.
    Hvm,
}

impl Virtualization {
    /// The type ami_ids.json names: `hvm`, or `paravirtual` (`pv` in files older amipubs
    /// wrote).
    pub fn parse(s: &str) -> Option<Virtualization> {
        match s {
            "hvm" => Some(Virtualization::Hvm),
            "paravirtual" | "pv" => Some(Virtualization::Paravirtual),
            _ => None,
        }
    }

    /// The EC2 name: `paravirtual` or `hvm`.
    pub fn as_str(self) -> &'static str {
        match self {
            Virtualization::Paravirtual => "paravirtual",
            Virtualization::Hvm => "hvm",
        }
    }

    /// The short name used in build names: `pv` or `hvm`.
    pub fn short(self) -> &'static str {
        match self {
            Virtualization::Paravirtual => "pv",
            Virtualization::Hvm => "hvm",
        }
    }
}

/// The parsed templates of a profile.
#[derive(Debug, Clone)]
pub struct Templates {
    /// AMI name.
    pub ami_name: Template,
    /// AMI description.
    pub description: Template,
    /// Staging bucket name.
    pub bucket: Template,
    /// Provisioning environment values.
    pub env: BTreeMap<String, Template>,
    /// Tag values.
    pub tags: BTreeMap<String, Template>,
    /// The registry's SSM parameter names, when the profile has a registry.
    pub ssm_parameter: Option<Template>,
}

/// A loaded, checked configuration.
pub struct Config {
    /// Where the profile was read from.
    pub profile_path: PathBuf,
    /// Where the regions file was read from.
    pub regions_path: PathBuf,
    /// The profile, with positions for messages.
    pub profile: Located<Profile>,
    /// The regions file, with positions for messages.
    pub regions: Located<RegionsFile>,
    /// The provisioning script, resolved against the profile's directory.
    pub script: PathBuf,
    /// Launch-permission account IDs, checked.
    pub accounts: Vec<String>,
    /// The profile's templates, parsed.
    pub templates: Templates,
}

impl Config {
    /// The profile's values.
    pub fn p(&self) -> &Profile {
        &self.profile.value
    }
}

/// Loads and checks `profile_path` and `regions_path`, returning every problem found.
pub fn load(profile_path: &Path, regions_path: &Path) -> Result<Config, Diagnostics> {
    load_inner(profile_path, None, (regions_path, None))
}

/// As [`load`], with the profile's text given (as it will be once edited) instead of read from
/// `profile_path`, which still names it in messages and anchors its relative paths.
pub fn load_text(
    profile_path: &Path,
    profile_text: &str,
    regions: (&Path, Option<&str>),
) -> Result<Config, Diagnostics> {
    load_inner(profile_path, Some(profile_text), regions)
}

/// The profile and the regions file each checked on its own, without the checks that tie one
/// to the other: what `sources update` needs, which fills the regions file with what the
/// profile builds (a release the file does not have yet is what it is for).
pub fn load_separately(
    profile_path: &Path,
    regions_path: &Path,
) -> Result<(Located<Profile>, Located<RegionsFile>), Diagnostics> {
    let mut diags = Diagnostics::default();
    let regions = yaml::load::<RegionsFile>(regions_path, "regions file", &mut diags);
    let profile = yaml::load::<Profile>(profile_path, "profile", &mut diags);
    if let Some(r) = &regions {
        check_regions(regions_path, r, &mut diags);
    }
    match (regions, profile) {
        (Some(r), Some(p)) if diags.is_empty() => Ok((p, r)),
        _ => Err(diags),
    }
}

fn load_inner(
    profile_path: &Path,
    profile_text: Option<&str>,
    (regions_path, regions_text): (&Path, Option<&str>),
) -> Result<Config, Diagnostics> {
    let mut diags = Diagnostics::default();
    let regions = match regions_text {
        Some(text) => yaml::parse::<RegionsFile>(regions_path, text, &mut diags),
        None => yaml::load::<RegionsFile>(regions_path, "regions file", &mut diags),
    };
    let profile = match profile_text {
        Some(text) => yaml::parse::<Profile>(profile_path, text, &mut diags),
        None => yaml::load::<Profile>(profile_path, "profile", &mut diags),
    };
    if let Some(r) = &regions {
        check_regions(regions_path, r, &mut diags);
    }
    let (Some(regions), Some(profile)) = (regions, profile) else {
        return Err(diags);
    };
    let checked = check_profile(profile_path, &profile, &regions, &mut diags);
    match checked {
        Some((script, accounts, templates)) if diags.is_empty() => Ok(Config {
            profile_path: profile_path.to_path_buf(),
            regions_path: regions_path.to_path_buf(),
            profile,
            regions,
            script,
            accounts,
            templates,
        }),
        _ => Err(diags),
    }
}

fn check_regions(path: &Path, r: &Located<RegionsFile>, diags: &mut Diagnostics) {
    for (name, entry) in &r.value.regions {
        if !rules::is_known_region(name) {
            diags.push(
                path,
                r.key_line(&[Seg::Key("regions")], name),
                format!("unknown region \"{name}\""),
                Some(format!("use an AWS region name: {}", suggest_region(name))),
            );
        }
        if let Some(reason) = &entry.disabled
            && reason.trim().is_empty()
        {
            diags.push(
                path,
                r.line(&[Seg::Key("regions"), Seg::Key(name), Seg::Key("disabled")]),
                format!("region \"{name}\" is disabled without a reason"),
                Some("say why it is disabled, so that `plan` can tell its users".into()),
            );
        }
        for (release, by_virt) in &entry.amis {
            for (virt, ids) in by_virt {
                for (arch, id) in ids.iter() {
                    let Err(e) = rules::check_ami_id(id) else {
                        continue;
                    };
                    let mut at = vec![
                        Seg::Key("regions"),
                        Seg::Key(name),
                        Seg::Key("amis"),
                        Seg::Key(release),
                        Seg::Key(virt.as_str()),
                    ];
                    let mut label = String::new();
                    if matches!(ids, PerArch::Each(_)) {
                        at.push(Seg::Key(arch.as_str()));
                        label = format!(" {arch}");
                    }
                    diags.push(
                        path,
                        r.line(&at),
                        format!("{name} {release} {}{label}: {e}", virt.as_str()),
                        Some("copy the upstream AMI ID exactly as the EC2 console shows it".into()),
                    );
                }
            }
        }
    }
}

fn suggest_region(name: &str) -> String {
    let close: Vec<&str> = rules::KNOWN_REGIONS
        .iter()
        .copied()
        .filter(|k| {
            let prefix = name.split('-').next().unwrap_or("");
            !prefix.is_empty() && k.starts_with(prefix)
        })
        .collect();
    if close.is_empty() {
        rules::KNOWN_REGIONS.join(", ")
    } else {
        close.join(", ")
    }
}

type Checked = (PathBuf, Vec<String>, Templates);

fn check_profile(
    path: &Path,
    p: &Located<Profile>,
    regions: &Located<RegionsFile>,
    diags: &mut Diagnostics,
) -> Option<Checked> {
    check_identity(path, p, diags);
    let templates = parse_templates(path, p, diags);
    check_names(path, p, diags);
    let script = resolve_script(path, p, diags);
    let accounts = check_permissions(path, p, diags);
    check_lists(path, p, regions, diags);
    check_instance_store(path, p, diags);
    check_timeouts(path, p, diags);
    check_copies(path, p, diags);
    ami::check(path, p, diags);
    let ssm_parameter = registry::check(path, p, diags);
    let mut templates = templates?;
    templates.ssm_parameter = ssm_parameter;
    Some((script, accounts, templates))
}

/// Version, branch and instance type.
fn check_identity(path: &Path, p: &Located<Profile>, diags: &mut Diagnostics) {
    let v = &p.value;
    for (field, value) in [("version", &v.version), ("branch", &v.branch)] {
        if value.trim().is_empty() || value.chars().any(char::is_whitespace) {
            diags.push(
                path,
                p.line(&[Seg::Key(field)]),
                format!("{field} \"{value}\" must be non-empty and contain no spaces"),
                None,
            );
        }
    }
    check_instance_types(path, p, diags);
}

/// Instance types: well-formed, and one per architecture when the profile builds several (an
/// instance type has one architecture).
fn check_instance_types(path: &Path, p: &Located<Profile>, diags: &mut Diagnostics) {
    let v = &p.value;
    for (arch, t) in v.instance_type.iter() {
        if let Err(e) = rules::check_instance_type(t) {
            let mut at = vec![Seg::Key("instance_type")];
            if matches!(v.instance_type, PerArch::Each(_)) {
                at.push(Seg::Key(arch.as_str()));
            }
            diags.push(path, p.line(&at), e, None);
        }
    }
    let line = p.line(&[Seg::Key("instance_type")]);
    match &v.instance_type {
        PerArch::One(t) if v.architectures.len() > 1 => diags.push(
            path,
            line,
            format!("instance_type \"{t}\" is one type for {} architectures", v.architectures.len()),
            Some("map each architecture to a type, e.g. instance_type: { x86_64: m5.large, arm64: m6g.large }".into()),
        ),
        PerArch::Each(m) => {
            for arch in v.architectures.iter().filter(|a| !m.contains_key(a)) {
                diags.push(
                    path,
                    line,
                    format!("instance_type names no type for {arch}, which the profile builds"),
                    Some(format!("add {arch}: <type> under instance_type")),
                );
            }
        }
        PerArch::One(_) => {}
    }
}

/// Every template of the profile, parsed; `None` when any has a problem (each is reported).
fn parse_templates(
    path: &Path,
    p: &Located<Profile>,
    diags: &mut Diagnostics,
) -> Option<Templates> {
    let v = &p.value;
    let mut template = |field: &'static str, at: Vec<Seg<'_>>, src: &str| match Template::parse(src)
    {
        Ok(t) => Some(t),
        Err(e) => {
            diags.push(
                path,
                p.line(&at),
                format!("{field}: {e} in \"{src}\""),
                Some(format!(
                    "placeholders are {}",
                    template::PLACEHOLDERS
                        .iter()
                        .map(|(n, _)| format!("{{{n}}}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            );
            None
        }
    };
    let ami_name = template("ami_name", vec![Seg::Key("ami_name")], &v.ami_name);
    let description = template("description", vec![Seg::Key("description")], &v.description);
    let bucket = template("bucket", vec![Seg::Key("bucket")], &v.bucket);
    let mut env = BTreeMap::new();
    for (k, val) in &v.provision.env {
        let at = vec![Seg::Key("provision"), Seg::Key("env"), Seg::Key(k)];
        if let Some(t) = template("provision.env", at, val) {
            env.insert(k.clone(), t);
        }
    }
    let mut tags = BTreeMap::new();
    for (k, val) in &v.tags {
        if let Some(t) = template("tags", vec![Seg::Key("tags"), Seg::Key(k)], val) {
            tags.insert(k.clone(), t);
        }
    }
    Some(Templates {
        ami_name: ami_name?,
        description: description?,
        bucket: bucket?,
        env,
        tags,
        ssm_parameter: None,
    })
}

/// Environment variable names and tag keys.
fn check_names(path: &Path, p: &Located<Profile>, diags: &mut Diagnostics) {
    let v = &p.value;
    for k in v.provision.env.keys() {
        if let Err(e) = rules::check_env_name(k) {
            let line = p.key_line(&[Seg::Key("provision"), Seg::Key("env")], k);
            diags.push(path, line, format!("provision.env: {e}"), None);
        }
    }
    for k in v.tags.keys() {
        if let Err(e) = rules::check_tag_key(k) {
            diags.push(path, p.key_line(&[Seg::Key("tags")], k), e, None);
        }
    }
}

/// The provisioning script, relative to the profile's directory; it must exist.
fn resolve_script(path: &Path, p: &Located<Profile>, diags: &mut Diagnostics) -> PathBuf {
    let v = &p.value;
    let script = path
        .parent()
        .unwrap_or(Path::new("."))
        .join(&v.provision.script);
    if !script.is_file() {
        diags.push(
            path,
            p.line(&[Seg::Key("provision"), Seg::Key("script")]),
            format!(
                "provisioning script \"{}\" does not exist (looked for {})",
                v.provision.script,
                script.display()
            ),
            Some("the path is relative to the profile's own directory".into()),
        );
    }
    script
}

/// Launch-permission groups and accounts; returns the accounts that are valid.
fn check_permissions(path: &Path, p: &Located<Profile>, diags: &mut Diagnostics) -> Vec<String> {
    let v = &p.value;
    let lp = Seg::Key("launch_permissions");
    for (i, g) in v.launch_permissions.groups.iter().enumerate() {
        if g != "all" {
            diags.push(
                path,
                p.line(&[lp, Seg::Key("groups"), Seg::Index(i)]),
                format!("launch permission group \"{g}\" does not exist"),
                Some("the only group is \"all\" (public); list accounts under accounts".into()),
            );
        }
    }
    let mut accounts = Vec::new();
    for (i, a) in v.launch_permissions.accounts.iter().enumerate() {
        let at = [lp, Seg::Key("accounts"), Seg::Index(i)];
        if p.unquoted(&at) && a.bytes().all(|b| b.is_ascii_digit()) {
            // Other YAML readers (and amipub's earlier versions) read it as a number, which
            // drops leading zeros: the file must say the same to every reader.
            diags.push(
                path,
                p.line(&at),
                format!("account ID {a} must be a quoted string"),
                Some("write it in quotes, e.g. \"012345678901\", so leading zeros survive".into()),
            );
            continue;
        }
        match rules::check_account_id(a) {
            Ok(()) => accounts.push(a.clone()),
            Err(e) => diags.push(path, p.line(&at), e, None),
        }
    }
    accounts
}

/// Releases, virtualizations and regions: no duplicates, none empty, each known.
fn check_lists(
    path: &Path,
    p: &Located<Profile>,
    regions: &Located<RegionsFile>,
    diags: &mut Diagnostics,
) {
    let v = &p.value;
    check_list_duplicates(path, p, "releases", &v.releases, diags);
    let virts: Vec<&str> = v.virtualizations.iter().map(|x| x.as_str()).collect();
    check_list_duplicates(path, p, "virtualizations", &virts, diags);
    check_list_duplicates(path, p, "regions", &v.regions, diags);
    let arches: Vec<&str> = v.architectures.iter().map(|x| x.as_str()).collect();
    check_list_duplicates(path, p, "architectures", &arches, diags);
    for (field, list_empty) in [
        ("releases", v.releases.is_empty()),
        ("virtualizations", v.virtualizations.is_empty()),
        ("architectures", v.architectures.is_empty()),
    ] {
        if list_empty {
            diags.push(
                path,
                p.line(&[Seg::Key(field)]),
                format!("{field} is empty"),
                None,
            );
        }
    }
    let known_releases: BTreeSet<&str> = regions
        .value
        .regions
        .values()
        .flat_map(|r| r.amis.keys().map(String::as_str))
        .collect();
    for (i, rel) in v.releases.iter().enumerate() {
        if !known_releases.contains(rel.as_str()) {
            let known: Vec<&str> = known_releases.iter().copied().collect();
            diags.push(
                path,
                p.line(&[Seg::Key("releases"), Seg::Index(i)]),
                format!("release \"{rel}\" has no source AMIs in the regions file"),
                Some(if known.is_empty() {
                    "the regions file has no releases yet: `amipub sources update --write` fills it from the upstream images".to_string()
                } else {
                    format!(
                        "releases there: {} (`amipub sources update --write` adds the upstream images of the others)",
                        known.join(", ")
                    )
                }),
            );
        }
    }
    for (i, region) in v.regions.iter().enumerate() {
        let at = [Seg::Key("regions"), Seg::Index(i)];
        if !rules::is_known_region(region) {
            diags.push(
                path,
                p.line(&at),
                format!("unknown region \"{region}\""),
                Some(format!(
                    "use an AWS region name: {}",
                    suggest_region(region)
                )),
            );
        } else if !regions.value.regions.contains_key(region) {
            diags.push(
                path,
                p.line(&at),
                format!("region \"{region}\" is not in the regions file"),
                Some("add its source AMIs to the regions file, or remove it here".into()),
            );
        }
    }
}

/// Timeouts: longer than zero, and within what presigned URLs and EC2 allow.
fn check_timeouts(path: &Path, p: &Located<Profile>, diags: &mut Diagnostics) {
    let t = &p.value.timeouts;
    if t.provision.is_zero() || t.image.is_zero() {
        diags.push(
            path,
            p.line(&[Seg::Key("timeouts")]),
            "timeouts must be longer than zero",
            None,
        );
    }
    // A build's presigned URLs last timeouts.provision and 5 minutes, and S3 takes no URL
    // valid for longer than 7 days; an image that takes a week is not coming.
    let week = std::time::Duration::from_secs(7 * 24 * 3600);
    for (name, value, max, why) in [
        (
            "provision",
            t.provision,
            week - std::time::Duration::from_secs(360),
            "S3's presigned URLs, which a build uses until it is provisioned, last at most 7 days",
        ),
        (
            "image",
            t.image,
            week,
            "an AMI that is not available within a week will not be",
        ),
    ] {
        if value > max {
            diags.push(
                path,
                p.line(&[Seg::Key("timeouts"), Seg::Key(name)]),
                format!(
                    "timeouts.{name} is {}, longer than the {} it may be",
                    humantime::format_duration(value),
                    humantime::format_duration(max)
                ),
                Some(why.into()),
            );
        }
    }
}

/// What an instance-store profile needs besides signing material (which is checked by the
/// commands that publish, because `plan` must work without it).
fn check_instance_store(path: &Path, p: &Located<Profile>, diags: &mut Diagnostics) {
    let v = &p.value;
    match (v.backing, &v.iam_instance_profile) {
        (Backing::InstanceStore, None) => diags.push(
            path,
            p.line(&[Seg::Key("backing")]),
            "instance-store builds need iam_instance_profile",
            Some(
                "name the instance profile whose role may upload the bundle, e.g. \
                 iam_instance_profile: amipub-bundler (README, \"Instance-store builds\")"
                    .into(),
            ),
        ),
        (_, Some(name)) => {
            if let Err(e) = rules::check_instance_profile(name) {
                diags.push(path, p.line(&[Seg::Key("iam_instance_profile")]), e, None);
            }
        }
        _ => {}
    }
    if v.backing == Backing::Ebs && (v.bundle.command.is_some() || v.bundle.upload.is_some()) {
        diags.push(
            path,
            p.line(&[Seg::Key("bundle")]),
            "bundle applies to instance-store builds only, and this profile is ebs",
            Some("remove bundle, or set backing: instance-store".into()),
        );
    }
    for (key, cmd) in [("command", &v.bundle.command), ("upload", &v.bundle.upload)] {
        if cmd.as_deref().is_some_and(|c| c.trim().is_empty()) {
            diags.push(
                path,
                p.line(&[Seg::Key("bundle"), Seg::Key(key)]),
                format!("bundle.{key} is empty"),
                Some("remove it to use the default command".into()),
            );
        }
    }
}

fn check_list_duplicates<S: AsRef<str>>(
    path: &Path,
    p: &Located<Profile>,
    field: &'static str,
    items: &[S],
    diags: &mut Diagnostics,
) {
    let mut seen = HashSet::new();
    for (i, item) in items.iter().enumerate() {
        if !seen.insert(item.as_ref()) {
            diags.push(
                path,
                p.line(&[Seg::Key(field), Seg::Index(i)]),
                format!(
                    "{field} lists \"{}\" twice, which would make duplicate build names",
                    item.as_ref()
                ),
                Some("remove the repeated entry".into()),
            );
        }
    }
}

/// Copy mode: a known home region, sane bounds, KMS keys only for EBS images in known regions.
fn check_copies(path: &Path, p: &Located<Profile>, diags: &mut Diagnostics) {
    let v = &p.value;
    if let Some(home) = &v.home_region
        && !rules::is_known_region(home)
    {
        diags.push(
            path,
            p.line(&[Seg::Key("home_region")]),
            format!("home_region: unknown region \"{home}\""),
            Some(format!("use an AWS region name: {}", suggest_region(home))),
        );
    }
    if !(1..=50).contains(&v.copies.max_per_region) {
        diags.push(
            path,
            p.line(&[Seg::Key("copies"), Seg::Key("max_per_region")]),
            format!(
                "copies.max_per_region is {}; it must be from 1 to 50",
                v.copies.max_per_region
            ),
            Some(
                "AWS lets a region take a limited number of concurrent copies; 5 is the default"
                    .into(),
            ),
        );
    }
    for region in v.copies.kms_keys.keys() {
        if !rules::is_known_region(region) {
            let line = p.key_line(&[Seg::Key("copies"), Seg::Key("kms_keys")], region);
            diags.push(
                path,
                line,
                format!("copies.kms_keys: unknown region \"{region}\""),
                None,
            );
        }
    }
    if !v.copies.kms_keys.is_empty() && v.launch_permissions.groups.iter().any(|g| g == "all") {
        diags.push(
            path,
            p.line(&[Seg::Key("copies"), Seg::Key("kms_keys")]),
            "copies.kms_keys encrypts the copies, and AWS does not let an AMI with encrypted snapshots be made public",
            Some("remove kms_keys, or publish privately (launch_permissions.accounts)".into()),
        );
    }
    if !v.copies.kms_keys.is_empty() && v.backing == Backing::InstanceStore {
        diags.push(
            path,
            p.line(&[Seg::Key("copies"), Seg::Key("kms_keys")]),
            "copies.kms_keys encrypts EBS snapshots, and this profile is instance-store",
            Some("remove kms_keys, or set backing: ebs".into()),
        );
    }
}
