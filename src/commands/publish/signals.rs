//! SIGINT, SIGTERM and SIGHUP (Ctrl-C, a cancelled CI job, `timeout`, a closed SSH session)
//! stop a run. The first: stop starting builds and clean up those in flight. A second: stop
//! waiting for the clean-up. Both are told as events; the command decides how to end.

use std::sync::{Arc, OnceLock};

use tokio_util::sync::CancellationToken;

use crate::events::{Event, EventSink};

/// A stopping signal.
#[derive(Debug, Clone, Copy)]
pub enum Stop {
    /// SIGINT (Ctrl-C).
    Int,
    /// SIGTERM.
    Term,
    /// SIGHUP.
    Hup,
}

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Stop::Int => "interrupted (SIGINT)",
            Stop::Term => "terminated (SIGTERM)",
            Stop::Hup => "hung up (SIGHUP)",
        })
    }
}

impl Stop {
    /// 128 + the signal's number, as shells report a process a signal ended.
    pub fn exit_code(self) -> i32 {
        match self {
            Stop::Int => crate::error::exit::INTERRUPTED,
            Stop::Term => 143,
            Stop::Hup => 129,
        }
    }
}

/// What the signals of a run did so far.
#[derive(Clone, Default)]
pub struct Stops {
    /// The first signal, once one came: the run cleans up and ends with its exit code.
    pub first: Arc<OnceLock<Stop>>,
    /// The second signal, once one came.
    pub second: Arc<OnceLock<Stop>>,
    /// Cancelled at the second signal: stop waiting for the clean-up.
    pub at_once: CancellationToken,
}

impl Stops {
    /// The exit code of a run the signals stopped.
    pub fn exit_code(&self) -> i32 {
        self.first
            .get()
            .map_or(crate::error::exit::INTERRUPTED, |s| s.exit_code())
    }
}

/// Watches for the signals that stop a run: the first cancels `cancel`, the second cancels
/// the returned [`Stops::at_once`]; each is sent as an [`Event::Stopping`]. Aborting the
/// returned task ends the watch (and its hold on the event stream, which then can end).
pub fn watch(cancel: CancellationToken, events: EventSink) -> (Stops, tokio::task::JoinHandle<()>) {
    let stops = Stops::default();
    let seen = stops.clone();
    let task = tokio::spawn(async move {
        let Some(mut signals) = Signals::new() else {
            return;
        };
        let Some(first) = signals.next().await else {
            return;
        };
        let _ = seen.first.set(first);
        events.send(Event::Stopping {
            signal: first.to_string(),
            at_once: false,
        });
        cancel.cancel();
        let Some(second) = signals.next().await else {
            return;
        };
        let _ = seen.second.set(second);
        events.send(Event::Stopping {
            signal: second.to_string(),
            at_once: true,
        });
        seen.at_once.cancel();
    });
    (stops, task)
}

/// The signals that stop a run.
struct Signals {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> Option<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        Some(Signals {
            int: signal(SignalKind::interrupt()).ok()?,
            term: signal(SignalKind::terminate()).ok()?,
            hup: signal(SignalKind::hangup()).ok()?,
        })
    }

    async fn next(&mut self) -> Option<Stop> {
        tokio::select! {
            s = self.int.recv() => s.map(|()| Stop::Int),
            s = self.term.recv() => s.map(|()| Stop::Term),
            s = self.hup.recv() => s.map(|()| Stop::Hup),
        }
    }
}
