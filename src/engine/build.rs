//! One build's step machine: stage, launch, provision, image, permissions, finish; and the
//! cleanup of whatever a failed or cancelled build made.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Instant;

use aws_sdk_ec2::types::{
    IamInstanceProfileSpecification, InstanceType, LaunchPermission, LaunchPermissionModifications,
    PermissionGroup, ResourceType, ShutdownBehavior, TagSpecification,
};

use super::bootstrap::{self, BootstrapInput};
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
struct StepError {
    message: String,
    log_tail: Vec<String>,
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

const LOG_TAIL_LINES: usize = 20;

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

    fn note(&self, b: &Build, message: String) {
        self.events.send(Event::Note {
            build: b.name.clone(),
            message,
        });
    }

    fn key(&self, made: &Made, name: &str) -> String {
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
        if self.needs_signing(b) {
            self.stage_signing(b, made).await?;
        }
        Ok(())
    }

    /// Whether `b` bundles itself (and so needs signing material on the instance).
    pub(super) fn needs_signing(&self, b: &Build) -> bool {
        b.backing == Backing::InstanceStore
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
        if user_data.len() > bootstrap::USER_DATA_LIMIT {
            return Err(format!(
                "the bootstrap is {} bytes, over EC2's user-data limit of {}; shorten provision.env",
                user_data.len(),
                bootstrap::USER_DATA_LIMIT
            )
            .into());
        }
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
            .user_data(aws_smithy_types::base64::encode(user_data.as_bytes()))
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

    async fn provision(&self, b: &Build, made: &mut Made) -> Result<(), StepError> {
        let c = self.clients.region(&b.region);
        let instance = made.instance.clone().ok_or("no instance to wait for")?;
        let limit = self.opts.timeouts.provision;
        let seen =
            tokio::time::timeout(limit, self.waiters.instance_stopped(&b.region, &instance)).await;
        // The instance is done with the signing material, whatever happened to it.
        self.forget_secrets(b, made).await?;
        let status = staging::get(c, &b.bucket, &self.key(made, "status")).await?;
        let text = status.map(|body| String::from_utf8_lossy(&body).into_owned());
        let parsed = text.as_deref().and_then(bootstrap::parse_status);
        let log = match (&parsed, &text) {
            (Some(st), _) => st.log.to_string(),
            (None, Some(t)) => t.clone(),
            // No final report: keep what the bootstrap uploaded while it ran.
            (None, None) => staging::get(c, &b.bucket, &self.key(made, "build.log"))
                .await?
                .map(|l| String::from_utf8_lossy(&l).into_owned())
                .unwrap_or_default(),
        };
        self.save_log(b, made, &log);
        let tail = || {
            log.lines()
                .rev()
                .take(LOG_TAIL_LINES)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .map(str::to_string)
                .collect()
        };
        let fail = |message: String| StepError {
            message,
            log_tail: tail(),
        };
        let seen = match seen {
            Err(_) => {
                return Err(fail(format!(
                    "provisioning did not finish within {}",
                    humantime::format_duration(limit)
                )));
            }
            Ok(None) => return Err(fail("the region's poller stopped".into())),
            Ok(Some(seen)) => seen,
        };
        let Some(st) = parsed else {
            return Err(fail(format!(
                "the instance is {} without reporting an exit status{}",
                seen.state,
                seen.reason.map(|r| format!(" ({r})")).unwrap_or_default()
            )));
        };
        match (st.code, st.stage) {
            (0, _) => {}
            (bootstrap::FETCH_FAILED, "provision") => {
                return Err(fail(
                    "the instance could not fetch the provisioning script".into(),
                ));
            }
            (n, "provision") => {
                return Err(fail(format!(
                    "the provisioning script exited with status {n}"
                )));
            }
            (_, "signing") => {
                return Err(fail(
                    "the instance could not fetch the signing material".into(),
                ));
            }
            (_, "credentials") => {
                return Err(fail(format!(
                    "the instance got no credentials from its instance profile {}; check that its role may be assumed by EC2",
                    self.opts
                        .iam_instance_profile
                        .as_deref()
                        .unwrap_or("(none)")
                )));
            }
            (n, stage) => {
                return Err(fail(format!("the {stage} command exited with status {n}")));
            }
        }
        match b.backing {
            Backing::Ebs if seen.state != "stopped" => {
                return Err(fail(format!(
                    "the instance is {}, so no image can be made from it",
                    seen.state
                )));
            }
            Backing::InstanceStore => {
                made.manifest = st.manifest.map(str::to_string);
                if made.manifest.is_none() {
                    return Err(fail("the instance reported no bundle manifest".into()));
                }
            }
            Backing::Ebs => {}
        }
        self.note(
            b,
            match &made.manifest {
                Some(m) => format!("bundled and uploaded to s3://{}/{m}", b.bucket),
                None => format!("provisioned; instance {instance} is {}", seen.state),
            },
        );
        Ok(())
    }

    fn save_log(&self, b: &Build, made: &mut Made, log: &str) {
        let path = self.opts.log_dir.join(format!("{}.log", b.name));
        let saved =
            std::fs::create_dir_all(&self.opts.log_dir).and_then(|_| std::fs::write(&path, log));
        match saved {
            Ok(()) => {
                self.events.send(Event::LogSaved {
                    build: b.name.clone(),
                    path: path.display().to_string(),
                });
                made.log_path = Some(path);
            }
            Err(e) => self.note(
                b,
                format!("could not save the log to {}: {e}", path.display()),
            ),
        }
    }

    async fn image(&self, b: &Build, made: &mut Made) -> Result<(), StepError> {
        let c = self.clients.region(&b.region);
        let instance = made.instance.clone().ok_or("no instance to image")?;
        let build_tags = self.build_tags(b);
        if made.image.is_none() && b.backing == Backing::InstanceStore {
            self.register_bundle(b, made).await?;
            self.note(
                b,
                format!("registered {}", made.image.as_deref().unwrap_or("?")),
            );
        }
        if made.image.is_none() {
            let resp = c
                .ec2
                .create_image()
                .instance_id(&instance)
                .name(&b.ami_name)
                .description(&b.description)
                .tag_specifications(
                    TagSpecification::builder()
                        .resource_type(ResourceType::Image)
                        .set_tags(Some(build_tags.clone()))
                        .build(),
                )
                .send()
                .await
                .map_err(|e| format!("CreateImage: {}", errors::describe(&e)))?;
            let id = resp
                .image_id()
                .ok_or("CreateImage returned no image ID")?
                .to_string();
            self.note(b, format!("creating {id}"));
            made.image = Some(id);
            self.ledger.record(&b.name, made);
        }
        let image = made.image.clone().unwrap_or_default();
        let limit = self.opts.timeouts.image;
        let seen = tokio::time::timeout(limit, self.waiters.image_settled(&b.region, &image))
            .await
            .map_err(|_| {
                format!(
                    "{image} did not become available within {}",
                    humantime::format_duration(limit)
                )
            })?
            .ok_or("the region's poller stopped")?;
        made.snapshots = seen.snapshot_ids.clone();
        if seen.state != "available" {
            return Err(format!(
                "{image} is {}{}",
                seen.state,
                seen.reason.map(|r| format!(": {r}")).unwrap_or_default()
            )
            .into());
        }
        // Snapshots are tagged here rather than in CreateImage so that the same code works on
        // every EC2 endpoint (the emulator cannot tag snapshots at CreateImage).
        if !made.snapshots.is_empty() {
            c.ec2
                .create_tags()
                .set_resources(Some(made.snapshots.clone()))
                .set_tags(Some(build_tags))
                .send()
                .await
                .map_err(|e| format!("tagging snapshots: {}", errors::describe(&e)))?;
        }
        self.note(b, format!("{image} is available"));
        Ok(())
    }

    async fn permissions(&self, b: &Build, made: &mut Made) -> Result<(), StepError> {
        let c = self.clients.region(&b.region);
        let image = made.image.clone().ok_or("no image")?;
        let p = &self.opts.permissions;
        let mut add: Vec<LaunchPermission> = Vec::new();
        for g in &p.groups {
            add.push(
                LaunchPermission::builder()
                    .group(PermissionGroup::from(g.as_str()))
                    .build(),
            );
        }
        for a in &p.accounts {
            add.push(LaunchPermission::builder().user_id(a).build());
        }
        if !add.is_empty() {
            c.ec2
                .modify_image_attribute()
                .image_id(&image)
                .launch_permission(
                    LaunchPermissionModifications::builder()
                        .set_add(Some(add))
                        .build(),
                )
                .send()
                .await
                .map_err(|e| format!("ModifyImageAttribute: {}", errors::describe(&e)))?;
        }
        // Accounts that may launch the AMI must also be able to create volumes from its
        // snapshots; a public AMI does not need public snapshots.
        if !p.accounts.is_empty() {
            for snap in &made.snapshots {
                // The OperationType/UserIds form, which every EC2 endpoint reads (the emulator
                // ignores the structured CreateVolumePermission form).
                c.ec2
                    .modify_snapshot_attribute()
                    .snapshot_id(snap)
                    .attribute(aws_sdk_ec2::types::SnapshotAttributeName::CreateVolumePermission)
                    .operation_type(aws_sdk_ec2::types::OperationType::Add)
                    .set_user_ids(Some(p.accounts.clone()))
                    .send()
                    .await
                    .map_err(|e| {
                        format!("ModifySnapshotAttribute {snap}: {}", errors::describe(&e))
                    })?;
            }
        }
        let actual = crate::aws::images::launch_permissions(c, &image).await?;
        let expected = expected_permissions(p);
        if actual != expected {
            return Err(format!(
                "launch permissions of {image} read back as [{}], expected [{}]",
                actual.into_iter().collect::<Vec<_>>().join(", "),
                expected.into_iter().collect::<Vec<_>>().join(", ")
            )
            .into());
        }
        self.note(
            b,
            if expected.is_empty() {
                "private (no launch permissions)".to_string()
            } else {
                format!(
                    "launch permissions: {}",
                    expected.into_iter().collect::<Vec<_>>().join(", ")
                )
            },
        );
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

    /// Removes everything `b` made in this run, found by the ledger and by tags (a call in
    /// flight when Ctrl-C came may have made something the ledger never heard of).
    async fn clean_up(&self, b: &Build, made: &mut Made) {
        let c = self.clients.region(&b.region);
        let mut removed = Vec::new();
        let mut left = Vec::new();
        // Signing material first: of all this build made, it must not outlive the run.
        if let Err(e) = self.forget_secrets(b, made).await {
            left.push(e);
        }

        let mut instances: BTreeSet<String> = made.instance.iter().cloned().collect();
        match c
            .ec2
            .describe_instances()
            .filters(tags::filter(tags::RUN_ID, &self.opts.run_id))
            .filters(tags::filter(tags::BUILD, &b.name))
            .filters(tags::instance_not_terminated())
            .send()
            .await
        {
            Ok(r) => instances.extend(
                r.reservations()
                    .iter()
                    .flat_map(|r| r.instances())
                    .filter_map(|i| i.instance_id())
                    .map(str::to_string),
            ),
            Err(e) => left.push(format!(
                "could not look up instances: {}",
                errors::describe(&e)
            )),
        }
        if !instances.is_empty() {
            let ids: Vec<String> = instances.into_iter().collect();
            match c
                .ec2
                .terminate_instances()
                .set_instance_ids(Some(ids.clone()))
                .send()
                .await
            {
                Ok(_) => removed.extend(ids.iter().map(|i| format!("instance {i} (terminated)"))),
                Err(e) => left.extend(
                    ids.iter()
                        .map(|i| format!("instance {i}: {}", errors::describe(&e))),
                ),
            }
        }

        let mut images: Vec<(String, Vec<String>)> = Vec::new();
        match c
            .ec2
            .describe_images()
            .owners("self")
            .filters(tags::filter(tags::RUN_ID, &self.opts.run_id))
            .filters(tags::filter(tags::BUILD, &b.name))
            .send()
            .await
        {
            Ok(r) => {
                for img in r.images() {
                    if let Some(id) = img.image_id() {
                        images.push((id.to_string(), crate::aws::images::snapshots_of(img)));
                    }
                }
            }
            Err(e) => left.push(format!("could not look up AMIs: {}", errors::describe(&e))),
        }
        if let Some(id) = &made.image
            && !images.iter().any(|(i, _)| i == id)
        {
            images.push((id.clone(), made.snapshots.clone()));
        }
        for (id, snaps) in images {
            match deregister(c, &id, &snaps).await {
                Ok(()) => {
                    removed.push(format!("AMI {id} (deregistered)"));
                    removed.extend(snaps.iter().map(|s| format!("snapshot {s} (deleted)")));
                }
                Err(e) => left.push(format!("AMI {id}: {e}")),
            }
        }

        match super::staging::delete_prefix(c, &b.bucket, &format!("{}/", made.prefix)).await {
            Ok(0) => {}
            Ok(n) => removed.push(format!(
                "{n} object(s) under s3://{}/{}/",
                b.bucket, made.prefix
            )),
            Err(e) => left.push(e),
        }
        if left.is_empty() {
            *made = Made {
                log_path: made.log_path.take(),
                ..Made::default()
            };
        }
        self.ledger.record(&b.name, made);
        self.events.send(Event::CleanedUp {
            build: b.name.clone(),
            removed,
            left,
        });
    }
}

/// Deregisters `ami` and deletes its snapshots (which must wait until the AMI is gone).
async fn deregister(
    c: &crate::aws::RegionClients,
    ami: &str,
    snapshots: &[String],
) -> Result<(), String> {
    match c.ec2.deregister_image().image_id(ami).send().await {
        Ok(_) => {}
        Err(e)
            if matches!(
                errors::code(&e),
                Some("InvalidAMIID.NotFound" | "InvalidAMIID.Unavailable")
            ) => {}
        Err(e) => return Err(format!("DeregisterImage {ami}: {}", errors::describe(&e))),
    }
    for s in snapshots {
        match c.ec2.delete_snapshot().snapshot_id(s).send().await {
            Ok(_) => {}
            Err(e) if errors::code(&e) == Some("InvalidSnapshot.NotFound") => {}
            Err(e) => return Err(format!("DeleteSnapshot {s}: {}", errors::describe(&e))),
        }
    }
    Ok(())
}

/// The launch permissions an AMI must end up with, as `group:all` / `account:ID`.
pub fn expected_permissions(p: &super::Permissions) -> BTreeSet<String> {
    p.groups
        .iter()
        .map(|g| format!("group:{g}"))
        .chain(p.accounts.iter().map(|a| format!("account:{a}")))
        .collect()
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
