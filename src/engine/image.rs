//! The image and permissions steps: make the AMI (CreateImage from a stopped EBS build, or
//! RegisterImage of an uploaded bundle), wait until it is available, then apply and read back
//! its launch permissions.

use std::collections::BTreeSet;

use aws_sdk_ec2::types::{ImageState, ResourceType, TagSpecification};

use super::Engine;
use super::build::{Made, StepError};
use crate::aws::errors;
use crate::aws::images::{Wanted, set_permissions};
use crate::config::Backing;
use crate::matrix::Build;

impl Engine {
    pub(super) async fn image(&self, b: &Build, made: &mut Made) -> Result<(), StepError> {
        let c = self.clients.region(&b.region);
        let instance = made.instance.clone().ok_or("no instance to image")?;
        let build_tags = self.build_tags(b);
        if made.image.is_none() && b.backing == Backing::InstanceStore {
            self.register_bundle(b, made).await?;
            self.note(
                b,
                format!("registered {}", made.image.as_deref().unwrap_or("?")),
            );
        }
        if made.image.is_none() {
            let created = c
                .ec2
                .create_image()
                .instance_id(&instance)
                .name(&b.ami_name)
                .description(&b.description)
                // Tagged in the call that creates them, so that no AMI or snapshot of amipub's
                // exists untagged even for a moment (cleanup and re-runs find them by tags).
                .tag_specifications(spec(ResourceType::Image, &build_tags))
                .tag_specifications(spec(ResourceType::Snapshot, &build_tags))
                .send()
                .await;
            let id = match created {
                Ok(resp) => resp
                    .image_id()
                    .ok_or("CreateImage returned no image ID")?
                    .to_string(),
                Err(e) if errors::code(&e) == Some("InvalidAMIName.Duplicate") => {
                    self.own_duplicate(b).await?
                }
                Err(e) => {
                    return Err(errors::AwsError::new("CreateImage", Some(&instance), &e).into());
                }
            };
            self.note(b, format!("creating {id}"));
            made.image = Some(id);
            self.ledger.record(&b.name, made);
        }
        self.wait_available(b, made).await
    }

    /// Waits until the build's AMI is available (within `timeouts.image`), recording its
    /// snapshots; an AMI that ends in another state fails the step with EC2's reason.
    pub(super) async fn wait_available(&self, b: &Build, made: &mut Made) -> Result<(), StepError> {
        let image = made.image.clone().unwrap_or_default();
        let limit = self.opts.timeouts.image;
        let seen = tokio::time::timeout(limit, self.waiters.image_settled(&b.region, &image))
            .await
            .map_err(|_| {
                format!(
                    "{image} did not become available within {}",
                    humantime::format_duration(limit)
                )
            })?
            .ok_or("the region's poller stopped")?;
        made.snapshots = seen.snapshot_ids.clone();
        if seen.state != ImageState::Available {
            return Err(format!(
                "{image} is {}{}",
                seen.state,
                seen.reason.map(|r| format!(": {r}")).unwrap_or_default()
            )
            .into());
        }
        self.note(b, format!("{image} is available"));
        Ok(())
    }

    pub(super) async fn permissions(&self, b: &Build, made: &mut Made) -> Result<(), StepError> {
        let c = self.clients.region(&b.region);
        let image = made.image.clone().ok_or("no image")?;
        self.apply_settings(b, &image).await?;
        let set = set_permissions(c, &image, &made.snapshots, &self.wanted(), true).await?;
        self.note(b, describe_permissions(&set));
        self.protect(b, &image, false).await?;
        Ok(())
    }

    /// The AMI that has `b`'s name, when this run made it: CreateImage and RegisterImage take
    /// no client token, so a call whose answer was lost and that the SDK retried is told the
    /// name is taken, by the AMI its first attempt made. Any other AMI with the name (another
    /// run published it since preflight) fails the build; the next run records it.
    pub(super) async fn own_duplicate(&self, b: &Build) -> Result<String, String> {
        let c = self.clients.region(&b.region);
        let found = c
            .ec2
            .describe_images()
            .owners("self")
            .filters(
                aws_sdk_ec2::types::Filter::builder()
                    .name("name")
                    .values(&b.ami_name)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| {
                format!(
                    "looking up the AMI named \"{}\": {}",
                    b.ami_name,
                    errors::describe(&e)
                )
            })?;
        let img = found.images().first().ok_or_else(|| {
            format!(
                "the AMI name \"{}\" is taken, by an AMI this account cannot see",
                b.ami_name
            )
        })?;
        let id = img.image_id().unwrap_or_default().to_string();
        let run = crate::aws::images::tag(img, crate::aws::tags::RUN_ID);
        let build = crate::aws::images::tag(img, crate::aws::tags::BUILD);
        if run.as_deref() == Some(self.opts.run_id.as_str())
            && build.as_deref() == Some(b.name.as_str())
        {
            return Ok(id);
        }
        Err(format!(
            "the AMI name \"{}\" was taken since preflight by {id} (run {}); run the same command again to record or replace it",
            b.ami_name,
            run.as_deref().unwrap_or("not amipub's")
        ))
    }

    /// Who the profile lets use its AMIs.
    pub(super) fn wanted(&self) -> Wanted<'_> {
        Wanted {
            groups: &self.opts.permissions.groups,
            accounts: &self.opts.permissions.accounts,
        }
    }
}

/// The permissions an AMI has, for people.
pub(super) fn describe_permissions(set: &BTreeSet<String>) -> String {
    if set.is_empty() {
        "private (no launch permissions)".to_string()
    } else {
        format!(
            "launch permissions: {}",
            set.iter().cloned().collect::<Vec<_>>().join(", ")
        )
    }
}

/// A tag specification of `tags` for a resource of type `rt`.
pub(super) fn spec(rt: ResourceType, tags: &[aws_sdk_ec2::types::Tag]) -> TagSpecification {
    TagSpecification::builder()
        .resource_type(rt)
        .set_tags(Some(tags.to_vec()))
        .build()
}

/// The launch permissions an AMI must end up with, as `group:all` / `account:ID`.
pub fn expected_permissions(p: &super::Permissions) -> BTreeSet<String> {
    Wanted {
        groups: &p.groups,
        accounts: &p.accounts,
    }
    .launch()
}
