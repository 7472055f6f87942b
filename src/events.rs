//! What the engine tells the rest of amipub: typed events, in order. The engine never prints;
//! reporters turn events into lines for people or machines, writers into files.

use std::time::{Duration, SystemTime};

use serde::Serialize;

/// A step of a build, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    /// Deregister a same-named AMI (`--force`).
    Replace,
    /// Stage the provisioning script in the region's bucket.
    Stage,
    /// Copy mode: copy the home build's AMI here and wait until it is available.
    Copy,
    /// Launch the build instance.
    Launch,
    /// Wait for the bootstrap to provision (and, for instance-store builds, bundle and upload)
    /// and power off.
    Provision,
    /// Make the AMI and wait until it is available.
    Image,
    /// Apply and confirm launch permissions.
    Permissions,
    /// Leave the instance and staged objects to the end of the region's builds.
    Finish,
}

impl Step {
    /// What the step does, for people.
    pub fn describe(self) -> &'static str {
        match self {
            Step::Replace => "deregistering the AMI that has the same name",
            Step::Stage => "staging files for the build instance",
            Step::Copy => "copying the AMI from the home region",
            Step::Launch => "launching the build instance",
            Step::Provision => "provisioning",
            Step::Image => "creating the AMI",
            Step::Permissions => "setting launch permissions",
            Step::Finish => {
                "finishing (the instance and staged files go when the region's builds are done)"
            }
        }
    }
}

/// A published AMI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Artifact {
    /// Build name.
    pub build: String,
    /// Region.
    pub region: String,
    /// The AMI.
    pub ami_id: String,
    /// Its name.
    pub ami_name: String,
    /// Its snapshots.
    pub snapshot_ids: Vec<String>,
    /// True when an earlier run had already published it.
    pub reused: bool,
    /// Copy mode: the AMI it was copied from (`region:ami-...`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub copied_from: Option<String>,
    /// The run that published it.
    pub run_id: String,
}

/// How a build ended.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum Outcome {
    /// The AMI is published.
    Published {
        /// What was published.
        artifact: Artifact,
    },
    /// The build failed.
    Failed {
        /// The step that failed.
        step: Step,
        /// Why.
        error: String,
    },
    /// Ctrl-C stopped it before it finished.
    Cancelled,
}

/// One thing that happened.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Event {
    /// A run began.
    RunStarted {
        /// Run ID.
        run_id: String,
        /// Build names, in plan order.
        builds: Vec<String>,
        /// The profile's file, as given.
        #[serde(skip_serializing_if = "Option::is_none")]
        profile: Option<String>,
        /// The version published.
        #[serde(skip_serializing_if = "Option::is_none")]
        version: Option<String>,
    },
    /// A build began its first step.
    BuildStarted {
        /// Build name.
        build: String,
        /// Region.
        region: String,
    },
    /// A step began.
    StepStarted {
        /// Build name.
        build: String,
        /// The step.
        step: Step,
    },
    /// Something a build made or saw, worth a line (instance launched, AMI ID...).
    Note {
        /// Build name.
        build: String,
        /// What happened.
        message: String,
    },
    /// A problem that does not fail the build (a poll that will be retried).
    Warning {
        /// Region.
        region: String,
        /// What happened.
        message: String,
    },
    /// The build's provisioning log, read from the bucket; the run directory saves it at
    /// `path` (events.ndjson records the path, not the text).
    BuildLog {
        /// Build name.
        build: String,
        /// Where it is saved.
        path: String,
        /// The log.
        #[serde(skip)]
        text: String,
    },
    /// A build's AMI is published (or was found already published).
    Artifact(Artifact),
    /// A build failed; `log_tail` holds the end of its provisioning log when there is one.
    BuildFailed {
        /// Build name.
        build: String,
        /// The failed step.
        step: Step,
        /// Why.
        error: String,
        /// The AWS error code, when an AWS call failed.
        #[serde(skip_serializing_if = "Option::is_none")]
        code: Option<String>,
        /// Last lines of the provisioning log.
        log_tail: Vec<String>,
    },
    /// A failed or cancelled build's resources were removed (or left, with --on-error=abort).
    CleanedUp {
        /// Build name.
        build: String,
        /// What was removed.
        removed: Vec<String>,
        /// What is left behind, and why.
        left: Vec<String>,
        /// Left on purpose, for inspection (`--on-error=abort`, or the answer `a`).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        kept: bool,
    },
    /// A signal asked the run to stop: the builds in flight are being cleaned up, or (a
    /// second signal, `at_once`) the run exits now, leaving what is left.
    Stopping {
        /// The signal, for people (`interrupted (SIGINT)`).
        signal: String,
        /// The run does not wait for the clean-up.
        at_once: bool,
    },
    /// A build ended.
    BuildFinished {
        /// Build name.
        build: String,
        /// How.
        outcome: Outcome,
        /// How long it took.
        #[serde(with = "humantime_serde")]
        duration: Duration,
    },
}

impl Event {
    /// The build an event concerns, if any.
    pub fn build(&self) -> Option<&str> {
        match self {
            Event::RunStarted { .. } | Event::Warning { .. } | Event::Stopping { .. } => None,
            Event::BuildStarted { build, .. }
            | Event::StepStarted { build, .. }
            | Event::Note { build, .. }
            | Event::BuildLog { build, .. }
            | Event::BuildFailed { build, .. }
            | Event::CleanedUp { build, .. }
            | Event::BuildFinished { build, .. } => Some(build),
            Event::Artifact(a) => Some(&a.build),
        }
    }
}

/// An event and when it happened.
#[derive(Debug, Clone, Serialize)]
pub struct Stamped {
    /// When.
    #[serde(with = "humantime_serde")]
    pub at: SystemTime,
    /// What.
    #[serde(flatten)]
    pub event: Event,
}

/// Where the engine sends events. Cloning shares the channel.
#[derive(Debug, Clone)]
pub struct EventSink(tokio::sync::mpsc::UnboundedSender<Stamped>);

impl EventSink {
    /// A sink and the receiver its events arrive on.
    pub fn channel() -> (EventSink, tokio::sync::mpsc::UnboundedReceiver<Stamped>) {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        (EventSink(tx), rx)
    }

    /// Sends `event`, stamped now. A closed receiver means nobody listens any more, which is
    /// not the engine's concern.
    pub fn send(&self, event: Event) {
        let _ = self.0.send(Stamped {
            at: SystemTime::now(),
            event,
        });
    }
}
