//! One publish at a time per staging bucket (and so per version, since the bucket name holds
//! the version): a lease object in each region's bucket, taken and renewed with S3 conditional
//! writes so that two operators on two machines are kept apart, not only two processes on one.
//!
//! A lease names its holder (host, pid, run, since when) and when it lapses. It is renewed
//! while the run goes on; a holder that died stops renewing, and its lease can be taken over
//! once it has lapsed, at once when the holder was a process of this very machine and process
//! namespace (same boot ID and PID namespace, not merely the same host name) that no longer
//! exists, or on request (`--break-lock`). Every take-over is a conditional write against the
//! lease that was read, so two runs that both see a dead holder cannot both win. A write of our
//! own whose answer was lost (and that the SDK retried) is recognised by its run ID.

use std::time::{Duration, SystemTime};

use aws_sdk_s3::primitives::ByteStream;
use serde::{Deserialize, Serialize};

use crate::aws::{RegionClients, errors};

/// Where the lease lives in a staging bucket.
pub const LOCK_KEY: &str = ".amipub/lock.json";

/// How long a lease lasts without renewal.
pub const LEASE: Duration = Duration::from_secs(600);

/// How often a held lease is renewed.
pub const RENEW_EVERY: Duration = Duration::from_secs(150);

/// Who holds a lease: what the refusal message names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    /// The holder's host name.
    pub host: String,
    /// Its process ID on that host.
    pub pid: u32,
    /// Its run ID.
    pub run_id: String,
    /// The version it publishes.
    pub version: String,
    /// When it took the lease (RFC 3339).
    pub since: String,
    /// When the lease lapses unless renewed (RFC 3339).
    pub expires: String,
    /// The machine's boot ID and PID namespace: a pid means something only within them.
    #[serde(default)]
    pub process_space: String,
    /// When the holder's process started (clock ticks since boot), against pid reuse.
    #[serde(default)]
    pub started_ticks: u64,
}

impl Holder {
    /// This process as a holder for `run_id`.
    pub fn me(run_id: &str, version: &str) -> Holder {
        let now = SystemTime::now();
        let pid = std::process::id();
        Holder {
            host: host_name(),
            pid,
            run_id: run_id.to_string(),
            version: version.to_string(),
            since: rfc3339(now),
            expires: rfc3339(now + LEASE),
            process_space: process_space().unwrap_or_default(),
            started_ticks: started_ticks(pid).unwrap_or_default(),
        }
    }

    /// True when the lease has lapsed, or its holder is known to be dead.
    fn is_stale(&self) -> bool {
        let lapsed = humantime::parse_rfc3339(&self.expires)
            .map(|t| t <= SystemTime::now())
            .unwrap_or(true);
        lapsed || self.died_here()
    }

    /// True only when the holder was a process of this machine and PID namespace and that
    /// process is certainly gone (its pid absent, or reused by a process started at another
    /// time). Anything this process cannot tell counts as alive.
    fn died_here(&self) -> bool {
        let here = process_space();
        if self.process_space.is_empty() || here.as_deref() != Some(self.process_space.as_str()) {
            return false;
        }
        match std::fs::metadata(format!("/proc/{}", self.pid)) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
            Err(_) => false,
            Ok(_) => started_ticks(self.pid).is_some_and(|t| t != self.started_ticks),
        }
    }

    /// One line for people.
    pub fn describe(&self) -> String {
        format!(
            "run {} (version {}) on host {}, pid {}, since {}; its lease lapses at {} unless renewed",
            self.run_id, self.version, self.host, self.pid, self.since, self.expires
        )
    }
}

/// A lease this run holds.
#[derive(Debug)]
pub struct Lease {
    /// The bucket's region.
    pub region: String,
    /// The staging bucket.
    pub bucket: String,
    etag: tokio::sync::Mutex<String>,
    holder: Holder,
}

/// Why a lease could not be renewed.
#[derive(Debug, Clone)]
pub enum Renewal {
    /// Another run holds it now.
    Lost(String),
    /// S3 could not be asked; the lease may still be ours.
    Failed(String),
}

/// Why a lease could not be taken.
#[derive(Debug, Clone)]
pub enum LockError {
    /// A live run holds it.
    Held {
        /// The bucket.
        bucket: String,
        /// Who holds it.
        holder: Holder,
    },
    /// S3 could not be asked.
    Aws(String),
}

impl std::fmt::Display for LockError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LockError::Held { bucket, holder } => write!(
                f,
                "another publish is using s3://{bucket}: {}. Wait for it to finish; if that run \
                 is dead (killed, its machine lost), pass --break-lock to take over",
                holder.describe()
            ),
            LockError::Aws(e) => f.write_str(e),
        }
    }
}

/// Takes the lease of `bucket` for `me`; with `break_lock`, even from a live holder.
pub async fn acquire(
    c: &RegionClients,
    region: &str,
    bucket: &str,
    me: &Holder,
    break_lock: bool,
) -> Result<Lease, LockError> {
    let lease = |etag: String| Lease {
        region: region.to_string(),
        bucket: bucket.to_string(),
        etag: tokio::sync::Mutex::new(etag),
        holder: me.clone(),
    };
    match put(c, bucket, me, Condition::Absent).await {
        Ok(etag) => return Ok(lease(etag)),
        Err(PutError::Precondition) => {}
        Err(PutError::Aws(e)) => return Err(LockError::Aws(e)),
    }
    let (current, etag) = read(c, bucket).await?;
    let Some(current) = current else {
        // Released between our write and our read: try once more from the start.
        return match put(c, bucket, me, Condition::Absent).await {
            Ok(etag) => Ok(lease(etag)),
            Err(PutError::Precondition) => match read(c, bucket).await? {
                (Some(holder), _) => Err(LockError::Held {
                    bucket: bucket.to_string(),
                    holder,
                }),
                (None, _) => Err(LockError::Aws(format!(
                    "s3://{bucket}/{LOCK_KEY} keeps changing while it is taken; try again"
                ))),
            },
            Err(PutError::Aws(e)) => Err(LockError::Aws(e)),
        };
    };
    if current.run_id == me.run_id {
        // Our own create landed and its answer was lost; the SDK's retry was refused.
        return Ok(lease(etag));
    }
    if !(break_lock || current.is_stale()) {
        return Err(LockError::Held {
            bucket: bucket.to_string(),
            holder: current,
        });
    }
    match put(c, bucket, me, Condition::Matches(&etag)).await {
        Ok(etag) => Ok(lease(etag)),
        Err(PutError::Precondition) => match read(c, bucket).await? {
            // Our take-over landed and its answer was lost.
            (Some(now), etag) if now.run_id == me.run_id => Ok(lease(etag)),
            (now, _) => Err(LockError::Held {
                bucket: bucket.to_string(),
                holder: now.unwrap_or(current),
            }),
        },
        Err(PutError::Aws(e)) => Err(LockError::Aws(e)),
    }
}

impl Lease {
    /// Extends the lease. `Err(Renewal::Lost)` means another run holds it now and this run
    /// must stop; `Err(Renewal::Failed)` is S3 failing, to be tried again while the lease
    /// lasts.
    pub async fn renew(&self, c: &RegionClients) -> Result<(), Renewal> {
        let mut etag = self.etag.lock().await;
        let mut me = self.holder.clone();
        me.expires = rfc3339(SystemTime::now() + LEASE);
        match put(c, &self.bucket, &me, Condition::Matches(&etag)).await {
            Ok(new) => {
                *etag = new;
                Ok(())
            }
            Err(PutError::Precondition) => match read(c, &self.bucket).await {
                // Our renewal landed and its answer was lost: the lease is still ours.
                Ok((Some(now), new)) if now.run_id == self.holder.run_id => {
                    *etag = new;
                    Ok(())
                }
                Ok(_) => Err(Renewal::Lost(format!(
                    "the lock on s3://{} was taken over by another run",
                    self.bucket
                ))),
                Err(e) => Err(Renewal::Failed(e.to_string())),
            },
            Err(PutError::Aws(e)) => Err(Renewal::Failed(e)),
        }
    }

    /// Gives the lease up, unless another run has taken it over meanwhile.
    pub async fn release(&self, c: &RegionClients) -> Result<(), String> {
        let mut etag = self.etag.lock().await;
        if self.delete_if(c, &etag).await? {
            return Ok(());
        }
        // The lease changed since our last write: a renewal cut short may have landed without
        // our knowing its ETag. Read it back; give it up only if it is still ours.
        if let Ok((Some(now), current)) = read(c, &self.bucket).await
            && now.run_id == self.holder.run_id
        {
            *etag = current;
            self.delete_if(c, &etag).await?;
        }
        Ok(())
    }

    /// Deletes the lease if it is still `etag`: `Ok(false)` when it is not (or is gone).
    async fn delete_if(&self, c: &RegionClients, etag: &str) -> Result<bool, String> {
        match c
            .s3
            .delete_object()
            .bucket(&self.bucket)
            .key(LOCK_KEY)
            .if_match(etag)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if matches!(errors::code(&e), Some("PreconditionFailed" | "NoSuchKey")) => {
                Ok(false)
            }
            Err(e) => Err(format!(
                "releasing s3://{}/{LOCK_KEY}: {}",
                self.bucket,
                errors::describe(&e)
            )),
        }
    }
}

enum Condition<'a> {
    Absent,
    Matches(&'a str),
}

enum PutError {
    Precondition,
    Aws(String),
}

async fn put(
    c: &RegionClients,
    bucket: &str,
    holder: &Holder,
    condition: Condition<'_>,
) -> Result<String, PutError> {
    let body = serde_json::to_vec_pretty(holder).map_err(|e| PutError::Aws(e.to_string()))?;
    let req =
        c.s3.put_object()
            .bucket(bucket)
            .key(LOCK_KEY)
            .content_type("application/json")
            .body(ByteStream::from(body));
    let req = match condition {
        Condition::Absent => req.if_none_match("*"),
        Condition::Matches(etag) => req.if_match(etag),
    };
    match req.send().await {
        Ok(out) => Ok(out.e_tag().unwrap_or_default().to_string()),
        // 409 ConditionalRequestConflict: a concurrent conditional write won; same meaning.
        Err(e)
            if matches!(
                errors::code(&e),
                Some("PreconditionFailed" | "ConditionalRequestConflict")
            ) =>
        {
            Err(PutError::Precondition)
        }
        Err(e) => Err(PutError::Aws(format!(
            "writing s3://{bucket}/{LOCK_KEY}: {}",
            errors::describe(&e)
        ))),
    }
}

/// The current lease and its ETag; `None` when there is none. A lease that cannot be parsed
/// (written by something else) counts as stale.
async fn read(c: &RegionClients, bucket: &str) -> Result<(Option<Holder>, String), LockError> {
    match c.s3.get_object().bucket(bucket).key(LOCK_KEY).send().await {
        Ok(o) => {
            let etag = o.e_tag().unwrap_or_default().to_string();
            let body =
                o.body.collect().await.map_err(|e| {
                    LockError::Aws(format!("reading s3://{bucket}/{LOCK_KEY}: {e}"))
                })?;
            let holder = serde_json::from_slice(&body.into_bytes()).unwrap_or(Holder {
                host: "?".into(),
                pid: 0,
                run_id: "?".into(),
                version: "?".into(),
                since: "?".into(),
                expires: "1970-01-01T00:00:00Z".into(),
                process_space: String::new(),
                started_ticks: 0,
            });
            Ok((Some(holder), etag))
        }
        Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => {
            Ok((None, String::new()))
        }
        Err(e) => Err(LockError::Aws(format!(
            "reading s3://{bucket}/{LOCK_KEY}: {}",
            errors::describe(&e)
        ))),
    }
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// This machine's name, as the kernel knows it.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown-host".to_string())
}

/// This machine's boot ID and this process's PID namespace, where /proc tells them (Linux).
fn process_space() -> Option<String> {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let ns = std::fs::read_link("/proc/self/ns/pid").ok()?;
    Some(format!("{}/{}", boot.trim(), ns.display()))
}

/// When process `pid` started, in clock ticks since boot (field 22 of /proc/PID/stat).
fn started_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; the fields after it are plain.
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use aws_sdk_s3::error::ErrorMetadata;
    use aws_sdk_s3::operation::get_object::GetObjectOutput;
    use aws_sdk_s3::operation::put_object::{PutObjectError, PutObjectOutput};
    use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};

    use super::*;

    #[test]
    fn a_lapsed_lease_is_stale_and_a_live_one_is_not() {
        let mut h = Holder::me("run", "1.0.0");
        h.host = "another-host".into();
        assert!(!h.is_stale());
        h.expires = rfc3339(SystemTime::now() - Duration::from_secs(1));
        assert!(h.is_stale());
    }

    #[test]
    fn a_holder_in_this_process_space_whose_process_is_gone_is_stale() {
        let mut h = Holder::me("run", "1.0.0");
        assert!(!h.is_stale(), "this very process is alive");
        h.started_ticks += 1;
        assert!(
            h.is_stale(),
            "its pid now names a process started at another time"
        );
        let mut h = Holder::me("run", "1.0.0");
        h.pid = u32::MAX;
        assert!(h.is_stale());
        // The same host name in another process space (a container, a cloned machine) says
        // nothing about the pid.
        h.process_space = "another-boot/pid:[1]".into();
        assert!(!h.is_stale());
    }

    /// S3 through `rules`, in order; EC2 is never called.
    fn clients(rules: &[&Rule]) -> RegionClients {
        RegionClients {
            ec2: mock_client!(aws_sdk_ec2, []),
            s3: mock_client!(aws_sdk_s3, RuleMode::Sequential, rules),
        }
    }

    fn precondition_failed() -> PutObjectError {
        PutObjectError::generic(ErrorMetadata::builder().code("PreconditionFailed").build())
    }

    /// A lease held by `run` on another host, lapsing `lapse_in_secs` from now (negative:
    /// lapsed), as GetObject returns it with ETag `etag`.
    fn held(run: &str, lapse_in_secs: i64, etag: &'static str) -> Rule {
        let mut h = Holder::me(run, "1.0.0");
        h.host = "build-box-2".into();
        let now = SystemTime::now();
        let lapse = Duration::from_secs(lapse_in_secs.unsigned_abs());
        h.expires = rfc3339(if lapse_in_secs < 0 {
            now - lapse
        } else {
            now + lapse
        });
        let body = serde_json::to_vec(&h).unwrap();
        mock!(aws_sdk_s3::Client::get_object).then_output(move || {
            GetObjectOutput::builder()
                .e_tag(etag)
                .body(ByteStream::from(body.clone()))
                .build()
        })
    }

    fn me() -> Holder {
        Holder::me("this-run", "1.0.0")
    }

    #[tokio::test]
    async fn a_free_lock_is_taken_with_a_create_only_write() {
        let create = mock!(aws_sdk_s3::Client::put_object)
            .match_requests(|r| r.if_none_match() == Some("*") && r.key() == Some(LOCK_KEY))
            .then_output(|| PutObjectOutput::builder().e_tag("\"e1\"").build());
        let c = clients(&[&create]);
        let lease = acquire(&c, "us-east-1", "b", &me(), false).await.unwrap();
        assert_eq!(*lease.etag.lock().await, "\"e1\"");
    }

    #[tokio::test]
    async fn a_live_holder_refuses_the_lock_with_its_name() {
        let create = mock!(aws_sdk_s3::Client::put_object).then_error(precondition_failed);
        let c = clients(&[&create, &held("other-run", 300, "\"h\"")]);
        match acquire(&c, "us-east-1", "b", &me(), false).await {
            Err(LockError::Held { bucket, holder }) => {
                assert_eq!(
                    (bucket.as_str(), holder.run_id.as_str()),
                    ("b", "other-run")
                );
                assert_eq!(holder.host, "build-box-2");
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn a_lapsed_lease_is_taken_over_only_if_it_is_still_the_one_read() {
        let create = mock!(aws_sdk_s3::Client::put_object).then_error(precondition_failed);
        let take_over = mock!(aws_sdk_s3::Client::put_object)
            .match_requests(|r| r.if_match() == Some("\"old\""))
            .then_output(|| PutObjectOutput::builder().e_tag("\"new\"").build());
        let c = clients(&[&create, &held("dead-run", -1, "\"old\""), &take_over]);
        let lease = acquire(&c, "us-east-1", "b", &me(), false).await.unwrap();
        assert_eq!(*lease.etag.lock().await, "\"new\"");
        assert_eq!(take_over.num_calls(), 1);
    }

    #[tokio::test]
    async fn of_two_runs_taking_over_a_lapsed_lease_the_loser_is_refused() {
        let create = mock!(aws_sdk_s3::Client::put_object).then_error(precondition_failed);
        let lost = mock!(aws_sdk_s3::Client::put_object).then_error(precondition_failed);
        let c = clients(&[
            &create,
            &held("dead-run", -1, "\"old\""),
            &lost,
            &held("winner-run", 600, "\"w\""),
        ]);
        match acquire(&c, "us-east-1", "b", &me(), false).await {
            Err(LockError::Held { holder, .. }) => assert_eq!(holder.run_id, "winner-run"),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn break_lock_takes_a_live_lease_and_a_lost_lease_cannot_be_renewed() {
        let create = mock!(aws_sdk_s3::Client::put_object).then_error(precondition_failed);
        let take_over = mock!(aws_sdk_s3::Client::put_object)
            .match_requests(|r| r.if_match() == Some("\"h\""))
            .then_output(|| PutObjectOutput::builder().e_tag("\"mine\"").build());
        let renew = mock!(aws_sdk_s3::Client::put_object)
            .match_requests(|r| r.if_match() == Some("\"mine\""))
            .then_error(precondition_failed);
        let c = clients(&[
            &create,
            &held("live-run", 300, "\"h\""),
            &take_over,
            &renew,
            &held("live-run", 300, "\"h2\""),
        ]);
        let lease = acquire(&c, "us-east-1", "b", &me(), true).await.unwrap();
        match lease.renew(&c).await {
            Err(Renewal::Lost(e)) => assert!(e.contains("taken over by another run"), "{e}"),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn release_is_one_conditional_delete_and_reads_only_when_the_lease_changed() {
        let create = mock!(aws_sdk_s3::Client::put_object)
            .then_output(|| PutObjectOutput::builder().e_tag("\"e1\"").build());
        let deleted = mock!(aws_sdk_s3::Client::delete_object)
            .match_requests(|r| r.if_match() == Some("\"e1\""))
            .then_output(|| {
                aws_sdk_s3::operation::delete_object::DeleteObjectOutput::builder().build()
            });
        let c = clients(&[&create, &deleted]);
        let lease = acquire(&c, "us-east-1", "b", &me(), false).await.unwrap();
        lease.release(&c).await.unwrap();
        assert_eq!(deleted.num_calls(), 1);

        // Taken over meanwhile: the delete is refused, the read shows another run, and its
        // lease stays.
        let refused = mock!(aws_sdk_s3::Client::delete_object).then_error(|| {
            aws_sdk_s3::operation::delete_object::DeleteObjectError::generic(
                ErrorMetadata::builder().code("PreconditionFailed").build(),
            )
        });
        let create = mock!(aws_sdk_s3::Client::put_object)
            .then_output(|| PutObjectOutput::builder().e_tag("\"e1\"").build());
        let c = clients(&[&create, &refused, &held("other-run", 600, "\"o\"")]);
        let lease = acquire(&c, "us-east-1", "b", &me(), false).await.unwrap();
        lease.release(&c).await.unwrap();
        assert_eq!(
            refused.num_calls(),
            1,
            "no second delete of another run's lease"
        );
    }

    #[tokio::test]
    async fn a_renewal_whose_answer_was_lost_keeps_the_lease() {
        let create = mock!(aws_sdk_s3::Client::put_object)
            .then_output(|| PutObjectOutput::builder().e_tag("\"e1\"").build());
        // The renewal landed, its answer was lost, and the SDK's retry was refused.
        let retried = mock!(aws_sdk_s3::Client::put_object).then_error(precondition_failed);
        let mut mine = me();
        mine.expires = rfc3339(SystemTime::now() + LEASE);
        let body = serde_json::to_vec(&mine).unwrap();
        let read_back = mock!(aws_sdk_s3::Client::get_object).then_output(move || {
            GetObjectOutput::builder()
                .e_tag("\"e2\"")
                .body(ByteStream::from(body.clone()))
                .build()
        });
        let c = clients(&[&create, &retried, &read_back]);
        let lease = acquire(&c, "us-east-1", "b", &mine, false).await.unwrap();
        lease.renew(&c).await.unwrap();
        assert_eq!(*lease.etag.lock().await, "\"e2\"");
    }
}
