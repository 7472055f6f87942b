//! Rolling back a failed or cancelled build: everything it made in this run, found by what it
//! recorded and by its tags, removed in a safe order.

use std::collections::BTreeSet;

use super::Engine;
use super::build::Made;
use crate::aws::{errors, tags};
use crate::events::Event;
use crate::matrix::Build;

/// What a clean-up removed, and what it could not.
#[derive(Default)]
struct Tally {
    removed: Vec<String>,
    left: Vec<String>,
}

impl Engine {
    /// Removes everything `b` made in this run, found by the ledger and by tags (a call in
    /// flight when Ctrl-C came may have made something the ledger never heard of).
    pub(super) async fn clean_up(&self, b: &Build, made: &mut Made) {
        let mut t = Tally::default();
        // Signing material first: of all this build made, it must not outlive the run.
        if let Err(e) = self.forget_secrets(b, made).await {
            t.left.push(e);
        }
        self.terminate_instances(b, made, &mut t).await;
        self.deregister_images(b, made, &mut t).await;
        self.delete_tagged_snapshots(b, &mut t).await;
        // Sealed before the staged files go, so that nothing can write them back.
        self.seal(b, made).await;
        let c = self.clients.region(&b.region);
        match super::staging::delete_prefix(c, &b.bucket, &format!("{}/", made.prefix)).await {
            Ok(n) => {
                made.staged.clear();
                made.manifest = None;
                if n > 0 {
                    t.removed.push(format!(
                        "{n} object(s) under s3://{}/{}/",
                        b.bucket, made.prefix
                    ));
                }
            }
            Err(e) => t.left.push(e),
        }
        // What could not be removed stays in the ledger, so a second signal lists it.
        self.ledger.record(&b.name, made);
        t.left.extend(made.describe(&b.name));
        t.left.dedup();
        self.events.send(Event::CleanedUp {
            build: b.name.clone(),
            removed: t.removed,
            left: t.left,
            kept: false,
        });
    }

    /// The build's instances: the one recorded and any tagged for it.
    async fn terminate_instances(&self, b: &Build, made: &mut Made, t: &mut Tally) {
        let c = self.clients.region(&b.region);
        let mut instances: BTreeSet<String> = made.instance.iter().cloned().collect();
        match c
            .ec2
            .describe_instances()
            .filters(tags::filter(tags::RUN_ID, &self.opts.run_id))
            .filters(tags::filter(tags::BUILD, &b.name))
            .filters(tags::instance_not_terminated())
            .send()
            .await
        {
            Ok(r) => instances.extend(
                r.reservations()
                    .iter()
                    .flat_map(|r| r.instances())
                    .filter_map(|i| i.instance_id())
                    .map(str::to_string),
            ),
            Err(e) => t.left.push(format!(
                "could not look up instances: {}",
                errors::describe(&e)
            )),
        }
        if instances.is_empty() {
            return;
        }
        let ids: Vec<String> = instances.into_iter().collect();
        match c
            .ec2
            .terminate_instances()
            .set_instance_ids(Some(ids.clone()))
            .send()
            .await
        {
            Ok(_) => {
                made.instance = None;
                self.ledger.record(&b.name, made);
                t.removed
                    .extend(ids.iter().map(|i| format!("instance {i} (terminated)")));
            }
            Err(e) => t.left.extend(
                ids.iter()
                    .map(|i| format!("instance {i}: {}", errors::describe(&e))),
            ),
        }
    }

    /// The build's AMIs (the one recorded and any tagged for it), with their snapshots.
    async fn deregister_images(&self, b: &Build, made: &mut Made, t: &mut Tally) {
        let c = self.clients.region(&b.region);
        let mut images: Vec<(String, Vec<String>)> = Vec::new();
        match c
            .ec2
            .describe_images()
            .owners("self")
            .filters(tags::filter(tags::RUN_ID, &self.opts.run_id))
            .filters(tags::filter(tags::BUILD, &b.name))
            .send()
            .await
        {
            Ok(r) => {
                for img in r.images() {
                    if let Some(id) = img.image_id() {
                        images.push((id.to_string(), crate::aws::images::snapshots_of(img)));
                    }
                }
            }
            Err(e) => t
                .left
                .push(format!("could not look up AMIs: {}", errors::describe(&e))),
        }
        if let Some(id) = &made.image
            && !images.iter().any(|(i, _)| i == id)
        {
            images.push((id.clone(), made.snapshots.clone()));
        }
        for (id, snaps) in images {
            match deregister(c, &id, &snaps).await {
                Ok(()) => {
                    if made.image.as_deref() == Some(id.as_str()) {
                        made.image = None;
                    }
                    made.snapshots.retain(|s| !snaps.contains(s));
                    self.ledger.record(&b.name, made);
                    t.removed.push(format!("AMI {id} (deregistered)"));
                    t.removed
                        .extend(snaps.iter().map(|s| format!("snapshot {s} (deleted)")));
                }
                Err(e) => t.left.push(format!("AMI {id}: {e}")),
            }
        }
    }

    /// Snapshots of an AMI that never became available may not be in its block-device
    /// mappings: they carry the build's tags from CreateImage, so they are found by those.
    async fn delete_tagged_snapshots(&self, b: &Build, t: &mut Tally) {
        let c = self.clients.region(&b.region);
        let found = c
            .ec2
            .describe_snapshots()
            .owner_ids("self")
            .filters(tags::filter(tags::RUN_ID, &self.opts.run_id))
            .filters(tags::filter(tags::BUILD, &b.name))
            .send()
            .await;
        let r = match found {
            Ok(r) => r,
            Err(e) => {
                t.left.push(format!(
                    "could not look up snapshots: {}",
                    errors::describe(&e)
                ));
                return;
            }
        };
        for snap in r.snapshots().iter().filter_map(|s| s.snapshot_id()) {
            match c.ec2.delete_snapshot().snapshot_id(snap).send().await {
                Ok(_) => t.removed.push(format!("snapshot {snap} (deleted)")),
                Err(e) if errors::code(&e) == Some("InvalidSnapshot.NotFound") => {}
                Err(e) => t
                    .left
                    .push(format!("snapshot {snap}: {}", errors::describe(&e))),
            }
        }
    }
}

/// Deregisters `ami` and deletes its snapshots (which must wait until the AMI is gone).
pub(super) async fn deregister(
    c: &crate::aws::RegionClients,
    ami: &str,
    snapshots: &[String],
) -> Result<(), String> {
    crate::aws::deregister::deregister(c, ami)
        .await
        .map_err(|e| e.to_string())?;
    for s in snapshots {
        match c.ec2.delete_snapshot().snapshot_id(s).send().await {
            Ok(_) => {}
            Err(e) if errors::code(&e) == Some("InvalidSnapshot.NotFound") => {}
            Err(e) => return Err(format!("DeleteSnapshot {s}: {}", errors::describe(&e))),
        }
    }
    Ok(())
}
