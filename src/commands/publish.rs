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
use crate::events::{Event, EventSink, Outcome, Stamped};
use crate::matrix::{Build, Selected};
use crate::output::ami_ids::AmiIds;
use crate::output::manifest::{AppliedPermissions, Manifest, ManifestBuild};
use crate::output::rundir::RunDir;
use crate::output::write_atomic;
use crate::plan::Plan;
use crate::report::{self, Style, summary};

/// The local settings file read when --local-settings is not given.
const DEFAULT_LOCAL_SETTINGS: &str = "local.yaml";

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
    if args.concurrency.poll_interval.is_zero() {
        return Err(Error::Usage(vec![
            "--poll-interval must be longer than zero, e.g. 2s".into(),
        ]));
    }
    let signing = load_signing(&selected.builds, args.local_settings.as_deref())?;
    let outcomes = execute(&args, &config, &selected, signing, None).await?;
    let failed = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Failed { .. }))
        .count();
    let cancelled = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Cancelled))
        .count();
    if cancelled > 0 {
        return Err(Error::Interrupted(format!(
            "{cancelled} build(s) cancelled and cleaned up, {failed} failed; what succeeded is in {}",
            args.output.display()
        )));
    }
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
    let script = std::fs::read(&config.script).map_err(|e| Error::io(&config.script, e))?;
    let manifest_path = Manifest::path_beside(&args.output);
    // Read the outputs now, so that a damaged file stops the run before anything is launched.
    let ami_ids = AmiIds::load(&args.output)?;
    let manifest = Manifest::load(&manifest_path)?;

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
            let preflight =
                engine::preflight::run(&clients, &builds, &config.p().version, args.force).await;
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
    watch_ctrl_c(cancel.clone(), engine.ledger());

    let mut writer = OutputWriter {
        ami_ids,
        manifest,
        ami_ids_path: args.output.clone(),
        manifest_path,
        builds: builds.iter().map(|b| (b.name.clone(), b.clone())).collect(),
        permissions: AppliedPermissions {
            groups: permissions.groups,
            accounts: permissions.accounts,
        },
        version: config.p().version.clone(),
        run_id: run_id.clone(),
        started: HashMap::new(),
        error: None,
    };
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
    let outcomes = engine.run(&builds).await;
    drop(engine);
    drop(events);
    let (writer, durations) = consumer
        .await
        .map_err(|e| Error::Failed(format!("the reporter stopped: {e}")))?;

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
        println!(
            "wrote {} and {}; logs and events in {}",
            args.output.display(),
            writer.manifest_path.display(),
            rundir_path.display()
        );
    }
    if let Some(e) = writer.error {
        return Err(Error::Failed(format!(
            "the run's outputs could not all be written: {e}"
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

/// First Ctrl-C: stop starting builds and clean up those in flight. Second: exit at once,
/// listing what is left behind.
fn watch_ctrl_c(cancel: CancellationToken, ledger: engine::Ledger) {
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_err() {
            return;
        }
        eprintln!(
            "\ninterrupted: cleaning up the builds in flight (press Ctrl-C again to exit at once)"
        );
        cancel.cancel();
        if tokio::signal::ctrl_c().await.is_err() {
            return;
        }
        let left = ledger.left_behind();
        if left.is_empty() {
            eprintln!("exiting; nothing was left behind");
        } else {
            eprintln!(
                "exiting at once; these were left behind (remove them with `amipub cleanup` or by hand):"
            );
            for l in left {
                eprintln!("  {l}");
            }
        }
        std::process::exit(crate::error::exit::INTERRUPTED);
    });
}

/// Keeps ami_ids.json and the manifest up to date as artifacts arrive, so that they are right
/// whenever the run stops.
struct OutputWriter {
    ami_ids: AmiIds,
    manifest: Manifest,
    ami_ids_path: std::path::PathBuf,
    manifest_path: std::path::PathBuf,
    builds: HashMap<String, Build>,
    permissions: AppliedPermissions,
    version: String,
    run_id: String,
    started: HashMap<String, String>,
    error: Option<String>,
}

impl OutputWriter {
    fn event(&mut self, e: &Stamped) {
        if let Event::BuildStarted { build, .. } = &e.event {
            self.started.insert(
                build.clone(),
                humantime::format_rfc3339_seconds(e.at).to_string(),
            );
        }
        let Event::Artifact(a) = &e.event else { return };
        let Some(b) = self.builds.get(&a.build) else {
            return;
        };
        self.ami_ids
            .set(&b.region, &b.release, b.virtualization, &a.ami_id);
        // A reused AMI changes nothing, so a run that publishes nothing new leaves both files
        // as they were (a release re-run then has nothing new to commit).
        if !a.reused {
            self.manifest.last_run_id = self.run_id.clone();
        }
        let previous = self
            .manifest
            .builds
            .get(&b.name)
            .filter(|m| m.ami_id == a.ami_id)
            .cloned();
        self.manifest.builds.insert(
            b.name.clone(),
            ManifestBuild {
                name: b.name.clone(),
                region: b.region.clone(),
                release: crate::config::template::dotted_release(&b.release),
                virtualization: b.virtualization.as_str().to_string(),
                backing: b.backing.as_str().to_string(),
                ami_id: a.ami_id.clone(),
                ami_name: a.ami_name.clone(),
                snapshot_ids: a.snapshot_ids.clone(),
                source_ami: b.source_ami.clone(),
                version: self.version.clone(),
                permissions: self.permissions.clone(),
                run_id: a.run_id.clone(),
                started_at: self
                    .started
                    .get(&b.name)
                    .cloned()
                    .or_else(|| previous.as_ref().and_then(|p| p.started_at.clone())),
                finished_at: previous
                    .map(|p| p.finished_at)
                    .unwrap_or_else(|| humantime::format_rfc3339_seconds(e.at).to_string()),
            },
        );
        for (path, bytes) in [
            (&self.ami_ids_path, self.ami_ids.to_bytes()),
            (&self.manifest_path, self.manifest.to_bytes()),
        ] {
            if let Err(err) = write_atomic(path, &bytes) {
                self.error.get_or_insert(err.to_string());
            }
        }
    }
}
