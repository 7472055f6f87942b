//! Reporters turn engine events into output: progress bars on a terminal, timestamped lines
//! otherwise, or Packer-compatible machine-readable lines; writers (the run directory, the
//! outputs) take the same events through the same trait. They never call AWS. [`Fanout`] hands
//! each event to all of them.

mod fanout;
pub mod gate;
mod machine;
mod notices;
mod plain;
mod progress;
pub mod summary;
pub mod tables;
mod text;

use crate::events::Stamped;

pub use fanout::Fanout;
pub use machine::Machine;
pub use notices::Notices;
pub use plain::Plain;
pub use progress::{Progress, kept_line};
pub use text::line;

/// Something that shows or records events. A failed write is returned, never dropped: the
/// run goes on (its builds must still finish or be cleaned up) and ends saying what failed.
pub trait Reporter: Send {
    /// Shows or records one event.
    fn event(&mut self, e: &Stamped) -> std::io::Result<()>;
    /// The run is over: remove bars, flush.
    fn finish(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// How output is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Bars on a terminal.
    Progress,
    /// Timestamped lines.
    Plain,
    /// Timestamped lines on standard error (standard output carries a JSON summary).
    PlainOnStderr,
    /// Packer's machine-readable format.
    Machine,
}

/// A reporter of `style` for a run of `total` builds.
pub fn new(style: Style, total: usize) -> Box<dyn Reporter> {
    match style {
        Style::Progress => Box::new(Progress::new(total)),
        Style::Plain => Box::new(Plain::new(std::io::stdout())),
        Style::PlainOnStderr => Box::new(Plain::new(std::io::stderr())),
        Style::Machine => Box::new(Machine::new(std::io::stdout())),
    }
}
