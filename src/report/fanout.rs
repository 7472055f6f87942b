//! One event stream, many consumers: every reporter and writer of a run gets each event in
//! turn. A consumer that fails keeps getting events (a later write may succeed, and the others
//! must not miss anything); its first error is kept for the end of the run.

use std::collections::HashMap;
use std::time::Duration;

use super::Reporter;
use crate::events::{Event, Stamped};

/// The consumers of a run's events, and what they came to.
#[derive(Default)]
pub struct Fanout {
    parts: Vec<Part>,
    durations: HashMap<String, Duration>,
}

struct Part {
    /// What it writes, for the error message (`events.ndjson`, `the progress display`).
    what: String,
    reporter: Box<dyn Reporter>,
    error: Option<String>,
}

impl Fanout {
    /// Adds a consumer; `what` names what it writes. Events reach consumers in the order
    /// they were added.
    pub fn add(&mut self, what: impl Into<String>, reporter: Box<dyn Reporter>) {
        self.parts.push(Part {
            what: what.into(),
            reporter,
            error: None,
        });
    }

    /// Hands `e` to every consumer.
    pub fn event(&mut self, e: &Stamped) {
        if let Event::BuildFinished {
            build, duration, ..
        } = &e.event
        {
            self.durations.insert(build.clone(), *duration);
        }
        for part in &mut self.parts {
            if let Err(err) = part.reporter.event(e) {
                part.error.get_or_insert_with(|| err.to_string());
            }
        }
    }

    /// Ends the run for every consumer; returns how long each build took and, for each
    /// consumer that failed, what it writes and its first error.
    pub fn finish(mut self) -> (HashMap<String, Duration>, Vec<String>) {
        let mut failures = Vec::new();
        for part in &mut self.parts {
            if let Err(err) = part.reporter.finish() {
                part.error.get_or_insert_with(|| err.to_string());
            }
            if let Some(e) = &part.error {
                failures.push(format!("writing {}: {e}", part.what));
            }
        }
        (self.durations, failures)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use std::time::SystemTime;

    /// Records what it got; fails every event after the first when `fail` is set.
    struct Probe {
        got: Arc<Mutex<Vec<String>>>,
        fail: bool,
    }

    impl Reporter for Probe {
        fn event(&mut self, e: &Stamped) -> std::io::Result<()> {
            let mut got = self.got.lock().unwrap();
            got.push(e.event.build().unwrap_or_default().to_string());
            if self.fail && got.len() > 1 {
                return Err(std::io::Error::other(format!("disk full ({})", got.len())));
            }
            Ok(())
        }
    }

    fn note(build: &str) -> Stamped {
        Stamped {
            at: SystemTime::UNIX_EPOCH,
            event: Event::Note {
                build: build.into(),
                message: "m".into(),
            },
        }
    }

    #[test]
    fn a_failing_consumer_keeps_its_first_error_and_the_others_get_everything() {
        let (a, b) = (Arc::default(), Arc::default());
        let mut fan = Fanout::default();
        let failing = Probe {
            got: Arc::clone(&a),
            fail: true,
        };
        fan.add("ami_ids.json", Box::new(failing));
        let fine = Probe {
            got: Arc::clone(&b),
            fail: false,
        };
        fan.add("the display", Box::new(fine));
        for build in ["x", "y", "z"] {
            fan.event(&note(build));
        }
        let (_, failures) = fan.finish();
        assert_eq!(failures, ["writing ami_ids.json: disk full (2)"]);
        assert_eq!(*a.lock().unwrap(), ["x", "y", "z"]);
        assert_eq!(*b.lock().unwrap(), ["x", "y", "z"]);
    }
}
