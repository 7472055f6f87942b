//! The profile's AMI settings (`ami:`) on a build's image. RegisterImage takes them all;
//! CreateImage takes none: the image inherits boot mode, ENA and NitroTPM from its source (so
//! preflight checks the source has them) and its root volume from the build instance (so the
//! instance is launched with it), and IMDSv2 is required afterwards with ModifyImageAttribute. Deprecation is set once the AMI is available, and
//! deregistration protection last of all, so that a build failing before it can still be
//! rolled back.

use std::time::{Duration, SystemTime};

use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;

use aws_sdk_ec2::operation::register_image::builders::RegisterImageFluentBuilder;
use aws_sdk_ec2::types::{
    AttributeValue, BlockDeviceMapping, BootModeValues, EbsBlockDevice, Image, ImdsSupportValues,
    TpmSupportValues, VolumeType,
};

use super::Engine;
use super::build::StepError;
use crate::aws::errors;
use crate::config::ami::{self, AmiSettings, Protection};
use crate::matrix::Build;

/// RegisterImage (instance-store builds) with every setting the profile gives.
pub(super) fn register_with(
    mut call: RegisterImageFluentBuilder,
    a: &AmiSettings,
) -> RegisterImageFluentBuilder {
    if a.imds_support.is_some() {
        call = call.imds_support(ImdsSupportValues::V20);
    }
    if let Some(mode) = a.boot_mode {
        call = call.boot_mode(BootModeValues::from(mode.as_str()));
    }
    if let Some(ena) = a.ena_support {
        call = call.ena_support(ena);
    }
    if a.tpm_support.is_some() {
        call = call.tpm_support(TpmSupportValues::V20);
    }
    call
}

/// What an EBS build's source image lacks of what the profile asks its AMI to inherit.
pub(super) fn inherited_problems(b: &Build, source: &Image, a: &AmiSettings) -> Vec<String> {
    let mut problems = Vec::new();
    let mut differs = |what: &str, want: &str, has: Option<&str>| {
        if has != Some(want) {
            problems.push(format!(
                "{}: ami.{what} is {want}, and source AMI {} has {}; an EBS image takes it from its source: pick a source that has it, or change ami.{what}",
                b.name,
                b.source_ami,
                has.unwrap_or("none")
            ));
        }
    };
    if let Some(mode) = a.boot_mode {
        differs(
            "boot_mode",
            mode.as_str(),
            source.boot_mode().map(|m| m.as_str()),
        );
    }
    if a.tpm_support.is_some() {
        differs(
            "tpm_support",
            "v2.0",
            source.tpm_support().map(|t| t.as_str()),
        );
    }
    if let Some(ena) = a.ena_support {
        let has = source.ena_support().unwrap_or(false);
        differs(
            "ena_support",
            if ena { "true" } else { "false" },
            Some(if has { "true" } else { "false" }),
        );
    }
    problems.extend(smaller_root(b, source, a));
    problems
}

/// A root volume smaller than the source's snapshot: EC2 refuses the launch.
fn smaller_root(b: &Build, source: &Image, a: &AmiSettings) -> Option<String> {
    let want = a.root_volume.as_ref()?.size?;
    let root = source.root_device_name()?;
    let has = source
        .block_device_mappings()
        .iter()
        .find(|m| m.device_name() == Some(root))?
        .ebs()?
        .volume_size()?;
    (want < has).then(|| {
        format!(
            "{}: ami.root_volume.size is {want} GiB, and source AMI {}'s root is {has} GiB; EC2 cannot shrink it: give at least {has}",
            b.name, b.source_ami
        )
    })
}

impl Engine {
    /// The build instance's root volume, when the profile sets its type or size: the AMI
    /// CreateImage makes takes the instance's volumes as they are (CreateImage itself cannot
    /// change them), so the root is made so at launch, under the source image's root device.
    pub(super) async fn root_volume_mapping(
        &self,
        b: &Build,
    ) -> Result<Option<BlockDeviceMapping>, StepError> {
        let Some(root) = &self.opts.ami.root_volume else {
            return Ok(None);
        };
        let c = self.clients.region(&b.region);
        let resp = c
            .ec2
            .describe_images()
            .image_ids(&b.source_ami)
            .send()
            .await
            .map_err(|e| errors::AwsError::new("DescribeImages", Some(&b.source_ami), &e))?;
        let device = resp
            .images()
            .first()
            .and_then(|i| i.root_device_name())
            .ok_or_else(|| format!("source AMI {} reports no root device", b.source_ami))?;
        let ebs = EbsBlockDevice::builder()
            .set_volume_type(root.volume_type.as_deref().map(VolumeType::from))
            .set_volume_size(root.size)
            .set_iops(root.iops)
            .delete_on_termination(true)
            .build();
        Ok(Some(
            BlockDeviceMapping::builder()
                .device_name(device)
                .ebs(ebs)
                .build(),
        ))
    }

    /// The settings made once the AMI is available: IMDSv2 for images CreateImage made (it
    /// takes no such parameter), and the deprecation time. Both may be set again, so reused
    /// AMIs get them too.
    pub(super) async fn apply_settings(&self, b: &Build, image: &str) -> Result<(), String> {
        let a = &self.opts.ami;
        let c = self.clients.region(&b.region);
        if a.imds_support.is_some() && b.backing == crate::config::Backing::Ebs {
            c.ec2
                .modify_image_attribute()
                .image_id(image)
                .imds_support(AttributeValue::builder().value("v2.0").build())
                .send()
                .await
                .map_err(|e| format!("requiring IMDSv2 on {image}: {}", errors::describe(&e)))?;
        }
        if let Some(after) = a.deprecate_after {
            self.deprecate(b, image, after).await?;
        }
        Ok(())
    }

    /// EnableImageDeprecation at the AMI's creation plus `after` (EC2's limit for public AMIs
    /// counts from the creation date, so a re-run or a reused AMI gets the same time, never a
    /// later one); nothing is sent when the AMI already has that time, to the minute.
    async fn deprecate(&self, b: &Build, image: &str, after: Duration) -> Result<(), String> {
        let c = self.clients.region(&b.region);
        let described = c
            .ec2
            .describe_images()
            .image_ids(image)
            .send()
            .await
            .map_err(|e| format!("reading {image}: {}", errors::describe(&e)))?;
        let img = described
            .images()
            .first()
            .ok_or_else(|| format!("{image} does not exist"))?;
        let created = img
            .creation_date()
            .and_then(|d| DateTime::from_str(d, Format::DateTime).ok())
            .and_then(|d| SystemTime::try_from(d).ok())
            .unwrap_or_else(SystemTime::now);
        let public = self.opts.permissions.groups.iter().any(|g| g == "all");
        let at = created + ami::deprecation_delay(after, public);
        let minute = |t: SystemTime| {
            t.duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() / 60)
        };
        let current = img
            .deprecation_time()
            .and_then(|d| DateTime::from_str(d, Format::DateTime).ok())
            .and_then(|d| SystemTime::try_from(d).ok());
        if current.is_some_and(|t| minute(t).abs_diff(minute(at)) <= 1) {
            return Ok(());
        }
        c.ec2
            .enable_image_deprecation()
            .image_id(image)
            .deprecate_at(DateTime::from(at))
            .send()
            .await
            .map_err(|e| format!("setting {image} to deprecate: {}", errors::describe(&e)))?;
        self.note(
            b,
            format!(
                "{image} deprecates at {}",
                humantime::format_rfc3339_seconds(at)
            ),
        );
        Ok(())
    }

    /// Deregistration protection, when the profile asks for it: the build's last change. An
    /// AMI an earlier run made is brought to the profile's setting either way, `disabled`
    /// included.
    pub(super) async fn protect(&self, b: &Build, image: &str, reused: bool) -> Result<(), String> {
        let cooldown = match self.opts.ami.deregistration_protection {
            None => return Ok(()),
            Some(Protection::Disabled) if reused => return self.unprotect(b, image).await,
            Some(Protection::Disabled) => return Ok(()),
            Some(Protection::Enabled) => false,
            Some(Protection::EnabledWithCooldown) => true,
        };
        let c = self.clients.region(&b.region);
        c.ec2
            .enable_image_deregistration_protection()
            .image_id(image)
            .with_cooldown(cooldown)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "turning on deregistration protection of {image}: {}",
                    errors::describe(&e)
                )
            })?;
        self.note(b, format!("{image} is protected from deregistration"));
        Ok(())
    }

    async fn unprotect(&self, b: &Build, image: &str) -> Result<(), String> {
        let c = self.clients.region(&b.region);
        c.ec2
            .disable_image_deregistration_protection()
            .image_id(image)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "turning off deregistration protection of {image}: {}",
                    errors::describe(&e)
                )
            })?;
        Ok(())
    }
}
