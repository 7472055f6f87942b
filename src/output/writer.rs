//! Keeps ami_ids.json and the manifest up to date as artifacts arrive, so that they are right
//! whenever a run stops. Each write takes the directory's lock, re-reads both files and applies
//! this run's artifacts to what they hold then, so that entries written meanwhile by another
//! run (or by hand) survive, and so do fields amipub does not know.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::SystemTime;

use super::ami_ids::AmiIds;
use super::manifest::{AppliedPermissions, Manifest, ManifestBuild};
use super::{with_dir_lock, write_atomic};
use crate::error::Error;
use crate::events::{Artifact, Event, Stamped};
use crate::matrix::Build;
use crate::report::Reporter;

/// The writer of one run's outputs.
pub struct OutputWriter {
    ami_ids_path: PathBuf,
    manifest_path: PathBuf,
    builds: HashMap<String, Build>,
    permissions: AppliedPermissions,
    version: String,
    run_id: String,
    started: HashMap<String, String>,
    /// This run's artifacts with when each was published, applied at every write.
    artifacts: Vec<(Artifact, SystemTime)>,
    /// How many times both files were written, shared with whoever reports the run.
    writes: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl OutputWriter {
    /// A writer of `ami_ids_path` and `manifest_path` for `builds` of `run_id`.
    pub fn new(
        ami_ids_path: PathBuf,
        manifest_path: PathBuf,
        builds: &[Build],
        permissions: AppliedPermissions,
        version: &str,
        run_id: &str,
    ) -> OutputWriter {
        OutputWriter {
            ami_ids_path,
            manifest_path,
            builds: builds.iter().map(|b| (b.name.clone(), b.clone())).collect(),
            permissions,
            version: version.to_string(),
            run_id: run_id.to_string(),
            started: HashMap::new(),
            artifacts: Vec::new(),
            writes: std::sync::Arc::default(),
        }
    }

    /// A count of the writes made so far, which stays readable once the writer is handed to
    /// the run's [`crate::report::Fanout`].
    pub fn writes(&self) -> std::sync::Arc<std::sync::atomic::AtomicUsize> {
        std::sync::Arc::clone(&self.writes)
    }

    fn write(&self) -> Result<(), Error> {
        with_dir_lock(&self.ami_ids_path, || {
            let mut ids = AmiIds::load(&self.ami_ids_path)?;
            let mut manifest = Manifest::load(&self.manifest_path)?;
            for (a, at) in &self.artifacts {
                self.apply(&mut ids, &mut manifest, a, *at);
            }
            write_atomic(&self.ami_ids_path, &ids.to_bytes())?;
            write_atomic(&self.manifest_path, &manifest.to_bytes())
        })
    }

    fn apply(&self, ids: &mut AmiIds, manifest: &mut Manifest, a: &Artifact, at: SystemTime) {
        let b = &self.builds[&a.build];
        ids.set(
            &b.region,
            &b.release,
            (b.virtualization, b.architecture),
            &a.ami_id,
        );
        // A reused AMI changes nothing, so a run that publishes nothing new leaves both files
        // as they were (a release re-run then has nothing new to commit).
        if !a.reused {
            manifest.last_run_id = self.run_id.clone();
        }
        let previous = manifest
            .builds
            .get(&b.name)
            .filter(|m| m.ami_id == a.ami_id)
            .cloned();
        let started_at = self
            .started
            .get(&b.name)
            .cloned()
            .or_else(|| previous.as_ref().and_then(|p| p.started_at.clone()));
        let (finished_at, extra) = match previous {
            Some(p) => (p.finished_at, p.extra),
            None => (
                humantime::format_rfc3339_seconds(at).to_string(),
                serde_json::Map::new(),
            ),
        };
        manifest.builds.insert(
            b.name.clone(),
            ManifestBuild {
                name: b.name.clone(),
                region: b.region.clone(),
                release: crate::config::template::dotted_release(&b.release),
                virtualization: b.virtualization.as_str().to_string(),
                architecture: Some(b.architecture.as_str().to_string()),
                backing: b.backing.as_str().to_string(),
                ami_id: a.ami_id.clone(),
                ami_name: a.ami_name.clone(),
                snapshot_ids: a.snapshot_ids.clone(),
                source_ami: b.source_ami.clone(),
                version: self.version.clone(),
                permissions: self.permissions.clone(),
                run_id: a.run_id.clone(),
                started_at,
                finished_at,
                copied_from: a.copied_from.clone(),
                extra,
            },
        );
    }
}

impl Reporter for OutputWriter {
    /// Takes one event; an artifact is written at once (with every earlier one, so that a
    /// write that failed is made good by the next).
    fn event(&mut self, e: &Stamped) -> std::io::Result<()> {
        match &e.event {
            Event::BuildStarted { build, .. } => {
                self.started.insert(
                    build.clone(),
                    humantime::format_rfc3339_seconds(e.at).to_string(),
                );
                Ok(())
            }
            Event::Artifact(a) if self.builds.contains_key(&a.build) => {
                self.artifacts.push((a.clone(), e.at));
                self.write().map_err(std::io::Error::other)?;
                self.writes
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                Ok(())
            }
            _ => Ok(()),
        }
    }
}
