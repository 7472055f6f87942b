//! Reporters turn engine events into output: progress bars on a terminal, timestamped lines
//! otherwise, or Packer-compatible machine-readable lines. They never call AWS.

mod machine;
mod plain;
mod progress;
pub mod summary;
mod text;

use crate::events::Stamped;

pub use machine::Machine;
pub use plain::Plain;
pub use progress::Progress;
pub use text::line;

/// Something that shows events.
pub trait Reporter: Send {
    /// Shows one event.
    fn event(&mut self, e: &Stamped);
    /// The run is over: remove bars, flush.
    fn finish(&mut self) {}
}

/// How output is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Bars on a terminal.
    Progress,
    /// Timestamped lines.
    Plain,
    /// Packer's machine-readable format.
    Machine,
}

/// A reporter of `style` for a run of `total` builds.
pub fn new(style: Style, total: usize) -> Box<dyn Reporter> {
    match style {
        Style::Progress => Box::new(Progress::new(total)),
        Style::Plain => Box::new(Plain::new(std::io::stdout())),
        Style::Machine => Box::new(Machine::new(std::io::stdout())),
    }
}
