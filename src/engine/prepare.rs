//! Before the first launch: the staging buckets and the security group of every region at once
//! (tagged at creation); then each bucket's lock: the first in name order alone, then the others
//! at once, so that of two runs of the same buckets starting together one goes on; then, every
//! region at once and while the first builds launch, the leftovers of interrupted runs that the
//! lock proves dead. While the run goes
//! on the locks are renewed; after it, they are given back.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use futures::future::join_all;

use super::lock::{self, Holder, Lease, LockError, Renewal};
use super::{Engine, staging, sweep, url_lifetime};
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
    /// interrupted runs left. A region whose staging or lock fails (S3 errors) fails its builds
    /// only; a lock held by another live run stops the whole run before anything is launched.
    pub async fn prepare<'a>(&self, builds: &'a [Build]) -> Result<(), PrepareError> {
        let mut by_region: BTreeMap<&'a str, Vec<&'a Build>> = BTreeMap::new();
        for b in builds {
            by_region.entry(b.region.as_str()).or_default().push(b);
        }
        let staged = join_all(by_region.iter().map(|(r, bs)| self.stage_region(r, bs))).await;
        let mut stages: BTreeMap<&str, Result<staging::RegionStage, String>> =
            by_region.keys().copied().zip(staged).collect();
        let buckets: BTreeMap<&'a str, &'a str> = by_region
            .iter()
            .filter(|(r, _)| stages[**r].is_ok())
            .flat_map(|(r, bs)| bs.iter().map(|b| (b.bucket.as_str(), *r)))
            .collect();
        let me = Holder::me(&self.opts.run_id, &self.opts.version);
        // The first bucket in name order alone, then the others at once: of two runs of the
        // same buckets starting together, the one that takes the first goes on and the other
        // stops, rather than each taking half and refusing the other.
        let take = |(bucket, region): (&'a str, &'a str)| {
            let me = &me;
            async move {
                let c = self.clients.region(region);
                let got = lock::acquire(c, region, bucket, me, self.opts.break_lock).await;
                (bucket, region, got)
            }
        };
        let mut order = buckets.iter().map(|(b, r)| (*b, *r));
        let mut taken: Vec<_> = join_all(order.next().map(take)).await;
        if !matches!(taken.first(), Some((_, _, Err(LockError::Held { .. })))) {
            taken.extend(join_all(order.map(take)).await);
        }
        let mut held = Vec::new();
        let mut refused = Vec::new();
        for (bucket, region, got) in taken {
            match got {
                Ok(lease) => held.push(Arc::new(lease)),
                Err(e @ LockError::Held { .. }) => refused.push(e.to_string()),
                Err(LockError::Aws(why)) => {
                    // S3 failed rather than another run holding the lock: the region's builds
                    // fail with the reason, the other regions go on.
                    stages.insert(
                        region,
                        Err(format!("cannot take the lock of s3://{bucket}: {why}")),
                    );
                }
            }
        }
        if !refused.is_empty() {
            self.keep(held);
            self.release().await;
            return Err(PrepareError::Locked(refused));
        }
        for (region, stage) in stages {
            let _ = self.regions[region].1.set(stage);
        }
        self.keep(held);
        self.keep_leases();
        Ok(())
    }

    async fn stage_region(
        &self,
        region: &str,
        builds: &[&Build],
    ) -> Result<staging::RegionStage, String> {
        let buckets: BTreeSet<&str> = builds.iter().map(|b| b.bucket.as_str()).collect();
        let to_create: Vec<&str> = buckets
            .into_iter()
            .filter(|b| self.preflight.buckets_to_create.contains(*b))
            .collect();
        let shared_tags = tags::for_shared(&self.opts.version, builds.iter().map(|b| &b.tags));
        let (stage, created) = staging::prepare_region(
            self.clients.region(region),
            region,
            &to_create,
            &shared_tags,
        )
        .await?;
        for bucket in created {
            self.sealer.created(bucket).await;
        }
        Ok(stage)
    }

    /// Sweeps every bucket whose lock this run took (see [`Engine::sweep`]), once; the
    /// builds launch meanwhile, since a sweep touches only other runs' resources.
    pub(super) async fn sweep_all(&self) {
        if self.swept.swap(true, Ordering::SeqCst) {
            return;
        }
        let leases: Vec<Arc<Lease>> = self
            .leases
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        join_all(leases.iter().map(|l| self.sweep(l))).await;
    }

    /// Removes what dead runs left in the lease's bucket, and seals their prefixes (their
    /// presigned URLs may still work).
    async fn sweep(&self, lease: &Lease) {
        let c = self.clients.region(&lease.region);
        let warn = |message: String| {
            self.events.send(Event::Warning {
                region: lease.region.clone(),
                message,
            })
        };
        match sweep::sweep_region(c, &lease.bucket, &self.opts.run_id).await {
            Ok(swept) => {
                swept.lines.into_iter().for_each(warn);
                let until = SystemTime::now() + url_lifetime(&self.opts.timeouts);
                let prefixes: Vec<&str> = swept.runs.iter().map(String::as_str).collect();
                if let Err(e) = self.sealer.seal(c, &lease.bucket, &prefixes, until).await {
                    warn(format!(
                        "{e}; presigned URLs of interrupted runs may still write"
                    ));
                }
            }
            Err(e) => warn(format!(
                "leftovers of interrupted runs could not all be removed: {e}"
            )),
        }
    }

    fn keep(&self, leases: Vec<Arc<Lease>>) {
        self.leases
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(leases);
    }

    /// Renews the leases while the run goes on. A lease another run has taken stops this one
    /// without removing anything (the new holder finishes or removes what this run made); S3
    /// failing is retried while the lease lasts.
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
        let lost = self.lock_lost.clone();
        let task = tokio::spawn(async move {
            let mut renewed = Instant::now();
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(lock::RENEW_EVERY) => {}
                    _ = cancel.cancelled() => return,
                }
                let results =
                    join_all(leases.iter().map(|l| l.renew(clients.region(&l.region)))).await;
                let mut failed = None;
                for (l, r) in leases.iter().zip(results) {
                    match r {
                        Ok(()) => {}
                        Err(Renewal::Lost(why)) => {
                            events.send(Event::Warning {
                                region: l.region.clone(),
                                message: format!(
                                    "{why}; stopping this run and leaving its builds to that run"
                                ),
                            });
                            lost.store(true, Ordering::SeqCst);
                            cancel.cancel();
                            return;
                        }
                        Err(Renewal::Failed(why)) => failed = Some((l.region.clone(), why)),
                    }
                }
                match failed {
                    None => renewed = Instant::now(),
                    Some((region, why))
                        if renewed.elapsed() + lock::RENEW_EVERY
                            < lock::LEASE - Duration::from_secs(60) =>
                    {
                        events.send(Event::Warning {
                            region,
                            message: format!("renewing the lock failed ({why}); trying again"),
                        });
                    }
                    Some((region, why)) => {
                        events.send(Event::Warning {
                            region,
                            message: format!("the lock could not be renewed before it lapses ({why}); stopping this run"),
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use aws_sdk_s3::error::ErrorMetadata;
    use aws_sdk_s3::operation::get_object::GetObjectOutput;
    use aws_sdk_s3::operation::put_object::{PutObjectError, PutObjectOutput};
    use aws_sdk_s3::primitives::ByteStream;
    use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
    use tokio_util::sync::CancellationToken;

    use super::super::{Engine, NoInteraction};
    use super::*;
    use crate::aws::{Clients, RegionClients};
    use crate::events::EventSink;

    /// An engine over one region whose S3 answers by `rules`, in order.
    fn engine(
        rules: &[&Rule],
    ) -> (
        Engine,
        CancellationToken,
        tokio::sync::mpsc::UnboundedReceiver<crate::events::Stamped>,
    ) {
        let c = RegionClients {
            ec2: mock_client!(aws_sdk_ec2, []),
            // No SDK retries: each renewal is one answer, so the timeline is the renewer's own.
            s3: mock_client!(aws_sdk_s3, RuleMode::Sequential, rules, |c| {
                c.retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled())
            }),
        };
        let clients = Clients::from_parts([("us-east-1".to_string(), c)].into(), None);
        let opts = crate::engine::tests::kit::options();
        let (events, rx) = EventSink::channel();
        let cancel = CancellationToken::new();
        let e = Engine::new(
            clients,
            opts,
            Default::default(),
            events,
            cancel.clone(),
            Arc::new(NoInteraction),
        );
        (e, cancel, rx)
    }

    fn created() -> Rule {
        mock!(aws_sdk_s3::Client::put_object)
            .then_output(|| PutObjectOutput::builder().e_tag("\"e1\"").build())
    }

    fn error(code: &'static str) -> Rule {
        mock!(aws_sdk_s3::Client::put_object).then_error(move || {
            PutObjectError::generic(ErrorMetadata::builder().code(code).build())
        })
    }

    /// Takes the lease of bucket "b" for `e` and starts renewing it.
    async fn hold(e: &Engine) {
        let me = Holder::me(&e.opts.run_id, "1.0.0");
        let lease = lock::acquire(e.clients.region("us-east-1"), "us-east-1", "b", &me, false)
            .await
            .unwrap();
        e.keep(vec![Arc::new(lease)]);
        e.keep_leases();
    }

    #[tokio::test(start_paused = true)]
    async fn a_lease_another_run_took_over_stops_the_run_without_removing_anything() {
        let mut other = Holder::me("20261121T000000Z-bbbbbb", "1.0.0");
        other.host = "elsewhere".into();
        let body = serde_json::to_vec(&other).unwrap();
        let now_theirs = mock!(aws_sdk_s3::Client::get_object).then_output(move || {
            GetObjectOutput::builder()
                .e_tag("\"theirs\"")
                .body(ByteStream::from(body.clone()))
                .build()
        });
        let (e, cancel, mut rx) = engine(&[&created(), &error("PreconditionFailed"), &now_theirs]);
        hold(&e).await;
        tokio::time::sleep(lock::RENEW_EVERY + Duration::from_secs(1)).await;
        assert!(cancel.is_cancelled(), "the run stops");
        assert!(e.lock_lost(), "and knows why: its builds must not clean up");
        let said: Vec<String> = std::iter::from_fn(|| rx.try_recv().ok())
            .map(|s| format!("{:?}", s.event))
            .collect();
        assert!(
            said.iter().any(|m| m.contains("taken over by another run")),
            "{said:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn renewals_s3_fails_are_tried_again_while_the_lease_lasts() {
        let renewed = mock!(aws_sdk_s3::Client::put_object)
            .then_output(|| PutObjectOutput::builder().e_tag("\"e2\"").build());
        let (e, cancel, _rx) = engine(&[&created(), &error("InternalError"), &renewed]);
        hold(&e).await;
        tokio::time::sleep(lock::RENEW_EVERY * 2 + Duration::from_secs(1)).await;
        assert!(
            !cancel.is_cancelled(),
            "one failed renewal does not stop the run"
        );
        assert_eq!(renewed.num_calls(), 1, "the next renewal went through");
        assert!(!e.lock_lost());
    }

    #[tokio::test(start_paused = true)]
    async fn a_lease_that_cannot_be_renewed_before_it_lapses_stops_the_run() {
        let (e, cancel, _rx) = engine(&[
            &created(),
            &error("InternalError"),
            &error("InternalError"),
            &error("InternalError"),
            &error("InternalError"),
        ]);
        hold(&e).await;
        tokio::time::sleep(lock::LEASE).await;
        assert!(cancel.is_cancelled(), "stopped before the lease lapsed");
        assert!(
            !e.lock_lost(),
            "not taken over: the builds clean up as on Ctrl-C"
        );
    }
}
