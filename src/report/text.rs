//! The words for each event, shared by every reporter.

use crate::events::{Event, Outcome};

/// What to say about `e`, if anything: (build or empty, message).
pub fn line(e: &Event) -> Option<(String, String)> {
    let b = e.build().unwrap_or_default().to_string();
    let msg = match e {
        Event::RunStarted { run_id, builds, .. } => {
            format!("run {run_id}: {} build(s)", builds.len())
        }
        Event::BuildStarted { region, .. } => format!("starting in {region}"),
        Event::StepStarted { step, .. } => step.describe().to_string(),
        Event::Note { message, .. } => message.clone(),
        Event::Warning { region, message } => format!("warning: {region}: {message}"),
        Event::BuildLog { path, .. } => format!("provisioning log: {path}"),
        // Said on standard error, by [`super::Notices`], whatever the style.
        Event::Stopping { .. } => return None,
        Event::Artifact(a) if a.reused => format!(
            "already published as {} (run {}); recorded",
            a.ami_id, a.run_id
        ),
        Event::Artifact(a) => format!("published {} in {}", a.ami_id, a.region),
        Event::BuildFailed {
            step,
            error,
            log_tail,
            ..
        } => {
            let mut s = format!("FAILED while {}: {error}", step.describe());
            if !log_tail.is_empty() {
                s.push_str("\n    end of the provisioning log:");
                for l in log_tail {
                    s.push_str("\n    | ");
                    s.push_str(l);
                }
            }
            s
        }
        Event::CleanedUp {
            removed,
            left,
            kept,
            ..
        } => {
            let mut parts = Vec::new();
            if !removed.is_empty() {
                parts.push(format!("cleaned up: {}", removed.join(", ")));
            }
            if !left.is_empty() {
                // Kept on purpose (`--on-error=abort`, the answer `a`) is not a failure to
                // clean up: say which it is.
                let what = if *kept {
                    "kept for inspection"
                } else {
                    "LEFT BEHIND"
                };
                parts.push(format!("{what}: {}", left.join("; ")));
            }
            if parts.is_empty() {
                "nothing to clean up".to_string()
            } else {
                parts.join("; ")
            }
        }
        Event::BuildFinished {
            outcome, duration, ..
        } => match outcome {
            Outcome::Published { .. } => return None,
            Outcome::Failed { .. } => format!("failed after {}", secs(*duration)),
            Outcome::Cancelled => "cancelled".to_string(),
        },
    };
    Some((b, msg))
}

/// `0.97s`, `12s`, `3m 4s`: two decimals under 10 s, so that a short build does not read
/// as `0s` (the run report's words for durations, shared).
pub fn secs(d: std::time::Duration) -> String {
    crate::runs::html::duration_text(d)
}
