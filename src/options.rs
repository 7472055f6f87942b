//! What each command is asked to do, built once from the command line (`cli`) and already
//! checked: globs compiled, durations in range, defaults resolved. Commands take these and
//! never see clap's types, so `release` can run the publish pipeline with options of its own.

use std::path::PathBuf;
use std::time::Duration;

use crate::aws::AwsSettings;
use crate::engine::{ErrorPolicy, PollSettings};
use crate::matrix::{Patterns, Selection};
use crate::report::Style;

/// Which configuration to read and which of its builds to select.
#[derive(Debug, Clone)]
pub struct ConfigSelection {
    /// The publishing profile.
    pub config: PathBuf,
    /// The source-image matrix.
    pub regions_file: PathBuf,
    /// Regions and build-name patterns.
    pub builds: Selection,
}

/// Table for people, JSON for scripts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// Aligned columns.
    Table,
    /// One JSON object.
    Json,
}

/// `amipub plan`.
#[derive(Debug, Clone)]
pub struct PlanOptions {
    /// What to plan.
    pub selection: ConfigSelection,
    /// How to print it.
    pub format: OutputFormat,
}

/// How a publish runs: everything but what it publishes. `release` builds one of its own.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// How AWS is reached.
    pub aws: AwsSettings,
    /// At most this many builds at once (`None`: all selected).
    pub max_parallel: Option<usize>,
    /// At most this many builds at once in one region.
    pub max_per_region: usize,
    /// How often EC2 is polled.
    pub poll: PollSettings,
    /// What happens to a failed build's resources.
    pub on_error: ErrorPolicy,
    /// Pause before each step until Enter (`--debug`).
    pub pause_each_step: bool,
    /// Replace an existing AMI of the same name.
    pub force: bool,
    /// Take the staging buckets' locks even from a live holder.
    pub break_lock: bool,
    /// Publish the rest when a selected region is not enabled for the account.
    pub skip_disabled_regions: bool,
    /// How progress is shown.
    pub style: Style,
    /// The final summary: a table, or a JSON document on standard output.
    pub summary: OutputFormat,
    /// Where ami_ids.json goes (the manifest beside it).
    pub output: PathBuf,
    /// Where run directories go.
    pub runs_dir: PathBuf,
    /// The signing material file named on the command line, if one was.
    pub local_settings: Option<PathBuf>,
}

impl RunOptions {
    /// Whether the run asks the user (on a terminal) what to do.
    pub fn asks(&self) -> bool {
        self.on_error == ErrorPolicy::Ask
    }

    /// Shows `text` to the user: on standard output, or on standard error when standard
    /// output carries the JSON summary alone.
    pub fn tell(&self, text: &str) {
        if self.summary == OutputFormat::Json {
            eprint!("{text}");
        } else {
            print!("{text}");
        }
    }

    /// How many builds run at once for `total` selected.
    pub fn parallel_builds(&self, total: usize) -> usize {
        self.max_parallel.unwrap_or(total).max(1)
    }
}

/// The poll settings for a first interval of `interval`: it backs off to ten times that while
/// nothing changes, within 1 to 30 seconds.
pub fn poll_settings(interval: Duration) -> PollSettings {
    PollSettings {
        min: interval,
        max: (interval * 10)
            .max(Duration::from_secs(1))
            .min(Duration::from_secs(30)),
    }
}

/// `amipub publish`.
#[derive(Debug, Clone)]
pub struct PublishOptions {
    /// What to publish.
    pub selection: ConfigSelection,
    /// How.
    pub run: RunOptions,
    /// Plan and preflight only.
    pub dry_run: bool,
}

/// `amipub sources update`.
#[derive(Debug, Clone)]
pub struct SourcesOptions {
    /// The profile: which releases, virtualization types and architectures, and where the
    /// upstream images are published.
    pub config: PathBuf,
    /// The regions file to refresh.
    pub regions_file: PathBuf,
    /// Only these regions (empty: every enabled one of the file, or see `profile_regions`).
    pub regions: Vec<String>,
    /// With no `regions`, the profile's own regions when it lists some (a release refreshes
    /// only what it builds).
    pub profile_regions: bool,
    /// Write the changes into the file (else only print them).
    pub write: bool,
    /// How AWS is reached.
    pub aws: AwsSettings,
}

/// `amipub verify`.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    /// The profile the AMIs were published with.
    pub config: PathBuf,
    /// The regions file.
    pub regions_file: PathBuf,
    /// The ami_ids.json to check (its manifest beside it).
    pub ami_ids: PathBuf,
    /// Check this registry channel's parameters instead.
    pub channel: Option<String>,
    /// How to print the result.
    pub format: OutputFormat,
    /// How AWS is reached.
    pub aws: AwsSettings,
}

/// Where `amipub cleanup` looks.
#[derive(Debug, Clone)]
pub enum CleanupRegions {
    /// These regions (checked names, sorted, once each).
    Named(Vec<String>),
    /// Every region of this regions file.
    AllOf(PathBuf),
}

/// `amipub cleanup`.
#[derive(Debug, Clone)]
pub struct CleanupOptions {
    /// Where to look.
    pub regions: CleanupRegions,
    /// Only what was made for this version.
    pub version: Option<String>,
    /// Only what this run made.
    pub run: Option<String>,
    /// Only builds whose name matches.
    pub builds: Patterns,
    /// Only what is older than this.
    pub older_than: Option<Duration>,
    /// Keep the newest N AMIs of each build.
    pub keep: Option<usize>,
    /// AMIs named explicitly (checked IDs).
    pub amis: Vec<String>,
    /// The ami_ids.json whose AMIs are kept, when one was named.
    pub ami_ids: Option<PathBuf>,
    /// Remove listed and in-use AMIs too.
    pub force: bool,
    /// Remove, rather than show what would be removed.
    pub yes: bool,
    /// How to print the result.
    pub format: OutputFormat,
    /// How AWS is reached.
    pub aws: AwsSettings,
}

/// `amipub release`.
#[derive(Debug, Clone)]
pub struct ReleaseOptions {
    /// The version, as given (checked to be a release version).
    pub version: String,
    /// The git ref baked into the images (resolved from the version when not given).
    pub branch: String,
    /// A private release candidate.
    pub candidate: bool,
    /// The registry channel to point at the release after verification.
    pub channel: Option<String>,
    /// Push the commit and the tag.
    pub push: bool,
    /// The remote checked and pushed to.
    pub remote: String,
    /// Print the checklist; change nothing.
    pub dry_run: bool,
    /// Do not ask for confirmation.
    pub yes: bool,
    /// Refresh the regions file's source AMIs first (`sources update --write`), and commit it.
    pub refresh_sources: bool,
    /// The publish step: the release's selection, ami_ids.json, cleanup of failed builds.
    pub publish: PublishOptions,
}

impl ReleaseOptions {
    /// `release` or `release candidate`.
    pub fn kind(&self) -> &'static str {
        if self.candidate {
            "release candidate"
        } else {
            "release"
        }
    }

    /// `public` or (a candidate) `private`.
    pub fn visibility(&self) -> &'static str {
        if self.candidate { "private" } else { "public" }
    }
}

/// What every registry command reads: the profile naming the registry, and AWS.
#[derive(Debug, Clone)]
pub struct RegistryOptions {
    /// The profile.
    pub config: PathBuf,
    /// The regions file.
    pub regions_file: PathBuf,
    /// How to print the result.
    pub format: OutputFormat,
    /// How AWS is reached.
    pub aws: AwsSettings,
}

/// `amipub promote`.
#[derive(Debug, Clone)]
pub struct PromoteOptions {
    /// The registry.
    pub registry: RegistryOptions,
    /// The version.
    pub version: String,
    /// The channel.
    pub channel: String,
    /// Do not ask.
    pub yes: bool,
    /// Overwrite parameters amipub did not write.
    pub force: bool,
}

/// `amipub revoke`.
#[derive(Debug, Clone)]
pub struct RevokeOptions {
    /// The registry.
    pub registry: RegistryOptions,
    /// The version.
    pub version: String,
    /// Why.
    pub reason: String,
    /// Move channels pointing at it back.
    pub rollback: bool,
    /// Deprecate its AMIs now.
    pub deprecate: bool,
    /// Do not ask.
    pub yes: bool,
}
