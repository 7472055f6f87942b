//! What must reach the person at the terminal whatever the output style, machine-readable
//! lines included: a signal was received, and what the run does about it. On standard error.

use std::io::Write;

use super::Reporter;
use crate::events::{Event, Stamped};

/// Writes the run's notices to `out` (standard error).
pub struct Notices<W: Write + Send> {
    out: W,
}

impl<W: Write + Send> Notices<W> {
    /// Notices to `out`.
    pub fn new(out: W) -> Self {
        Notices { out }
    }
}

impl<W: Write + Send> Reporter for Notices<W> {
    fn event(&mut self, e: &Stamped) -> std::io::Result<()> {
        match &e.event {
            Event::Stopping {
                signal,
                at_once: false,
            } => writeln!(
                self.out,
                "\n{signal}: cleaning up the builds in flight (send it again, e.g. Ctrl-C, to exit at once)"
            ),
            Event::Stopping {
                signal,
                at_once: true,
            } => writeln!(self.out, "{signal}: exiting at once"),
            _ => Ok(()),
        }
    }

    fn finish(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}
