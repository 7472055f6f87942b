//! One build's step machine (stage, launch, provision, image, permissions, finish), what it has
//! made so far, and the stage, launch and finish steps. The other steps live in provision.rs
//! and image.rs, instance-store specifics in bundle.rs, and rolling back a failed build in
//! rollback.rs.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use aws_sdk_ec2::types::{
    IamInstanceProfileSpecification, InstanceType, ResourceType, ShutdownBehavior,
};

use super::bootstrap::{self, BootstrapInput};
use super::image::spec;
use super::preflight::ExistingAmi;
use super::rollback::deregister;
use super::staging::{self, Access};
use super::{Decision, Engine, ErrorPolicy, url_lifetime};
use crate::aws::{errors, tags};
use crate::config::Backing;
use crate::events::{Artifact, Event, Outcome, Step};
use crate::matrix::Build;

/// What a build has made so far: what cleanup must remove, and what `--debug` shows.
#[derive(Debug, Clone, Default)]
pub struct Made {
    /// Region.
    pub region: String,
    /// Staging bucket.
    pub bucket: String,
    /// The build's prefix in the bucket.
    pub prefix: String,
    /// Keys staged under the prefix.
    pub staged: Vec<String>,
    /// Signing material staged under the prefix (instance-store builds), deleted first.
    pub secrets: Vec<String>,
    /// The bundle manifest's key, as the instance reported it (instance-store builds).
    pub manifest: Option<String>,
    /// The build instance.
    pub instance: Option<String>,
    /// The AMI being made.
    pub image: Option<String>,
    /// Its snapshots.
    pub snapshots: Vec<String>,
    /// Where the provisioning log was saved.
    pub log_path: Option<PathBuf>,
    /// When the build's presigned URLs expire, once it has any.
    pub urls_expire: Option<std::time::SystemTime>,
    /// Copy mode: the AMI this build's was copied from (`region:ami-...`).
    pub copied_from: Option<String>,
}

impl Made {
    /// True when nothing needs removing.
    pub fn is_empty(&self) -> bool {
        self.staged.is_empty()
            && self.secrets.is_empty()
            && self.instance.is_none()
            && self.image.is_none()
            && self.snapshots.is_empty()
            && self.urls_expire.is_none()
    }

    /// One line per resource, naming `build`.
    pub fn describe(&self, build: &str) -> Vec<String> {
        let mut v = Vec::new();
        if let Some(i) = &self.instance {
            v.push(format!("{build}: instance {i} in {}", self.region));
        }
        if let Some(i) = &self.image {
            v.push(format!("{build}: AMI {i} in {}", self.region));
        }
        for s in &self.snapshots {
            v.push(format!("{build}: snapshot {s} in {}", self.region));
        }
        if !self.secrets.is_empty() {
            v.push(format!(
                "{build}: signing material under s3://{}/{}/signing/ (delete it)",
                self.bucket, self.prefix
            ));
        }
        if !self.staged.is_empty() || self.manifest.is_some() {
            v.push(format!(
                "{build}: objects under s3://{}/{}/",
                self.bucket, self.prefix
            ));
        }
        if let Some(t) = self.urls_expire {
            v.push(format!(
                "{build}: presigned upload URLs for s3://{}/{}/ (not sealed; they work until {})",
                self.bucket,
                self.prefix,
                humantime::format_rfc3339_seconds(t)
            ));
        }
        v
    }
}

/// Why a step failed.
pub(super) struct StepError {
    /// What failed, for people.
    pub(super) message: String,
    /// The AWS error code, when an AWS call failed (in events.ndjson, for scripts).
    pub(super) code: Option<String>,
    /// The end of the build log, when the failure is on the instance.
    pub(super) log_tail: Vec<String>,
}

impl From<errors::AwsError> for StepError {
    fn from(e: errors::AwsError) -> Self {
        StepError {
            message: e.to_string(),
            code: e.code,
            log_tail: Vec::new(),
        }
    }
}

impl From<&str> for StepError {
    fn from(message: &str) -> Self {
        StepError::from(message.to_string())
    }
}

impl From<String> for StepError {
    fn from(message: String) -> Self {
        StepError {
            message,
            code: None,
            log_tail: Vec::new(),
        }
    }
}

/// How a build's steps ended.
enum Ended {
    /// Every step succeeded: the AMI is ready to be recorded.
    Done,
    /// A signal (or a lost lock) stopped the build.
    Cancelled,
    /// `step` failed; `keep` says the build's resources stay for inspection.
    Failed {
        step: Step,
        error: StepError,
        keep: bool,
    },
}

impl Engine {
    /// Runs every step of `b`, cleaning up after a failure or Ctrl-C as the policy says.
    pub(super) async fn build(&self, b: &Build) -> Outcome {
        let started = Instant::now();
        if let Some(found) = self.preflight.published.get(&b.name) {
            return self.reuse_found(b, found, started).await;
        }
        self.events.send(Event::BuildStarted {
            build: b.name.clone(),
            region: b.region.clone(),
        });
        let mut made = Made {
            region: b.region.clone(),
            bucket: b.bucket.clone(),
            prefix: b.prefix(&self.opts.run_id),
            ..Made::default()
        };
        let ended = self.run_steps(b, &mut made).await;
        let outcome = match ended {
            Ended::Done => self.publish(b, &mut made).await,
            Ended::Cancelled => self.cancelled(b, &mut made).await,
            Ended::Failed { step, error, keep } => {
                if keep {
                    self.keep_for_inspection(b, &mut made).await;
                } else {
                    self.clean_up(b, &mut made).await;
                }
                Outcome::Failed {
                    step,
                    error: error.message,
                }
            }
        };
        self.copies.ended(&b.name, &outcome);
        self.finished(b, outcome, started)
    }

    /// An AMI preflight found already made: reconciled (see reuse.rs) under the region's lock,
    /// like any change to the region's AMIs.
    async fn reuse_found(&self, b: &Build, found: &ExistingAmi, started: Instant) -> Outcome {
        if let Err(error) = self.region_stage(b).await {
            self.events.send(Event::BuildFailed {
                build: b.name.clone(),
                step: Step::Stage,
                error: error.clone(),
                code: None,
                log_tail: Vec::new(),
            });
            let failed = Outcome::Failed {
                step: Step::Stage,
                error,
            };
            self.copies.ended(&b.name, &failed);
            return self.finished(b, failed, started);
        }
        let outcome = self.reuse(b, found).await;
        self.copies.ended(&b.name, &outcome);
        outcome
    }

    /// The steps of `b`, in order, until one fails for good or a signal comes; a failed step
    /// is retried when the user says so (`--on-error=ask`).
    async fn run_steps(&self, b: &Build, made: &mut Made) -> Ended {
        let mut steps = Vec::new();
        if self.preflight.replace.contains_key(&b.name) {
            steps.push(Step::Replace);
        }
        if b.copy_of.is_some() {
            steps.extend([Step::Copy, Step::Permissions]);
        } else {
            steps.extend([
                Step::Stage,
                Step::Launch,
                Step::Provision,
                Step::Image,
                Step::Permissions,
            ]);
        }
        let mut i = 0;
        while let Some(&step) = steps.get(i) {
            tokio::select! {
                _ = self.interact.before_step(&b.name, step, made) => {}
                _ = self.cancel.cancelled() => return Ended::Cancelled,
            }
            self.events.send(Event::StepStarted {
                build: b.name.clone(),
                step,
            });
            let result = tokio::select! {
                r = self.step(step, b, made) => r,
                _ = self.cancel.cancelled() => return Ended::Cancelled,
            };
            self.ledger.record(&b.name, made);
            let Err(error) = result else {
                if step == Step::Image
                    && let Some(ami) = &made.image
                {
                    // The copies of this build may start: the AMI is available.
                    self.copies.available(&b.name, &b.region, ami);
                }
                i += 1;
                continue;
            };
            self.events.send(Event::BuildFailed {
                build: b.name.clone(),
                step,
                error: error.message.clone(),
                code: error.code.clone(),
                log_tail: error.log_tail.clone(),
            });
            match self.decide(b, step, &error, made).await {
                Decision::Retry => continue,
                Decision::Cleanup => {
                    return Ended::Failed {
                        step,
                        error,
                        keep: false,
                    };
                }
                Decision::Abort => {
                    return Ended::Failed {
                        step,
                        error,
                        keep: true,
                    };
                }
            }
        }
        Ended::Done
    }

    /// What to do with a failed build, as the policy says (or the user, when it asks).
    async fn decide(&self, b: &Build, step: Step, error: &StepError, made: &Made) -> Decision {
        match self.opts.on_error {
            ErrorPolicy::Cleanup => Decision::Cleanup,
            ErrorPolicy::Abort => Decision::Abort,
            ErrorPolicy::Ask => tokio::select! {
                d = self.interact.on_failure(&b.name, step, &error.message, made) => d,
                _ = self.cancel.cancelled() => Decision::Cleanup,
            },
        }
    }

    /// `--on-error=abort`: everything stays for inspection but the signing material, and is
    /// listed.
    async fn keep_for_inspection(&self, b: &Build, made: &mut Made) {
        let had = !made.secrets.is_empty();
        let mut removed = Vec::new();
        let mut left = Vec::new();
        match self.forget_secrets(b, made).await {
            Ok(()) if had => removed.push(format!(
                "signing material under s3://{}/{}/signing/ (deleted)",
                b.bucket, made.prefix
            )),
            Ok(()) => {}
            Err(e) => left.push(e),
        }
        self.ledger.record(&b.name, made);
        left.extend(made.describe(&b.name));
        self.events.send(Event::CleanedUp {
            build: b.name.clone(),
            removed,
            left,
            kept: true,
        });
    }

    /// Records the AMI (its permissions are set: it is published), then finishes:
    /// nothing that happens while finishing (a signal, a failed call) can lose or remove it.
    async fn publish(&self, b: &Build, made: &mut Made) -> Outcome {
        let artifact = Artifact {
            build: b.name.clone(),
            region: b.region.clone(),
            ami_id: made.image.take().unwrap_or_default(),
            ami_name: b.ami_name.clone(),
            snapshot_ids: std::mem::take(&mut made.snapshots),
            reused: false,
            run_id: self.opts.run_id.clone(),
            copied_from: made.copied_from.clone(),
        };
        self.events.send(Event::Artifact(artifact.clone()));
        self.ledger.record(&b.name, made);
        tokio::select! {
            _ = self.interact.before_step(&b.name, Step::Finish, made) => {}
            _ = self.cancel.cancelled() => {}
        }
        self.events.send(Event::StepStarted {
            build: b.name.clone(),
            step: Step::Finish,
        });
        self.finish_later(b, made).await;
        self.ledger.record(&b.name, made);
        Outcome::Published { artifact }
    }

    /// Denies further writes to `b`'s prefix through the URLs it was given, until they
    /// expire (see seal.rs). A failure leaves the AMI alone and is said as a warning.
    pub(super) async fn seal(&self, b: &Build, made: &mut Made) {
        let Some(until) = made.urls_expire else {
            return;
        };
        let c = self.clients.region(&b.region);
        match self.sealer.seal(c, &b.bucket, &[&made.prefix], until).await {
            Ok(()) => made.urls_expire = None,
            Err(e) => self.events.send(Event::Warning {
                region: b.region.clone(),
                message: format!(
                    "{}: {e}; its presigned upload URLs work until {}",
                    b.name,
                    humantime::format_rfc3339_seconds(until)
                ),
            }),
        }
    }

    /// Says that `b` ended with `outcome`, and returns it.
    pub(super) fn finished(&self, b: &Build, outcome: Outcome, started: Instant) -> Outcome {
        self.events.send(Event::BuildFinished {
            build: b.name.clone(),
            outcome: outcome.clone(),
            duration: started.elapsed(),
        });
        outcome
    }

    async fn cancelled(&self, b: &Build, made: &mut Made) -> Outcome {
        if self.lock_lost() {
            // Another run holds the bucket now and may already have taken this build's AMI
            // for its own: removing anything could destroy what it publishes. That run's sweep
            // removes the instance and staged files; what remains is listed.
            self.events.send(Event::CleanedUp {
                build: b.name.clone(),
                removed: Vec::new(),
                left: made.describe(&b.name),
                kept: false,
            });
            return Outcome::Cancelled;
        }
        self.clean_up(b, made).await;
        Outcome::Cancelled
    }

    async fn step(&self, step: Step, b: &Build, made: &mut Made) -> Result<(), StepError> {
        match step {
            Step::Replace => self.replace(b).await,
            Step::Stage => self.stage(b, made).await,
            Step::Copy => self.copy(b, made).await,
            Step::Launch => self.launch(b, made).await,
            Step::Provision => self.provision(b, made).await,
            Step::Image => self.image(b, made).await,
            Step::Permissions => self.permissions(b, made).await,
            Step::Finish => {
                self.finish_later(b, made).await;
                Ok(())
            }
        }
    }

    /// The EC2 tags of everything `b` makes in this run.
    pub(super) fn build_tags(&self, b: &Build) -> Vec<aws_sdk_ec2::types::Tag> {
        tags::ec2(&tags::for_build(&self.opts.run_id, b, &self.opts.version))
    }

    pub(super) fn note(&self, b: &Build, message: String) {
        self.events.send(Event::Note {
            build: b.name.clone(),
            message,
        });
    }

    pub(super) fn key(&self, made: &Made, name: &str) -> String {
        format!("{}/{name}", made.prefix)
    }

    async fn replace(&self, b: &Build) -> Result<(), StepError> {
        let c = self.clients.region(&b.region);
        for old in self.preflight.replace.get(&b.name).into_iter().flatten() {
            deregister(c, &old.ami_id, &old.snapshot_ids).await?;
            // Preflight replaces a usable AMI only under --force; any other it replaces because
            // it ended unusable.
            let why = if old.usable() {
                "--force".to_string()
            } else {
                format!("it was {}", old.state)
            };
            self.note(
                b,
                format!("deregistered {} and its snapshots ({why})", old.ami_id),
            );
        }
        Ok(())
    }

    async fn stage(&self, b: &Build, made: &mut Made) -> Result<(), StepError> {
        self.region_stage(b).await?;
        self.staged_script(b).await?;
        if b.backing == Backing::InstanceStore {
            self.stage_signing(b, made).await?;
        }
        Ok(())
    }

    async fn launch(&self, b: &Build, made: &mut Made) -> Result<(), StepError> {
        let c = self.clients.region(&b.region);
        let stage = self.region_stage(b).await?;
        let ttl = url_lifetime(&self.opts.timeouts);
        let (script, log, status) = (
            self.staged_script(b).await?,
            self.key(made, "build.log"),
            self.key(made, "status"),
        );
        made.staged.extend([log.clone(), status.clone()]);
        // Before presigning, so that the prefix is sealed for at least as long as they work.
        made.urls_expire = Some(std::time::SystemTime::now() + ttl + Duration::from_secs(60));
        let user_data = bootstrap::render(&BootstrapInput {
            build: &b.name,
            run_id: &self.opts.run_id,
            env: &b.env,
            script_url: &staging::presign(c, &b.bucket, &script, Access::Get, ttl).await?,
            log_url: &staging::presign(c, &b.bucket, &log, Access::Put, ttl).await?,
            status_url: &staging::presign(c, &b.bucket, &status, Access::Put, ttl).await?,
            log_interval_secs: self.opts.log_interval_secs,
            bundle: match b.backing {
                Backing::Ebs => None,
                Backing::InstanceStore => Some(self.bundle_input(b, made).await?),
            },
        });
        let user_data = bootstrap::user_data(&user_data)?;
        let build_tags = self.build_tags(b);
        let shutdown = match b.backing {
            Backing::Ebs => ShutdownBehavior::Stop,
            Backing::InstanceStore => ShutdownBehavior::Terminate,
        };
        let profile = self.opts.iam_instance_profile.as_ref().map(|name| {
            IamInstanceProfileSpecification::builder()
                .name(name)
                .build()
        });
        let root = match b.backing {
            Backing::Ebs => self.root_volume_mapping(b).await?,
            Backing::InstanceStore => None,
        };
        let resp = c
            .ec2
            .run_instances()
            .image_id(&b.source_ami)
            .set_block_device_mappings(root.map(|m| vec![m]))
            .instance_type(InstanceType::from(b.instance_type.as_str()))
            .min_count(1)
            .max_count(1)
            .user_data(aws_smithy_types::base64::encode(&user_data))
            .security_group_ids(stage.security_group)
            .instance_initiated_shutdown_behavior(shutdown)
            .client_token(client_token(&self.opts.run_id, &b.name))
            .set_iam_instance_profile(profile)
            .tag_specifications(spec(ResourceType::Instance, &build_tags))
            .tag_specifications(spec(ResourceType::Volume, &build_tags))
            .send()
            .await
            .map_err(|e| errors::AwsError::new("RunInstances", Some(&b.source_ami), &e))?;
        let id = resp
            .instances()
            .first()
            .and_then(|i| i.instance_id())
            .ok_or("RunInstances returned no instance")?
            .to_string();
        self.note(b, format!("launched {id} from {}", b.source_ami));
        made.instance = Some(id);
        Ok(())
    }
}

/// A RunInstances client token unique to the run and build (EC2 allows 64 ASCII characters), so
/// that a retried call cannot launch a second instance.
pub(super) fn client_token(run_id: &str, build: &str) -> String {
    let t = format!("{run_id}-{build}");
    if t.len() <= 64 {
        t
    } else {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        t.hash(&mut h);
        format!("{}-{:016x}", &t[..40], h.finish())
    }
}
