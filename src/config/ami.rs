//! The profile's `ami:` section: settings every published AMI gets at creation, which `verify`
//! checks afterwards.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Backing, Diagnostics, Located, Profile, Seg, Virtualization};

/// The `ami:` section.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AmiSettings {
    /// `v2.0`: instances launched from the AMI require IMDSv2 tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imds_support: Option<ImdsSupport>,
    /// The boot mode instances of the AMI use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_mode: Option<BootMode>,
    /// Enhanced networking with ENA.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ena_support: Option<bool>,
    /// `v2.0`: NitroTPM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tpm_support: Option<TpmSupport>,
    /// The root volume of EBS images.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_volume: Option<RootVolume>,
    /// How long after publishing EC2 marks the AMI deprecated (EnableImageDeprecation).
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub deprecate_after: Option<Duration>,
    /// Whether the AMI can be deregistered only after protection is turned off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deregistration_protection: Option<Protection>,
}

/// IMDS versions an AMI may require.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum ImdsSupport {
    /// IMDSv2 only.
    #[serde(rename = "v2.0")]
    V2,
}

/// EC2 boot modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BootMode {
    /// BIOS.
    LegacyBios,
    /// UEFI.
    Uefi,
    /// UEFI where the instance type supports it, else BIOS.
    UefiPreferred,
}

impl BootMode {
    /// EC2's name.
    pub fn as_str(self) -> &'static str {
        match self {
            BootMode::LegacyBios => "legacy-bios",
            BootMode::Uefi => "uefi",
            BootMode::UefiPreferred => "uefi-preferred",
        }
    }
}

/// NitroTPM versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum TpmSupport {
    /// TPM 2.0.
    #[serde(rename = "v2.0")]
    V2,
}

/// Deregistration protection of published AMIs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Protection {
    /// Off (AWS's default).
    Disabled,
    /// On; turning it off allows deregistering at once.
    Enabled,
    /// On; after turning it off, deregistering waits 24 hours.
    EnabledWithCooldown,
}

/// Type and size of an EBS image's root volume.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RootVolume {
    /// gp3, gp2, io1, io2, st1, sc1 or standard.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub volume_type: Option<String>,
    /// Size in GiB (at least the source image's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<i32>,
    /// Provisioned IOPS (io1 and io2 need it; gp3 may have it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iops: Option<i32>,
}

/// EBS volume types a root volume may have, with the sizes EC2 accepts (GiB); st1 and sc1
/// cannot boot (EBS user guide, "Amazon EBS volume types").
pub const VOLUME_TYPES: &[(&str, i32, i32)] = &[
    ("gp3", 1, 65536),
    ("gp2", 1, 16384),
    ("io1", 4, 16384),
    ("io2", 4, 65536),
    ("standard", 1, 1024),
];

const DAY: u64 = 24 * 3600;
/// `2y` as written in profiles (humantime's years are 365.25 days).
const TWO_YEARS: Duration = Duration::from_secs(2 * 36525 * DAY / 100);
/// `10y` as written in profiles.
const TEN_YEARS: Duration = Duration::from_secs(10 * 36525 * DAY / 100);

/// The latest deprecation time EC2 accepts: two years from its creation for a public AMI, ten
/// years from now for others (user guide, "Deprecate an Amazon EC2 AMI"; amipub counts both
/// from the creation, which is sooner). Calendar years are at least 365 days, so 730 and 3650
/// days are always within it, whatever leap days fall between.
pub fn deprecation_cap(public: bool) -> Duration {
    Duration::from_secs(if public { 730 } else { 3650 } * DAY)
}

/// How long after its creation an AMI is deprecated: `after`, capped to what EC2 accepts.
pub fn deprecation_delay(after: Duration, public: bool) -> Duration {
    after.min(deprecation_cap(public))
}

/// The section's values against each other and the profile: what EC2 would refuse, said before
/// anything is launched.
pub(super) fn check(path: &std::path::Path, p: &Located<Profile>, diags: &mut Diagnostics) {
    let v = &p.value;
    let a = &v.ami;
    let line = |key: &'static str| p.line(&[Seg::Key("ami"), Seg::Key(key)]);
    let mut refuse = |key: &'static str, msg: String, hint: &str| {
        diags.push(path, line(key), msg, Some(hint.to_string()));
    };
    let ebs = v.backing == Backing::Ebs;
    if a.tpm_support.is_some() && a.boot_mode != Some(BootMode::Uefi) {
        refuse(
            "tpm_support",
            "ami.tpm_support needs ami.boot_mode: uefi (NitroTPM works only with UEFI)".into(),
            "add boot_mode: uefi, or remove tpm_support",
        );
    }
    if !ebs && matches!(a.boot_mode, Some(BootMode::Uefi | BootMode::UefiPreferred)) {
        refuse(
            "boot_mode",
            "ami.boot_mode: UEFI is not available to instance-store images".into(),
            "use backing: ebs, or boot_mode: legacy-bios",
        );
    }
    if v.virtualizations.contains(&Virtualization::Paravirtual)
        && (a.boot_mode.is_some_and(|m| m != BootMode::LegacyBios) || a.ena_support == Some(true))
    {
        refuse(
            if a.ena_support == Some(true) {
                "ena_support"
            } else {
                "boot_mode"
            },
            "ami: UEFI and ENA need HVM images, and the profile builds paravirtual ones".into(),
            "remove paravirtual from virtualizations, or the setting",
        );
    }
    check_root_volume(a, ebs, &mut refuse);
    check_deprecation(a, is_public(v), &mut refuse);
    if let Some(why) = arm64_problem(v) {
        diags.push(
            path,
            p.line(&[Seg::Key("architectures")]),
            why,
            Some(
                "build arm64 as hvm, backing: ebs, with boot_mode uefi (or unset), or remove arm64"
                    .into(),
            ),
        );
    }
}

/// arm64 instances boot UEFI only, from HVM images: no paravirtual, no instance-store (which
/// cannot boot UEFI) and no legacy BIOS.
fn arm64_problem(v: &Profile) -> Option<String> {
    if !v.architectures.contains(&super::Architecture::Arm64) {
        return None;
    }
    let mut why = Vec::new();
    if v.virtualizations.contains(&Virtualization::Paravirtual) {
        why.push("paravirtual images");
    }
    if v.backing == Backing::InstanceStore {
        why.push("instance-store images");
    }
    if v.ami.boot_mode == Some(BootMode::LegacyBios) {
        why.push("boot_mode: legacy-bios");
    }
    (!why.is_empty()).then(|| {
        format!(
            "architectures: arm64 instances boot only UEFI from HVM EBS images, and the profile asks for {}",
            why.join(", ")
        )
    })
}

/// Whether the profile's AMIs are public.
pub fn is_public(v: &Profile) -> bool {
    v.launch_permissions.groups.iter().any(|g| g == "all")
}

fn check_root_volume(
    a: &AmiSettings,
    ebs: bool,
    refuse: &mut impl FnMut(&'static str, String, &str),
) {
    let Some(root) = &a.root_volume else {
        return;
    };
    if !ebs {
        refuse(
            "root_volume",
            "ami.root_volume applies to EBS images; instance-store images have no EBS root".into(),
            "remove root_volume, or use backing: ebs",
        );
    }
    if root.iops.is_some() && root.volume_type.is_none() {
        refuse(
            "root_volume",
            "ami.root_volume.iops needs the volume's type (the source's may take none)".into(),
            "add type: gp3, io1 or io2",
        );
    }
    let kind = root.volume_type.as_deref().unwrap_or("gp3");
    let Some(&(_, min, max)) = VOLUME_TYPES.iter().find(|(t, ..)| *t == kind) else {
        let names: Vec<&str> = VOLUME_TYPES.iter().map(|(t, ..)| *t).collect();
        refuse(
            "root_volume",
            format!("ami.root_volume.type \"{kind}\" cannot be a root volume"),
            &format!("use one of {}", names.join(", ")),
        );
        return;
    };
    if let Some(size) = root.size
        && !(min..=max).contains(&size)
    {
        refuse(
            "root_volume",
            format!(
                "ami.root_volume.size {size} is outside {min}..{max} GiB, what EC2 allows a {kind} volume"
            ),
            "give the size in GiB, at least the source image's",
        );
    }
    let needs_iops = matches!(kind, "io1" | "io2");
    let takes_iops = needs_iops || kind == "gp3";
    if needs_iops && root.iops.is_none() || !takes_iops && root.iops.is_some() {
        refuse(
            "root_volume",
            format!(
                "ami.root_volume: a {kind} volume {} iops",
                if needs_iops { "needs" } else { "takes no" }
            ),
            "io1 and io2 need iops, gp3 may have it, the others take none",
        );
    }
}

fn check_deprecation(
    a: &AmiSettings,
    public: bool,
    refuse: &mut impl FnMut(&'static str, String, &str),
) {
    let Some(after) = a.deprecate_after else {
        return;
    };
    let (limit, what) = if public {
        (TWO_YEARS, "2y for public AMIs")
    } else {
        (TEN_YEARS, "10y")
    };
    if after.is_zero() || after > limit {
        refuse(
            "deprecate_after",
            format!(
                "ami.deprecate_after {} is outside what EC2 accepts (more than 0, at most {what})",
                humantime::format_duration(after)
            ),
            "e.g. deprecate_after: 2y",
        );
    }
}
