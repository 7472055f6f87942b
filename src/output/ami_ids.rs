//! ami_ids.json: region -> list of {"id", "Distributor ID", "Release", "virtualization type"},
//! the shape ComboAMI's users and tools read. A run updates only the entries of the builds it
//! published and keeps every other.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::config::template::dotted_release;
use crate::config::{Architecture, Virtualization};
use crate::error::Error;

/// One AMI of a region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The AMI ID.
    pub id: String,
    /// Always `Ubuntu`: every release in regions.yaml is an Ubuntu release.
    #[serde(rename = "Distributor ID")]
    pub distributor: String,
    /// `14.04`.
    #[serde(rename = "Release")]
    pub release: String,
    /// `paravirtual` or `hvm` (the legacy file's `pv` is read as `paravirtual`).
    #[serde(rename = "virtualization type")]
    pub virtualization: String,
    /// `arm64`; absent for x86_64, as in every file written before architectures, so that
    /// readers of the legacy shape see it unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architecture: Option<String>,
    /// Fields amipub does not know, kept as they are for the tools that wrote them.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// The whole file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AmiIds(pub BTreeMap<String, Vec<Entry>>);

impl AmiIds {
    /// Reads `path`; a missing file is an empty one.
    pub fn load(path: &Path) -> Result<AmiIds, Error> {
        let text = match crate::config::yaml::read_bounded(path, super::MAX_OUTPUT_BYTES) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(AmiIds::default()),
            Err(e) => {
                return Err(Error::Usage(vec![format!(
                    "cannot read {}: {e}",
                    path.display()
                )]));
            }
        };
        let mut ids: AmiIds = serde_json::from_str(&text).map_err(|e| {
            Error::Usage(vec![format!(
                "{}:{}: not an ami_ids.json file ({e}); fix or move it, or write elsewhere with --output",
                path.display(),
                e.line()
            )])
        })?;
        for entries in ids.0.values_mut() {
            for e in entries.iter_mut() {
                if e.virtualization == "pv" {
                    e.virtualization = Virtualization::Paravirtual.as_str().to_string();
                }
            }
            sort(entries);
        }
        Ok(ids)
    }

    /// Sets the AMI of `region`'s `release` (`1404`), `virt` and `arch`, replacing the
    /// previous one.
    pub fn set(
        &mut self,
        region: &str,
        release: &str,
        (virt, arch): (Virtualization, Architecture),
        id: &str,
    ) {
        let release = dotted_release(release);
        let architecture = (arch != Architecture::X86_64).then(|| arch.as_str().to_string());
        let entries = self.0.entry(region.to_string()).or_default();
        let same = |e: &Entry| {
            e.release == release
                && e.virtualization == virt.as_str()
                && e.architecture == architecture
        };
        // Fields of other tools on the entry being replaced stay with it.
        let extra = entries
            .iter()
            .find(|e| same(e))
            .map(|e| e.extra.clone())
            .unwrap_or_default();
        entries.retain(|e| !same(e));
        entries.push(Entry {
            id: id.to_string(),
            distributor: "Ubuntu".to_string(),
            release,
            virtualization: virt.as_str().to_string(),
            architecture,
            extra,
        });
        sort(entries);
    }

    /// The file's bytes: keys sorted, lists by release then paravirtual before hvm, 4 spaces.
    pub fn to_bytes(&self) -> Vec<u8> {
        super::to_json_4(self)
    }

    /// Every AMI ID listed, with its region.
    pub fn all(&self) -> impl Iterator<Item = (&str, &Entry)> {
        self.0
            .iter()
            .flat_map(|(r, v)| v.iter().map(move |e| (r.as_str(), e)))
    }
}

fn sort(entries: &mut [Entry]) {
    let rank = |v: &str| match v {
        "paravirtual" => 0,
        "hvm" => 1,
        _ => 2,
    };
    entries.sort_by(|a, b| {
        (a.release.as_str(), rank(&a.virtualization), &a.architecture).cmp(&(
            b.release.as_str(),
            rank(&b.virtualization),
            &b.architecture,
        ))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    const PV: Virtualization = Virtualization::Paravirtual;
    const HVM: Virtualization = Virtualization::Hvm;
    const X86: Architecture = Architecture::X86_64;

    #[test]
    fn only_other_architectures_gain_a_field() {
        let mut ids = AmiIds::default();
        ids.set("us-east-1", "2404", (HVM, Architecture::Arm64), "ami-2");
        ids.set("us-east-1", "2404", (HVM, X86), "ami-1");
        let text = String::from_utf8(ids.to_bytes()).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["us-east-1"][0]["id"], "ami-1");
        assert!(v["us-east-1"][0].get("architecture").is_none());
        assert_eq!(v["us-east-1"][1]["id"], "ami-2");
        assert_eq!(v["us-east-1"][1]["architecture"], "arm64");
        ids.set("us-east-1", "2404", (HVM, Architecture::Arm64), "ami-3");
        assert_eq!(ids.0["us-east-1"].len(), 2, "replaced, not added");
        assert_eq!(ids.0["us-east-1"][1].id, "ami-3");
    }

    /// ComboAMI 2.6.2's published file (an excerpt), with its `pv` inconsistency.
    fn excerpt() -> &'static str {
        include_str!("../../tests/data/ami_ids.excerpt.json")
    }

    #[test]
    fn reads_the_legacy_file_and_normalizes_pv() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ami_ids.json");
        std::fs::write(&p, excerpt()).unwrap();
        let ids = AmiIds::load(&p).unwrap();
        let sa = &ids.0["sa-east-1"];
        assert_eq!(sa.len(), 4);
        assert!(
            sa.iter()
                .all(|e| e.virtualization == "paravirtual" || e.virtualization == "hvm")
        );
        assert_eq!(sa[0].id, "ami-db2aa3c6");
    }

    #[test]
    fn set_replaces_one_entry_and_keeps_the_others() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ami_ids.json");
        std::fs::write(&p, excerpt()).unwrap();
        let mut ids = AmiIds::load(&p).unwrap();
        ids.set("us-east-1", "1404", (PV, X86), "ami-11111111");
        ids.set("eu-west-1", "1204", (HVM, X86), "ami-22222222");
        let us = &ids.0["us-east-1"];
        assert_eq!(us.len(), 4);
        assert_eq!(us[2].id, "ami-11111111");
        assert_eq!(us[2].release, "14.04");
        assert_eq!(us[3].id, "ami-7365cc18", "the other entries are kept");
        assert_eq!(ids.0["eu-west-1"].len(), 1);
        assert_eq!(ids.0["sa-east-1"].len(), 4);
    }

    #[test]
    fn writes_the_legacy_layout() {
        let mut ids = AmiIds::default();
        ids.set("us-east-1", "1404", (HVM, X86), "ami-7365cc18");
        ids.set("us-east-1", "1404", (PV, X86), "ami-6f64cd04");
        let text = String::from_utf8(ids.to_bytes()).unwrap();
        assert_eq!(
            text,
            r#"{
    "us-east-1": [
        {
            "id": "ami-6f64cd04",
            "Distributor ID": "Ubuntu",
            "Release": "14.04",
            "virtualization type": "paravirtual"
        },
        {
            "id": "ami-7365cc18",
            "Distributor ID": "Ubuntu",
            "Release": "14.04",
            "virtualization type": "hvm"
        }
    ]
}
"#
        );
    }

    #[test]
    fn a_broken_file_is_refused_with_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ami_ids.json");
        std::fs::write(&p, "{\n  \"us-east-1\": [\n").unwrap();
        let err = AmiIds::load(&p).unwrap_err().to_string();
        assert!(
            err.contains("ami_ids.json:3: not an ami_ids.json file"),
            "{err}"
        );
    }
}
