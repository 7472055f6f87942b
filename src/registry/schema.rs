//! The registry's documents (schema 1, stable like `plan --format json`; README, "Registry"):
//! an index per artifact (versions, channels, every channel move) and a document per version
//! (each build's AMI and where it came from). Fields amipub does not know are kept.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::{Architecture, Virtualization};

/// The schema these types read and write.
pub const SCHEMA_VERSION: u32 = 1;

/// Whether every build of the profile is in a version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Completeness {
    /// Every build of the profile published.
    Complete,
    /// Some builds are missing (the version lists them).
    Incomplete,
}

impl Completeness {
    /// As the documents and tables write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Completeness::Complete => "complete",
            Completeness::Incomplete => "incomplete",
        }
    }
}

/// Who did something, when and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    /// RFC 3339.
    pub at: String,
    /// `user@host`.
    pub by: String,
    /// Why, when one was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `artifacts/<artifact>/index.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Index {
    /// [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The artifact.
    pub artifact: String,
    /// Every version recorded, by version.
    #[serde(default)]
    pub versions: BTreeMap<String, VersionSummary>,
    /// Every channel, by name.
    #[serde(default)]
    pub channels: BTreeMap<String, Channel>,
    /// Every channel move, oldest first.
    #[serde(default)]
    pub history: Vec<Move>,
    /// Fields of later schemas or other tools, kept as they are.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl Index {
    /// The empty index of `artifact`.
    pub fn new(artifact: &str) -> Index {
        Index {
            schema_version: SCHEMA_VERSION,
            artifact: artifact.to_string(),
            versions: BTreeMap::new(),
            channels: BTreeMap::new(),
            history: Vec::new(),
            extra: serde_json::Map::new(),
        }
    }

    /// The version `channel` pointed at before it moved to its current one and that is not
    /// revoked, found in the history (for a rollback).
    pub fn previous(&self, channel: &str) -> Option<String> {
        let current = self.channels.get(channel)?.version.clone();
        self.history
            .iter()
            .rev()
            .filter(|m| m.channel == channel)
            .filter_map(|m| m.from.clone())
            .find(|v| {
                Some(v) != current.as_ref()
                    && self.versions.get(v).is_some_and(|s| s.revoked.is_none())
            })
    }
}

/// A version, as the index lists it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VersionSummary {
    /// Complete or not.
    pub status: Completeness,
    /// How many builds it holds.
    pub builds: usize,
    /// The regions its builds are in.
    #[serde(default)]
    pub regions: std::collections::BTreeSet<String>,
    /// When it was first recorded.
    pub created_at: String,
    /// When it last changed.
    pub updated_at: String,
    /// Set once it is revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked: Option<Stamp>,
}

/// Where a channel points.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Channel {
    /// The version, if it points at one.
    pub version: Option<String>,
    /// When it last moved.
    pub moved_at: String,
    /// A move under way: its parameters are being written. Another move of the channel is
    /// refused meanwhile, so that two operators never leave regions on different versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<Pending>,
}

/// A channel move whose parameters are being written.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pending {
    /// The version the channel is moving to.
    pub to: String,
    /// Who started it, when.
    #[serde(flatten)]
    pub stamp: Stamp,
}

/// A channel moved.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Move {
    /// The channel.
    pub channel: String,
    /// The version it pointed at before, if any.
    pub from: Option<String>,
    /// The version it points at now, if any.
    pub to: Option<String>,
    /// When, by whom, why.
    #[serde(flatten)]
    pub stamp: Stamp,
}

/// `artifacts/<artifact>/versions/<version>.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Version {
    /// [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The artifact.
    pub artifact: String,
    /// The version.
    pub version: String,
    /// Complete when every build of the profile is here.
    pub status: Completeness,
    /// The profile's builds that are not (yet) here.
    #[serde(default)]
    pub missing: Vec<String>,
    /// Each build, by name.
    pub builds: BTreeMap<String, BuildRecord>,
    /// Atlas-compatible keys for each `<release>-<virt>` family: `region.<region>` (and the
    /// `region-<region>` spelling Terraform's atlas_artifact used) -> AMI ID.
    #[serde(default)]
    pub atlas: BTreeMap<String, BTreeMap<String, String>>,
    /// The profile's metadata.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// The git commit of the checkout it was published from, when in one.
    #[serde(default)]
    pub git_commit: Option<String>,
    /// When it was first recorded.
    pub created_at: String,
    /// When it last changed.
    pub updated_at: String,
    /// Set once it is revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked: Option<Stamp>,
    /// Fields of later schemas or other tools, kept as they are.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl Version {
    /// Recomputes what depends on the builds: completeness, missing builds, Atlas keys.
    pub fn settle(&mut self, profile_builds: &[String]) {
        self.missing = profile_builds
            .iter()
            .filter(|b| !self.builds.contains_key(*b))
            .cloned()
            .collect();
        self.status = if self.missing.is_empty() {
            Completeness::Complete
        } else {
            Completeness::Incomplete
        };
        self.atlas.clear();
        for b in self.builds.values() {
            let family = self
                .atlas
                // Each architecture is a family of its own: x86_64 keeps the names Atlas
                // consumers know (`1404-hvm`), others are suffixed (`2404-hvm-arm64`).
                .entry(format!(
                    "{}-{}{}",
                    b.release,
                    b.virtualization.short(),
                    b.architecture.name_suffix()
                ))
                .or_default();
            family.insert(format!("region.{}", b.region), b.ami_id.clone());
            family.insert(format!("region-{}", b.region), b.ami_id.clone());
        }
    }
}

/// One build of a version: its AMI and where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildRecord {
    /// Region.
    pub region: String,
    /// OS release as keyed in regions.yaml (`1404`).
    pub release: String,
    /// `paravirtual` or `hvm`.
    pub virtualization: Virtualization,
    /// The architecture; absent in documents (and for x86_64) written before architectures.
    #[serde(default = "x86_64", skip_serializing_if = "is_x86_64")]
    pub architecture: Architecture,
    /// The AMI.
    pub ami_id: String,
    /// Its name.
    pub ami_name: String,
    /// Its snapshots.
    pub snapshot_ids: Vec<String>,
    /// The upstream AMI it was built from.
    pub source_ami: String,
    /// Launch permissions applied (`group:all`, `account:ID`).
    pub permissions: Vec<String>,
    /// The run that published it.
    pub run_id: String,
    /// When it was published.
    pub published_at: String,
}

fn x86_64() -> Architecture {
    Architecture::X86_64
}

fn is_x86_64(a: &Architecture) -> bool {
    *a == Architecture::X86_64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(arch: Architecture, ami: &str) -> BuildRecord {
        BuildRecord {
            region: "us-east-1".into(),
            release: "2404".into(),
            virtualization: Virtualization::Hvm,
            architecture: arch,
            ami_id: ami.into(),
            ami_name: ami.into(),
            snapshot_ids: Vec::new(),
            source_ami: "ami-0".into(),
            permissions: Vec::new(),
            run_id: "r".into(),
            published_at: "t".into(),
        }
    }

    #[test]
    fn each_architecture_is_an_atlas_family_of_its_own() {
        let mut v: Version = serde_json::from_value(serde_json::json!({
            "schema_version": 1, "artifact": "a", "version": "1", "status": "incomplete",
            "builds": {}, "created_at": "t", "updated_at": "t"
        }))
        .unwrap();
        v.builds.insert(
            "us-east-1-2404-hvm".into(),
            record(Architecture::X86_64, "ami-x"),
        );
        v.builds.insert(
            "us-east-1-2404-hvm-arm64".into(),
            record(Architecture::Arm64, "ami-a"),
        );
        v.settle(&[]);
        assert_eq!(v.atlas["2404-hvm"]["region.us-east-1"], "ami-x");
        assert_eq!(v.atlas["2404-hvm-arm64"]["region.us-east-1"], "ami-a");
        let json = serde_json::to_value(&v.builds["us-east-1-2404-hvm"]).unwrap();
        assert!(
            json.get("architecture").is_none(),
            "x86_64 records keep their shape"
        );
    }
}
