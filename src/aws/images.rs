//! Reading AMIs: their tags, snapshots and launch permissions, as publish, verify and cleanup
//! all need them.

use std::collections::BTreeSet;

use aws_sdk_ec2::types::{Image, ImageAttributeName};

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
