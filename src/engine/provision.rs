//! The provision step: wait for the build instance to power off, read the bootstrap's report
//! (exit status, failing stage, bundle manifest), and keep its log.

use aws_sdk_ec2::types::InstanceStateName;

use super::Engine;
use super::bootstrap::{self, Stage};
use super::build::{Made, StepError};
use super::staging;
use crate::config::Backing;
use crate::events::Event;
use crate::matrix::Build;

/// How much of the log a failure shows.
const LOG_TAIL_LINES: usize = 20;

impl Engine {
    pub(super) async fn provision(&self, b: &Build, made: &mut Made) -> Result<(), StepError> {
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
            code: None,
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
        if let Err(message) = self.bootstrap_outcome(&st) {
            return Err(fail(message));
        }
        match b.backing {
            Backing::Ebs if seen.state != InstanceStateName::Stopped => {
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

    /// Hands the build's log to the run directory (the engine writes no files).
    pub(super) fn save_log(&self, b: &Build, made: &mut Made, log: &str) {
        let path = self.opts.log_dir.join(format!("{}.log", b.name));
        self.events.send(Event::BuildLog {
            build: b.name.clone(),
            path: path.display().to_string(),
            text: log.to_string(),
        });
        made.log_path = Some(path);
    }

    /// What the bootstrap's final status says went wrong, if anything did.
    fn bootstrap_outcome(&self, st: &bootstrap::Status<'_>) -> Result<(), String> {
        match (st.code, st.stage) {
            (0, _) => Ok(()),
            (bootstrap::FETCH_FAILED, Stage::Provision) => {
                Err("the instance could not fetch the provisioning script".into())
            }
            (n, Stage::Provision) => Err(format!("the provisioning script exited with status {n}")),
            (_, Stage::Signing) => Err("the instance could not fetch the signing material".into()),
            (_, Stage::Credentials) => Err(format!(
                "the instance got no credentials from its instance profile {}; check that its role may be assumed by EC2",
                self.opts
                    .iam_instance_profile
                    .as_deref()
                    .unwrap_or("(none)")
            )),
            (n, stage @ (Stage::Bundle | Stage::Upload)) => Err(format!(
                "the {} command exited with status {n}",
                stage.as_str()
            )),
        }
    }
}
