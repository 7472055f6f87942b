//! `{placeholder}` templates used by AMI names, descriptions, bucket names, tags and the
//! provisioning environment.

use std::fmt;

/// The placeholders a template may use, and what each renders to.
pub const PLACEHOLDERS: &[(&str, &str)] = &[
    ("version", "the profile's version, e.g. 2.6.2"),
    ("branch", "the profile's branch, e.g. 2.6"),
    ("region", "the build's region, e.g. us-east-1"),
    (
        "release",
        "the OS release as keyed in regions.yaml, e.g. 1404",
    ),
    ("release_dotted", "the OS release with a dot, e.g. 14.04"),
    ("virt", "pv or hvm"),
    ("virtualization", "paravirtual or hvm"),
    ("arch", "the architecture, x86_64 or arm64"),
    ("build", "the build name, e.g. us-east-1-1404-pv"),
];

/// A parsed template: literal text and placeholder names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template(Vec<Part>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Var(String),
}

/// Why a template cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateError {
    /// `{name}` where name is not a known placeholder.
    Unknown(String),
    /// A `{` without its `}`, or a lone `}`.
    Unbalanced,
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TemplateError::Unknown(n) => write!(f, "unknown placeholder {{{n}}}"),
            TemplateError::Unbalanced => {
                write!(
                    f,
                    "unbalanced braces (write {{{{ and }}}} for literal braces)"
                )
            }
        }
    }
}

/// The values placeholders render to for one build.
#[derive(Debug, Clone, Default)]
pub struct Vars<'a> {
    /// `{version}`
    pub version: &'a str,
    /// `{branch}`
    pub branch: &'a str,
    /// `{region}`
    pub region: &'a str,
    /// `{release}`
    pub release: &'a str,
    /// `{virt}` short form; `{virtualization}` is derived from it.
    pub virt: Option<super::Virtualization>,
    /// `{arch}`.
    pub arch: Option<super::Architecture>,
    /// `{build}`
    pub build: &'a str,
}

impl Template {
    /// Parses `src`, rejecting unknown placeholders and unbalanced braces.
    pub fn parse(src: &str) -> Result<Template, TemplateError> {
        let names: Vec<&str> = PLACEHOLDERS.iter().map(|(n, _)| *n).collect();
        Template::parse_with(src, &names)
    }

    /// Parses `src`, whose placeholders must be among `allowed`.
    pub fn parse_with(src: &str, allowed: &[&str]) -> Result<Template, TemplateError> {
        let mut parts = Vec::new();
        let mut text = String::new();
        let mut chars = src.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    text.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    text.push('}');
                }
                '{' => {
                    let mut name = String::new();
                    loop {
                        match chars.next() {
                            Some('}') => break,
                            Some('{') | None => return Err(TemplateError::Unbalanced),
                            Some(c) => name.push(c),
                        }
                    }
                    let name = name.trim().to_string();
                    if !allowed.contains(&name.as_str()) {
                        return Err(TemplateError::Unknown(name));
                    }
                    if !text.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut text)));
                    }
                    parts.push(Part::Var(name));
                }
                '}' => return Err(TemplateError::Unbalanced),
                c => text.push(c),
            }
        }
        if !text.is_empty() {
            parts.push(Part::Text(text));
        }
        Ok(Template(parts))
    }

    /// Renders with `vars`.
    pub fn render(&self, vars: &Vars<'_>) -> String {
        self.render_with(vars, |s| s.to_string())
    }

    /// Renders with each placeholder's value given by `value`.
    pub fn render_by(&self, value: impl Fn(&str) -> String) -> String {
        let mut out = String::new();
        for part in &self.0 {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Var(name) => out.push_str(&value(name)),
            }
        }
        out
    }

    /// Whether the template uses the placeholder `name`.
    pub fn uses(&self, name: &str) -> bool {
        self.0
            .iter()
            .any(|p| matches!(p, Part::Var(n) if n == name))
    }

    /// Renders for an S3 bucket name: placeholder values are lowercased and their dots become
    /// hyphens, because a bucket name with dots breaks HTTPS certificate checks and the
    /// bundle upload tool (see README, "Staging buckets"). Literal text is kept as written so
    /// that validation still catches a dot typed into the template itself.
    pub fn render_bucket(&self, vars: &Vars<'_>) -> String {
        self.render_with(vars, |s| s.to_ascii_lowercase().replace('.', "-"))
    }

    fn render_with(&self, vars: &Vars<'_>, map: impl Fn(&str) -> String) -> String {
        let mut out = String::new();
        for part in &self.0 {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Var(name) => out.push_str(&map(&value(name, vars))),
            }
        }
        out
    }
}

fn value(name: &str, v: &Vars<'_>) -> String {
    match name {
        "version" => v.version.to_string(),
        "branch" => v.branch.to_string(),
        "region" => v.region.to_string(),
        "release" => v.release.to_string(),
        "release_dotted" => dotted_release(v.release),
        "virt" => v.virt.map(|x| x.short()).unwrap_or_default().to_string(),
        "virtualization" => v.virt.map(|x| x.as_str()).unwrap_or_default().to_string(),
        "arch" => v.arch.map(|x| x.as_str()).unwrap_or_default().to_string(),
        "build" => v.build.to_string(),
        _ => String::new(),
    }
}

/// `1404` -> `14.04`; anything not four digits is returned unchanged.
pub fn dotted_release(release: &str) -> String {
    if release.len() == 4 && release.bytes().all(|b| b.is_ascii_digit()) {
        format!("{}.{}", &release[..2], &release[2..])
    } else {
        release.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Virtualization;

    fn vars() -> Vars<'static> {
        Vars {
            version: "2.6.2",
            branch: "2.6",
            region: "us-east-1",
            release: "1404",
            virt: Some(Virtualization::Paravirtual),
            arch: Some(crate::config::Architecture::X86_64),
            build: "us-east-1-1404-pv",
        }
    }

    #[test]
    fn renders_every_placeholder() {
        let t = Template::parse(
            "{version} {branch} {region} {release} {release_dotted} {virt} {virtualization} {arch} {build}",
        )
        .unwrap();
        assert_eq!(
            t.render(&vars()),
            "2.6.2 2.6 us-east-1 1404 14.04 pv paravirtual x86_64 us-east-1-1404-pv"
        );
    }

    #[test]
    fn bucket_rendering_replaces_dots_in_values_only() {
        let t = Template::parse("comboami-{version}-{region}").unwrap();
        assert_eq!(t.render_bucket(&vars()), "comboami-2-6-2-us-east-1");
        let t = Template::parse("a.{version}").unwrap();
        assert_eq!(t.render_bucket(&vars()), "a.2-6-2");
    }

    #[test]
    fn escaped_braces_are_literal() {
        let t = Template::parse("{{x}} {version}").unwrap();
        assert_eq!(t.render(&vars()), "{x} 2.6.2");
    }

    #[test]
    fn unknown_placeholder_is_rejected() {
        assert_eq!(
            Template::parse("x-{verison}"),
            Err(TemplateError::Unknown("verison".into()))
        );
    }

    #[test]
    fn unbalanced_braces_are_rejected() {
        assert_eq!(
            Template::parse("x-{version"),
            Err(TemplateError::Unbalanced)
        );
        assert_eq!(Template::parse("x-}"), Err(TemplateError::Unbalanced));
    }

    #[test]
    fn dotted_release_only_touches_four_digits() {
        assert_eq!(dotted_release("1204"), "12.04");
        assert_eq!(dotted_release("jammy"), "jammy");
    }
}
