//! What a staging bucket's builds share until the last of them ends: the run's provisioning
//! script, staged once per bucket (every build's instance fetches the same object through its
//! own presigned URL), and what published builds leave: their stopped build instances, which
//! are terminated (one TerminateInstances), and their staged files, which are sealed (one
//! bucket policy write for the run's prefix) and deleted (one DeleteObjects), when the
//! bucket's last build of the run has ended, instead of one call of each per build. A failed build still
//! seals and removes its own prefix at once (rollback.rs); a run killed before the end leaves
//! the files to the next run's sweep, which removes and seals them.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::{Mutex, OnceCell};

use super::build::Made;
use super::{Engine, staging};
use crate::aws::{RegionClients, errors};
use crate::events::Event;
use crate::matrix::Build;

/// Per staging bucket of the run, what its builds share until the last one ends.
#[derive(Default)]
pub(super) struct RegionEnds {
    by_bucket: std::sync::Mutex<HashMap<String, Arc<BucketEnd>>>,
}

#[derive(Default)]
struct BucketEnd {
    /// The script's key, once staged.
    script: OnceCell<String>,
    pending: Mutex<Pending>,
}

/// What a bucket's ended builds left for its last one to remove.
#[derive(Default)]
struct Pending {
    /// Builds of the run in this bucket that have not ended yet.
    remaining: usize,
    /// Published builds whose staged files wait for the end, with what they staged.
    finished: Vec<(String, Made)>,
}

impl RegionEnds {
    /// Expects `builds`, each of which ends exactly once, through [`Engine::build_ended`].
    pub(super) fn expect(&self, builds: &[Build]) {
        let mut map = self.by_bucket.lock().unwrap_or_else(|e| e.into_inner());
        for b in builds {
            let end = map.entry(b.bucket.clone()).or_default();
            // Not yet shared: no build has started.
            if let Some(end) = Arc::get_mut(end) {
                end.pending.get_mut().remaining += 1;
            }
        }
    }

    fn get(&self, bucket: &str) -> Option<Arc<BucketEnd>> {
        let map = self.by_bucket.lock().unwrap_or_else(|e| e.into_inner());
        map.get(bucket).cloned()
    }
}

impl Engine {
    /// The key of the run's provisioning script in `b`'s bucket, uploading it on first use.
    /// A failed upload is not remembered: the next build tries again.
    pub(super) async fn staged_script(&self, b: &Build) -> Result<String, String> {
        let end = self
            .ends
            .get(&b.bucket)
            .ok_or_else(|| format!("{} was not expected (this is a bug)", b.bucket))?;
        let c = self.clients.region(&b.region);
        end.script
            .get_or_try_init(|| async {
                let key = format!("{}/provision.sh", self.opts.run_id);
                staging::put(c, &b.bucket, &key, self.opts.script.to_vec()).await?;
                Ok(key)
            })
            .await
            .cloned()
    }

    /// A published build's finish: its instance and staged files are left to the end of its
    /// bucket (`made` keeps listing them until they are gone), where what cannot be removed is
    /// listed as left behind, never a reason to throw the AMI away.
    pub(super) async fn finish_later(&self, b: &Build, made: &Made) {
        if made.instance.is_none() && made.staged.is_empty() && made.urls_expire.is_none() {
            return;
        }
        if let Some(end) = self.ends.get(&b.bucket) {
            end.pending
                .lock()
                .await
                .finished
                .push((b.name.clone(), made.clone()));
        }
    }

    /// Says that `b` has ended, however it ended; the bucket's last build seals and deletes
    /// what the others left for it, and the script.
    pub(super) async fn build_ended(&self, b: &Build) {
        let Some(end) = self.ends.get(&b.bucket) else {
            return;
        };
        let mut p = end.pending.lock().await;
        p.remaining = p.remaining.saturating_sub(1);
        if p.remaining > 0 {
            return;
        }
        let finished = std::mem::take(&mut p.finished);
        let script = end.script.get().cloned();
        self.end_bucket(b, finished, script).await;
    }

    async fn end_bucket(&self, b: &Build, finished: Vec<(String, Made)>, script: Option<String>) {
        if finished.is_empty() && script.is_none() {
            return;
        }
        if self.lock_lost() {
            // Another run holds the bucket now: its sweep removes all this.
            self.still_left(&finished, None, &[]);
            return;
        }
        let c = self.clients.region(&b.region);
        let mut problems = Vec::new();
        let instances: Vec<String> = finished
            .iter()
            .filter_map(|(_, m)| m.instance.clone())
            .collect();
        let terminated = terminate(c, &instances).await;
        let until = finished.iter().filter_map(|(_, m)| m.urls_expire).max();
        let mut sealed = true;
        if let Some(until) = until {
            let run = self.opts.run_id.as_str();
            if let Err(e) = self.sealer.seal(c, &b.bucket, &[run], until).await {
                sealed = false;
                self.events.send(Event::Warning {
                    region: b.region.clone(),
                    message: format!(
                        "{e}; this run's presigned upload URLs there work until {}",
                        humantime::format_rfc3339_seconds(until)
                    ),
                });
            }
        }
        let keys: Vec<String> = finished
            .iter()
            .flat_map(|(_, m)| m.staged.iter().cloned())
            .chain(script)
            .collect();
        let deleted = staging::delete_keys(c, &b.bucket, &keys).await;
        if let Err(e) = &deleted {
            problems.push(e.clone());
        }
        let mut remaining = Vec::new();
        for (build, mut made) in finished {
            if terminated.is_ok() {
                made.instance = None;
            }
            if sealed {
                made.urls_expire = None;
            }
            if deleted.is_ok() {
                made.staged.clear();
            }
            self.ledger.record(&build, &made);
            if !made.is_empty() {
                remaining.push((build, made));
            }
        }
        self.still_left(&remaining, terminated.err().as_deref(), &problems);
    }

    /// Lists what finished builds leave behind, and why: `terminating` is why their instances
    /// are still there, `why` what else failed.
    fn still_left(&self, finished: &[(String, Made)], terminating: Option<&str>, why: &[String]) {
        for (build, made) in finished {
            let mut lines = made.describe(build);
            if let (Some(e), Some(line)) = (terminating, lines.first_mut())
                && made.instance.is_some()
            {
                // describe() names the instance first.
                line.push_str(&format!(": TerminateInstances failed ({e})"));
            }
            lines.extend(why.iter().map(|w| format!("{build}: {w}")));
            self.events.send(Event::CleanedUp {
                build: build.clone(),
                removed: Vec::new(),
                left: lines,
                kept: false,
            });
        }
    }
}

/// Terminates `instances` (EC2 takes up to 1000 at once).
async fn terminate(c: &RegionClients, instances: &[String]) -> Result<(), String> {
    for chunk in instances.chunks(1000) {
        c.ec2
            .terminate_instances()
            .set_instance_ids(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(|e| errors::describe(&e))?;
    }
    Ok(())
}
