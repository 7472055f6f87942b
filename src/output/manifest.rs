//! amipub-manifest.json: everything known about each published build, beside ami_ids.json.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// Version of the manifest format; fields are only added within a version.
pub const MANIFEST_SCHEMA_VERSION: u32 = 1;

/// Launch permissions as applied.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedPermissions {
    /// Groups (`all`).
    pub groups: Vec<String>,
    /// Account IDs.
    pub accounts: Vec<String>,
}

/// One published build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestBuild {
    /// Build name.
    pub name: String,
    /// Region.
    pub region: String,
    /// Release, dotted.
    pub release: String,
    /// `paravirtual` or `hvm`.
    pub virtualization: String,
    /// `x86_64` or `arm64`; absent in manifests written before architectures (x86_64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architecture: Option<String>,
    /// `ebs` or `instance-store`.
    pub backing: String,
    /// The AMI.
    pub ami_id: String,
    /// Its name.
    pub ami_name: String,
    /// Its snapshots.
    pub snapshot_ids: Vec<String>,
    /// The upstream AMI it was built from.
    pub source_ami: String,
    /// Profile version.
    pub version: String,
    /// Launch permissions applied.
    pub permissions: AppliedPermissions,
    /// The run that made the AMI.
    pub run_id: String,
    /// When the build that made the AMI started (RFC 3339); absent when an earlier run made it
    /// and the manifest did not know.
    pub started_at: Option<String>,
    /// When the AMI was published, or found published (RFC 3339).
    pub finished_at: String,
    /// Copy mode: the AMI this one was copied from (`region:ami-...`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copied_from: Option<String>,
    /// Fields amipub does not know, kept as they are.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// The whole manifest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Format version.
    pub schema_version: u32,
    /// The last run that published a build into the manifest (reused AMIs do not count).
    pub last_run_id: String,
    /// Builds by name.
    pub builds: BTreeMap<String, ManifestBuild>,
    /// Copy mode: the AMI this one was copied from (`region:ami-...`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copied_from: Option<String>,
    /// Fields amipub does not know, kept as they are.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl Manifest {
    /// Where the manifest of `ami_ids` lives: beside it.
    pub fn path_beside(ami_ids: &Path) -> PathBuf {
        ami_ids.with_file_name("amipub-manifest.json")
    }

    /// Reads `path`; a missing file is an empty manifest.
    pub fn load(path: &Path) -> Result<Manifest, Error> {
        match crate::config::yaml::read_bounded(path, super::MAX_OUTPUT_BYTES) {
            Ok(t) => serde_json::from_str(&t).map_err(|e| {
                Error::Usage(vec![format!(
                    "{}:{}: not an amipub manifest ({e}); fix or move it",
                    path.display(),
                    e.line()
                )])
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Manifest {
                schema_version: MANIFEST_SCHEMA_VERSION,
                ..Manifest::default()
            }),
            Err(e) => Err(Error::Usage(vec![format!(
                "cannot read {}: {e}",
                path.display()
            )])),
        }
    }

    /// The manifest's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v =
            serde_json::to_vec_pretty(self).expect("in-memory JSON serialization cannot fail");
        v.push(b'\n');
        v
    }
}
