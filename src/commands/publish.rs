//! `amipub publish`: plan, preflight, run the builds, write ami_ids.json and the manifest.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio_util::sync::CancellationToken;

use super::prompt::TerminalPrompt;
use crate::aws::Clients;
use crate::cli::{OnError, PublishArgs};
use crate::config::Config;
use crate::config::{Backing, SigningMaterial, signing};
use crate::engine::{
    self, Engine, EngineOptions, ErrorPolicy, Interact, NoInteraction, Permissions, PollSettings,
    Preflight,
};
use crate::error::Error;
use crate::events::{Event, EventSink, Outcome};
use crate::matrix::{Build, Selected};
use crate::output::ami_ids::AmiIds;
use crate::output::check_writable;
use crate::output::manifest::{AppliedPermissions, Manifest};
use crate::output::rundir::RunDir;
use crate::output::writer::OutputWriter;
use crate::plan::Plan;
use crate::report::{self, Style, summary};

/// The local settings file read when --local-settings is not given.
const DEFAULT_LOCAL_SETTINGS: &str = "local.yaml";

/// The largest provisioning script staged: it is uploaded for every build.
const MAX_SCRIPT_BYTES: u64 = 64 << 20;

/// Seconds between the bootstrap's log uploads.
const LOG_INTERVAL_SECS: u64 = 20;

/// Runs `amipub publish`.
pub async fn run(args: PublishArgs) -> Result<(), Error> {
    let (config, selected) = super::load_and_select(&args.selection)?;
    let ask = args.debug || args.on_error == OnError::Ask;
    if ask && !std::io::stdin().is_terminal() {
        return Err(Error::Usage(vec![
            "--debug and --on-error=ask wait for answers on a terminal, and standard input is not one; \
             run from a terminal, or use --on-error=cleanup or --on-error=abort"
                .into(),
        ]));
    }
    let signing = load_signing(&selected.builds, args.local_settings.as_deref())?;
    let outcomes = execute(&args, &config, &selected, signing, None).await?;
    let failed = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Failed { .. }))
        .count();
    if failed > 0 {
        return Err(Error::Failed(format!(
            "{failed} of {} build(s) failed; run the same command again to publish only what is missing",
            outcomes.len()
        )));
    }
    Ok(())
}

/// Publishes `selected` as `args` say (flags already checked, signing material loaded): plan,
/// preflight, the engine with its reporters and writers, the summary. Returns each build's
/// outcome in plan order (none for a dry run); `release` runs its publish step through here,
/// passing the clients and the preflight its checks already made (`checked`) so that they are
/// not made twice.
pub(crate) async fn execute(
    args: &PublishArgs,
    config: &Config,
    selected: &Selected,
    signing: Option<Arc<SigningMaterial>>,
    checked: Option<(Clients, Preflight)>,
) -> Result<Vec<Outcome>, Error> {
    let ask = args.debug || args.on_error == OnError::Ask;
    let script = crate::config::yaml::read_bounded(&config.script, MAX_SCRIPT_BYTES)
        .map_err(|e| Error::io(&config.script, e))?
        .into_bytes();
    let manifest_path = Manifest::path_beside(&args.output);
    // Read the outputs now, so that a damaged or unwritable file stops the run before anything
    // is launched (they are read again, and merged, at every write).
    let unwritable: Vec<String> = [(&args.output, "--output"), (&manifest_path, "the manifest")]
        .into_iter()
        .filter_map(|(p, what)| check_writable(p, what).err())
        .collect();
    if !unwritable.is_empty() {
        return Err(Error::Usage(unwritable));
    }
    AmiIds::load(&args.output)?;
    Manifest::load(&manifest_path)?;

    let builds = selected.builds.clone();
    let style = if args.machine_readable {
        Style::Machine
    } else if std::io::stdout().is_terminal() && !args.debug {
        Style::Progress
    } else {
        Style::Plain
    };
    if style != Style::Machine {
        print!("{}", Plan::new(config, selected, None).to_table());
    }

    let (clients, preflight) = match checked {
        Some(done) => done,
        None => {
            let settings = args.aws.settings();
            let clients =
                Clients::connect(&settings, builds.iter().map(|b| b.region.as_str())).await?;
            let preflight = engine::preflight::run(
                &clients,
                &builds,
                &config.p().version,
                args.force,
                engine::url_lifetime(&config.p().timeouts),
            )
            .await;
            (clients, preflight)
        }
    };
    let summary_lines = preflight.summary(builds.len());
    if style != Style::Machine || args.dry_run {
        for l in &summary_lines {
            println!("{l}");
        }
    }
    if !preflight.problems.is_empty() {
        return Err(Error::Preflight(preflight.problems));
    }
    if args.dry_run {
        println!("dry run: nothing was launched.");
        return Ok(Vec::new());
    }

    let run_id = new_run_id();
    let mut rundir = RunDir::create(&args.runs_dir, &run_id)?;
    let permissions = Permissions {
        groups: config.p().launch_permissions.groups.clone(),
        accounts: config.accounts.clone(),
    };
    let max_parallel = if args.debug || !args.concurrency.parallel {
        1
    } else {
        args.concurrency
            .max_parallel
            .map(|n| n as usize)
            .unwrap_or(builds.len())
    };
    let opts = EngineOptions {
        run_id: run_id.clone(),
        version: config.p().version.clone(),
        max_parallel,
        max_per_region: args.concurrency.max_per_region as usize,
        on_error: match (ask, args.on_error) {
            (true, _) => ErrorPolicy::Ask,
            (false, OnError::Abort) => ErrorPolicy::Abort,
            _ => ErrorPolicy::Cleanup,
        },
        poll: PollSettings {
            min: args.concurrency.poll_interval,
            max: (args.concurrency.poll_interval * 10)
                .max(Duration::from_secs(1))
                .min(Duration::from_secs(30)),
        },
        timeouts: config.p().timeouts,
        permissions: permissions.clone(),
        script: Arc::new(script),
        log_interval_secs: LOG_INTERVAL_SECS,
        log_dir: rundir.logs(),
        signing,
        bundle: config.p().bundle.clone(),
        iam_instance_profile: config.p().iam_instance_profile.clone(),
        break_lock: args.break_lock,
    };
    let interact: Arc<dyn Interact> = if ask {
        Arc::new(TerminalPrompt { pause: args.debug })
    } else {
        Arc::new(NoInteraction)
    };
    let (events, rx) = EventSink::channel();
    let cancel = CancellationToken::new();
    let engine = Engine::new(
        clients,
        opts,
        preflight,
        events.clone(),
        cancel.clone(),
        interact,
    );
    watch_signals(
        cancel.clone(),
        engine.ledger(),
        run_id.clone(),
        args.output.clone(),
    );

    let mut writer = OutputWriter::new(
        args.output.clone(),
        manifest_path.clone(),
        &builds,
        AppliedPermissions {
            groups: permissions.groups,
            accounts: permissions.accounts,
        },
        &config.p().version,
        &run_id,
    );
    let mut reporter = report::new(style, builds.len());
    let rundir_path = rundir.path().to_path_buf();
    // Reporters and writers are synchronous (terminal and file I/O): they run on a blocking
    // thread of their own and take events as the engine sends them.
    let consumer = tokio::task::spawn_blocking(move || {
        let mut rx = rx;
        let mut durations = HashMap::new();
        while let Some(e) = rx.blocking_recv() {
            if let Err(err) = rundir.event(&e) {
                writer
                    .error
                    .get_or_insert(format!("writing {}: {err}", rundir.path().display()));
            }
            writer.event(&e);
            if let Event::BuildFinished {
                build, duration, ..
            } = &e.event
            {
                durations.insert(build.clone(), *duration);
            }
            reporter.event(&e);
        }
        reporter.finish();
        (writer, durations)
    });

    events.send(Event::RunStarted {
        run_id: run_id.clone(),
        builds: builds.iter().map(|b| b.name.clone()).collect(),
    });
    let prepared = engine.prepare(&builds).await;
    let outcomes = match &prepared {
        Ok(()) => engine.run(&builds).await,
        Err(_) => Vec::new(),
    };
    engine.release().await;
    let left_behind = engine.ledger().left_behind();
    let lock_lost = engine.lock_lost();
    drop(engine);
    drop(events);
    let (writer, durations) = consumer
        .await
        .map_err(|e| Error::Failed(format!("the reporter stopped: {e}")))?;
    if let Err(engine::PrepareError::Locked(lines)) = prepared {
        return Err(Error::Locked(lines));
    }

    if style != Style::Machine {
        let rows: Vec<summary::Row<'_>> = builds
            .iter()
            .zip(&outcomes)
            .map(|(b, o)| summary::Row {
                build: &b.name,
                region: &b.region,
                outcome: o,
                duration: durations.get(&b.name).copied().unwrap_or_default(),
            })
            .collect();
        print!("\n{}", summary::render(&rows));
        if writer.writes > 0 && writer.error.is_none() {
            println!(
                "wrote {} and {}; logs and events in {}",
                args.output.display(),
                manifest_path.display(),
                rundir_path.display()
            );
        } else if writer.writes == 0 {
            println!(
                "nothing was published, so {} was not written; logs and events in {}",
                args.output.display(),
                rundir_path.display()
            );
        }
    }
    if let Some(e) = writer.error {
        return Err(Error::Failed(format!(
            "the run's outputs could not all be written: {e}"
        )));
    }
    if lock_lost {
        return Err(Error::Locked(vec![format!(
            "another run took this run's lock over; this run stopped and left its builds in \
             flight to that run, which finishes or removes them{}",
            listed(&left_behind)
        )]));
    }
    let count = |f: fn(&Outcome) -> bool| outcomes.iter().filter(|o| f(o)).count();
    let cancelled = count(|o| matches!(o, Outcome::Cancelled));
    let published = count(|o| matches!(o, Outcome::Published { .. }));
    if cancelled > 0 {
        let stop = STOPPED_BY
            .get()
            .map_or_else(|| "stopped".to_string(), ToString::to_string);
        let written = if published > 0 {
            format!("what was published is in {}", args.output.display())
        } else {
            "nothing was published".to_string()
        };
        let failed = outcomes.len() - cancelled - published;
        let cleaned = if left_behind.is_empty() {
            "cancelled and cleaned up"
        } else {
            "cancelled"
        };
        return Err(Error::Interrupted(
            format!(
                "{stop}: {cancelled} build(s) {cleaned}, {failed} failed; {written}{}",
                listed(&left_behind)
            ),
            interrupted_exit_code(),
        ));
    }
    if published == outcomes.len() && !left_behind.is_empty() {
        // Every AMI is published and recorded, but something still costs money or still
        // works: say so, and fail, so that CI does not pass over it.
        return Err(Error::Failed(format!(
            "every build is published, but these were left behind:{}\nthe next publish of this \
             profile and version removes the instances and staged files",
            listed(&left_behind)
        )));
    }
    Ok(outcomes)
}

/// Loads the signing material when any of `builds` is instance-store backed; every missing or
/// bad item is a usage error (exit 2), found before anything is launched.
pub(crate) fn load_signing(
    builds: &[Build],
    local_settings: Option<&std::path::Path>,
) -> Result<Option<Arc<SigningMaterial>>, Error> {
    if !builds.iter().any(|b| b.backing == Backing::InstanceStore) {
        return Ok(None);
    }
    let path = local_settings.unwrap_or(std::path::Path::new(DEFAULT_LOCAL_SETTINGS));
    match signing::load(path, local_settings.is_some(), |k| std::env::var(k).ok()) {
        Ok(m) => {
            for w in &m.warnings {
                eprintln!("warning: {w}");
            }
            Ok(Some(Arc::new(m)))
        }
        Err(problems) => Err(Error::Usage(
            problems
                .into_iter()
                .map(|p| format!("instance-store builds need signing material: {p}"))
                .collect(),
        )),
    }
}

/// `20261121T053115Z-1a2b3c`: sortable by time, unique by its random suffix.
fn new_run_id() -> String {
    let t = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    let compact: String = t.chars().filter(|c| *c != '-' && *c != ':').collect();
    format!(
        "{compact}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..6]
    )
}

/// `lines` as an indented list after a colon and a newline; nothing when empty.
fn listed(lines: &[String]) -> String {
    if lines.is_empty() {
        String::new()
    } else {
        format!("; left behind:\n  {}", lines.join("\n  "))
    }
}

/// First SIGINT, SIGTERM or SIGHUP (Ctrl-C, a cancelled CI job, `timeout`, a closed SSH
/// session): stop starting builds and clean up those in flight. A second one: exit at once,
/// listing what is left behind. Returns how the first one is remembered, for the exit code.
fn watch_signals(
    cancel: CancellationToken,
    ledger: engine::Ledger,
    run_id: String,
    output: std::path::PathBuf,
) {
    tokio::spawn(async move {
        let Some(mut signals) = Signals::new() else {
            return;
        };
        let Some(first) = signals.next().await else {
            return;
        };
        let _ = STOPPED_BY.set(first);
        eprintln!(
            "\n{first}: cleaning up the builds in flight (send it again, e.g. Ctrl-C, to exit at once)"
        );
        cancel.cancel();
        let Some(second) = signals.next().await else {
            return;
        };
        let left = ledger.left_behind();
        if left.is_empty() {
            eprintln!("{second}: exiting at once; nothing this run recorded is left behind");
        } else {
            eprintln!("{second}: exiting at once; these are left behind:");
            for l in left {
                eprintln!("  {l}");
            }
        }
        eprintln!(
            "anything else this run made is tagged amipub:run-id={run_id}: the next publish of \
             this version removes its instances and staged files, and `amipub cleanup --run \
             {run_id} --all-regions --ami-ids {} --yes` removes the rest (AMIs that file lists \
             stay)",
            output.display()
        );
        std::process::exit(second.exit_code());
    });
}

/// The signal that stopped this process's run, once one has (signals are the process's).
static STOPPED_BY: std::sync::OnceLock<Stop> = std::sync::OnceLock::new();

/// The exit code of an interrupted run: that of the signal that stopped it.
fn interrupted_exit_code() -> i32 {
    STOPPED_BY
        .get()
        .map_or(crate::error::exit::INTERRUPTED, |s| s.exit_code())
}

/// The signals that stop a run.
struct Signals {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

/// A stopping signal.
#[derive(Debug, Clone, Copy)]
enum Stop {
    Int,
    Term,
    Hup,
}

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Stop::Int => "interrupted (SIGINT)",
            Stop::Term => "terminated (SIGTERM)",
            Stop::Hup => "hung up (SIGHUP)",
        })
    }
}

impl Stop {
    /// 128 + the signal's number, as shells report a process a signal ended.
    fn exit_code(self) -> i32 {
        match self {
            Stop::Int => crate::error::exit::INTERRUPTED,
            Stop::Term => 143,
            Stop::Hup => 129,
        }
    }
}

impl Signals {
    fn new() -> Option<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        Some(Signals {
            int: signal(SignalKind::interrupt()).ok()?,
            term: signal(SignalKind::terminate()).ok()?,
            hup: signal(SignalKind::hangup()).ok()?,
        })
    }

    async fn next(&mut self) -> Option<Stop> {
        tokio::select! {
            s = self.int.recv() => s.map(|()| Stop::Int),
            s = self.term.recv() => s.map(|()| Stop::Term),
            s = self.hup.recv() => s.map(|()| Stop::Hup),
        }
    }
}
