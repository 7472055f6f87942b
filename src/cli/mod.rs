//! The command line: clap definitions and dispatch to the subcommands.

mod args;
mod options;

use clap::{Parser, Subcommand};

pub use args::{
    AwsArgs, CleanupArgs, ConcurrencyArgs, OnError, OutputFormat, PromoteArgs, PublishArgs,
    RegistryArgs, ReleaseArgs, RevokeArgs, SelectionArgs, SourcesArgs, VerifyArgs,
};
pub use options::RELEASE_AMI_IDS;

use crate::error::Error;

/// Publish machine images (AMIs) to every AWS region at once.
#[derive(Debug, Parser)]
#[command(
    name = "amipub",
    version,
    about,
    after_help = "Exit codes: 0 done; 1 a build or check failed; 2 bad command line or \
configuration (nothing ran); 3 an AWS check failed before anything was created; 130 interrupted."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show the builds a publish would run, without calling AWS.
    #[command(after_help = "Examples:\n  amipub plan --all-regions\n  \
amipub plan --only 'us-*' --except '*-1204-*'\n  amipub plan --config configs/test-ebs.yaml --format json")]
    Plan(PlanArgs),
    /// Build and publish the selected AMIs.
    #[command(after_help = "Examples:\n  amipub publish --all-regions\n  \
amipub publish --only us-east-1-1404-pv\n  amipub publish --parallel=false --debug\n  \
amipub publish --config configs/test-ebs.yaml --dry-run")]
    Publish(PublishArgs),
    /// Check every AMI that ami_ids.json lists against AWS and the profile.
    #[command(after_help = "Examples:\n  amipub verify\n  \
amipub verify --config configs/test-ebs.yaml --ami-ids out/ami_ids.json --format json\n\n\
Exit code 0 when every AMI exists, is available, has its name, amipub's tags and exactly the \
profile's launch permissions; 1 otherwise.")]
    Verify(VerifyArgs),
    /// Remove what amipub made (instances, AMIs, snapshots, volumes, staged files, buckets);
    /// a dry run unless --yes.
    #[command(
        after_help = "Examples:\n  amipub cleanup --version 2.6.1 --all-regions\n  \
amipub cleanup --version 2.6.1 --all-regions --yes\n  amipub cleanup --region us-east-1 --keep 2 --yes\n  \
amipub cleanup --run 20261121T053848Z-f0cf0c --all-regions --yes\n\n\
Only resources with amipub's tags are touched, and AMIs named with --ami. AMIs that ami_ids.json \
lists, or that running instances were launched from, are kept unless --force."
    )]
    Cleanup(CleanupArgs),
    /// The whole release checklist: check, set the version, publish, verify, commit, tag, push.
    #[command(after_help = "Examples:\n  amipub release 2.6.3 --dry-run\n  \
amipub release 2.7.0-beta1 --candidate\n  amipub release 2.6.3 --push\n\n\
Checks come first (clean work tree, tag free locally and on the remote, version newer than the \
last release tag, preflight in every region) and nothing changes if one fails. Re-running after \
a failure resumes: finished steps are skipped and published AMIs reused. Nothing is tagged \
unless every build published and verification found no difference.")]
    Release(ReleaseArgs),
    /// The registry's versions, and each version's AMIs.
    #[command(subcommand)]
    Registry(RegistryCommand),
    /// Point a channel at a version: every region's SSM parameters, then the registry.
    #[command(after_help = "Examples:\n  amipub promote 2.6.3 --channel stable\n  \
amipub promote 2.7.0-beta1 --channel beta --config configs/official.yaml --yes\n\n\
Refused, with nothing changed (exit 1), when the version is incomplete or revoked, when verifying \
its AMIs finds a difference, or when the channel is public and an AMI is not. A promote whose \
parameter writes failed in a region leaves the channel where it was; run it again to finish.")]
    Promote(PromoteArgs),
    /// Mark a version revoked; with --rollback, move its channels back.
    #[command(
        after_help = "Examples:\n  amipub revoke 2.6.3 --reason \"broken cassandra.yaml\" --rollback\n  \
amipub revoke 2.6.1 --reason \"superseded\" --deprecate --yes"
    )]
    Revoke(RevokeArgs),
    /// Each channel, its version, and when it last moved.
    #[command(
        after_help = "Examples:\n  amipub channels\n  amipub channels --config configs/official.yaml --format json"
    )]
    Channels(RegistryArgs),
    /// The upstream source images of the regions file.
    #[command(subcommand)]
    Sources(SourcesCommand),
    /// The runs of the runs directory: ID, profile, version, start, how long, result.
    #[command(after_help = "Examples:\n  amipub runs\n  amipub runs --runs-dir ci/.amipub/runs")]
    Runs(RunsArgs),
    /// Write a run's report.html (its timeline, totals and slowest steps) and print its path.
    #[command(
        after_help = "Examples:\n  amipub report\n  amipub report 20261121T053115Z-1a2b3c\n  \
amipub report 20261121T05\n\n\
Every publish writes its report itself; this draws it again from the run's events.ndjson, for \
an earlier run or one written by an older amipub. RUN_ID may be the start of an ID; the latest \
run when none is given."
    )]
    Report {
        /// The run (its ID, or the start of it); default: the latest.
        #[arg(value_name = "RUN_ID")]
        run: Option<String>,
        #[command(flatten)]
        runs: RunsArgs,
    },
    /// Print a shell's completion script for amipub.
    #[command(
        after_help = "Examples:\n  amipub completions bash > ~/.local/share/bash-completion/completions/amipub\n  \
amipub completions zsh > ~/.zfunc/_amipub\n  amipub completions fish > ~/.config/fish/completions/amipub.fish"
    )]
    Completions {
        /// The shell.
        #[arg(value_enum, value_name = "SHELL")]
        shell: clap_complete::Shell,
    },
    /// Print amipub's man page (roff), or write one page per command into a directory.
    #[command(
        after_help = "Examples:\n  amipub man | man -l -\n  amipub man --dir /usr/local/share/man/man1"
    )]
    Man {
        /// Write amipub.1 and amipub-COMMAND.1 pages into DIR instead.
        #[arg(long, value_name = "DIR")]
        dir: Option<std::path::PathBuf>,
    },
}

/// Where `runs` and `report` look (and the two commands made from these definitions).
#[derive(Debug, clap::Args)]
struct RunsArgs {
    /// The runs directory publish wrote to.
    #[arg(long, value_name = "DIR", default_value = ".amipub/runs")]
    runs_dir: std::path::PathBuf,
}

/// `amipub sources ...`.
#[derive(Debug, Subcommand)]
enum SourcesCommand {
    /// Find the newest upstream image of every release, virtualization type and architecture
    /// the profile builds, in every enabled region, and show (or --write) what changes.
    #[command(
        after_help = "Examples:\n  amipub sources update --config configs/current.yaml\n  \
amipub sources update --config configs/current.yaml --write\n  \
amipub sources update --region us-east-1 --region eu-west-1\n\n\
Each image comes from the publisher's public SSM parameter in its region (the profile's \
sources.parameters, Canonical's by default), or where there is none, from DescribeImages of the \
sources.owner's images named like sources.name_pattern, newest by creation date. Disabled regions \
are left as they are. Exit code 0 when every lookup was made (changes or not), 1 when one failed."
    )]
    Update(SourcesArgs),
}

/// `amipub registry ...`.
#[derive(Debug, Subcommand)]
enum RegistryCommand {
    /// Every version recorded, its status and the channels pointing at it.
    #[command(
        after_help = "Examples:\n  amipub registry versions\n  amipub registry versions --format json"
    )]
    Versions(RegistryArgs),
    /// One version: each build's AMI and where it came from.
    #[command(
        after_help = "Examples:\n  amipub registry show 2.6.2\n  amipub registry show 2.6.2 --format json"
    )]
    Show {
        /// The version, e.g. 2.6.2
        #[arg(value_name = "VERSION")]
        version: String,
        #[command(flatten)]
        registry: RegistryArgs,
    },
}

/// Arguments of `amipub plan`.
#[derive(Debug, clap::Args)]
struct PlanArgs {
    #[command(flatten)]
    selection: SelectionArgs,
    /// Output format: an aligned table, or JSON for scripts (stable, see README).
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    format: OutputFormat,
}

/// Runs the command line: its flags become options, then the command runs with them.
pub async fn run(cli: Cli) -> Result<(), Error> {
    use crate::commands;
    match cli.command {
        Command::Plan(a) => commands::plan::run(&crate::options::PlanOptions {
            selection: a.selection.options()?,
            format: a.format,
        }),
        Command::Publish(a) => commands::publish::run(&a.options()?).await,
        Command::Verify(a) => commands::verify::run(&a.options()).await,
        Command::Cleanup(a) => commands::cleanup::run(&a.options()?).await,
        Command::Release(a) => commands::release::run(&a.options()?).await,
        Command::Registry(RegistryCommand::Versions(a)) => {
            commands::registry::versions(&a.options()).await
        }
        Command::Registry(RegistryCommand::Show { version, registry }) => {
            commands::registry::show(&registry.options(), &version).await
        }
        Command::Promote(a) => commands::registry::promote(&a.options()).await,
        Command::Revoke(a) => commands::registry::revoke(&a.options()).await,
        Command::Channels(a) => commands::registry::channels(&a.options()).await,
        Command::Sources(SourcesCommand::Update(a)) => {
            commands::sources::update(&a.options()).await
        }
        Command::Runs(a) => commands::runs::list(&a.runs_dir),
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "amipub", &mut std::io::stdout());
            Ok(())
        }
        Command::Man { dir } => man(dir.as_deref()),
        Command::Report { run, runs } => commands::runs::report(&runs.runs_dir, run.as_deref()),
    }
}

/// `amipub man`: the page of amipub (with its commands listed) on standard output, or one page
/// per command in `dir` (`amipub.1`, `amipub-publish.1`, `amipub-registry-show.1`...).
fn man(dir: Option<&std::path::Path>) -> Result<(), Error> {
    let cmd = <Cli as clap::CommandFactory>::command();
    let Some(dir) = dir else {
        let mut out = Vec::new();
        page(cmd)
            .render(&mut out)
            .map_err(|e| Error::Failed(format!("rendering the man page: {e}")))?;
        return std::io::Write::write_all(&mut std::io::stdout(), &out)
            .map_err(|e| Error::Failed(format!("writing the man page: {e}")));
    };
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    write_pages(cmd, "amipub", dir)?;
    println!("{}", dir.display());
    Ok(())
}

/// The page of `cmd`, with amipub's version on it (subcommands have none of their own).
fn page(cmd: clap::Command) -> clap_mangen::Man {
    clap_mangen::Man::new(cmd).source(format!("amipub {}", env!("CARGO_PKG_VERSION")))
}

/// Writes `<name>.1` for `cmd`, then the pages of its subcommands.
fn write_pages(cmd: clap::Command, name: &str, dir: &std::path::Path) -> Result<(), Error> {
    let path = dir.join(format!("{name}.1"));
    let mut out = Vec::new();
    let subs: Vec<clap::Command> = cmd
        .get_subcommands()
        .filter(|s| s.get_name() != "help")
        .cloned()
        .collect();
    page(cmd.name(name.to_string()))
        .render(&mut out)
        .map_err(|e| Error::io(&path, e))?;
    std::fs::write(&path, out).map_err(|e| Error::io(&path, e))?;
    for sub in subs {
        let sub_name = format!("{name}-{}", sub.get_name());
        write_pages(sub, &sub_name, dir)?;
    }
    Ok(())
}
