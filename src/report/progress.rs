//! Progress bars on a terminal: one line per running build (name, step, elapsed), an overall
//! bar, and finished builds printed above the bars.

use std::collections::HashMap;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use super::{Reporter, gate, text};
use crate::events::{Event, Outcome, Stamped};

/// indicatif bars.
pub struct Progress {
    multi: MultiProgress,
    overall: ProgressBar,
    bars: HashMap<String, ProgressBar>,
    /// Lines kept back while a question is open on the terminal.
    kept: gate::Held,
}

/// Whether colour is wanted, given `NO_COLOR` (<https://no-color.org>: set and not empty means
/// no colour). Without a terminal there are no bars, so no colour either.
fn colour_wanted(no_color: Option<&std::ffi::OsStr>) -> bool {
    no_color.is_none_or(|v| v.is_empty())
}

/// The overall bar: coloured, or not.
fn bar_template(colour: bool) -> &'static str {
    if colour {
        "[{elapsed_precise}] {bar:40.cyan/blue} {pos}/{len} builds {msg}"
    } else {
        "[{elapsed_precise}] {bar:40} {pos}/{len} builds {msg}"
    }
}

impl Progress {
    /// Bars for a run of `total` builds.
    pub fn new(total: usize) -> Self {
        let multi = MultiProgress::new();
        let overall = multi.add(ProgressBar::new(total as u64));
        overall.set_style(
            ProgressStyle::with_template(bar_template(colour_wanted(
                std::env::var_os("NO_COLOR").as_deref(),
            )))
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        overall.enable_steady_tick(Duration::from_millis(250));
        gate::register_bars(&multi);
        Progress {
            multi,
            overall,
            bars: HashMap::new(),
            kept: gate::Held::default(),
        }
    }

    fn bar(&mut self, build: &str) -> &ProgressBar {
        if !self.bars.contains_key(build) {
            let bar = self
                .multi
                .insert_before(&self.overall, ProgressBar::new_spinner());
            bar.set_style(
                ProgressStyle::with_template("{spinner} {prefix:28} {elapsed:>4} {wide_msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.set_prefix(build.to_string());
            bar.enable_steady_tick(Duration::from_millis(250));
            self.bars.insert(build.to_string(), bar);
        }
        &self.bars[build]
    }
}

impl Progress {
    /// Prints `e`'s kept line above the bars (held back while a question is open).
    fn keep(&mut self, e: &Event) -> std::io::Result<()> {
        if let Some(line) = kept_line(e) {
            for l in self.kept.pass(line) {
                self.multi.println(l)?;
            }
        }
        Ok(())
    }
}

impl Reporter for Progress {
    fn event(&mut self, e: &Stamped) -> std::io::Result<()> {
        match &e.event {
            Event::BuildStarted { build, .. } => {
                self.bar(build);
            }
            Event::StepStarted { build, step } => self.bar(build).set_message(step.describe()),
            Event::Note { build, message } => self.bar(build).set_message(message.clone()),
            Event::BuildFinished { build, .. } => {
                if let Some(bar) = self.bars.remove(build) {
                    bar.finish_and_clear();
                }
                self.overall.inc(1);
                self.keep(&e.event)?;
            }
            other => self.keep(other)?,
        }
        Ok(())
    }

    fn finish(&mut self) -> std::io::Result<()> {
        for line in self.kept.drain() {
            self.multi.println(line)?;
        }
        for (_, bar) in self.bars.drain() {
            bar.finish_and_clear();
        }
        self.overall.finish_and_clear();
        Ok(())
    }
}

/// The line an event leaves above the bars, if any: how each build ended, and failures,
/// clean-ups and warnings, which are worth keeping on screen.
pub fn kept_line(e: &Event) -> Option<String> {
    match e {
        Event::BuildFinished {
            build,
            outcome,
            duration,
        } => Some(match outcome {
            Outcome::Published { artifact } => format!(
                "✔ {build}: {} {}in {}",
                artifact.ami_id,
                if artifact.reused {
                    "(already published) "
                } else {
                    ""
                },
                text::secs(*duration)
            ),
            Outcome::Failed { error, .. } => format!("✘ {build}: {error}"),
            Outcome::Cancelled => format!("- {build}: cancelled"),
        }),
        Event::BuildFailed { .. } | Event::CleanedUp { .. } | Event::Warning { .. } => {
            let (b, msg) = text::line(e)?;
            Some(if b.is_empty() {
                msg
            } else {
                format!("  {b}: {msg}")
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod colour_tests {
    use super::*;

    #[test]
    fn no_color_set_and_not_empty_turns_the_bars_colour_off() {
        use std::ffi::OsStr;
        assert!(colour_wanted(None));
        assert!(colour_wanted(Some(OsStr::new(""))));
        assert!(!colour_wanted(Some(OsStr::new("1"))));
        assert!(bar_template(true).contains(".cyan/blue"));
        assert!(
            !bar_template(false).contains('.'),
            "no style spec without colour"
        );
    }
}
