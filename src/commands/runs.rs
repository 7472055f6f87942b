//! `amipub runs` (the runs of a runs directory, to find one) and `amipub report [RUN_ID]` (a
//! run's report.html, drawn again from its events).

use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::plan::table;
use crate::runs::{self, RunRecord, html::duration_text};

/// Lists the runs under `runs_dir`, oldest first.
pub fn list(runs_dir: &Path) -> Result<(), Error> {
    let dirs = runs::directories(runs_dir).map_err(Error::Failed)?;
    if dirs.is_empty() {
        println!("no runs in {} yet", runs_dir.display());
        return Ok(());
    }
    let rows: Vec<[String; 6]> = dirs.iter().map(|d| row(d, runs::read(d))).collect();
    print!(
        "{}",
        table(
            &["RUN", "PROFILE", "VERSION", "STARTED", "TOOK", "RESULT"],
            &rows
        )
    );
    Ok(())
}

fn row(dir: &Path, record: Result<RunRecord, String>) -> [String; 6] {
    let id = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    match record {
        Ok(r) => {
            let ended = if r.finished() {
                ""
            } else {
                " (stopped before its builds ended)"
            };
            [
                id,
                r.profile.clone().unwrap_or_else(|| "-".into()),
                r.version.clone().unwrap_or_else(|| "-".into()),
                humantime::format_rfc3339_seconds(r.started).to_string(),
                duration_text(r.wall()),
                format!("{}{ended}", r.result()),
            ]
        }
        Err(e) => [
            id,
            "-".into(),
            "-".into(),
            "-".into(),
            "-".into(),
            format!("unreadable: {e}"),
        ],
    }
}

/// Writes the report of `run` (an ID, or the start of one; the latest run when `None`) and
/// prints its path.
pub fn report(runs_dir: &Path, run: Option<&str>) -> Result<(), Error> {
    let dir = find(runs_dir, run)?;
    let path = runs::write_report(&dir).map_err(Error::Failed)?;
    println!("{}", path.display());
    Ok(())
}

/// The run directory `run` names under `runs_dir`.
fn find(runs_dir: &Path, run: Option<&str>) -> Result<PathBuf, Error> {
    let dirs = runs::directories(runs_dir).map_err(Error::Failed)?;
    let usage = |m: String| Error::Usage(vec![m]);
    let Some(run) = run else {
        return dirs
            .last()
            .cloned()
            .ok_or_else(|| usage(format!("no runs in {} yet", runs_dir.display())));
    };
    let named = |d: &&PathBuf| {
        d.file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with(run))
    };
    let found: Vec<&PathBuf> = dirs.iter().filter(named).collect();
    match found.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(usage(format!(
            "no run {run} in {}; `amipub runs` lists them",
            runs_dir.display()
        ))),
        many => Err(usage(format!(
            "{run} is the start of {} runs' IDs in {}; give more of it (`amipub runs` lists them)",
            many.len(),
            runs_dir.display()
        ))),
    }
}
