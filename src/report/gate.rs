//! Holding the display while a question waits on the terminal (`--debug`, `--on-error=ask`).
//! The reporters run on a thread of their own and the bars redraw every quarter second, so a
//! question written to the terminal would be drawn over, and event lines would land on the
//! line where the user types. While a question is open the bars are hidden and the reporters
//! keep their lines back; they come out, in order, once it is answered.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use indicatif::{MultiProgress, ProgressDrawTarget};

/// How many questions are open.
static HELD: AtomicUsize = AtomicUsize::new(0);
static BARS: Mutex<Option<MultiProgress>> = Mutex::new(None);

/// The bars to hide while a question is open.
pub fn register_bars(bars: &MultiProgress) {
    *BARS.lock().unwrap_or_else(|e| e.into_inner()) = Some(bars.clone());
}

/// Whether a question is open: reporters keep their lines back.
pub fn held() -> bool {
    HELD.load(Ordering::SeqCst) > 0
}

/// An open question; the display comes back when it is dropped.
#[must_use = "the display is held only while the Hold lives"]
pub struct Hold(());

/// Holds the display (hides the bars) until the returned [`Hold`] is dropped.
pub fn hold() -> Hold {
    if HELD.fetch_add(1, Ordering::SeqCst) == 0 {
        with_bars(|bars| {
            let _ = bars.clear();
            bars.set_draw_target(ProgressDrawTarget::hidden());
        });
    }
    Hold(())
}

/// Runs `f` on the registered bars, if there are any.
fn with_bars(f: impl FnOnce(&MultiProgress)) {
    if let Some(bars) = BARS.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
        f(bars);
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        if HELD.fetch_sub(1, Ordering::SeqCst) == 1 {
            with_bars(|bars| bars.set_draw_target(ProgressDrawTarget::stderr()));
        }
    }
}

/// Lines a reporter keeps back while the display is held.
#[derive(Debug, Default)]
pub struct Held {
    lines: Vec<String>,
}

impl Held {
    /// `line`, and those kept back before it, when the display is free (in order); nothing
    /// while it is held (the line is kept).
    pub fn pass(&mut self, line: String) -> Vec<String> {
        self.lines.push(line);
        if held() {
            Vec::new()
        } else {
            std::mem::take(&mut self.lines)
        }
    }

    /// Every line kept back (the run is over).
    pub fn drain(&mut self) -> Vec<String> {
        std::mem::take(&mut self.lines)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One test for everything that touches the process-wide flag, so that tests running
    /// at once cannot see each other's holds.
    #[test]
    fn lines_wait_while_a_question_is_open_and_come_out_in_order() {
        let bars = MultiProgress::new();
        register_bars(&bars);
        let mut kept = Held::default();
        assert_eq!(kept.pass("one".into()), vec!["one"]);
        {
            let _q = hold();
            assert!(held());
            assert!(
                bars.is_hidden(),
                "the bars are hidden while the question is open"
            );
            assert!(kept.pass("two".into()).is_empty());
            assert!(kept.pass("three".into()).is_empty());
        }
        assert!(!held());
        assert_eq!(kept.pass("four".into()), vec!["two", "three", "four"]);
        let _q = hold();
        assert!(kept.pass("five".into()).is_empty());
        assert_eq!(kept.drain(), vec!["five"]);
        *BARS.lock().unwrap() = None;
    }
}
