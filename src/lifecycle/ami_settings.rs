//! What `verify` checks of the profile's `ami:` settings and the build's architecture, read
//! from DescribeImages.

use aws_sdk_ec2::types::Image;

use crate::config::ami::{AmiSettings, Protection};
use crate::config::{Architecture, Backing};

/// How `img` differs from what the profile asks, one line each.
pub fn differences(
    img: &Image,
    a: &AmiSettings,
    arch: Option<Architecture>,
    backing: Backing,
) -> Vec<String> {
    let mut d = Vec::new();
    let mut expect = |what: &str, want: &str, got: Option<&str>| {
        if got != Some(want) {
            d.push(format!(
                "{what} is {}, expected {want}",
                got.unwrap_or("not set")
            ));
        }
    };
    if let Some(arch) = arch {
        expect(
            "architecture",
            arch.as_str(),
            img.architecture().map(|x| x.as_str()),
        );
    }
    if a.imds_support.is_some() {
        expect(
            "imds support",
            "v2.0",
            img.imds_support().map(|x| x.as_str()),
        );
    }
    if let Some(mode) = a.boot_mode {
        expect(
            "boot mode",
            mode.as_str(),
            img.boot_mode().map(|x| x.as_str()),
        );
    }
    if let Some(ena) = a.ena_support {
        let got = img.ena_support().unwrap_or(false);
        expect("ENA support", bool_str(ena), Some(bool_str(got)));
    }
    if a.tpm_support.is_some() {
        expect("TPM support", "v2.0", img.tpm_support().map(|x| x.as_str()));
    }
    if backing == Backing::Ebs {
        d.extend(root_volume(img, a));
    }
    if a.deprecate_after.is_some() && img.deprecation_time().is_none() {
        d.push("no deprecation time, expected one (ami.deprecate_after)".into());
    }
    d.extend(protection(img, a));
    d
}

fn bool_str(b: bool) -> &'static str {
    if b { "true" } else { "false" }
}

/// The root volume's type and size against `ami.root_volume`.
fn root_volume(img: &Image, a: &AmiSettings) -> Vec<String> {
    let Some(want) = &a.root_volume else {
        return Vec::new();
    };
    let root = img.root_device_name();
    let ebs = img
        .block_device_mappings()
        .iter()
        .find(|m| m.device_name().is_some() && m.device_name() == root)
        .and_then(|m| m.ebs());
    let mut d = Vec::new();
    if let Some(t) = &want.volume_type {
        let got = ebs.and_then(|e| e.volume_type()).map(|v| v.as_str());
        if got != Some(t.as_str()) {
            d.push(format!(
                "root volume type is {}, expected {t}",
                got.unwrap_or("unknown")
            ));
        }
    }
    if let Some(size) = want.size {
        let got = ebs.and_then(|e| e.volume_size());
        if got != Some(size) {
            d.push(format!(
                "root volume size is {}, expected {size} GiB",
                got.map_or("unknown".to_string(), |g| format!("{g} GiB"))
            ));
        }
    }
    d
}

/// Deregistration protection: EC2 says `enabled-without-cooldown`, `enabled-with-cooldown`,
/// `disabled` or `disabled-until <time>`.
fn protection(img: &Image, a: &AmiSettings) -> Option<String> {
    let want = match a.deregistration_protection? {
        Protection::Disabled => "disabled",
        Protection::Enabled => "enabled-without-cooldown",
        Protection::EnabledWithCooldown => "enabled-with-cooldown",
    };
    let got = img.deregistration_protection().unwrap_or("disabled");
    // `disabled-until <time>` is disabled, with its cooldown running.
    let same = got == want || (want == "disabled" && got.starts_with("disabled"));
    (!same).then(|| format!("deregistration protection is {got}, expected {want}"))
}
