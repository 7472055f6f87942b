//! The tags amipub puts on everything it creates, so that cleanup, verify and re-runs can find
//! what it made (and never touch what it did not).

/// Marks a resource as made by amipub.
pub const MANAGED: &str = "amipub:managed";
/// The run that made it.
pub const RUN_ID: &str = "amipub:run-id";
/// The build (`us-east-1-1404-pv`).
pub const BUILD: &str = "amipub:build";
/// The profile's version.
pub const VERSION: &str = "amipub:version";
/// The staging bucket of the build, whose lock the run held: what ties a build instance to
/// the runs that may be using it.
pub const BUCKET: &str = "amipub:bucket";
/// The architecture of a build's instance and AMI (`x86_64`, `arm64`).
pub const ARCHITECTURE: &str = "amipub:architecture";

/// The registry's bucket and the SSM parameters amipub writes (value: the artifact): what
/// `promote` may overwrite, and what `cleanup` never takes for a staging bucket.
pub const REGISTRY: &str = "amipub:registry";

/// The tags of a resource made for `build` in `run_id`, plus the profile's own tags.
pub fn for_build(
    run_id: &str,
    build: &crate::matrix::Build,
    version: &str,
) -> Vec<(String, String)> {
    let mut v = vec![
        (MANAGED.to_string(), "true".to_string()),
        (RUN_ID.to_string(), run_id.to_string()),
        (BUILD.to_string(), build.name.clone()),
        (VERSION.to_string(), version.to_string()),
        (BUCKET.to_string(), build.bucket.clone()),
        (
            ARCHITECTURE.to_string(),
            build.architecture.as_str().to_string(),
        ),
        ("Name".to_string(), format!("amipub {}", build.name)),
    ];
    let extra = &build.tags;
    v.extend(extra.iter().map(|(k, val)| (k.clone(), val.clone())));
    v
}

/// The tags of a resource a region's builds share (staging bucket, security group): amipub's,
/// plus those of the profile's tags that render the same for every one of `builds_tags` (a
/// tag naming `{build}` cannot describe a shared resource).
pub fn for_shared<'a>(
    version: &str,
    mut builds_tags: impl Iterator<Item = &'a std::collections::BTreeMap<String, String>>,
) -> Vec<(String, String)> {
    let mut v = vec![
        (MANAGED.to_string(), "true".to_string()),
        (VERSION.to_string(), version.to_string()),
    ];
    if let Some(first) = builds_tags.next() {
        let mut common = first.clone();
        for t in builds_tags {
            common.retain(|k, val| t.get(k) == Some(val));
        }
        v.extend(common);
    }
    v
}

/// EC2's form of `tags`.
pub fn ec2(tags: &[(String, String)]) -> Vec<aws_sdk_ec2::types::Tag> {
    tags.iter()
        .map(|(k, v)| aws_sdk_ec2::types::Tag::builder().key(k).value(v).build())
        .collect()
}

/// An EC2 filter selecting resources whose tag `key` is `value`.
pub fn filter(key: &str, value: &str) -> aws_sdk_ec2::types::Filter {
    aws_sdk_ec2::types::Filter::builder()
        .name(format!("tag:{key}"))
        .values(value)
        .build()
}

/// An EC2 filter selecting instances that still exist (not shutting down or terminated).
pub fn instance_not_terminated() -> aws_sdk_ec2::types::Filter {
    aws_sdk_ec2::types::Filter::builder()
        .name("instance-state-name")
        .values("pending")
        .values("running")
        .values("stopping")
        .values("stopped")
        .build()
}
