//! The engine's questions to a person (`--debug`, `--on-error=ask`). The engine asks; the
//! command decides how (a terminal prompt), so that the engine never reads or prints.

use futures::future::BoxFuture;

use super::Made;
use crate::events::Step;

/// What to do after a step failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Remove what the build made.
    Cleanup,
    /// Leave everything for inspection.
    Abort,
    /// Run the failed step again.
    Retry,
}

/// A person to ask.
pub trait Interact: Send + Sync {
    /// Called before each step of `build` with what it has made so far; returns when the
    /// person is ready.
    fn before_step<'a>(&'a self, build: &'a str, step: Step, made: &'a Made) -> BoxFuture<'a, ()>;

    /// Called when `step` of `build` failed with `error`.
    fn on_failure<'a>(
        &'a self,
        build: &'a str,
        step: Step,
        error: &'a str,
        made: &'a Made,
    ) -> BoxFuture<'a, Decision>;
}

/// Nobody to ask: no pauses, and failures are cleaned up.
pub struct NoInteraction;

impl Interact for NoInteraction {
    fn before_step<'a>(&'a self, _: &'a str, _: Step, _: &'a Made) -> BoxFuture<'a, ()> {
        Box::pin(async {})
    }

    fn on_failure<'a>(
        &'a self,
        _: &'a str,
        _: Step,
        _: &'a str,
        _: &'a Made,
    ) -> BoxFuture<'a, Decision> {
        Box::pin(async { Decision::Cleanup })
    }
}
