//! Leftovers of interrupted runs (kill -9, a lost machine, a call that failed while
//! finishing): once this run holds a staging bucket's lock, no other run can be using that
//! bucket, so every other run that staged there is over. Their build instances (tagged with
//! the bucket) are terminated and their staged files and signing material deleted. Bundles stay (an instance-store AMI boots from its bundle; `amipub cleanup` removes
//! the ones no AMI uses), and AMIs are preflight's business (reused, or replaced when failed).

use std::collections::BTreeSet;

use crate::aws::{RegionClients, errors, tags};
use crate::engine::bootstrap::BUNDLE_NAME;

/// What a sweep did.
#[derive(Debug, Default)]
pub struct Swept {
    /// What it removed, one line per kind.
    pub lines: Vec<String>,
    /// The interrupted runs whose prefixes it found (to be sealed).
    pub runs: Vec<String>,
}

/// Removes what interrupted runs left in `bucket`'s region.
pub async fn sweep_region(
    c: &RegionClients,
    bucket: &str,
    this_run: &str,
) -> Result<Swept, String> {
    let mut done = Vec::new();
    let instances = live_instances_of(c, bucket, this_run).await?;
    if !instances.is_empty() {
        c.ec2
            .terminate_instances()
            .set_instance_ids(Some(instances.clone()))
            .send()
            .await
            .map_err(|e| {
                format!(
                    "terminating {} left by an interrupted run: {}",
                    instances.join(", "),
                    errors::describe(&e)
                )
            })?;
        done.push(format!(
            "terminated build instance(s) of interrupted runs: {}",
            instances.join(", ")
        ));
    }
    let runs: BTreeSet<String> = run_prefixes(c, bucket)
        .await?
        .into_iter()
        .filter(|r| r != this_run)
        .collect();
    let mut keys = Vec::new();
    let mut swept = Vec::new();
    for run in &runs {
        let found: Vec<String> = super::staging::list_keys(c, bucket, &format!("{run}/"))
            .await?
            .into_iter()
            .filter(|k| !is_bundle(k))
            .collect();
        if !found.is_empty() {
            keys.extend(found);
            swept.push(run.clone());
        }
    }
    if !keys.is_empty() {
        super::staging::delete_keys(c, bucket, &keys).await?;
        done.push(format!(
            "deleted {} staged object(s) of interrupted runs in s3://{bucket} ({})",
            keys.len(),
            swept.join(", ")
        ));
    }
    Ok(Swept {
        lines: done,
        runs: runs.into_iter().collect(),
    })
}

/// Whether `s` has the shape of amipub's run IDs (`20261121T053115Z-1a2b3c`): only such
/// prefixes are amipub's, whatever else a shared bucket holds.
pub fn is_run_id(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 23
        && b[..8].iter().all(u8::is_ascii_digit)
        && b[8] == b'T'
        && b[9..15].iter().all(u8::is_ascii_digit)
        && &b[15..17] == b"Z-"
        && b[17..]
            .iter()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
}

/// A bundle file (`<run>/<build>/image.*`), which an instance-store AMI may boot from.
fn is_bundle(key: &str) -> bool {
    key.rsplit('/')
        .next()
        .is_some_and(|name| name.starts_with(&format!("{BUNDLE_NAME}.")))
        && !key.contains("/signing/")
}

/// The run IDs that have a prefix in `bucket`.
async fn run_prefixes(c: &RegionClients, bucket: &str) -> Result<Vec<String>, String> {
    let mut runs = Vec::new();
    let mut token = None;
    loop {
        let page =
            c.s3.list_objects_v2()
                .bucket(bucket)
                .delimiter("/")
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(|e| format!("listing s3://{bucket}: {}", errors::describe(&e)))?;
        runs.extend(
            page.common_prefixes()
                .iter()
                .filter_map(|p| p.prefix())
                .map(|p| p.trim_end_matches('/').to_string())
                .filter(|p| is_run_id(p)),
        );
        match page.next_continuation_token() {
            Some(t) if page.is_truncated() == Some(true) => token = Some(t.to_string()),
            _ => return Ok(runs),
        }
    }
}

/// Build instances of other runs that staged in `bucket` and still exist.
async fn live_instances_of(
    c: &RegionClients,
    bucket: &str,
    this_run: &str,
) -> Result<Vec<String>, String> {
    let out = c
        .ec2
        .describe_instances()
        .filters(tags::filter(tags::BUCKET, bucket))
        .filters(tags::instance_not_terminated())
        .send()
        .await
        .map_err(|e| {
            format!(
                "looking for instances of interrupted runs: {}",
                errors::describe(&e)
            )
        })?;
    Ok(out
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .filter(|i| {
            i.tags()
                .iter()
                .any(|t| t.key() == Some(tags::RUN_ID) && t.value().is_some_and(|v| v != this_run))
        })
        .filter_map(|i| i.instance_id())
        .map(str::to_string)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_run_ids_are_taken_for_runs() {
        assert!(is_run_id("20261121T053115Z-1a2b3c"));
        assert!(!is_run_id("releases"));
        assert!(!is_run_id(".amipub"));
        assert!(!is_run_id("20261121T053115Z-1a2b3X"));
    }

    #[test]
    fn bundles_stay_and_everything_else_goes() {
        assert!(is_bundle("r/b/image.part.0"));
        assert!(is_bundle("r/b/image.manifest.xml"));
        assert!(!is_bundle("r/b/provision.sh"));
        assert!(!is_bundle("r/b/status"));
        assert!(!is_bundle("r/b/signing/image.key"));
    }
}
