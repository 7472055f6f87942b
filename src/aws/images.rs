//! Reading AMIs: their tags, snapshots and launch permissions, as publish, verify and cleanup
//! all need them.

use std::collections::BTreeSet;

use aws_sdk_ec2::types::{
    Image, ImageAttributeName, LaunchPermission, LaunchPermissionModifications, OperationType,
    PermissionGroup, SnapshotAttributeName,
};

use super::{RegionClients, errors};

/// The value of tag `key` on `img`.
pub fn tag(img: &Image, key: &str) -> Option<String> {
    img.tags()
        .iter()
        .find(|t| t.key() == Some(key))
        .and_then(|t| t.value())
        .map(str::to_string)
}

/// The snapshots behind `img`'s block devices.
pub fn snapshots_of(img: &Image) -> Vec<String> {
    img.block_device_mappings()
        .iter()
        .filter_map(|m| m.ebs().and_then(|e| e.snapshot_id()))
        .map(str::to_string)
        .collect()
}

/// `image`'s launch permissions as `group:all` / `account:ID`.
pub async fn launch_permissions(
    c: &RegionClients,
    image: &str,
) -> Result<BTreeSet<String>, String> {
    let got = c
        .ec2
        .describe_image_attribute()
        .image_id(image)
        .attribute(ImageAttributeName::LaunchPermission)
        .send()
        .await
        .map_err(|e| format!("DescribeImageAttribute {image}: {}", errors::describe(&e)))?;
    Ok(got
        .launch_permissions()
        .iter()
        .filter_map(|lp| {
            lp.group()
                .map(|g| format!("group:{}", g.as_str()))
                .or_else(|| lp.user_id().map(|u| format!("account:{u}")))
        })
        .collect())
}

/// The accounts that may create volumes from `snapshot`.
pub async fn snapshot_accounts(
    c: &RegionClients,
    snapshot: &str,
) -> Result<BTreeSet<String>, String> {
    let got = c
        .ec2
        .describe_snapshot_attribute()
        .snapshot_id(snapshot)
        .attribute(SnapshotAttributeName::CreateVolumePermission)
        .send()
        .await
        .map_err(|e| {
            format!(
                "DescribeSnapshotAttribute {snapshot}: {}",
                errors::describe(&e)
            )
        })?;
    Ok(got
        .create_volume_permissions()
        .iter()
        .filter_map(|p| p.user_id().map(str::to_string))
        .collect())
}

/// Who may use an AMI: `groups` (`all` for public) and `accounts`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Wanted<'a> {
    /// Launch permission groups.
    pub groups: &'a [String],
    /// Account IDs, which may also create volumes from the snapshots.
    pub accounts: &'a [String],
}

impl Wanted<'_> {
    /// The launch permissions as `group:all` / `account:ID`.
    pub fn launch(&self) -> BTreeSet<String> {
        self.groups
            .iter()
            .map(|g| format!("group:{g}"))
            .chain(self.accounts.iter().map(|a| format!("account:{a}")))
            .collect()
    }
}

/// Brings `image`'s launch permissions to exactly `want` (adding what is missing, removing
/// what is not wanted) and its snapshots' volume permissions to exactly `want.accounts`.
/// `fresh` says the AMI was just made and has no permissions yet: then the permissions are
/// neither read first nor read back, since a ModifyImageAttribute that succeeded is EC2's
/// word that they are set (and EC2 being eventually consistent, a read right after could
/// still show the old ones). An AMI found already made is reconciled with what it has, and
/// read back.
pub async fn set_permissions(
    c: &RegionClients,
    image: &str,
    snapshots: &[String],
    want: &Wanted<'_>,
    fresh: bool,
) -> Result<BTreeSet<String>, String> {
    let target = want.launch();
    let before = if fresh {
        BTreeSet::new()
    } else {
        launch_permissions(c, image).await?
    };
    let add: Vec<LaunchPermission> = target.difference(&before).map(|p| permission(p)).collect();
    let remove: Vec<LaunchPermission> = before.difference(&target).map(|p| permission(p)).collect();
    if !add.is_empty() || !remove.is_empty() {
        c.ec2
            .modify_image_attribute()
            .image_id(image)
            .launch_permission(
                LaunchPermissionModifications::builder()
                    .set_add((!add.is_empty()).then_some(add))
                    .set_remove((!remove.is_empty()).then_some(remove))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| format!("ModifyImageAttribute {image}: {}", errors::describe(&e)))?;
    }
    let accounts: BTreeSet<String> = want.accounts.iter().cloned().collect();
    for snap in snapshots {
        let have = if fresh {
            BTreeSet::new()
        } else {
            snapshot_accounts(c, snap).await?
        };
        for (op, ids) in [
            (OperationType::Add, accounts.difference(&have)),
            (OperationType::Remove, have.difference(&accounts)),
        ] {
            let ids: Vec<String> = ids.cloned().collect();
            if ids.is_empty() {
                continue;
            }
            // The OperationType/UserIds form, which every EC2 endpoint reads (the emulator
            // ignores the structured CreateVolumePermission form).
            c.ec2
                .modify_snapshot_attribute()
                .snapshot_id(snap)
                .attribute(SnapshotAttributeName::CreateVolumePermission)
                .operation_type(op)
                .set_user_ids(Some(ids))
                .send()
                .await
                .map_err(|e| format!("ModifySnapshotAttribute {snap}: {}", errors::describe(&e)))?;
        }
    }
    if fresh {
        return Ok(target);
    }
    let after = launch_permissions(c, image).await?;
    if after != target {
        return Err(format!(
            "launch permissions of {image} read back as [{}], expected [{}]",
            after.into_iter().collect::<Vec<_>>().join(", "),
            target.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    Ok(after)
}

/// `group:all` / `account:ID` as an EC2 launch permission.
fn permission(p: &str) -> LaunchPermission {
    match p.split_once(':') {
        Some(("group", g)) => LaunchPermission::builder()
            .group(PermissionGroup::from(g))
            .build(),
        Some((_, account)) => LaunchPermission::builder().user_id(account).build(),
        None => LaunchPermission::builder().user_id(p).build(),
    }
}
