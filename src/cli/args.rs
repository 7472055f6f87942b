//! Flags shared by several subcommands.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

pub use crate::options::OutputFormat;

/// Which configuration to read and which builds of it to select.
#[derive(Debug, Clone, Args)]
pub struct SelectionArgs {
    /// Publishing profile, e.g. --config configs/test-ebs.yaml
    #[arg(long, value_name = "FILE", default_value = "configs/official.yaml")]
    pub config: PathBuf,
    /// Source-image matrix, e.g. --regions-file regions.yaml
    #[arg(long, value_name = "FILE", default_value = "regions.yaml")]
    pub regions_file: PathBuf,
    /// Every enabled region of the regions file, whatever the profile lists.
    #[arg(long, conflicts_with = "region")]
    pub all_regions: bool,
    /// Only this region (repeatable), e.g. --region us-east-1 --region eu-west-1
    #[arg(long, value_name = "REGION")]
    pub region: Vec<String>,
    /// Only builds matching these comma-separated globs (repeatable), e.g. --only 'us-*-1404-*'
    #[arg(long, value_name = "PATTERNS")]
    pub only: Vec<String>,
    /// Leave out builds matching these comma-separated globs (repeatable), e.g. --except '*-pv'
    #[arg(long, value_name = "PATTERNS")]
    pub except: Vec<String>,
    /// Build in every region, or build once in the home region and copy (default: the
    /// profile's strategy), e.g. --strategy copy
    #[arg(long, value_enum, value_name = "STRATEGY")]
    pub strategy: Option<crate::config::Strategy>,
    /// Where copy mode builds (default: the profile's home_region), e.g. --home-region us-east-1
    #[arg(long, value_name = "REGION")]
    pub home_region: Option<String>,
}

/// How AWS is reached.
#[derive(Debug, Clone, Args)]
pub struct AwsArgs {
    /// Send every AWS call to this endpoint instead of AWS's (also AWS_ENDPOINT_URL),
    /// e.g. --endpoint-url http://127.0.0.1:5000 for a local emulator
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// Named profile from ~/.aws/config (also AWS_PROFILE), e.g. --aws-profile release
    #[arg(long, value_name = "NAME")]
    pub aws_profile: Option<String>,
    /// Send at most this many EC2 requests of ACTION (an EC2 action, or `describe` or
    /// `mutating` for the categories) at once per region, then this many per second (default:
    /// AWS's own limits, e.g. RunInstances=5/2), e.g. --ec2-rate-limit RunInstances=2/1
    #[arg(long, value_name = "ACTION=BURST/PER_SECOND", value_parser = crate::aws::budget::parse_override)]
    pub ec2_rate_limit: Vec<(String, crate::aws::budget::Rate)>,
}

/// What happens to a failed build's resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnError {
    /// Remove everything the build made (the default).
    Cleanup,
    /// Leave everything for inspection and print where it is.
    Abort,
    /// Ask: clean up, leave everything, or retry the step (needs a terminal).
    Ask,
}

/// How many builds run at once, and how often EC2 is polled.
#[derive(Debug, Clone, Args)]
pub struct ConcurrencyArgs {
    /// Run builds at the same time; --parallel=false runs one at a time.
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set)]
    pub parallel: bool,
    /// At most this many builds at once (default: all selected), e.g. --max-parallel 8
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_parallel: Option<u32>,
    /// At most this many builds at once in one region (instance limits are per region).
    #[arg(long, value_name = "N", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_per_region: u32,
    /// How often to poll EC2 at first (it backs off to 10 times that while nothing changes),
    /// e.g. --poll-interval 5s
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = poll_interval)]
    pub poll_interval: std::time::Duration,
}

/// Arguments of `amipub publish`.
#[derive(Debug, Clone, Args)]
pub struct PublishArgs {
    #[command(flatten)]
    pub selection: SelectionArgs,
    #[command(flatten)]
    pub aws: AwsArgs,
    /// Print the plan and the preflight results; launch nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub concurrency: ConcurrencyArgs,
    /// One build at a time, pausing before each step until Enter; implies --on-error=ask.
    #[arg(long)]
    pub debug: bool,
    /// What to do with a failed build's resources.
    #[arg(long, value_enum, value_name = "ACTION", default_value_t = OnError::Cleanup)]
    pub on_error: OnError,
    /// Deregister an existing AMI of the same name (and delete its snapshots) before building.
    #[arg(long)]
    pub force: bool,
    /// Take the staging buckets' locks even from a run that still holds them (use only when
    /// that run is dead: killed, its machine lost; a dead run's lock otherwise lapses in 10m)
    #[arg(long)]
    pub break_lock: bool,
    /// Publish the rest when a selected region is not enabled for the account (opt-in
    /// regions); without it such a region stops the run at preflight
    #[arg(long)]
    pub skip_disabled_regions: bool,
    /// Print Packer-compatible machine-readable lines instead of progress.
    #[arg(long, conflicts_with = "format")]
    pub machine_readable: bool,
    /// The final summary: a table, or one JSON document on standard output (stable, see
    /// README), progress then going to standard error, e.g. --format json > summary.json
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
    /// Where to write ami_ids.json; the manifest goes beside it, e.g. --output out/ami_ids.json
    #[arg(long, value_name = "FILE", default_value = "ami_ids.json")]
    pub output: PathBuf,
    /// Where run directories (logs, events) go.
    #[arg(long, value_name = "DIR", default_value = ".amipub/runs")]
    pub runs_dir: PathBuf,
    /// Signing material of instance-store builds (default: local.yaml if it exists; the
    /// AMIPUB_ACCOUNT_ID, AMIPUB_SIGNING_CERT and AMIPUB_SIGNING_KEY variables win over it)
    #[arg(long, value_name = "FILE")]
    pub local_settings: Option<PathBuf>,
}

/// Arguments of `amipub sources update`.
#[derive(Debug, Clone, Args)]
pub struct SourcesArgs {
    /// The profile whose releases, virtualization types and architectures to look up, e.g.
    /// --config configs/current.yaml
    #[arg(long, value_name = "FILE", default_value = "configs/official.yaml")]
    pub config: PathBuf,
    /// The regions file to refresh, e.g. --regions-file regions.yaml
    #[arg(long, value_name = "FILE", default_value = "regions.yaml")]
    pub regions_file: PathBuf,
    /// Only this region (repeatable), e.g. --region us-east-1
    #[arg(long, value_name = "REGION")]
    pub region: Vec<String>,
    /// Write the changes into the regions file, keeping its comments and layout (without it,
    /// only print them)
    #[arg(long)]
    pub write: bool,
    #[command(flatten)]
    pub aws: AwsArgs,
}

/// Arguments of `amipub verify`.
#[derive(Debug, Clone, Args)]
pub struct VerifyArgs {
    /// The profile the AMIs were published with (names, permissions, version).
    #[arg(long, value_name = "FILE", default_value = "configs/official.yaml")]
    pub config: PathBuf,
    /// Source-image matrix, e.g. --regions-file regions.yaml
    #[arg(long, value_name = "FILE", default_value = "regions.yaml")]
    pub regions_file: PathBuf,
    /// The ami_ids.json to check; the manifest is read from beside it, e.g. --ami-ids out/ami_ids.json
    #[arg(long, value_name = "FILE", default_value = "ami_ids.json")]
    pub ami_ids: PathBuf,
    /// Instead, check every region's SSM parameters of this registry channel against the
    /// registry, e.g. --channel stable
    #[arg(long, value_name = "NAME")]
    pub channel: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
    #[command(flatten)]
    pub aws: AwsArgs,
}

/// Arguments of `amipub cleanup`.
#[derive(Debug, Clone, Args)]
pub struct CleanupArgs {
    /// Every region of the regions file.
    #[arg(long, conflicts_with = "region")]
    pub all_regions: bool,
    /// This region (repeatable), e.g. --region us-east-1
    #[arg(long, value_name = "REGION")]
    pub region: Vec<String>,
    /// The regions file --all-regions reads.
    #[arg(long, value_name = "FILE", default_value = "regions.yaml")]
    pub regions_file: PathBuf,
    /// Only what was made for this version, e.g. --version 2.6.2
    #[arg(long, value_name = "V")]
    pub version: Option<String>,
    /// Only what this run made, e.g. --run 20261121T053848Z-f0cf0c
    #[arg(long, value_name = "RUN_ID")]
    pub run: Option<String>,
    /// Only builds whose name matches these comma-separated globs, e.g. --build 'us-*-1204-*'
    #[arg(long, value_name = "GLOB")]
    pub build: Vec<String>,
    /// Only what is older than this, e.g. --older-than 30d
    #[arg(long, value_name = "DURATION", value_parser = age)]
    pub older_than: Option<std::time::Duration>,
    /// Keep the newest N AMIs of each build, e.g. --keep 2
    #[arg(long, value_name = "N")]
    pub keep: Option<usize>,
    /// Also this AMI (repeatable), even without amipub's tags, e.g. --ami ami-0123456789abcdef0
    #[arg(long, value_name = "AMI")]
    pub ami: Vec<String>,
    /// The current ami_ids.json: AMIs it lists are kept unless --force (default ami_ids.json
    /// when it exists; a file named here must exist).
    #[arg(long, value_name = "FILE")]
    pub ami_ids: Option<PathBuf>,
    /// Remove AMIs that ami_ids.json lists or that running instances were launched from.
    #[arg(long)]
    pub force: bool,
    /// Remove; without it, cleanup only shows what it would remove.
    #[arg(long)]
    pub yes: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
    #[command(flatten)]
    pub aws: AwsArgs,
}

/// Arguments of `amipub release`.
#[derive(Debug, Clone, Args)]
pub struct ReleaseArgs {
    /// The version to release, e.g. 2.6.3 (a candidate: 2.7.0-beta1)
    #[arg(value_name = "VERSION")]
    pub version: String,
    /// The git ref baked into the images (default: the version's major.minor, e.g. 2.6)
    #[arg(long, value_name = "BRANCH")]
    pub branch: Option<String>,
    /// After verification, point this registry channel at the release, e.g. --channel stable
    /// (a --candidate never goes to a public channel)
    #[arg(long, value_name = "NAME")]
    pub channel: Option<String>,
    /// A private release candidate: no launch permission groups, tag candidate/VERSION
    #[arg(long)]
    pub candidate: bool,
    /// Push the release commit and the tag to the remote
    #[arg(long)]
    pub push: bool,
    /// The remote to check tags against and push to
    #[arg(long, value_name = "NAME", default_value = "origin")]
    pub remote: String,
    /// Print the checks, the checklist and the plan; change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask for confirmation on a terminal
    #[arg(long)]
    pub yes: bool,
    /// Refresh the regions file's source AMIs to the newest upstream images before the checks
    /// (as `amipub sources update --write`), and commit the file with the release
    #[arg(long)]
    pub refresh_sources: bool,
    #[command(flatten)]
    pub selection: SelectionArgs,
    #[command(flatten)]
    pub concurrency: ConcurrencyArgs,
    #[command(flatten)]
    pub aws: AwsArgs,
    /// Signing material of instance-store builds (as for publish)
    #[arg(long, value_name = "FILE")]
    pub local_settings: Option<PathBuf>,
    /// Where run directories (logs, events) go.
    #[arg(long, value_name = "DIR", default_value = ".amipub/runs")]
    pub runs_dir: PathBuf,
    /// Take the staging buckets' locks even from a run that still holds them (see publish)
    #[arg(long)]
    pub break_lock: bool,
}

/// A poll interval: more than zero and at most an hour (amipub polls at up to ten times it).
fn poll_interval(s: &str) -> Result<std::time::Duration, String> {
    duration_within(
        s,
        std::time::Duration::from_millis(1),
        std::time::Duration::from_secs(3600),
    )
}

/// An age for `--older-than`: at most a century, which any resource is younger than.
fn age(s: &str) -> Result<std::time::Duration, String> {
    duration_within(
        s,
        std::time::Duration::ZERO,
        std::time::Duration::from_secs(100 * 365 * 24 * 3600),
    )
}

fn duration_within(
    s: &str,
    min: std::time::Duration,
    max: std::time::Duration,
) -> Result<std::time::Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| format!("{e} (e.g. 2s, 500ms, 5m)"))?;
    if d < min || d > max {
        return Err(format!(
            "must be from {} to {}",
            humantime::format_duration(min),
            humantime::format_duration(max)
        ));
    }
    Ok(d)
}

/// The profile whose registry a registry command reads, and how to reach AWS.
#[derive(Debug, Clone, Args)]
pub struct RegistryArgs {
    /// The profile whose `registry:` section names the registry, e.g. --config configs/official.yaml
    #[arg(long, value_name = "FILE", default_value = "configs/official.yaml")]
    pub config: PathBuf,
    /// Source-image matrix, e.g. --regions-file regions.yaml
    #[arg(long, value_name = "FILE", default_value = "regions.yaml")]
    pub regions_file: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
    #[command(flatten)]
    pub aws: AwsArgs,
}

/// Arguments of `amipub promote`.
#[derive(Debug, Clone, Args)]
pub struct PromoteArgs {
    /// The version to point the channel at, e.g. 2.6.3
    #[arg(value_name = "VERSION")]
    pub version: String,
    /// The channel, one of the profile's registry.channels, e.g. --channel stable
    #[arg(long, value_name = "NAME")]
    pub channel: String,
    /// Do not ask for confirmation on a terminal
    #[arg(long)]
    pub yes: bool,
    /// Overwrite SSM parameters amipub did not write
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// Arguments of `amipub revoke`.
#[derive(Debug, Clone, Args)]
pub struct RevokeArgs {
    /// The version to revoke, e.g. 2.6.3
    #[arg(value_name = "VERSION")]
    pub version: String,
    /// Why, recorded in the registry's history, e.g. --reason "broken cassandra.yaml"
    #[arg(long, value_name = "TEXT")]
    pub reason: String,
    /// Move each channel pointing at the version back to its previous version
    #[arg(long)]
    pub rollback: bool,
    /// Also set the version's AMIs to deprecate now
    #[arg(long)]
    pub deprecate: bool,
    /// Do not ask for confirmation on a terminal
    #[arg(long)]
    pub yes: bool,
    #[command(flatten)]
    pub registry: RegistryArgs,
}
