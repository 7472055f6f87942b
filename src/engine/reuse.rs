//! Reusing an AMI an earlier run made for the same build and version. An earlier run may have
//! been killed anywhere after CreateImage or RegisterImage, so a found AMI is never trusted as
//! published: it is waited for while pending, then brought to the profile's state (its tags,
//! launch permissions added and removed, snapshot permissions) and read back. Only then is it
//! recorded. The same reconciliation applies a profile edited since (accounts added or
//! removed, tags changed) to AMIs that are already published.

use std::time::Instant;

use aws_sdk_ec2::types::ImageState;

use super::Engine;
use super::image::describe_permissions;
use super::preflight::ExistingAmi;
use crate::aws::images::set_permissions;
use crate::aws::{errors, tags};
use crate::events::{Artifact, Event, Outcome, Step};
use crate::matrix::Build;

impl Engine {
    /// Brings `found` to the profile's state and records it; a failure leaves the AMI as it
    /// is (it is not this run's to remove) and fails the build.
    pub(super) async fn reuse(&self, b: &Build, found: &ExistingAmi) -> Outcome {
        let started = Instant::now();
        let result = tokio::select! {
            r = self.reconcile(b, found) => r,
            _ = self.cancel.cancelled() => {
                return self.finished(b, Outcome::Cancelled, started);
            }
        };
        let outcome = match result {
            Ok(snapshot_ids) => {
                let artifact = Artifact {
                    build: b.name.clone(),
                    region: b.region.clone(),
                    ami_id: found.ami_id.clone(),
                    ami_name: b.ami_name.clone(),
                    snapshot_ids,
                    reused: true,
                    run_id: found.run_id.clone().unwrap_or_default(),
                    copied_from: None,
                };
                self.events.send(Event::Artifact(artifact.clone()));
                Outcome::Published { artifact }
            }
            Err(error) => {
                self.events.send(Event::BuildFailed {
                    build: b.name.clone(),
                    step: Step::Permissions,
                    error: error.clone(),
                    code: None,
                    log_tail: Vec::new(),
                });
                Outcome::Failed {
                    step: Step::Permissions,
                    error,
                }
            }
        };
        self.finished(b, outcome, started)
    }

    /// Waits for `found` while pending, then applies tags and permissions; returns its
    /// snapshots.
    async fn reconcile(&self, b: &Build, found: &ExistingAmi) -> Result<Vec<String>, String> {
        let c = self.clients.region(&b.region);
        let mut snapshots = found.snapshot_ids.clone();
        if found.state != ImageState::Available {
            self.note(
                b,
                format!(
                    "{} from run {} is {}; waiting for it",
                    found.ami_id,
                    found.run_id.as_deref().unwrap_or("?"),
                    found.state
                ),
            );
            let limit = self.opts.timeouts.image;
            let seen =
                tokio::time::timeout(limit, self.waiters.image_settled(&b.region, &found.ami_id))
                    .await
                    .map_err(|_| {
                        format!(
                            "{} did not become available within {}",
                            found.ami_id,
                            humantime::format_duration(limit)
                        )
                    })?
                    .ok_or("the region's poller stopped")?;
            if seen.state != ImageState::Available {
                return Err(format!(
                    "{} is {}{}; run again to replace it",
                    found.ami_id,
                    seen.state,
                    seen.reason.map(|r| format!(": {r}")).unwrap_or_default()
                ));
            }
            snapshots = seen.snapshot_ids;
        }
        let run_id = found.run_id.clone().unwrap_or_default();
        let want = tags::for_build(&run_id, b, &self.opts.version);
        let missing: Vec<(String, String)> = want
            .into_iter()
            .filter(|(k, v)| found.tags.get(k) != Some(v))
            .collect();
        if !missing.is_empty() {
            let mut resources = vec![found.ami_id.clone()];
            resources.extend(snapshots.iter().cloned());
            c.ec2
                .create_tags()
                .set_resources(Some(resources))
                .set_tags(Some(tags::ec2(&missing)))
                .send()
                .await
                .map_err(|e| format!("tagging {}: {}", found.ami_id, errors::describe(&e)))?;
            self.note(
                b,
                format!(
                    "tags of {} set: {}",
                    found.ami_id,
                    missing
                        .iter()
                        .map(|(k, _)| k.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
        }
        self.apply_settings(b, &found.ami_id).await?;
        let set = set_permissions(c, &found.ami_id, &snapshots, &self.wanted(), false).await?;
        self.protect(b, &found.ami_id, true).await?;
        self.note(
            b,
            format!(
                "reusing {} from run {}; {}",
                found.ami_id,
                found.run_id.as_deref().unwrap_or("?"),
                describe_permissions(&set)
            ),
        );
        Ok(snapshots)
    }
}
