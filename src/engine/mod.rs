//! The engine: runs builds with bounded concurrency (overall and per region) as per-build step
//! machines, and reports everything it does as events. It never prints.

pub mod bootstrap;
mod build;
mod bundle;
mod copy;
mod image;
pub mod interact;
pub mod lock;
pub mod preflight;
mod prepare;
mod provision;
pub mod public;
mod region_end;
mod reuse;
mod rollback;
mod seal;
mod settings;
pub mod staging;
mod sweep;
#[cfg(test)]
mod tests;
pub mod waiter;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::{OnceCell, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::aws::Clients;
use crate::config::Timeouts;
use crate::events::{EventSink, Outcome};
use crate::matrix::Build;

pub use build::Made;
pub use copy::CopyOptions;
pub use image::expected_permissions;
pub use interact::{Decision, Interact, NoInteraction};
pub use preflight::Preflight;
pub use prepare::PrepareError;
pub use waiter::PollSettings;

/// What happens to a failed build's resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorPolicy {
    /// Remove everything it made.
    Cleanup,
    /// Leave everything and say where it is.
    Abort,
    /// Ask (through [`Interact`]).
    Ask,
}

/// Launch permissions to apply and confirm.
#[derive(Debug, Clone, Default)]
pub struct Permissions {
    /// `all` for public.
    pub groups: Vec<String>,
    /// Account IDs.
    pub accounts: Vec<String>,
}

/// How the engine runs.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// This run's ID (tags, S3 prefixes, client tokens).
    pub run_id: String,
    /// The profile's version (tags).
    pub version: String,
    /// At most this many builds at once; 1 runs them one at a time, in plan order.
    pub max_parallel: usize,
    /// At most this many builds at once in one region.
    pub max_per_region: usize,
    /// What to do with a failed build's resources.
    pub on_error: ErrorPolicy,
    /// Poll intervals.
    pub poll: PollSettings,
    /// Step time limits.
    pub timeouts: Timeouts,
    /// Launch permissions.
    pub permissions: Permissions,
    /// The provisioning script.
    pub script: Arc<Vec<u8>>,
    /// Seconds between the bootstrap's log uploads.
    pub log_interval_secs: u64,
    /// Where each build's provisioning log is saved (by the run directory, from its event).
    pub log_dir: PathBuf,
    /// Signing material for instance-store builds (`None` when the run has none).
    pub signing: Option<Arc<crate::config::SigningMaterial>>,
    /// Bundle and upload commands of instance-store builds.
    pub bundle: crate::config::Bundle,
    /// Instance profile of the build instances.
    pub iam_instance_profile: Option<String>,
    /// Take staging buckets' locks even from a live holder (`--break-lock`).
    pub break_lock: bool,
    /// How copy mode copies.
    pub copies: copy::CopyOptions,
    /// The settings every AMI gets.
    pub ami: crate::config::AmiSettings,
}

/// Everything a run needs, shared by its builds.
pub struct Engine {
    clients: Clients,
    opts: EngineOptions,
    events: EventSink,
    waiters: waiter::Waiters,
    preflight: Preflight,
    regions: HashMap<String, (Semaphore, OnceCell<Result<staging::RegionStage, String>>)>,
    ledger: Ledger,
    cancel: CancellationToken,
    interact: Arc<dyn Interact>,
    sealer: seal::Sealer,
    leases: Mutex<Vec<Arc<lock::Lease>>>,
    renewer: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Set when another run took a lock over: this run then stops without removing anything.
    lock_lost: Arc<std::sync::atomic::AtomicBool>,
    /// Copy mode: home builds' AMIs as they become available, and copy slots.
    copies: copy::Copies,
    /// Per staging bucket: the run's script, and the files its last build removes.
    ends: region_end::RegionEnds,
    /// Set once the leftovers of interrupted runs were swept.
    swept: std::sync::atomic::AtomicBool,
}

impl Engine {
    /// An engine over `clients` (every region of the run), after `preflight` passed.
    pub fn new(
        clients: Clients,
        opts: EngineOptions,
        preflight: Preflight,
        events: EventSink,
        cancel: CancellationToken,
        interact: Arc<dyn Interact>,
    ) -> Engine {
        let waiters = waiter::Waiters::start(&clients, opts.poll, events.clone());
        let sealer = seal::Sealer::new(preflight.buckets.iter().map(String::as_str));
        let regions = clients
            .regions()
            .map(|r| {
                (
                    r.to_string(),
                    (Semaphore::new(opts.max_per_region.max(1)), OnceCell::new()),
                )
            })
            .collect();
        Engine {
            clients,
            opts,
            events,
            waiters,
            preflight,
            regions,
            ledger: Ledger::default(),
            cancel,
            interact,
            sealer,
            leases: Mutex::new(Vec::new()),
            renewer: Mutex::new(None),
            lock_lost: Arc::default(),
            copies: copy::Copies::default(),
            ends: region_end::RegionEnds::default(),
            swept: Default::default(),
        }
    }

    /// True when another run took this run's lock over (and this run stopped).
    pub fn lock_lost(&self) -> bool {
        self.lock_lost.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The resources of builds in flight, for a report when the process must exit at once.
    pub fn ledger(&self) -> Ledger {
        self.ledger.clone()
    }

    /// Runs `builds` and returns each one's outcome, in the order given.
    pub async fn run(&self, builds: &[Build]) -> Vec<Outcome> {
        let limit = self.opts.max_parallel.max(1);
        self.copies.expect(builds);
        self.ends.expect(builds);
        // Builds that launch first: a copy waits for its home build, and must not hold the
        // slot that home build needs.
        let mut order: Vec<(usize, &Build)> = builds.iter().enumerate().collect();
        order.sort_by_key(|(i, b)| (b.copy_of.is_some(), *i));
        let builds = futures::stream::iter(order)
            .map(|(i, b)| async move { (i, self.run_one(b).await) })
            .buffer_unordered(limit)
            .collect::<Vec<(usize, Outcome)>>();
        let ((), mut results) = tokio::join!(self.sweep_all(), builds);
        results.sort_by_key(|(i, _)| *i);
        results.into_iter().map(|(_, o)| o).collect()
    }

    async fn run_one(&self, b: &Build) -> Outcome {
        let outcome = if self.cancel.is_cancelled() {
            Outcome::Cancelled
        } else {
            self.run_in_slot(b).await
        };
        self.build_ended(b).await;
        outcome
    }

    async fn run_in_slot(&self, b: &Build) -> Outcome {
        let (slots, _) = &self.regions[&b.region];
        let _slot = tokio::select! {
            s = slots.acquire() => s,
            _ = self.cancel.cancelled() => return Outcome::Cancelled,
        };
        self.build(b).await
    }

    /// The region's shared staging resources, made by [`Engine::prepare`].
    async fn region_stage(&self, b: &Build) -> Result<staging::RegionStage, String> {
        let (_, cell) = &self.regions[&b.region];
        cell.get()
            .cloned()
            .unwrap_or_else(|| Err(format!("{} was not prepared (this is a bug)", b.region)))
    }
}

/// What builds in flight have made and not yet removed or published.
#[derive(Debug, Clone, Default)]
pub struct Ledger(Arc<Mutex<BTreeMap<String, Made>>>);

impl Ledger {
    fn record(&self, build: &str, made: &Made) {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if made.is_empty() {
            m.remove(build);
        } else {
            m.insert(build.to_string(), made.clone());
        }
    }

    /// One line per resource left, for a user who must clean up by hand.
    pub fn left_behind(&self) -> Vec<String> {
        let m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        m.iter().flat_map(|(b, made)| made.describe(b)).collect()
    }
}

/// Presigned URLs live as long as the build may take, and a little longer for the final
/// uploads.
pub fn url_lifetime(t: &Timeouts) -> Duration {
    t.provision + Duration::from_secs(300)
}
