//! The image and permissions steps: make the AMI (CreateImage from a stopped EBS build, or
//! RegisterImage of an uploaded bundle), wait until it is available, then apply and read back
//! its launch permissions.

use std::collections::BTreeSet;

use aws_sdk_ec2::types::{ResourceType, TagSpecification};

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
            let resp = c
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
                .await
                .map_err(|e| format!("CreateImage: {}", errors::describe(&e)))?;
            let id = resp
                .image_id()
                .ok_or("CreateImage returned no image ID")?
                .to_string();
            self.note(b, format!("creating {id}"));
            made.image = Some(id);
            self.ledger.record(&b.name, made);
        }
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
        if seen.state != "available" {
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
        let set = set_permissions(c, &image, &made.snapshots, &self.wanted(), true).await?;
        self.note(b, describe_permissions(&set));
        Ok(())
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
