//! Preflight: read-only checks in every target region before anything is launched. Every
//! problem is collected; the run starts only when there are none.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, SystemTime};

use aws_sdk_ec2::types::{Filter, Image, ImageState, InstanceType};
use futures::future::join_all;

use crate::aws::images::{snapshots_of, tag};
use crate::aws::{Clients, RegionClients, errors, tags};
use crate::config::{AmiSettings, Backing};
use crate::matrix::Build;

/// An AMI that already has a build's name.
#[derive(Debug, Clone)]
pub struct ExistingAmi {
    /// Its ID.
    pub ami_id: String,
    /// Its snapshots.
    pub snapshot_ids: Vec<String>,
    /// The run that made it, if amipub did.
    pub run_id: Option<String>,
    /// Its state (`available`, `pending`, `failed`...).
    pub state: ImageState,
    /// Its tags.
    pub tags: BTreeMap<String, String>,
}

impl ExistingAmi {
    /// Whether it is, or will be, available: anything else (failed, error, deregistered) can
    /// only be replaced.
    pub fn usable(&self) -> bool {
        matches!(self.state, ImageState::Available | ImageState::Pending)
    }
}

/// What preflight found.
#[derive(Debug, Default)]
pub struct Preflight {
    /// Problems that stop the run.
    pub problems: Vec<String>,
    /// Builds whose AMI an earlier run made (same name, amipub's tags for this build and
    /// version, available or pending): brought to the profile's state and recorded, not
    /// rebuilt.
    pub published: HashMap<String, ExistingAmi>,
    /// Same-named AMIs deregistered before building: any with `--force`, and amipub's own
    /// that ended failed.
    pub replace: HashMap<String, Vec<ExistingAmi>>,
    /// Every staging bucket of the run.
    pub buckets: BTreeSet<String>,
    /// Staging buckets that do not exist yet and will be created.
    pub buckets_to_create: BTreeSet<String>,
    /// Regions checked.
    pub regions: usize,
    /// More lines for the summary (what other checks found will happen).
    pub notes: Vec<String>,
}

impl Preflight {
    /// One line per finding, for the dry run and the log.
    pub fn summary(&self, builds: usize) -> Vec<String> {
        let mut lines = vec![format!(
            "preflight: {} region(s) checked for {builds} build(s): {}",
            self.regions,
            if self.problems.is_empty() {
                "ok"
            } else {
                "problems found"
            }
        )];
        for (b, a) in sorted(&self.published) {
            lines.push(format!(
                "  {b}: already made as {} ({}; its tags and permissions will be checked and set, not rebuilt)",
                a.ami_id, a.state
            ));
        }
        for (b, list) in sorted(&self.replace) {
            for a in list {
                lines.push(if !a.usable() {
                    format!(
                        "  {b}: {} of run {} is {}; it will be deregistered and rebuilt",
                        a.ami_id,
                        a.run_id.as_deref().unwrap_or("?"),
                        a.state
                    )
                } else {
                    format!(
                        "  {b}: --force will deregister {} and its snapshots",
                        a.ami_id
                    )
                });
            }
        }
        for bucket in &self.buckets_to_create {
            lines.push(format!("  bucket {bucket} will be created"));
        }
        lines.extend(self.notes.iter().cloned());
        lines
    }
}

fn sorted<V>(m: &HashMap<String, V>) -> BTreeMap<&String, &V> {
    m.iter().collect()
}

/// A region that answered nothing: where amipub tried to reach it, and what to check.
fn unreachable(region: &str, endpoint: Option<&str>, e: &str) -> String {
    match endpoint {
        Some(url) => format!(
            "{region}: cannot reach AWS at {url} (--endpoint-url or AWS_ENDPOINT_URL): {e}; \
             check that the endpoint is up, or leave it out to use AWS's own"
        ),
        None => format!(
            "{region}: cannot reach EC2's endpoint for {region}: {e}; check the network, and \
             HTTPS_PROXY when a proxy is needed"
        ),
    }
}

/// Runs every check for `builds` (all regions at once). `urls_last` is how long a build's
/// presigned URLs must work; `ami` is what the profile asks of the AMIs.
pub async fn run(
    clients: &Clients,
    builds: &[Build],
    (version, force): (&str, bool),
    urls_last: std::time::Duration,
    ami: &AmiSettings,
) -> Preflight {
    let mut by_region: BTreeMap<&str, Vec<&Build>> = BTreeMap::new();
    for b in builds {
        by_region.entry(b.region.as_str()).or_default().push(b);
    }
    let checks = by_region.iter().map(|(region, builds)| {
        check_region(
            (clients.region(region), clients.endpoint()),
            region,
            builds,
            (version, force),
            ami,
        )
    });
    let mut out = Preflight {
        regions: by_region.len(),
        ..Preflight::default()
    };
    out.problems.extend(credentials_problem(
        clients.credentials_expire(),
        urls_last,
        SystemTime::now(),
    ));
    for r in join_all(checks).await {
        out.problems.extend(r.problems);
        out.published.extend(r.published);
        out.replace.extend(r.replace);
        out.buckets_to_create.extend(r.buckets_to_create);
        out.buckets.extend(r.buckets);
    }
    out
}

async fn check_region(
    (c, endpoint): (&RegionClients, Option<&str>),
    region: &str,
    builds: &[&Build],
    (version, force): (&str, bool),
    ami: &AmiSettings,
) -> Preflight {
    let mut out = Preflight {
        buckets: builds.iter().map(|b| b.bucket.clone()).collect(),
        ..Preflight::default()
    };
    let (sources, names, buckets, types) = tokio::join!(
        check_sources(c, region, builds, ami),
        existing_names(c, builds),
        check_buckets(c, region, builds),
        check_instance_types(c, region, builds)
    );
    // When the region cannot be reached at all, every check fails the same way: say it once.
    if let (Err(e), Err(_), Err(_)) = (&sources, &names, &buckets) {
        out.problems.push(unreachable(region, endpoint, e));
        return out;
    }
    match sources {
        Ok(p) => out.problems.extend(p),
        Err(e) => out
            .problems
            .push(format!("{region}: cannot check source AMIs: {e}")),
    }
    match types {
        Ok(p) => out.problems.extend(p),
        Err(e) => out
            .problems
            .push(format!("{region}: cannot check instance types: {e}")),
    }
    match buckets {
        Ok((p, missing)) => {
            out.problems.extend(p);
            out.buckets_to_create.extend(missing);
        }
        Err(e) => out
            .problems
            .push(format!("{region}: cannot check staging bucket: {e}")),
    }
    let images = match names {
        Ok(i) => i,
        Err(e) => {
            out.problems
                .push(format!("{region}: cannot check AMI names: {e}"));
            return out;
        }
    };
    for b in builds {
        for img in images
            .iter()
            .filter(|i| i.name() == Some(b.ami_name.as_str()))
        {
            let found = ExistingAmi {
                ami_id: img.image_id().unwrap_or_default().to_string(),
                snapshot_ids: snapshots_of(img),
                run_id: tag(img, tags::RUN_ID),
                state: img
                    .state()
                    .cloned()
                    .unwrap_or_else(|| ImageState::from("unknown")),
                tags: img
                    .tags()
                    .iter()
                    .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
                    .collect(),
            };
            let ours = tag(img, tags::BUILD).as_deref() == Some(b.name.as_str())
                && tag(img, tags::VERSION).as_deref() == Some(version);
            if force || (ours && !found.usable()) {
                out.replace.entry(b.name.clone()).or_default().push(found);
            } else if ours {
                out.published.insert(b.name.clone(), found);
            } else {
                out.problems.push(format!(
                    "{}: the AMI name \"{}\" is taken in {region} by {}, which amipub did not make for this build and version; rename it in the profile, deregister it, or pass --force to replace it",
                    b.name, b.ami_name, found.ami_id
                ));
            }
        }
    }
    out
}

/// Presigned URLs stop working when the credentials that signed them expire, whatever their
/// own expiry says: a build on credentials that expire first would lose its way back.
fn credentials_problem(
    expire: Option<SystemTime>,
    needed: Duration,
    now: SystemTime,
) -> Option<String> {
    let left = expire?.duration_since(now).unwrap_or_default();
    (left < needed).then(|| {
        format!(
            "the AWS credentials expire in {}, but a build's presigned URLs must work for {} \
             (timeouts.provision and 5 minutes for the last uploads), and URLs stop working when \
             the credentials that signed them expire. Use credentials that last longer (e.g. a \
             role session of 2 hours: `aws sts assume-role --duration-seconds 7200`, exported as \
             AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN), or lower \
             timeouts.provision",
            humantime::format_duration(Duration::from_secs(left.as_secs())),
            humantime::format_duration(needed)
        )
    })
}

async fn check_sources(
    c: &RegionClients,
    region: &str,
    builds: &[&Build],
    ami: &AmiSettings,
) -> Result<Vec<String>, String> {
    // Copies launch nothing: their region's source AMI does not matter.
    let builds: Vec<&Build> = builds
        .iter()
        .copied()
        .filter(|b| b.copy_of.is_none())
        .collect();
    if builds.is_empty() {
        return Ok(Vec::new());
    }
    let ids: BTreeSet<&str> = builds.iter().map(|b| b.source_ami.as_str()).collect();
    let resp = c
        .ec2
        .describe_images()
        .filters(
            Filter::builder()
                .name("image-id")
                .set_values(Some(ids.iter().map(|s| s.to_string()).collect()))
                .build(),
        )
        .send()
        .await
        .map_err(|e| errors::describe(&e))?;
    let images: HashMap<&str, &Image> = resp
        .images()
        .iter()
        .filter_map(|i| Some((i.image_id()?, i)))
        .collect();
    let mut problems = Vec::new();
    for b in builds {
        let Some(image) = images.get(b.source_ami.as_str()) else {
            problems.push(format!(
                "{}: source AMI {} does not exist in {region} (or is not visible to this account); check regions.yaml",
                b.name, b.source_ami
            ));
            continue;
        };
        problems.extend(source_problem(b, image, region));
        if b.backing == Backing::Ebs {
            problems.extend(super::settings::inherited_problems(b, image, ami));
        }
    }
    Ok(problems)
}

/// What makes `image` unfit as `b`'s source: not available, or made for another architecture
/// (the instance would not start) or virtualization type.
fn source_problem(b: &Build, image: &Image, region: &str) -> Option<String> {
    let src = &b.source_ami;
    if let Some(state) = image.state().filter(|s| **s != ImageState::Available) {
        return Some(format!(
            "{}: source AMI {src} in {region} is {state}, not available",
            b.name
        ));
    }
    if let Some(arch) = image.architecture()
        && arch.as_str() != b.architecture.as_str()
    {
        return Some(format!(
            "{}: source AMI {src} in {region} is a {} image, and the build is {}; check regions.yaml (amipub sources update finds the right one)",
            b.name,
            arch.as_str(),
            b.architecture
        ));
    }
    let root = image.root_device_type().map(|t| t.as_str());
    if b.backing == Backing::Ebs && root.is_some_and(|t| t != "ebs") {
        return Some(format!(
            "{}: source AMI {src} in {region} is {}-backed, and an EBS build images the instance's EBS root; pick an EBS-backed source",
            b.name,
            root.unwrap_or_default()
        ));
    }
    match image.virtualization_type() {
        Some(v) if v.as_str() != b.virtualization.as_str() => Some(format!(
            "{}: source AMI {src} in {region} is a {} image, and the build is {}; check regions.yaml",
            b.name,
            v.as_str(),
            b.virtualization.as_str()
        )),
        _ => None,
    }
}

/// Each build's instance type must exist in the region and run its architecture: EC2 refuses
/// the launch otherwise, which would fail the build after its region was staged.
async fn check_instance_types(
    c: &RegionClients,
    region: &str,
    builds: &[&Build],
) -> Result<Vec<String>, String> {
    let launching: Vec<&Build> = builds
        .iter()
        .copied()
        .filter(|b| b.copy_of.is_none())
        .collect();
    let types: BTreeSet<&str> = launching.iter().map(|b| b.instance_type.as_str()).collect();
    if types.is_empty() {
        return Ok(Vec::new());
    }
    let resp = c
        .ec2
        .describe_instance_types()
        .set_instance_types(Some(types.iter().map(|t| InstanceType::from(*t)).collect()))
        .send()
        .await;
    let resp = match resp {
        Ok(r) => r,
        // One unknown type fails the whole call: each is asked alone to name it.
        Err(e) if errors::code(&e) == Some("InvalidInstanceType") => {
            return Ok(unknown_types(c, region, &types).await);
        }
        Err(e) => {
            return Err(format!(
                "{} (amipub needs ec2:DescribeInstanceTypes)",
                errors::describe(&e)
            ));
        }
    };
    let arches: HashMap<&str, Vec<&str>> = resp
        .instance_types()
        .iter()
        .filter_map(|t| {
            let name = t.instance_type()?.as_str();
            let supported = t.processor_info()?.supported_architectures();
            Some((name, supported.iter().map(|a| a.as_str()).collect()))
        })
        .collect();
    Ok(launching
        .iter()
        .filter_map(|b| {
            let supported = arches.get(b.instance_type.as_str())?;
            (!supported.contains(&b.architecture.as_str())).then(|| {
                format!(
                    "{}: instance type {} runs {}, not {}; map the architecture to a type that runs it (instance_type: {{ {}: ... }})",
                    b.name,
                    b.instance_type,
                    supported.join("/"),
                    b.architecture,
                    b.architecture
                )
            })
        })
        .collect())
}

/// The types of `types` that `region` does not know, each named.
async fn unknown_types(c: &RegionClients, region: &str, types: &BTreeSet<&str>) -> Vec<String> {
    let mut problems = Vec::new();
    for t in types {
        let asked = c
            .ec2
            .describe_instance_types()
            .instance_types(InstanceType::from(*t))
            .send()
            .await;
        if let Err(e) = asked {
            problems.push(format!(
                "{region}: instance type {t} does not exist there ({}); check instance_type",
                errors::describe(&e)
            ));
        }
    }
    problems
}

async fn existing_names(c: &RegionClients, builds: &[&Build]) -> Result<Vec<Image>, String> {
    let names: Vec<String> = builds.iter().map(|b| b.ami_name.clone()).collect();
    let resp = c
        .ec2
        .describe_images()
        .owners("self")
        .filters(
            Filter::builder()
                .name("name")
                .set_values(Some(names))
                .build(),
        )
        .send()
        .await
        .map_err(|e| errors::describe(&e))?;
    Ok(resp.images().to_vec())
}

async fn check_buckets(
    c: &RegionClients,
    region: &str,
    builds: &[&Build],
) -> Result<(Vec<String>, Vec<String>), String> {
    let buckets: BTreeSet<&str> = builds.iter().map(|b| b.bucket.as_str()).collect();
    let mut problems = Vec::new();
    let mut missing = Vec::new();
    for bucket in buckets {
        match c.s3.head_bucket().bucket(bucket).send().await {
            Ok(h) => {
                if let Some(loc) = h.bucket_region()
                    && loc != region
                {
                    problems.push(format!(
                        "{region}: staging bucket {bucket} is in {loc}; builds must stage in their own region (use {{region}} in the bucket template)"
                    ));
                }
            }
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => missing.push(bucket.to_string()),
            // A server error, or no answer: S3 could not say, which is no verdict on the bucket.
            Err(e)
                if e.as_service_error().is_none()
                    || e.raw_response().is_some_and(|r| r.status().is_server_error()) =>
            {
                return Err(errors::describe(&e));
            }
            Err(e) => problems.push(format!(
                "{region}: staging bucket {bucket} is not usable ({}); it may belong to another account: choose another bucket name",
                errors::describe(&e)
            )),
        }
    }
    Ok((problems, missing))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_that_expire_before_the_urls_are_a_problem_naming_both_times() {
        let now = SystemTime::now();
        let needed = Duration::from_secs(65 * 60);
        assert_eq!(credentials_problem(None, needed, now), None);
        assert_eq!(
            credentials_problem(Some(now + Duration::from_secs(2 * 3600)), needed, now),
            None
        );
        let p = credentials_problem(Some(now + Duration::from_secs(900)), needed, now).unwrap();
        assert!(p.contains("expire in 15m"), "{p}");
        assert!(p.contains("must work for 1h 5m"), "{p}");
    }
}
