//! Past runs: each run directory's events read back (`record.rs`), drawn as a self-contained
//! HTML page with the run's timeline (`html.rs`), and the list of runs `amipub runs` shows.

pub mod html;
pub mod record;

use std::path::{Path, PathBuf};

pub use record::RunRecord;

/// The report's file name in a run directory.
pub const REPORT: &str = "report.html";

/// Reads `run_dir`'s events.
pub fn read(run_dir: &Path) -> Result<RunRecord, String> {
    let events = run_dir.join("events.ndjson");
    let text = std::fs::read_to_string(&events)
        .map_err(|e| format!("cannot read {}: {e}", events.display()))?;
    RunRecord::from_ndjson(&text).map_err(|e| format!("{}: {e}", events.display()))
}

/// Writes `run_dir`'s report.html from its events; returns its path.
pub fn write_report(run_dir: &Path) -> Result<PathBuf, String> {
    let page = html::render(&read(run_dir)?);
    let path = run_dir.join(REPORT);
    crate::output::write_atomic(&path, page.as_bytes()).map_err(|e| e.to_string())?;
    Ok(path)
}

/// The run directories under `runs_dir`, oldest first (run IDs begin with their start time).
pub fn directories(runs_dir: &Path) -> Result<Vec<PathBuf>, String> {
    let entries = match std::fs::read_dir(runs_dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("cannot list {}: {e}", runs_dir.display())),
    };
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("events.ndjson").is_file())
        .collect();
    dirs.sort();
    Ok(dirs)
}
