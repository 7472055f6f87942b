//! One publish run: the engine, its events handed to every reporter and writer on a thread of
//! their own, and the signals that stop it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::signals::{self, Stops};
use crate::aws::Clients;
use crate::commands::prompt::TerminalPrompt;
use crate::config::{Config, SigningMaterial};
use crate::engine::{
    Engine, EngineOptions, ErrorPolicy, Interact, NoInteraction, Permissions, Preflight,
    PrepareError,
};
use crate::error::Error;
use crate::events::{Event, EventSink, Outcome, Stamped};
use crate::matrix::Build;
use crate::options::RunOptions;
use crate::output::manifest::{AppliedPermissions, Manifest};
use crate::output::rundir::RunDir;
use crate::output::writer::OutputWriter;
use crate::report::{self, Fanout, Notices};

/// Seconds between the bootstrap's log uploads.
const LOG_INTERVAL_SECS: u64 = 20;

/// What the checks before the run produced, for the engine.
pub struct Parts {
    /// One client per region of the run.
    pub clients: Clients,
    /// What preflight found (AMIs to reuse, buckets).
    pub preflight: Preflight,
    /// The provisioning script.
    pub script: Vec<u8>,
    /// Signing material of instance-store builds.
    pub signing: Option<Arc<SigningMaterial>>,
}

/// How a run went, for its ending.
pub struct Finished {
    /// Each build's outcome, in plan order (none when preparing failed).
    pub outcomes: Vec<Outcome>,
    /// How long each build took.
    pub durations: HashMap<String, Duration>,
    /// Outputs that could not be written, with why.
    pub write_failures: Vec<String>,
    /// How many times ami_ids.json and the manifest were written.
    pub writes: usize,
    /// What the run leaves behind (instances, objects a failed finish could not remove).
    pub left_behind: Vec<String>,
    /// Another run took this run's lock over.
    pub lock_lost: bool,
    /// The signals that stopped the run, if any.
    pub stops: Stops,
    /// The run's directory (events, logs).
    pub rundir: PathBuf,
    /// Its report.html, or why it could not be written.
    pub report: Result<PathBuf, String>,
}

/// Runs `builds`: prepares the regions (locks, staging), runs the engine, releases the locks.
pub async fn run(
    run: &RunOptions,
    config: &Config,
    builds: &[Build],
    parts: Parts,
) -> Result<Finished, Error> {
    let run_id = super::new_run_id();
    let rundir = RunDir::create(&run.runs_dir, &run_id)?;
    let rundir_path = rundir.path().to_path_buf();
    let permissions = Permissions {
        groups: config.p().launch_permissions.groups.clone(),
        accounts: config.accounts.clone(),
    };
    let opts = engine_options(run, config, builds.len(), &run_id, rundir.logs(), &parts);
    let (events, rx) = EventSink::channel();
    let cancel = CancellationToken::new();
    let interact: Arc<dyn Interact> = if run.on_error == ErrorPolicy::Ask {
        Arc::new(TerminalPrompt {
            pause: run.pause_each_step,
        })
    } else {
        Arc::new(NoInteraction)
    };
    let engine = Engine::new(
        parts.clients,
        opts,
        parts.preflight,
        events.clone(),
        cancel.clone(),
        interact,
    );
    let (stops, watcher) = signals::watch(cancel, events.clone());
    let writer = OutputWriter::new(
        run.output.clone(),
        Manifest::path_beside(&run.output),
        builds,
        AppliedPermissions {
            groups: permissions.groups,
            accounts: permissions.accounts,
        },
        &config.p().version,
        &run_id,
    );
    let writes = writer.writes();
    let fanout = fanout(run, builds.len(), rundir, writer);
    // Reporters and writers are synchronous (terminal and file I/O): they run on a blocking
    // thread of their own and take events as the engine sends them.
    let consumer = tokio::task::spawn_blocking(move || consume(fanout, rx));

    events.send(Event::RunStarted {
        run_id: run_id.clone(),
        builds: builds.iter().map(|b| b.name.clone()).collect(),
        profile: Some(config.profile_path.display().to_string()),
        version: Some(config.p().version.clone()),
    });
    let ran = tokio::select! {
        ran = drive(&engine, builds) => ran,
        () = stops.at_once.cancelled() => {
            return Err(abandoned(&stops, &engine, &run_id, &run.output));
        }
    };
    // The run is over: signals from now on change nothing, and every sender of the event
    // stream is dropped so that the consumers can finish.
    watcher.abort();
    let left_behind = engine.ledger().left_behind();
    let lock_lost = engine.lock_lost();
    drop(engine);
    drop(events);
    let (durations, write_failures) = consumer
        .await
        .map_err(|e| Error::Failed(format!("the reporters stopped: {e}")))?;
    let outcomes = ran?;
    // events.ndjson is complete: the page of the run's timeline is drawn from it.
    let report = crate::runs::write_report(&rundir_path);
    Ok(Finished {
        outcomes,
        durations,
        write_failures,
        writes: writes.load(Ordering::Relaxed),
        left_behind,
        lock_lost,
        stops,
        rundir: rundir_path,
        report,
    })
}

/// Prepares, runs and releases; a lock another run holds ends the run before any build.
async fn drive(engine: &Engine, builds: &[Build]) -> Result<Vec<Outcome>, Error> {
    let prepared = engine.prepare(builds).await;
    let outcomes = match &prepared {
        Ok(()) => engine.run(builds).await,
        Err(_) => Vec::new(),
    };
    engine.release().await;
    match prepared {
        Err(PrepareError::Locked(lines)) => Err(Error::Locked(lines)),
        _ => Ok(outcomes),
    }
}

/// The error of a run a second signal stopped: what is left, and how to remove it.
fn abandoned(stops: &Stops, engine: &Engine, run_id: &str, output: &std::path::Path) -> Error {
    let second = stops
        .second
        .get()
        .map_or_else(|| "stopped again".to_string(), ToString::to_string);
    let left = engine.ledger().left_behind();
    let listing = if left.is_empty() {
        "nothing this run recorded is left behind".to_string()
    } else {
        format!("these are left behind:\n  {}", left.join("\n  "))
    };
    Error::Interrupted(
        format!(
            "{second}: exiting at once; {listing}\nanything else this run made is tagged \
             amipub:run-id={run_id}: the next publish of this version removes its instances and \
             staged files, and `amipub cleanup --run {run_id} --all-regions --ami-ids {} --yes` \
             removes the rest (AMIs that file lists stay)",
            output.display()
        ),
        stops.exit_code(),
    )
}

/// Every consumer of the run's events: the run directory first (so that a log is saved before
/// it is shown), the outputs, the notices on standard error, then the display of `run.style`.
fn fanout(run: &RunOptions, total: usize, rundir: RunDir, writer: OutputWriter) -> Fanout {
    let mut fanout = Fanout::default();
    let events_file = rundir.path().join("events.ndjson").display().to_string();
    fanout.add(events_file, Box::new(rundir));
    let outputs = format!("{} and its manifest", run.output.display());
    fanout.add(outputs, Box::new(writer));
    fanout.add("standard error", Box::new(Notices::new(std::io::stderr())));
    fanout.add("standard output", report::new(run.style, total));
    fanout
}

/// Hands every event to `fanout` until the engine is done.
fn consume(
    mut fanout: Fanout,
    mut rx: tokio::sync::mpsc::UnboundedReceiver<Stamped>,
) -> (HashMap<String, Duration>, Vec<String>) {
    while let Some(e) = rx.blocking_recv() {
        fanout.event(&e);
    }
    fanout.finish()
}

/// The engine's options for a run of `total` builds.
fn engine_options(
    run: &RunOptions,
    config: &Config,
    total: usize,
    run_id: &str,
    log_dir: PathBuf,
    parts: &Parts,
) -> EngineOptions {
    let p = config.p();
    EngineOptions {
        run_id: run_id.to_string(),
        version: p.version.clone(),
        max_parallel: run.parallel_builds(total),
        max_per_region: run.max_per_region,
        on_error: run.on_error,
        poll: run.poll,
        timeouts: p.timeouts,
        permissions: Permissions {
            groups: p.launch_permissions.groups.clone(),
            accounts: config.accounts.clone(),
        },
        script: Arc::new(parts.script.clone()),
        log_interval_secs: LOG_INTERVAL_SECS,
        log_dir,
        signing: parts.signing.clone(),
        bundle: p.bundle.clone(),
        iam_instance_profile: p.iam_instance_profile.clone(),
        break_lock: run.break_lock,
        copies: crate::engine::CopyOptions {
            max_per_region: p.copies.max_per_region,
            kms_keys: p.copies.kms_keys.clone(),
        },
        ami: p.ami.clone(),
    }
}
