//! Timestamped lines, for logs and pipes.

use std::io::Write;

use super::{Reporter, gate, text};
use crate::events::Stamped;

/// Writes `2026-11-21T05:31:15Z us-east-1-1404-pv: message` lines.
pub struct Plain<W: Write + Send> {
    out: W,
    /// Lines kept back while a question is open on the terminal.
    kept: gate::Held,
}

impl<W: Write + Send> Plain<W> {
    /// Lines to `out`.
    pub fn new(out: W) -> Self {
        Plain {
            out,
            kept: gate::Held::default(),
        }
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
            for line in self.kept.pass(format!("{at} {who}{msg}")) {
                writeln!(self.out, "{line}")?;
            }
        }
        Ok(())
    }

    fn finish(&mut self) -> std::io::Result<()> {
        for line in self.kept.drain() {
            writeln!(self.out, "{line}")?;
        }
        self.out.flush()
    }
}
