//! Before the first launch, every region at once: the staging buckets and the security group
//! (tagged at creation), then each bucket's lock, then the leftovers of interrupted runs that
//! the lock proves dead. After the run, the locks are given back.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use futures::future::join_all;

use super::lock::{self, Holder, Lease, LockError};
use super::{Engine, staging, sweep};
use crate::aws::tags;
use crate::events::Event;
use crate::matrix::Build;

/// Why the run cannot start.
#[derive(Debug)]
pub enum PrepareError {
    /// Another run holds a bucket's lock (nothing was launched; locks taken were given back).
    Locked(Vec<String>),
}

impl Engine {
    /// Stages every region of `builds`, takes each staging bucket's lock and sweeps what
    /// interrupted runs left. A region whose staging fails fails its builds only; a lock held
    /// by another live run stops the whole run before anything is launched.
    pub async fn prepare(&self, builds: &[Build]) -> Result<(), PrepareError> {
        let mut by_region: BTreeMap<&str, Vec<&Build>> = BTreeMap::new();
        for b in builds {
            by_region.entry(b.region.as_str()).or_default().push(b);
        }
        let me = Holder::me(&self.opts.run_id, &self.opts.version);
        let results = join_all(
            by_region
                .iter()
                .map(|(r, bs)| self.prepare_region(r, bs, &me)),
        )
        .await;
        let mut refused = Vec::new();
        for r in results {
            match r {
                Ok(leases) => self
                    .leases
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .extend(leases),
                Err(LockError::Held { bucket, holder }) => {
                    refused.push(LockError::Held { bucket, holder }.to_string())
                }
                Err(LockError::Aws(e)) => refused.push(e),
            }
        }
        if !refused.is_empty() {
            self.release().await;
            return Err(PrepareError::Locked(refused));
        }
        self.keep_leases();
        Ok(())
    }

    async fn prepare_region(
        &self,
        region: &str,
        builds: &[&Build],
        me: &Holder,
    ) -> Result<Vec<Arc<Lease>>, LockError> {
        let c = self.clients.region(region);
        let buckets: BTreeSet<&str> = builds.iter().map(|b| b.bucket.as_str()).collect();
        let to_create: Vec<&str> = buckets
            .iter()
            .copied()
            .filter(|b| self.preflight.buckets_to_create.contains(*b))
            .collect();
        let shared_tags = tags::for_shared(&self.opts.version, builds.iter().map(|b| &b.tags));
        let stage = match staging::prepare_region(c, region, &to_create, &shared_tags).await {
            Ok(stage) => stage,
            Err(e) => {
                // The region's builds fail with the staging error; no lock is needed for them.
                let _ = self.regions[region].1.set(Err(e));
                return Ok(Vec::new());
            }
        };
        let mut leases: Vec<Arc<Lease>> = Vec::new();
        for bucket in buckets {
            let lease = match lock::acquire(c, region, bucket, me, self.opts.break_lock).await {
                Ok(l) => Arc::new(l),
                Err(e) => {
                    for l in &leases {
                        let _ = l.release(c).await;
                    }
                    if let LockError::Aws(why) = &e {
                        // S3 failed rather than another run holding the lock: the region's
                        // builds fail with the reason, the other regions go on.
                        let _ = self.regions[region]
                            .1
                            .set(Err(format!("cannot take the lock of s3://{bucket}: {why}")));
                        return Ok(Vec::new());
                    }
                    return Err(e);
                }
            };
            leases.push(lease);
            match sweep::sweep_region(c, bucket, &self.opts.run_id).await {
                Ok(lines) => lines.into_iter().for_each(|message| {
                    self.events.send(Event::Warning {
                        region: region.to_string(),
                        message,
                    })
                }),
                Err(message) => self.events.send(Event::Warning {
                    region: region.to_string(),
                    message: format!(
                        "leftovers of interrupted runs could not all be removed: {message}"
                    ),
                }),
            }
        }
        let _ = self.regions[region].1.set(Ok(stage));
        Ok(leases)
    }

    /// Renews the leases while the run goes on; a lease lost to another run stops this one
    /// as Ctrl-C would (in-flight builds are cleaned up), since two runs must never share a
    /// bucket.
    fn keep_leases(&self) {
        let leases: Vec<Arc<Lease>> = self
            .leases
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if leases.is_empty() {
            return;
        }
        let clients = self.clients.clone();
        let events = self.events.clone();
        let cancel = self.cancel.clone();
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(lock::RENEW_EVERY) => {}
                    _ = cancel.cancelled() => return,
                }
                for l in &leases {
                    if let Err(e) = l.renew(clients.region(&l.region)).await {
                        events.send(Event::Warning {
                            region: l.region.clone(),
                            message: format!("{e}; stopping this run"),
                        });
                        cancel.cancel();
                        return;
                    }
                }
            }
        });
        *self.renewer.lock().unwrap_or_else(|e| e.into_inner()) = Some(task);
    }

    /// Gives back every lock this run holds.
    pub async fn release(&self) {
        if let Some(t) = self
            .renewer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            t.abort();
        }
        let leases: Vec<Arc<Lease>> =
            std::mem::take(&mut *self.leases.lock().unwrap_or_else(|e| e.into_inner()));
        let releases = leases
            .iter()
            .map(|l| async move { (l, l.release(self.clients.region(&l.region)).await) });
        for (l, r) in join_all(releases).await {
            if let Err(message) = r {
                self.events.send(Event::Warning {
                    region: l.region.clone(),
                    message: format!("{message}; its lease lapses by itself"),
                });
            }
        }
    }
}
