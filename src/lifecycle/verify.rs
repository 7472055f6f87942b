//! `verify`: does AWS hold what ami_ids.json says, as the profile wants it?

use std::collections::{BTreeMap, BTreeSet, HashMap};

use aws_sdk_ec2::types::{Filter, Image, SnapshotAttributeName};
use futures::future::join_all;
use serde::Serialize;

use crate::aws::images::{launch_permissions, snapshots_of, tag};
use crate::aws::{Clients, RegionClients, errors, tags};
use crate::engine::Permissions;

/// An AMI ami_ids.json lists, and what it should be.
#[derive(Debug, Clone)]
pub struct Expected {
    /// Build name derived from the entry (`us-east-1-1404-pv`).
    pub build: String,
    /// Region.
    pub region: String,
    /// AMI ID.
    pub ami_id: String,
    /// The name the profile gives the build, when the profile knows the build.
    pub ami_name: Option<String>,
    /// The build's architecture, when known.
    pub architecture: Option<crate::config::Architecture>,
}

/// What the AMIs should be, beyond their names.
#[derive(Debug, Clone)]
pub struct Wants {
    /// Launch permissions.
    pub permissions: Permissions,
    /// The profile's `ami:` settings (none: nothing checked of them).
    pub ami: crate::config::AmiSettings,
    /// How the AMIs are backed (root volumes are checked of EBS images only).
    pub backing: crate::config::Backing,
}

/// What verify concluded about one AMI; serialized as its kebab-case name (`--format json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Exactly as the profile wants it.
    Ok,
    /// It exists but differs (the row's differences say how).
    Mismatch,
    /// ami_ids.json lists it, and its region does not have it.
    Missing,
    /// amipub made it for this profile and version, and ami_ids.json does not list it.
    Unlisted,
    /// Its region could not be asked: nothing is known of it.
    Unreachable,
}

impl Verdict {
    /// The verdict's name, as the table and JSON show it.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Mismatch => "mismatch",
            Verdict::Missing => "missing",
            Verdict::Unlisted => "unlisted",
            Verdict::Unreachable => "unreachable",
        }
    }
}

/// The result for one AMI.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// Build name.
    pub build: String,
    /// Region.
    pub region: String,
    /// AMI ID.
    pub ami_id: String,
    /// The verdict.
    pub result: Verdict,
    /// What differs.
    pub differences: Vec<String>,
}

/// Checks every AMI of `expected` in its region, and looks for AMIs amipub tagged with
/// `version` that `expected` does not list and that have one of `profile_names` (the names the
/// profile gives its builds).
pub async fn run(
    clients: &Clients,
    expected: &[Expected],
    version: &str,
    wants: &Wants,
    profile_names: &BTreeSet<String>,
) -> Vec<Row> {
    let mut by_region: BTreeMap<&str, Vec<&Expected>> = BTreeMap::new();
    for e in expected {
        by_region.entry(e.region.as_str()).or_default().push(e);
    }
    let checks = by_region.iter().map(|(region, list)| async move {
        match clients.try_region(region) {
            Some(c) => check_region(c, region, list, version, wants, profile_names).await,
            // A region this command did not connect (a version recorded since in another):
            // nothing is known of it.
            None => list
                .iter()
                .map(|e| Row {
                    build: e.build.clone(),
                    region: region.to_string(),
                    ami_id: e.ami_id.clone(),
                    result: Verdict::Unreachable,
                    differences: vec![format!("{region} was not connected by this command")],
                })
                .collect(),
        }
    });
    join_all(checks).await.into_iter().flatten().collect()
}

async fn check_region(
    c: &RegionClients,
    region: &str,
    expected: &[&Expected],
    version: &str,
    wants: &Wants,
    profile_names: &BTreeSet<String>,
) -> Vec<Row> {
    let row = |e: &Expected, result, differences| Row {
        build: e.build.clone(),
        region: region.to_string(),
        ami_id: e.ami_id.clone(),
        result,
        differences,
    };
    let ids: Vec<String> = expected.iter().map(|e| e.ami_id.clone()).collect();
    let listed = describe(
        c,
        Filter::builder()
            .name("image-id")
            .set_values(Some(ids))
            .build(),
    )
    .await;
    let tagged = describe(
        c,
        Filter::builder()
            .name(format!("tag:{}", tags::VERSION))
            .values(version)
            .build(),
    )
    .await;
    let (listed, tagged) = match (listed, tagged) {
        (Ok(l), Ok(t)) => (l, t),
        (Err(e), _) | (_, Err(e)) => {
            return expected
                .iter()
                .map(|x| {
                    row(
                        x,
                        Verdict::Unreachable,
                        vec![format!("cannot check {region}: {e}")],
                    )
                })
                .collect();
        }
    };
    let found: HashMap<&str, &Image> = listed
        .iter()
        .filter_map(|i| Some((i.image_id()?, i)))
        .collect();
    let mut rows = Vec::new();
    for e in expected {
        let Some(img) = found.get(e.ami_id.as_str()) else {
            rows.push(row(
                e,
                Verdict::Missing,
                vec![format!("{} does not exist in {region}", e.ami_id)],
            ));
            continue;
        };
        let mut diffs = differences(c, e, img, version, &wants.permissions).await;
        diffs.extend(super::ami_settings::differences(
            img,
            &wants.ami,
            e.architecture,
            wants.backing,
        ));
        rows.push(row(
            e,
            if diffs.is_empty() {
                Verdict::Ok
            } else {
                Verdict::Mismatch
            },
            diffs,
        ));
    }
    let listed_ids: BTreeSet<&str> = expected.iter().map(|e| e.ami_id.as_str()).collect();
    for img in &tagged {
        let id = img.image_id().unwrap_or_default();
        let this_profiles = img.name().is_some_and(|n| profile_names.contains(n));
        if !listed_ids.contains(id) && this_profiles {
            rows.push(Row {
                build: tag(img, tags::BUILD).unwrap_or_default(),
                region: region.to_string(),
                ami_id: id.to_string(),
                result: Verdict::Unlisted,
                differences: vec![format!(
                    "amipub tagged it for version {version}, but ami_ids.json does not list it"
                )],
            });
        }
    }
    rows
}

async fn describe(c: &RegionClients, filter: Filter) -> Result<Vec<Image>, String> {
    c.ec2
        .describe_images()
        .owners("self")
        .filters(filter)
        .send()
        .await
        .map(|r| r.images().to_vec())
        .map_err(|e| errors::describe(&e))
}

async fn differences(
    c: &RegionClients,
    e: &Expected,
    img: &Image,
    version: &str,
    perms: &Permissions,
) -> Vec<String> {
    let mut d = Vec::new();
    if img.state() != Some(&aws_sdk_ec2::types::ImageState::Available) {
        let state = img.state().map_or("unknown", |s| s.as_str());
        d.push(format!("state is {state}, not available"));
    }
    if let Some(want) = &e.ami_name
        && img.name() != Some(want.as_str())
    {
        d.push(format!(
            "name is \"{}\", expected \"{want}\"",
            img.name().unwrap_or("")
        ));
    }
    for (key, want) in [
        (tags::MANAGED, "true"),
        (tags::BUILD, e.build.as_str()),
        (tags::VERSION, version),
    ] {
        let got = tag(img, key);
        if got.as_deref() != Some(want) {
            d.push(format!(
                "tag {key} is {}, expected {want}",
                got.as_deref().unwrap_or("absent")
            ));
        }
    }
    let expected = crate::engine::expected_permissions(perms);
    match launch_permissions(c, &e.ami_id).await {
        Ok(got) if got != expected => {
            d.push(format!(
                "launch permissions are [{}], expected [{}]",
                join(&got),
                join(&expected)
            ));
        }
        Ok(_) => {}
        Err(err) => d.push(format!("cannot read launch permissions: {err}")),
    }
    let want_accounts: BTreeSet<String> = perms.accounts.iter().cloned().collect();
    for snap in snapshots_of(img) {
        match c
            .ec2
            .describe_snapshot_attribute()
            .snapshot_id(&snap)
            .attribute(SnapshotAttributeName::CreateVolumePermission)
            .send()
            .await
        {
            Ok(a) => {
                let got: BTreeSet<String> = a
                    .create_volume_permissions()
                    .iter()
                    .filter_map(|p| p.user_id().map(str::to_string))
                    .collect();
                if got != want_accounts {
                    d.push(format!(
                        "snapshot {snap} can be used by accounts [{}], expected [{}]",
                        join(&got),
                        join(&want_accounts)
                    ));
                }
            }
            Err(err) => d.push(format!(
                "cannot read permissions of snapshot {snap}: {}",
                errors::describe(&err)
            )),
        }
    }
    d
}

fn join(s: &BTreeSet<String>) -> String {
    s.iter().cloned().collect::<Vec<_>>().join(", ")
}
