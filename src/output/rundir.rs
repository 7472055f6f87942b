//! `.amipub/runs/<run-id>/`: the run's events (NDJSON, one per line) and each build's log,
//! written as their events arrive.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::events::{Event, Stamped};
use crate::report::Reporter;

/// A run's directory.
pub struct RunDir {
    path: PathBuf,
    events: BufWriter<File>,
}

impl RunDir {
    /// Creates `<runs>/<run_id>/`.
    pub fn create(runs: &Path, run_id: &str) -> Result<RunDir, Error> {
        let path = runs.join(run_id);
        std::fs::create_dir_all(path.join("logs")).map_err(|e| Error::io(&path, e))?;
        let file = path.join("events.ndjson");
        let events = BufWriter::new(File::create(&file).map_err(|e| Error::io(&file, e))?);
        Ok(RunDir { path, events })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where build logs go.
    pub fn logs(&self) -> PathBuf {
        self.path.join("logs")
    }
}

impl Reporter for RunDir {
    /// Appends `e` to events.ndjson and flushes, so the file is complete whenever the run
    /// stops; a build's log is saved where its event says.
    fn event(&mut self, e: &Stamped) -> std::io::Result<()> {
        if let Event::BuildLog { path, text, .. } = &e.event {
            std::fs::write(path, text)?;
        }
        serde_json::to_writer(&mut self.events, e)?;
        self.events.write_all(b"\n")?;
        self.events.flush()
    }
}
