//! The one place where the command line becomes options: every flag is checked here, every
//! default resolved, and the commands get types of their own (`crate::options`).

use std::io::IsTerminal;

use super::args::{
    AwsArgs, CleanupArgs, ConcurrencyArgs, OnError, PromoteArgs, PublishArgs, RegistryArgs,
    ReleaseArgs, RevokeArgs, SelectionArgs, SourcesArgs, VerifyArgs,
};
use crate::aws::AwsSettings;
use crate::engine::ErrorPolicy;
use crate::error::Error;
use crate::matrix::{Patterns, Selection};
use crate::options::OutputFormat;
use crate::options::{
    CleanupOptions, CleanupRegions, ConfigSelection, PromoteOptions, PublishOptions,
    RegistryOptions, ReleaseOptions, RevokeOptions, RunOptions, SourcesOptions, VerifyOptions,
    poll_settings,
};
use crate::report::Style;

/// Where a release writes its ami_ids.json (the manifest goes beside it).
pub const RELEASE_AMI_IDS: &str = "ami_ids.json";

impl SelectionArgs {
    /// The configuration and selection these flags name, globs compiled.
    pub fn options(&self) -> Result<ConfigSelection, Error> {
        let only = Patterns::parse("--only", &self.only);
        let except = Patterns::parse("--except", &self.except);
        let (only, except) = match (only, except) {
            (Ok(only), Ok(except)) => (only, except),
            (only, except) => {
                let problems = [only.err(), except.err()].into_iter().flatten().flatten();
                return Err(Error::Usage(problems.collect()));
            }
        };
        Ok(ConfigSelection {
            config: self.config.clone(),
            regions_file: self.regions_file.clone(),
            builds: Selection {
                all_regions: self.all_regions,
                regions: self.region.clone(),
                only,
                except,
                strategy: self.strategy,
                home_region: self.home_region.clone(),
            },
        })
    }
}

impl AwsArgs {
    /// The AWS settings these flags ask for.
    pub fn settings(&self) -> AwsSettings {
        AwsSettings {
            endpoint_url: self.endpoint_url.clone(),
            profile: self.aws_profile.clone(),
            rates: crate::aws::budget::Rates {
                overrides: self.ec2_rate_limit.iter().cloned().collect(),
            },
        }
    }
}

impl PublishArgs {
    /// The options of `amipub publish`.
    pub fn options(&self) -> Result<PublishOptions, Error> {
        let asks = self.debug || self.on_error == OnError::Ask;
        if asks && !std::io::stdin().is_terminal() {
            return Err(Error::Usage(vec![
                "--debug and --on-error=ask wait for answers on a terminal, and standard input is not one; \
                 run from a terminal, or use --on-error=cleanup or --on-error=abort"
                    .into(),
            ]));
        }
        // With a JSON summary, standard output carries it alone: progress goes to standard
        // error (bars when that is a terminal).
        let json = self.format == OutputFormat::Json;
        let shown_on_terminal = if json {
            std::io::stderr().is_terminal()
        } else {
            std::io::stdout().is_terminal()
        };
        let style = if self.machine_readable {
            Style::Machine
        } else if shown_on_terminal && !self.debug {
            Style::Progress
        } else if json {
            Style::PlainOnStderr
        } else {
            Style::Plain
        };
        let on_error = match (asks, self.on_error) {
            (true, _) => ErrorPolicy::Ask,
            (false, OnError::Abort) => ErrorPolicy::Abort,
            (false, _) => ErrorPolicy::Cleanup,
        };
        let concurrency = &self.concurrency;
        Ok(PublishOptions {
            selection: self.selection.options()?,
            dry_run: self.dry_run,
            run: RunOptions {
                max_parallel: if self.debug {
                    Some(1)
                } else {
                    concurrency.max_parallel()
                },
                pause_each_step: self.debug,
                on_error,
                force: self.force,
                break_lock: self.break_lock,
                skip_disabled_regions: self.skip_disabled_regions,
                style,
                summary: self.format,
                output: self.output.clone(),
                ..run_options(
                    &self.aws,
                    concurrency,
                    &self.runs_dir,
                    self.local_settings.as_ref(),
                )
            },
        })
    }
}

impl ConcurrencyArgs {
    /// At most how many builds at once (`None`: all of them).
    fn max_parallel(&self) -> Option<usize> {
        if self.parallel {
            self.max_parallel.map(|n| n as usize)
        } else {
            Some(1)
        }
    }
}

/// What `publish` and `release` share: AWS, concurrency, run directories, signing material;
/// the rest as a publish without flags has it.
fn run_options(
    aws: &AwsArgs,
    concurrency: &ConcurrencyArgs,
    runs_dir: &std::path::Path,
    local_settings: Option<&std::path::PathBuf>,
) -> RunOptions {
    RunOptions {
        aws: aws.settings(),
        max_parallel: concurrency.max_parallel(),
        max_per_region: concurrency.max_per_region as usize,
        poll: poll_settings(concurrency.poll_interval),
        on_error: ErrorPolicy::Cleanup,
        pause_each_step: false,
        force: false,
        break_lock: false,
        skip_disabled_regions: false,
        style: if std::io::stdout().is_terminal() {
            Style::Progress
        } else {
            Style::Plain
        },
        summary: OutputFormat::Table,
        output: RELEASE_AMI_IDS.into(),
        runs_dir: runs_dir.to_path_buf(),
        local_settings: local_settings.cloned(),
    }
}

impl ReleaseArgs {
    /// The options of `amipub release`, its publish step included.
    pub fn options(&self) -> Result<ReleaseOptions, Error> {
        let v = crate::release::version::parse(&self.version).map_err(|e| Error::Usage(vec![e]))?;
        let branch = self
            .branch
            .clone()
            .unwrap_or_else(|| crate::release::version::default_branch(&v));
        let run = RunOptions {
            break_lock: self.break_lock,
            ..run_options(
                &self.aws,
                &self.concurrency,
                &self.runs_dir,
                self.local_settings.as_ref(),
            )
        };
        Ok(ReleaseOptions {
            version: self.version.clone(),
            branch,
            candidate: self.candidate,
            channel: self.channel.clone(),
            push: self.push,
            remote: self.remote.clone(),
            dry_run: self.dry_run,
            yes: self.yes,
            refresh_sources: self.refresh_sources,
            publish: PublishOptions {
                selection: self.selection.options()?,
                run,
                dry_run: false,
            },
        })
    }
}

impl SourcesArgs {
    /// The options of `amipub sources update`.
    pub fn options(&self) -> SourcesOptions {
        SourcesOptions {
            config: self.config.clone(),
            regions_file: self.regions_file.clone(),
            regions: self.region.clone(),
            profile_regions: false,
            write: self.write,
            aws: self.aws.settings(),
        }
    }
}

impl VerifyArgs {
    /// The options of `amipub verify`.
    pub fn options(&self) -> VerifyOptions {
        VerifyOptions {
            config: self.config.clone(),
            regions_file: self.regions_file.clone(),
            ami_ids: self.ami_ids.clone(),
            channel: self.channel.clone(),
            format: self.format,
            aws: self.aws.settings(),
        }
    }
}

impl CleanupArgs {
    /// The options of `amipub cleanup`; every bad flag is reported at once.
    pub fn options(&self) -> Result<CleanupOptions, Error> {
        let mut problems = Vec::new();
        let regions = self.regions().map_err(|p| problems.extend(p)).ok();
        let builds = Patterns::parse("--build", &self.build)
            .map_err(|p| problems.extend(p))
            .ok();
        for a in &self.ami {
            if let Err(e) = crate::config::rules::check_ami_id(a) {
                problems.push(format!("--ami {e}"));
            }
        }
        let (Some(regions), Some(builds)) = (regions, builds) else {
            return Err(Error::Usage(problems));
        };
        if !problems.is_empty() {
            return Err(Error::Usage(problems));
        }
        Ok(CleanupOptions {
            regions,
            version: self.version.clone(),
            run: self.run.clone(),
            builds,
            older_than: self.older_than,
            keep: self.keep,
            amis: self.ami.clone(),
            ami_ids: self.ami_ids.clone(),
            force: self.force,
            yes: self.yes,
            format: self.format,
            aws: self.aws.settings(),
        })
    }

    fn regions(&self) -> Result<CleanupRegions, Vec<String>> {
        if !self.region.is_empty() {
            let unknown: Vec<String> = self
                .region
                .iter()
                .filter(|r| !crate::config::rules::is_known_region(r))
                .map(|r| format!("--region {r}: unknown region"))
                .collect();
            if !unknown.is_empty() {
                return Err(unknown);
            }
            let mut named = self.region.clone();
            named.sort();
            named.dedup();
            return Ok(CleanupRegions::Named(named));
        }
        if self.all_regions {
            Ok(CleanupRegions::AllOf(self.regions_file.clone()))
        } else {
            Err(vec![
                "say where to clean up: --all-regions (every region of the regions file) or --region R"
                    .into(),
            ])
        }
    }
}

impl RegistryArgs {
    /// The options every registry command shares.
    pub fn options(&self) -> RegistryOptions {
        RegistryOptions {
            config: self.config.clone(),
            regions_file: self.regions_file.clone(),
            format: self.format,
            aws: self.aws.settings(),
        }
    }
}

impl PromoteArgs {
    /// The options of `amipub promote`.
    pub fn options(&self) -> PromoteOptions {
        PromoteOptions {
            registry: self.registry.options(),
            version: self.version.clone(),
            channel: self.channel.clone(),
            yes: self.yes,
            force: self.force,
        }
    }
}

impl RevokeArgs {
    /// The options of `amipub revoke`.
    pub fn options(&self) -> RevokeOptions {
        RevokeOptions {
            registry: self.registry.options(),
            version: self.version.clone(),
            reason: self.reason.clone(),
            rollback: self.rollback,
            deprecate: self.deprecate,
            yes: self.yes,
        }
    }
}
