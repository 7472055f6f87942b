//! Timestamped lines, for logs and pipes.

use std::io::Write;

use super::{Reporter, text};
use crate::events::Stamped;

/// Writes `2026-11-21T05:31:15Z us-east-1-1404-pv: message` lines.
pub struct Plain<W: Write + Send> {
    out: W,
}

impl<W: Write + Send> Plain<W> {
    /// Lines to `out`.
    pub fn new(out: W) -> Self {
        Plain { out }
    }
}

impl<W: Write + Send> Reporter for Plain<W> {
    fn event(&mut self, e: &Stamped) -> std::io::Result<()> {
        if let Some((build, msg)) = text::line(&e.event) {
            let at = humantime::format_rfc3339_seconds(e.at);
            let who = if build.is_empty() {
                String::new()
            } else {
                format!("{build}: ")
            };
            writeln!(self.out, "{at} {who}{msg}")?;
        }
        Ok(())
    }

    fn finish(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}
