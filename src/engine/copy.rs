//! Copy mode: each home build's AMI, once available, is copied into the other regions. A
//! copy waits only for its own home build, and each region finishes (permissions applied and
//! read back) as soon as its own copy is available, not when the slowest region's is. Copies
//! into one region are bounded (AWS limits concurrent copies per destination region).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_sdk_ec2::types::ResourceType;
use tokio::sync::{Semaphore, watch};

use super::Engine;
use super::build::{Made, StepError, client_token};
use super::image::spec;
use crate::aws::errors;
use crate::config::Backing;
use crate::events::Outcome;
use crate::matrix::Build;

/// A home build's AMI, or why there is none.
type Home = Option<Result<(String, String), String>>;

/// The home builds' AMIs as they become available, and the copy slots of each region.
#[derive(Default)]
pub struct Copies {
    homes: Mutex<HashMap<String, watch::Sender<Home>>>,
    slots: Mutex<HashMap<String, Arc<Semaphore>>>,
}

/// How copies are made.
#[derive(Debug, Clone, Default)]
pub struct CopyOptions {
    /// At most this many copies in progress into one region.
    pub max_per_region: usize,
    /// KMS key per destination region (EBS copies encrypted with it).
    pub kms_keys: std::collections::BTreeMap<String, String>,
}

impl Copies {
    /// Prepares for `builds`: every home build some build copies from gets a channel, if it
    /// is in the run (a copy whose home build is not fails at once instead of waiting).
    pub fn expect(&self, builds: &[Build]) {
        let present: std::collections::HashSet<&str> =
            builds.iter().map(|b| b.name.as_str()).collect();
        let mut homes = self.homes.lock().unwrap_or_else(|e| e.into_inner());
        for b in builds {
            if let Some(home) = &b.copy_of
                && present.contains(home.as_str())
            {
                homes
                    .entry(home.clone())
                    .or_insert_with(|| watch::channel(None).0);
            }
        }
    }

    /// Says that home build `build`'s AMI `ami` is available in `region` (once; later calls
    /// change nothing).
    pub fn available(&self, build: &str, region: &str, ami: &str) {
        self.settle(build, Ok((region.to_string(), ami.to_string())));
    }

    /// Says how home build `build` ended, for the copies still waiting.
    pub fn ended(&self, build: &str, outcome: &Outcome) {
        let result = match outcome {
            Outcome::Published { artifact } => {
                Ok((artifact.region.clone(), artifact.ami_id.clone()))
            }
            Outcome::Failed { error, .. } => Err(format!("the home build {build} failed: {error}")),
            Outcome::Cancelled => Err(format!("the home build {build} was cancelled")),
        };
        self.settle(build, result);
    }

    fn settle(&self, build: &str, result: Result<(String, String), String>) {
        let homes = self.homes.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(tx) = homes.get(build) {
            tx.send_if_modified(|now| {
                if now.is_some() {
                    return false;
                }
                *now = Some(result);
                true
            });
        }
    }

    /// Waits for home build `build`'s AMI: (region, AMI ID).
    async fn wait(&self, build: &str) -> Result<(String, String), String> {
        let rx = {
            let homes = self.homes.lock().unwrap_or_else(|e| e.into_inner());
            homes.get(build).map(watch::Sender::subscribe)
        };
        let Some(mut rx) = rx else {
            return Err(format!("the home build {build} is not in this run"));
        };
        let seen = rx
            .wait_for(Option::is_some)
            .await
            .map_err(|_| format!("the home build {build} stopped"))?;
        seen.clone().unwrap_or_else(|| Err("no home image".into()))
    }

    fn slot(&self, region: &str, max: usize) -> Arc<Semaphore> {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        Arc::clone(
            slots
                .entry(region.to_string())
                .or_insert_with(|| Arc::new(Semaphore::new(max.max(1)))),
        )
    }
}

impl Engine {
    /// The copy step: waits for the home build's AMI, copies it here with this region's name,
    /// description and tags (at creation), and waits until the copy is available.
    pub(super) async fn copy(&self, b: &Build, made: &mut Made) -> Result<(), StepError> {
        let home = b.copy_of.as_deref().ok_or("not a copy (this is a bug)")?;
        let (home_region, source) = self.copies.wait(home).await?;
        let slot = self.copies.slot(&b.region, self.opts.copies.max_per_region);
        let _permit = slot
            .acquire_owned()
            .await
            .map_err(|_| "the region's copy slots closed")?;
        if made.image.is_none() {
            let id = self.copy_image(b, &home_region, &source).await?;
            self.note(b, format!("copying {source} from {home_region} as {id}"));
            made.image = Some(id);
            made.copied_from = Some(format!("{home_region}:{source}"));
            self.ledger.record(&b.name, made);
        }
        self.wait_available(b, made).await
    }

    async fn copy_image(
        &self,
        b: &Build,
        home_region: &str,
        source: &str,
    ) -> Result<String, StepError> {
        let c = self.clients.region(&b.region);
        let tags = self.build_tags(b);
        let kms = self.opts.copies.kms_keys.get(&b.region);
        let mut req = c
            .ec2
            .copy_image()
            .source_region(home_region)
            .source_image_id(source)
            .name(&b.ami_name)
            .description(&b.description)
            // A retried call (an answer lost on the way back) must not copy twice.
            .client_token(client_token(&self.opts.run_id, &b.name))
            .tag_specifications(spec(ResourceType::Image, &tags))
            .set_encrypted(kms.map(|_| true))
            .set_kms_key_id(kms.cloned());
        if b.backing == Backing::Ebs {
            req = req.tag_specifications(spec(ResourceType::Snapshot, &tags));
        }
        match req.send().await {
            Ok(resp) => Ok(resp
                .image_id()
                .ok_or("CopyImage returned no image ID")?
                .to_string()),
            Err(e) if errors::code(&e) == Some("InvalidAMIName.Duplicate") => {
                Ok(self.own_duplicate(b).await?)
            }
            Err(e) => Err(errors::AwsError::new("CopyImage", Some(source), &e).into()),
        }
    }
}
