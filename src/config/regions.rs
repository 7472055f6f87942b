//! `regions.yaml`: the source-image matrix (region -> release -> virtualization -> upstream AMI).

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{Architecture, PerArch, Virtualization};

/// The whole regions file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionsFile {
    /// Regions by name, in name order.
    pub regions: BTreeMap<String, RegionEntry>,
}

/// One region's source images.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionEntry {
    /// Why the region is kept but never built; absent for enabled regions.
    #[serde(default)]
    pub disabled: Option<String>,
    /// Upstream AMI IDs by release (`"1404"`) and virtualization type: one ID (x86_64's) or
    /// one per architecture.
    pub amis: BTreeMap<String, BTreeMap<Virtualization, PerArch>>,
}

impl RegionEntry {
    /// The source AMI of `release`, `virt` and `arch`, if the file has one.
    pub fn source(&self, release: &str, virt: Virtualization, arch: Architecture) -> Option<&str> {
        self.amis.get(release)?.get(&virt)?.for_arch(arch)
    }
}

impl RegionsFile {
    /// The regions that may be built, in name order.
    pub fn enabled(&self) -> impl Iterator<Item = &str> {
        self.regions
            .iter()
            .filter(|(_, r)| r.disabled.is_none())
            .map(|(n, _)| n.as_str())
    }
}
