//! `amipub publish`: plan, preflight, run the builds, write ami_ids.json and the manifest.
//!
//! [`execute`] is the pipeline `release` runs too: checks ([`checks`]), the engine with its
//! reporters and writers ([`session`]), and how the run ends ([`ending`]).

pub(crate) mod checks;
mod ending;
mod registry;
mod session;
mod signals;

use std::sync::Arc;
use std::time::SystemTime;

use crate::aws::Clients;
use crate::config::{Backing, Config, SigningMaterial, signing};
use crate::engine::Preflight;
use crate::error::Error;
use crate::events::Outcome;
use crate::matrix::{Build, Selected};
use crate::options::PublishOptions;
use crate::plan::Plan;
use crate::report::Style;

/// The local settings file read when --local-settings is not given.
const DEFAULT_LOCAL_SETTINGS: &str = "local.yaml";

/// Runs `amipub publish`.
pub async fn run(opts: &PublishOptions) -> Result<(), Error> {
    let (config, selected) = super::load_and_select(&opts.selection)?;
    let signing = load_signing(&selected.builds, opts.run.local_settings.as_deref())?;
    let outcomes = execute(opts, &config, &selected, signing, None).await?;
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

/// Publishes `selected` as `opts` say (signing material loaded): plan, preflight, the engine
/// with its reporters and writers, the summary. Returns each build's outcome in plan order
/// (none for a dry run); `release` runs its publish step through here, passing the clients
/// and the preflight its checks already made (`checked`) so that they are not made twice.
pub(crate) async fn execute(
    opts: &PublishOptions,
    config: &Config,
    selected: &Selected,
    signing: Option<Arc<SigningMaterial>>,
    checked: Option<(Clients, Preflight)>,
) -> Result<Vec<Outcome>, Error> {
    let run = &opts.run;
    let script = checks::script(config)?;
    checks::outputs(&run.output)?;
    if run.style != Style::Machine {
        run.tell(&Plan::new(config, selected, None).to_table());
    }
    let (clients, preflight, enabled) = match checked {
        Some((clients, preflight)) => (clients, preflight, selected.clone()),
        None => checks::preflight(run, config, selected).await?,
    };
    let selected = &enabled;
    if run.style != Style::Machine || opts.dry_run {
        for l in preflight.summary(selected.builds.len()) {
            run.tell(&format!("{l}\n"));
        }
    }
    if !preflight.problems.is_empty() {
        return Err(Error::Preflight(preflight.problems));
    }
    if opts.dry_run {
        run.tell("dry run: nothing was launched.\n");
        return Ok(Vec::new());
    }
    let parts = session::Parts {
        clients: clients.clone(),
        preflight,
        script,
        signing,
    };
    let finished = session::run(run, config, &selected.builds, parts).await?;
    let outcomes = finished.outcomes.clone();
    let ended = ending::report(run, &selected.builds, finished);
    let recorded = registry::record(run, config, &clients, &selected.builds, &outcomes).await;
    match (ended, recorded) {
        (Ok(outcomes), Ok(())) => Ok(outcomes),
        (Ok(_), Err(e)) => Err(Error::Failed(format!(
            "the AMIs are published, but the registry was not updated: {e}; run the same command again to record them"
        ))),
        (Err(e), recorded) => {
            if let Err(r) = recorded {
                eprintln!("warning: the registry was not updated: {r}");
            }
            Err(e)
        }
    }
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
