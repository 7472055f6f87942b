//! The build matrix: a profile crossed with the regions file, expanded into named builds.

mod expand;
mod patterns;
mod select;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::config::{Architecture, Backing, Virtualization};

pub use expand::{cell_names, expand};
pub use patterns::Patterns;
pub use select::{Selected, Selection, SkippedRegion, select};

/// One build: a single AMI to publish in one region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Build {
    /// `<region>-<release>-<pv|hvm>[-<arch>]`, e.g. `us-east-1-1404-pv` or
    /// `us-east-1-2404-hvm-arm64` (x86_64 builds carry no suffix).
    pub name: String,
    /// The region the AMI is built and published in.
    pub region: String,
    /// OS release as keyed in regions.yaml (`1404`).
    pub release: String,
    /// `paravirtual` or `hvm`.
    pub virtualization: Virtualization,
    /// The CPU architecture.
    pub architecture: Architecture,
    /// The upstream AMI the build starts from.
    pub source_ami: String,
    /// The rendered AMI name.
    pub ami_name: String,
    /// The rendered AMI description.
    pub description: String,
    /// EBS or instance-store.
    pub backing: Backing,
    /// Instance type of the build instance.
    pub instance_type: String,
    /// The region's staging bucket.
    pub bucket: String,
    /// Environment of the provisioning script, rendered.
    #[serde(skip)]
    pub env: BTreeMap<String, String>,
    /// The profile's extra tags, rendered.
    #[serde(skip)]
    pub tags: BTreeMap<String, String>,
    /// Copy mode: the home build whose AMI this build copies (it launches no instance).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub copy_of: Option<String>,
}

impl Build {
    /// The S3 prefix this build stages under in `run_id`: unique per run and build.
    pub fn prefix(&self, run_id: &str) -> String {
        format!("{run_id}/{}", self.name)
    }
}

/// The build name for a matrix cell.
pub fn build_name(region: &str, release: &str, virt: Virtualization, arch: Architecture) -> String {
    format!("{region}-{release}-{}{}", virt.short(), arch.name_suffix())
}
