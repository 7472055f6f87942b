//! One build's step machine (stage, launch, provision, image, permissions, finish), what it has
//! made so far, and the stage, launch and finish steps. The other steps live in provision.rs
//! and image.rs, instance-store specifics in bundle.rs, and rolling back a failed build in
//! rollback.rs.

use std::path::PathBuf;
use std::time::Instant;

use aws_sdk_ec2::types::{
    IamInstanceProfileSpecification, InstanceType, ResourceType, ShutdownBehavior, TagSpecification,
};

use super::bootstrap::{self, BootstrapInput};
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
}

impl Made {
    /// True when nothing needs removing.
    pub fn is_empty(&self) -> bool {
        self.staged.is_empty()
            && self.secrets.is_empty()
            && self.instance.is_none()
            && self.image.is_none()
            && self.snapshots.is_empty()
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
        v
    }
}

/// Why a step failed.
pub(super) struct StepError {
    /// What failed, for people.
    pub(super) message: String,
    /// The end of the build log, when the failure is on the instance.
    pub(super) log_tail: Vec<String>,
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
            log_tail: Vec::new(),
        }
    }
}

impl Engine {
    /// Runs every step of `b`, cleaning up after a failure or Ctrl-C as the policy says.
    pub(super) async fn build(&self, b: &Build) -> Outcome {
        let started = Instant::now();
        let finish = |outcome: Outcome| {
            self.events.send(Event::BuildFinished {
                build: b.name.clone(),
                outcome: outcome.clone(),
                duration: started.elapsed(),
            });
            outcome
        };
        if let Some(found) = self.preflight.published.get(&b.name) {
            let artifact = Artifact {
                build: b.name.clone(),
                region: b.region.clone(),
                ami_id: found.ami_id.clone(),
                ami_name: b.ami_name.clone(),
                snapshot_ids: found.snapshot_ids.clone(),
                reused: true,
                run_id: found.run_id.clone().unwrap_or_default(),
            };
            self.events.send(Event::Artifact(artifact.clone()));
            return finish(Outcome::Published { artifact });
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
        let mut steps = Vec::new();
        if self.preflight.replace.contains_key(&b.name) {
            steps.push(Step::Replace);
        }
        steps.extend([
            Step::Stage,
            Step::Launch,
            Step::Provision,
            Step::Image,
            Step::Permissions,
            Step::Finish,
        ]);

        let mut i = 0;
        while i < steps.len() {
            let step = steps[i];
            tokio::select! {
                _ = self.interact.before_step(&b.name, step, &made) => {}
                _ = self.cancel.cancelled() => return finish(self.cancelled(b, &mut made).await),
            }
            self.events.send(Event::StepStarted {
                build: b.name.clone(),
                step,
            });
            let result = tokio::select! {
                r = self.step(step, b, &mut made) => Some(r),
                _ = self.cancel.cancelled() => None,
            };
            self.ledger.record(&b.name, &made);
            let err = match result {
                None => return finish(self.cancelled(b, &mut made).await),
                Some(Ok(())) => {
                    i += 1;
                    continue;
                }
                Some(Err(e)) => e,
            };
            self.events.send(Event::BuildFailed {
                build: b.name.clone(),
                step,
                error: err.message.clone(),
                log_tail: err.log_tail.clone(),
            });
            let decision = match self.opts.on_error {
                ErrorPolicy::Cleanup => Decision::Cleanup,
                ErrorPolicy::Abort => Decision::Abort,
                ErrorPolicy::Ask => tokio::select! {
                    d = self.interact.on_failure(&b.name, step, &err.message, &made) => d,
                    _ = self.cancel.cancelled() => Decision::Cleanup,
                },
            };
            match decision {
                Decision::Retry => continue,
                Decision::Cleanup => self.clean_up(b, &mut made).await,
                Decision::Abort => {
                    // Even a build kept for inspection keeps no signing material.
                    let had = !made.secrets.is_empty();
                    let mut removed = Vec::new();
                    let mut left = Vec::new();
                    match self.forget_secrets(b, &mut made).await {
                        Ok(()) if had => removed.push(format!(
                            "signing material under s3://{}/{}/signing/ (deleted)",
                            b.bucket, made.prefix
                        )),
                        Ok(()) => {}
                        Err(e) => left.push(e),
                    }
                    self.ledger.record(&b.name, &made);
                    left.extend(made.describe(&b.name));
                    self.events.send(Event::CleanedUp {
                        build: b.name.clone(),
                        removed,
                        left,
                    })
                }
            }
            return finish(Outcome::Failed {
                step,
                error: err.message,
            });
        }
        let artifact = Artifact {
            build: b.name.clone(),
            region: b.region.clone(),
            ami_id: made.image.clone().unwrap_or_default(),
            ami_name: b.ami_name.clone(),
            snapshot_ids: made.snapshots.clone(),
            reused: false,
            run_id: self.opts.run_id.clone(),
        };
        // The AMI is published: it is an artifact now, not something to clean up.
        self.ledger.record(&b.name, &Made::default());
        self.events.send(Event::Artifact(artifact.clone()));
        finish(Outcome::Published { artifact })
    }

    async fn cancelled(&self, b: &Build, made: &mut Made) -> Outcome {
        self.clean_up(b, made).await;
        Outcome::Cancelled
    }

    async fn step(&self, step: Step, b: &Build, made: &mut Made) -> Result<(), StepError> {
        match step {
            Step::Replace => self.replace(b).await,
            Step::Stage => self.stage(b, made).await,
            Step::Launch => self.launch(b, made).await,
            Step::Provision => self.provision(b, made).await,
            Step::Image => self.image(b, made).await,
            Step::Permissions => self.permissions(b, made).await,
            Step::Finish => self.finish(b, made).await,
        }
    }

    /// The EC2 tags of everything `b` makes in this run.
    pub(super) fn build_tags(&self, b: &Build) -> Vec<aws_sdk_ec2::types::Tag> {
        tags::ec2(&tags::for_build(
            &self.opts.run_id,
            &b.name,
            &self.opts.version,
            &b.tags,
        ))
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
            self.note(
                b,
                format!("deregistered {} and its snapshots (--force)", old.ami_id),
            );
        }
        Ok(())
    }

    async fn stage(&self, b: &Build, made: &mut Made) -> Result<(), StepError> {
        self.region_stage(b).await?;
        let c = self.clients.region(&b.region);
        let key = self.key(made, "provision.sh");
        made.staged.push(key.clone());
        super::staging::put(c, &b.bucket, &key, self.opts.script.to_vec()).await?;
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
            self.key(made, "provision.sh"),
            self.key(made, "build.log"),
            self.key(made, "status"),
        );
        made.staged.extend([log.clone(), status.clone()]);
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
        let spec = |rt: ResourceType| {
            TagSpecification::builder()
                .resource_type(rt)
                .set_tags(Some(build_tags.clone()))
                .build()
        };
        let shutdown = match b.backing {
            Backing::Ebs => ShutdownBehavior::Stop,
            Backing::InstanceStore => ShutdownBehavior::Terminate,
        };
        let profile = self.opts.iam_instance_profile.as_ref().map(|name| {
            IamInstanceProfileSpecification::builder()
                .name(name)
                .build()
        });
        let resp = c
            .ec2
            .run_instances()
            .image_id(&b.source_ami)
            .instance_type(InstanceType::from(b.instance_type.as_str()))
            .min_count(1)
            .max_count(1)
            .user_data(aws_smithy_types::base64::encode(&user_data))
            .security_group_ids(stage.security_group)
            .instance_initiated_shutdown_behavior(shutdown)
            .client_token(client_token(&self.opts.run_id, &b.name))
            .set_iam_instance_profile(profile)
            .tag_specifications(spec(ResourceType::Instance))
            .tag_specifications(spec(ResourceType::Volume))
            .send()
            .await
            .map_err(|e| format!("RunInstances: {}", errors::describe(&e)))?;
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

    async fn finish(&self, b: &Build, made: &mut Made) -> Result<(), StepError> {
        let c = self.clients.region(&b.region);
        if let Some(id) = made.instance.clone() {
            c.ec2
                .terminate_instances()
                .instance_ids(&id)
                .send()
                .await
                .map_err(|e| format!("TerminateInstances {id}: {}", errors::describe(&e)))?;
            made.instance = None;
        }
        if !made.staged.is_empty() {
            super::staging::delete_keys(c, &b.bucket, &made.staged).await?;
            made.staged.clear();
        }
        Ok(())
    }
}

/// A RunInstances client token unique to the run and build (EC2 allows 64 ASCII characters), so
/// that a retried call cannot launch a second instance.
fn client_token(run_id: &str, build: &str) -> String {
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
