//! Batched waiting: one poller per region asks EC2 about every instance and image that builds
//! there are waiting on in a single DescribeInstances and a single DescribeImages call per
//! tick, so polling requests stay flat as the number of builds grows.
//!
//! While nothing changes the interval grows with the quiet time (a tenth of it, between the
//! minimum and maximum): a change is noticed within about 10% of the time already waited, and
//! a long wait costs only logarithmically many polls.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use aws_sdk_ec2::types::{Filter, ImageState, InstanceStateName};
use tokio::sync::{mpsc, oneshot};

use crate::aws::{RegionClients, errors};
use crate::events::{Event, EventSink};

/// How often to poll.
#[derive(Debug, Clone, Copy)]
pub struct PollSettings {
    /// First interval, and the interval after anything changed.
    pub min: Duration,
    /// The interval never grows past this.
    pub max: Duration,
}

/// What an instance was seen as when it stopped running.
#[derive(Debug, Clone)]
pub struct InstanceSeen {
    /// EC2's state of the instance (`stopped`, `terminated`...).
    pub state: InstanceStateName,
    /// EC2's reason for the last state change, if it gave one.
    pub reason: Option<String>,
}

/// An image once it left `pending`.
#[derive(Debug, Clone)]
pub struct ImageSeen {
    /// EC2's state of the image (`available`, `failed`...).
    pub state: ImageState,
    /// Snapshots of its block devices.
    pub snapshot_ids: Vec<String>,
    /// EC2's reason, for failed images.
    pub reason: Option<String>,
}

enum Watch {
    Instance(String, oneshot::Sender<InstanceSeen>),
    Image(String, oneshot::Sender<ImageSeen>),
}

/// The pollers of every region of a run.
#[derive(Clone)]
pub struct Waiters {
    by_region: HashMap<String, mpsc::UnboundedSender<Watch>>,
}

impl Waiters {
    /// Starts one poller per region of `clients`.
    pub fn start(
        clients: &crate::aws::Clients,
        settings: PollSettings,
        events: EventSink,
    ) -> Waiters {
        let mut by_region = HashMap::new();
        for region in clients.regions() {
            let (tx, rx) = mpsc::unbounded_channel();
            let poller = Poller {
                region: region.to_string(),
                clients: clients.region(region).clone(),
                settings,
                events: events.clone(),
                instances: BTreeMap::new(),
                images: BTreeMap::new(),
            };
            tokio::spawn(poller.run(rx));
            by_region.insert(region.to_string(), tx);
        }
        Waiters { by_region }
    }

    /// Resolves when `instance` in `region` is no longer pending or running.
    pub async fn instance_stopped(&self, region: &str, instance: &str) -> Option<InstanceSeen> {
        let (tx, rx) = oneshot::channel();
        self.send(region, Watch::Instance(instance.to_string(), tx));
        rx.await.ok()
    }

    /// Resolves when `image` in `region` is no longer pending.
    pub async fn image_settled(&self, region: &str, image: &str) -> Option<ImageSeen> {
        let (tx, rx) = oneshot::channel();
        self.send(region, Watch::Image(image.to_string(), tx));
        rx.await.ok()
    }

    fn send(&self, region: &str, w: Watch) {
        if let Some(tx) = self.by_region.get(region) {
            let _ = tx.send(w);
        }
    }
}

/// The wait before the next poll after `quiet` without a change.
fn next_interval(quiet: Duration, s: PollSettings) -> Duration {
    (quiet / 10).clamp(s.min, s.max.max(s.min))
}

struct Poller {
    region: String,
    clients: RegionClients,
    settings: PollSettings,
    events: EventSink,
    instances: BTreeMap<String, Vec<oneshot::Sender<InstanceSeen>>>,
    images: BTreeMap<String, Vec<oneshot::Sender<ImageSeen>>>,
}

impl Poller {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Watch>) {
        let mut interval = self.settings.min;
        let mut quiet_since = tokio::time::Instant::now();
        loop {
            if self.instances.is_empty() && self.images.is_empty() {
                match rx.recv().await {
                    Some(w) => self.add(w),
                    None => return,
                }
                interval = self.settings.min;
                quiet_since = tokio::time::Instant::now();
            }
            // Collect every watch that arrives while we sleep, then poll once for all of them.
            let sleep = tokio::time::sleep(interval);
            tokio::pin!(sleep);
            loop {
                tokio::select! {
                    _ = &mut sleep => break,
                    w = rx.recv() => match w {
                        Some(w) => self.add(w),
                        None => return,
                    },
                }
            }
            self.forget_abandoned();
            let changed = self.poll_instances().await | self.poll_images().await;
            if changed {
                quiet_since = tokio::time::Instant::now();
            }
            interval = next_interval(quiet_since.elapsed(), self.settings);
        }
    }

    fn add(&mut self, w: Watch) {
        match w {
            Watch::Instance(id, tx) => self.instances.entry(id).or_default().push(tx),
            Watch::Image(id, tx) => self.images.entry(id).or_default().push(tx),
        }
    }

    /// Builds that timed out or were cancelled drop their receivers; stop asking for them.
    fn forget_abandoned(&mut self) {
        self.instances.retain(|_, v| {
            v.retain(|tx| !tx.is_closed());
            !v.is_empty()
        });
        self.images.retain(|_, v| {
            v.retain(|tx| !tx.is_closed());
            !v.is_empty()
        });
    }

    fn warn(&self, what: &str, e: String) {
        self.events.send(Event::Warning {
            region: self.region.clone(),
            message: format!("{what} failed, will retry: {e}"),
        });
    }

    async fn poll_instances(&mut self) -> bool {
        if self.instances.is_empty() {
            return false;
        }
        let ids: Vec<String> = self.instances.keys().cloned().collect();
        let mut changed = false;
        // A filter, unlike InstanceIds, does not fail the whole call for an instance EC2 does not
        // know yet (it is eventually consistent right after RunInstances).
        for chunk in ids.chunks(200) {
            let resp = self
                .clients
                .ec2
                .describe_instances()
                .filters(
                    Filter::builder()
                        .name("instance-id")
                        .set_values(Some(chunk.to_vec()))
                        .build(),
                )
                .send()
                .await;
            let resp = match resp {
                Ok(r) => r,
                Err(e) => {
                    self.warn("DescribeInstances", errors::describe(&e));
                    continue;
                }
            };
            for inst in resp.reservations().iter().flat_map(|r| r.instances()) {
                let (Some(id), Some(state)) =
                    (inst.instance_id(), inst.state().and_then(|s| s.name()))
                else {
                    continue;
                };
                if matches!(
                    state,
                    InstanceStateName::Pending
                        | InstanceStateName::Running
                        | InstanceStateName::Stopping
                        | InstanceStateName::ShuttingDown
                ) {
                    continue;
                }
                if let Some(waiters) = self.instances.remove(id) {
                    changed = true;
                    let seen = InstanceSeen {
                        state: state.clone(),
                        reason: inst
                            .state_reason()
                            .and_then(|r| r.message())
                            .map(str::to_string),
                    };
                    for tx in waiters {
                        let _ = tx.send(seen.clone());
                    }
                }
            }
        }
        changed
    }

    async fn poll_images(&mut self) -> bool {
        if self.images.is_empty() {
            return false;
        }
        let ids: Vec<String> = self.images.keys().cloned().collect();
        let mut changed = false;
        for chunk in ids.chunks(200) {
            let resp = self
                .clients
                .ec2
                .describe_images()
                .filters(
                    Filter::builder()
                        .name("image-id")
                        .set_values(Some(chunk.to_vec()))
                        .build(),
                )
                .send()
                .await;
            let resp = match resp {
                Ok(r) => r,
                Err(e) => {
                    self.warn("DescribeImages", errors::describe(&e));
                    continue;
                }
            };
            for img in resp.images() {
                let (Some(id), Some(state)) = (img.image_id(), img.state()) else {
                    continue;
                };
                if *state == ImageState::Pending {
                    continue;
                }
                if let Some(waiters) = self.images.remove(id) {
                    changed = true;
                    let seen = ImageSeen {
                        state: state.clone(),
                        snapshot_ids: img
                            .block_device_mappings()
                            .iter()
                            .filter_map(|m| m.ebs().and_then(|e| e.snapshot_id()))
                            .map(str::to_string)
                            .collect(),
                        reason: img
                            .state_reason()
                            .and_then(|r| r.message())
                            .map(str::to_string),
                    };
                    for tx in waiters {
                        let _ = tx.send(seen.clone());
                    }
                }
            }
        }
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_is_a_tenth_of_the_quiet_time_within_bounds() {
        let s = PollSettings {
            min: Duration::from_secs(2),
            max: Duration::from_secs(20),
        };
        assert_eq!(next_interval(Duration::ZERO, s), Duration::from_secs(2));
        assert_eq!(
            next_interval(Duration::from_secs(15), s),
            Duration::from_secs(2)
        );
        assert_eq!(
            next_interval(Duration::from_secs(60), s),
            Duration::from_secs(6)
        );
        assert_eq!(
            next_interval(Duration::from_secs(3600), s),
            Duration::from_secs(20)
        );
    }
}
