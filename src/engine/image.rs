//! The image and permissions steps: make the AMI (CreateImage from a stopped EBS build, or
//! RegisterImage of an uploaded bundle), wait until it is available, then apply and read back
//! its launch permissions.

use std::collections::BTreeSet;

use aws_sdk_ec2::types::{
    LaunchPermission, LaunchPermissionModifications, PermissionGroup, ResourceType,
    TagSpecification,
};

use super::Engine;
use super::build::{Made, StepError};
use crate::aws::errors;
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
                .tag_specifications(
                    TagSpecification::builder()
                        .resource_type(ResourceType::Image)
                        .set_tags(Some(build_tags.clone()))
                        .build(),
                )
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
        // Snapshots are tagged here rather than in CreateImage so that the same code works on
        // every EC2 endpoint (the emulator cannot tag snapshots at CreateImage).
        if !made.snapshots.is_empty() {
            c.ec2
                .create_tags()
                .set_resources(Some(made.snapshots.clone()))
                .set_tags(Some(build_tags))
                .send()
                .await
                .map_err(|e| format!("tagging snapshots: {}", errors::describe(&e)))?;
        }
        self.note(b, format!("{image} is available"));
        Ok(())
    }

    pub(super) async fn permissions(&self, b: &Build, made: &mut Made) -> Result<(), StepError> {
        let c = self.clients.region(&b.region);
        let image = made.image.clone().ok_or("no image")?;
        let p = &self.opts.permissions;
        let mut add: Vec<LaunchPermission> = Vec::new();
        for g in &p.groups {
            add.push(
                LaunchPermission::builder()
                    .group(PermissionGroup::from(g.as_str()))
                    .build(),
            );
        }
        for a in &p.accounts {
            add.push(LaunchPermission::builder().user_id(a).build());
        }
        if !add.is_empty() {
            c.ec2
                .modify_image_attribute()
                .image_id(&image)
                .launch_permission(
                    LaunchPermissionModifications::builder()
                        .set_add(Some(add))
                        .build(),
                )
                .send()
                .await
                .map_err(|e| format!("ModifyImageAttribute: {}", errors::describe(&e)))?;
        }
        // Accounts that may launch the AMI must also be able to create volumes from its
        // snapshots; a public AMI does not need public snapshots.
        if !p.accounts.is_empty() {
            for snap in &made.snapshots {
                // The OperationType/UserIds form, which every EC2 endpoint reads (the emulator
                // ignores the structured CreateVolumePermission form).
                c.ec2
                    .modify_snapshot_attribute()
                    .snapshot_id(snap)
                    .attribute(aws_sdk_ec2::types::SnapshotAttributeName::CreateVolumePermission)
                    .operation_type(aws_sdk_ec2::types::OperationType::Add)
                    .set_user_ids(Some(p.accounts.clone()))
                    .send()
                    .await
                    .map_err(|e| {
                        format!("ModifySnapshotAttribute {snap}: {}", errors::describe(&e))
                    })?;
            }
        }
        let actual = crate::aws::images::launch_permissions(c, &image).await?;
        let expected = expected_permissions(p);
        if actual != expected {
            return Err(format!(
                "launch permissions of {image} read back as [{}], expected [{}]",
                actual.into_iter().collect::<Vec<_>>().join(", "),
                expected.into_iter().collect::<Vec<_>>().join(", ")
            )
            .into());
        }
        self.note(
            b,
            if expected.is_empty() {
                "private (no launch permissions)".to_string()
            } else {
                format!(
                    "launch permissions: {}",
                    expected.into_iter().collect::<Vec<_>>().join(", ")
                )
            },
        );
        Ok(())
    }
}

/// The launch permissions an AMI must end up with, as `group:all` / `account:ID`.
pub fn expected_permissions(p: &super::Permissions) -> BTreeSet<String> {
    p.groups
        .iter()
        .map(|g| format!("group:{g}"))
        .chain(p.accounts.iter().map(|a| format!("account:{a}")))
        .collect()
}
