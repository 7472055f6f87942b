//! Recording a publish: each build's AMI in the version's document, the version in the index,
//! and an `Image Version Published` event.

use std::collections::BTreeMap;

use super::schema::{BuildRecord, Completeness, SCHEMA_VERSION, Version, VersionSummary};
use super::{Registry, RegistryError, now};
use crate::aws::errors;
use crate::config::Config;
use crate::events::Outcome;
use crate::matrix::{Build, Selection};

/// What preflight finds out about the registry before anything is launched: problems that
/// would make recording fail, and what will happen.
pub async fn preflight(reg: &Registry<'_>, version: &str) -> (Vec<String>, Vec<String>) {
    let bucket = reg.store.bucket();
    let head = reg.store.s3().head_bucket().bucket(bucket).send().await;
    match head {
        Ok(_) => {}
        Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => {
            return (
                Vec::new(),
                vec![format!("  registry bucket {bucket} will be created")],
            );
        }
        Err(e) => {
            return (
                vec![format!(
                    "registry: s3://{bucket} cannot be used: {}",
                    errors::describe(&e)
                )],
                Vec::new(),
            );
        }
    }
    match reg.store.index().await {
        Ok(read) => match read.doc.versions.get(version) {
            Some(v) if v.revoked.is_some() => (
                vec![format!(
                    "registry: version {version} of {} is revoked; publish a new version",
                    reg.settings.artifact
                )],
                Vec::new(),
            ),
            _ => (Vec::new(), Vec::new()),
        },
        Err(e) => (vec![format!("registry: {e}")], Vec::new()),
    }
}

/// The names of every build the profile makes (its own regions, or every enabled one, where
/// the regions file has a source AMI): the builds a complete version holds.
pub fn profile_builds(config: &Config) -> Vec<String> {
    let p = config.p();
    let file = &config.regions.value.regions;
    let regions: Vec<&String> = if p.regions.is_empty() {
        file.keys().collect()
    } else {
        p.regions.iter().collect()
    };
    let mut names = Vec::new();
    for region in regions {
        let Some(entry) = file.get(region).filter(|e| e.disabled.is_none()) else {
            continue;
        };
        for release in &p.releases {
            for &virt in &p.virtualizations {
                for &arch in &p.architectures {
                    if entry.source(release, virt, arch).is_some() {
                        names.push(crate::matrix::build_name(region, release, virt, arch));
                    }
                }
            }
        }
    }
    names
}

/// The regions the profile builds in.
pub fn profile_builds_regions(config: &Config) -> std::collections::BTreeSet<String> {
    crate::matrix::select(config, &Selection::default())
        .map(|s| s.builds.into_iter().map(|b| b.region).collect())
        .unwrap_or_default()
}

/// Records the AMIs of `outcomes` (this run's and those it reused) under the profile's version;
/// returns the version as it now stands.
pub async fn record(
    reg: &Registry<'_>,
    config: &Config,
    builds: &[Build],
    outcomes: &[Outcome],
    git_commit: Option<String>,
) -> Result<Version, RegistryError> {
    ensure_bucket(reg).await?;
    let version = config.p().version.clone();
    let records = records(config, builds, outcomes);
    let all = profile_builds(config);
    let fresh = || empty_version(&reg.settings.artifact, &version);
    let doc = reg
        .store
        .update_version(&version, fresh, |doc| {
            if doc.revoked.is_some() {
                return Err(RegistryError::Refused(format!(
                    "version {version} is revoked; its AMIs were published but not recorded: publish a new version"
                )));
            }
            merge(doc, &records);
            doc.metadata = reg.settings.metadata.clone();
            if git_commit.is_some() {
                doc.git_commit = git_commit.clone();
            }
            doc.updated_at = now();
            doc.settle(&all);
            Ok(())
        })
        .await?;
    reg.store
        .update_index(|index| {
            summarize(index, &doc);
            Ok(())
        })
        .await?;
    Ok(doc)
}

/// The record of each build `outcomes` published.
fn records(
    config: &Config,
    builds: &[Build],
    outcomes: &[Outcome],
) -> BTreeMap<String, BuildRecord> {
    let permissions = crate::engine::expected_permissions(&crate::engine::Permissions {
        groups: config.p().launch_permissions.groups.clone(),
        accounts: config.accounts.clone(),
    });
    builds
        .iter()
        .zip(outcomes)
        .filter_map(|(b, o)| match o {
            Outcome::Published { artifact } => Some((
                b.name.clone(),
                BuildRecord {
                    region: b.region.clone(),
                    release: b.release.clone(),
                    virtualization: b.virtualization,
                    architecture: b.architecture,
                    ami_id: artifact.ami_id.clone(),
                    ami_name: artifact.ami_name.clone(),
                    snapshot_ids: artifact.snapshot_ids.clone(),
                    source_ami: b.source_ami.clone(),
                    permissions: permissions.iter().cloned().collect(),
                    run_id: artifact.run_id.clone(),
                    published_at: now(),
                },
            )),
            _ => None,
        })
        .collect()
}

/// A version with no build yet.
fn empty_version(artifact: &str, version: &str) -> Version {
    Version {
        schema_version: SCHEMA_VERSION,
        artifact: artifact.to_string(),
        version: version.to_string(),
        status: Completeness::Incomplete,
        missing: Vec::new(),
        builds: BTreeMap::new(),
        atlas: BTreeMap::new(),
        metadata: BTreeMap::new(),
        git_commit: None,
        created_at: now(),
        updated_at: now(),
        revoked: None,
        extra: serde_json::Map::new(),
    }
}

/// Puts `records` in the version: a record that says the same keeps its time; anything
/// changed (another AMI, permissions reconciled since) is recorded as this run found it.
fn merge(doc: &mut Version, records: &BTreeMap<String, BuildRecord>) {
    for (name, r) in records {
        let same = doc.builds.get(name).is_some_and(|old| {
            BuildRecord {
                published_at: r.published_at.clone(),
                run_id: r.run_id.clone(),
                ..old.clone()
            } == *r
        });
        if !same {
            doc.builds.insert(name.clone(), r.clone());
        }
    }
}

/// The index's line for `doc`, unless another publish of the version recorded more since.
fn summarize(index: &mut super::schema::Index, doc: &Version) {
    let before = index.versions.get(&doc.version);
    if before.is_some_and(|v| v.updated_at > doc.updated_at) {
        return;
    }
    let created = before.map_or_else(|| doc.created_at.clone(), |v| v.created_at.clone());
    let revoked = before.and_then(|v| v.revoked.clone());
    index.versions.insert(
        doc.version.clone(),
        VersionSummary {
            status: doc.status,
            builds: doc.builds.len(),
            regions: doc.builds.values().map(|b| b.region.clone()).collect(),
            created_at: created,
            updated_at: doc.updated_at.clone(),
            revoked,
        },
    );
}

/// Creates the registry's bucket when it does not exist: private and encrypted like the
/// staging buckets, tagged as the registry's (not `amipub:managed`, so that `cleanup` never
/// takes it for a staging bucket).
async fn ensure_bucket(reg: &Registry<'_>) -> Result<(), RegistryError> {
    let bucket = reg.store.bucket();
    match reg.store.s3().head_bucket().bucket(bucket).send().await {
        Ok(_) => return Ok(()),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => {}
        Err(e) => {
            return Err(RegistryError::Aws(format!(
                "registry bucket {bucket}: {}",
                errors::describe(&e)
            )));
        }
    }
    let tags = [(
        crate::aws::tags::REGISTRY.to_string(),
        reg.settings.artifact.clone(),
    )];
    crate::engine::staging::create_private_bucket(
        reg.store.s3(),
        &reg.settings.region,
        bucket,
        &tags,
    )
    .await
    .map(|_created| ())
    .map_err(RegistryError::Aws)
}
