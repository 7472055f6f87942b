//! The per-region resources builds share (the private staging bucket and a security group with
//! no inbound rule), created once per region and run, and the S3 objects of each build.

use std::time::Duration;

use aws_sdk_ec2::types::{Filter, ResourceType, TagSpecification};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketLocationConstraint, CreateBucketConfiguration, Delete, ObjectIdentifier, ObjectOwnership,
    Tag,
};

use crate::aws::{RegionClients, errors};

/// Name of the security group build instances run in: no inbound rules, so nothing can connect
/// to them; outbound is open so the bootstrap can reach S3.
pub const SECURITY_GROUP: &str = "amipub-build";

/// What a region's builds share.
#[derive(Debug, Clone)]
pub struct RegionStage {
    /// The security group's ID.
    pub security_group: String,
}

/// Creates the staging buckets preflight found missing (`to_create`), and finds or creates
/// the security group, all at once; each is tagged with `tags` in the call that creates it.
/// Also returns the buckets this call created (none of them has a policy yet).
pub async fn prepare_region<'a>(
    c: &RegionClients,
    region: &str,
    to_create: &[&'a str],
    tags: &[(String, String)],
) -> Result<(RegionStage, Vec<&'a str>), String> {
    let (created, security_group) = tokio::join!(
        futures::future::try_join_all(
            to_create
                .iter()
                .map(|bucket| create_private_bucket(&c.s3, region, bucket, tags))
        ),
        ensure_security_group(c, tags)
    );
    let created = to_create
        .iter()
        .zip(created?)
        .filter_map(|(b, new)| new.then_some(*b))
        .collect();
    let stage = RegionStage {
        security_group: security_group?,
    };
    Ok((stage, created))
}

/// Creates `bucket` in `region` (if this account has not already), tagged with `tags` in the
/// call that creates it, and with ACLs disabled (`BucketOwnerEnforced`) by the same call.
/// Returns whether this call created it.
///
/// S3 gives every new bucket Block Public Access (all four settings) and ACLs disabled since
/// April 2023, and SSE-S3 default encryption since January 2023, so one call makes a private,
/// encrypted bucket; the emulator reproduces those defaults (support/s3_patches.py).
pub async fn create_private_bucket(
    s3: &aws_sdk_s3::Client,
    region: &str,
    bucket: &str,
    tags: &[(String, String)],
) -> Result<bool, String> {
    let s3_tags = tags
        .iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    let config = CreateBucketConfiguration::builder().set_tags(Some(s3_tags));
    // us-east-1 is S3's default location and refuses to be named as a constraint.
    let config = if region == "us-east-1" {
        config
    } else {
        config.location_constraint(BucketLocationConstraint::from(region))
    };
    let create = s3
        .create_bucket()
        .bucket(bucket)
        .object_ownership(ObjectOwnership::BucketOwnerEnforced)
        .create_bucket_configuration(config.build());
    match create.send().await {
        Ok(_) => Ok(true),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_bucket_already_owned_by_you()) =>
        {
            Ok(false)
        }
        Err(e) => Err(format!(
            "creating bucket {bucket}: {}",
            errors::describe(&e)
        )),
    }
}

async fn ensure_security_group(
    c: &RegionClients,
    tags: &[(String, String)],
) -> Result<String, String> {
    if let Some(id) = find_security_group(c).await? {
        return Ok(id);
    }
    let created = c
        .ec2
        .create_security_group()
        .group_name(SECURITY_GROUP)
        .description("amipub build instances: no inbound access")
        .tag_specifications(
            TagSpecification::builder()
                .resource_type(ResourceType::SecurityGroup)
                .set_tags(Some(crate::aws::tags::ec2(tags)))
                .build(),
        )
        .send()
        .await;
    match created {
        Ok(g) => g
            .group_id()
            .map(str::to_string)
            .ok_or_else(|| "CreateSecurityGroup returned no group ID".to_string()),
        // Another run created it between our look-up and our call: it exists, use it.
        Err(e) if errors::code(&e) == Some("InvalidGroup.Duplicate") => find_security_group(c)
            .await?
            .ok_or_else(|| format!("{SECURITY_GROUP} exists but cannot be found; try again")),
        Err(e) => Err(format!(
            "creating security group {SECURITY_GROUP}: {}",
            errors::describe(&e)
        )),
    }
}

async fn find_security_group(c: &RegionClients) -> Result<Option<String>, String> {
    let found = c
        .ec2
        .describe_security_groups()
        .filters(
            Filter::builder()
                .name("group-name")
                .values(SECURITY_GROUP)
                .build(),
        )
        .send()
        .await
        .map_err(|e| {
            format!(
                "looking up security group {SECURITY_GROUP}: {}",
                errors::describe(&e)
            )
        })?;
    Ok(found
        .security_groups()
        .first()
        .and_then(|g| g.group_id())
        .map(str::to_string))
}

/// Uploads `body` to `bucket/key`.
pub async fn put(c: &RegionClients, bucket: &str, key: &str, body: Vec<u8>) -> Result<(), String> {
    c.s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(body))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| format!("uploading s3://{bucket}/{key}: {}", errors::describe(&e)))
}

/// Reads `bucket/key`; `Ok(None)` when it does not exist.
pub async fn get(c: &RegionClients, bucket: &str, key: &str) -> Result<Option<Vec<u8>>, String> {
    match c.s3.get_object().bucket(bucket).key(key).send().await {
        Ok(o) => o
            .body
            .collect()
            .await
            .map(|b| Some(b.into_bytes().to_vec()))
            .map_err(|e| format!("reading s3://{bucket}/{key}: {e}")),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => Ok(None),
        Err(e) => Err(format!(
            "reading s3://{bucket}/{key}: {}",
            errors::describe(&e)
        )),
    }
}

/// What a presigned URL lets its holder do with one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Read it.
    Get,
    /// Write it.
    Put,
    /// Delete it.
    Delete,
}

/// A presigned URL for `access` to `bucket/key`, valid for `expires`.
pub async fn presign(
    c: &RegionClients,
    bucket: &str,
    key: &str,
    access: Access,
    expires: Duration,
) -> Result<String, String> {
    let cfg = PresigningConfig::expires_in(expires).map_err(|e| e.to_string())?;
    let fail = |e: &(dyn std::error::Error + 'static)| {
        format!("presigning s3://{bucket}/{key}: {}", errors::short(e))
    };
    // Each operation's error type differs, so each arm finishes its own result.
    match access {
        Access::Get => {
            c.s3.get_object()
                .bucket(bucket)
                .key(key)
                .presigned(cfg)
                .await
                .map(|r| r.uri().to_string())
                .map_err(|e| fail(&e))
        }
        Access::Put => {
            c.s3.put_object()
                .bucket(bucket)
                .key(key)
                .presigned(cfg)
                .await
                .map(|r| r.uri().to_string())
                .map_err(|e| fail(&e))
        }
        Access::Delete => {
            c.s3.delete_object()
                .bucket(bucket)
                .key(key)
                .presigned(cfg)
                .await
                .map(|r| r.uri().to_string())
                .map_err(|e| fail(&e))
        }
    }
}

/// Whether `bucket/key` exists.
pub async fn exists(c: &RegionClients, bucket: &str, key: &str) -> Result<bool, String> {
    match c.s3.head_object().bucket(bucket).key(key).send().await {
        Ok(_) => Ok(true),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(false),
        Err(e) => Err(format!(
            "looking for s3://{bucket}/{key}: {}",
            errors::describe(&e)
        )),
    }
}

/// Deletes every object under `prefix` (listing first, so that partial uploads go too);
/// returns how many were deleted.
pub async fn delete_prefix(c: &RegionClients, bucket: &str, prefix: &str) -> Result<usize, String> {
    let keys = list_keys(c, bucket, prefix).await?;
    delete_keys(c, bucket, &keys).await?;
    Ok(keys.len())
}

/// Every key under `prefix` in `bucket`.
pub async fn list_keys(
    c: &RegionClients,
    bucket: &str,
    prefix: &str,
) -> Result<Vec<String>, String> {
    let mut keys = Vec::new();
    let mut token = None;
    loop {
        let page =
            c.s3.list_objects_v2()
                .bucket(bucket)
                .prefix(prefix)
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(|e| format!("listing s3://{bucket}/{prefix}: {}", errors::describe(&e)))?;
        keys.extend(
            page.contents()
                .iter()
                .filter_map(|o| o.key())
                .map(str::to_string),
        );
        match page.next_continuation_token() {
            Some(t) if page.is_truncated() == Some(true) => token = Some(t.to_string()),
            _ => return Ok(keys),
        }
    }
}

/// Deletes `keys` from `bucket` in one request (S3 takes up to 1000).
pub async fn delete_keys(c: &RegionClients, bucket: &str, keys: &[String]) -> Result<(), String> {
    for chunk in keys.chunks(1000) {
        let objects = chunk
            .iter()
            .map(|k| {
                ObjectIdentifier::builder()
                    .key(k)
                    .build()
                    .map_err(|e| e.to_string())
            })
            .collect::<Result<Vec<_>, _>>()?;
        let delete = Delete::builder()
            .set_objects(Some(objects))
            .quiet(true)
            .build()
            .map_err(|e| e.to_string())?;
        let out =
            c.s3.delete_objects()
                .bucket(bucket)
                .delete(delete)
                .send()
                .await
                .map_err(|e| format!("deleting from s3://{bucket}: {}", errors::describe(&e)))?;
        if let Some(err) = out.errors().first() {
            return Err(format!(
                "deleting s3://{bucket}/{}: {}",
                err.key().unwrap_or("?"),
                err.message().unwrap_or("?")
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use aws_sdk_ec2::error::ErrorMetadata;
    use aws_sdk_ec2::operation::create_security_group::CreateSecurityGroupError;
    use aws_sdk_ec2::operation::describe_security_groups::DescribeSecurityGroupsOutput;
    use aws_sdk_ec2::types::SecurityGroup;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    use super::*;

    /// Two publishes starting together in a region both find no group, both create it, and
    /// one of them is told it exists: that one must use it, not fail its builds.
    #[tokio::test]
    async fn a_group_another_run_created_meanwhile_is_used() {
        let none_yet = mock!(aws_sdk_ec2::Client::describe_security_groups)
            .then_output(|| DescribeSecurityGroupsOutput::builder().build());
        let lost_race = mock!(aws_sdk_ec2::Client::create_security_group).then_error(|| {
            CreateSecurityGroupError::generic(
                ErrorMetadata::builder()
                    .code("InvalidGroup.Duplicate")
                    .message("The security group 'amipub-build' already exists")
                    .build(),
            )
        });
        let there = mock!(aws_sdk_ec2::Client::describe_security_groups).then_output(|| {
            DescribeSecurityGroupsOutput::builder()
                .security_groups(SecurityGroup::builder().group_id("sg-0123").build())
                .build()
        });
        let c = RegionClients {
            ec2: mock_client!(
                aws_sdk_ec2,
                RuleMode::Sequential,
                [&none_yet, &lost_race, &there]
            ),
            s3: mock_client!(aws_sdk_s3, []),
        };
        let tags = [("amipub:managed".to_string(), "true".to_string())];
        assert_eq!(ensure_security_group(&c, &tags).await.unwrap(), "sg-0123");
        assert_eq!(lost_race.num_calls(), 1);
        assert_eq!(there.num_calls(), 1);
    }
}
