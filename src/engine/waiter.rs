//! Batched waiting: one poller per region asks EC2 about every instance and image that builds
//! there are waiting on in a single DescribeInstances and a single DescribeImages call per
//! tick, so polling requests stay flat as the number of builds grows.
//!
//! Each wait has its own schedule. The first poll comes after what the step usually takes:
//! the shortest such wait seen so far in the run (any region), or, before any was seen, half
//! the poll interval, doubling until it reaches the interval. From there the
//! interval grows with the time already waited (a tenth of it, between the minimum and
//! maximum): a change is noticed within about 10% of the time already waited, and an hour-long
//! step costs as many polls as with a whole first interval, plus one. A poll serves every
//! wait of its kind in the region that is nearly due, so builds that started together are
//! polled together.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

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
        let usual = Arc::new(Usual::default());
        for region in clients.regions() {
            let (tx, rx) = mpsc::unbounded_channel();
            let poller = Poller {
                region: region.to_string(),
                clients: clients.region(region).clone(),
                settings,
                events: events.clone(),
                usual: usual.clone(),
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

/// The wait before the next poll of a step that has been waited on for `waited` (and was
/// first polled after `first`): doubling up to the interval, then a tenth of the time waited.
fn next_interval(waited: Duration, first: Duration, s: PollSettings) -> Duration {
    if waited < s.min {
        return waited.max(first).min(s.min);
    }
    (waited / 10).clamp(s.min, s.max.max(s.min))
}

/// The first wait when nothing was learned yet: half the interval.
fn default_first(s: PollSettings) -> Duration {
    s.min / 2
}

/// What each kind of step usually takes in this run, shared by the regions' pollers: the
/// shortest wait that ended so far.
#[derive(Debug, Default)]
struct Usual {
    instance: Mutex<Option<Duration>>,
    image: Mutex<Option<Duration>>,
}

impl Usual {
    fn slot(&self, kind: Kind) -> &Mutex<Option<Duration>> {
        match kind {
            Kind::Instance => &self.instance,
            Kind::Image => &self.image,
        }
    }

    fn get(&self, kind: Kind) -> Option<Duration> {
        *self.slot(kind).lock().unwrap_or_else(|e| e.into_inner())
    }

    fn saw(&self, kind: Kind, took: Duration) {
        let mut v = self.slot(kind).lock().unwrap_or_else(|e| e.into_inner());
        *v = Some(v.map_or(took, |old| old.min(took)));
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Instance,
    Image,
}

/// One thing waited on: since when, its first wait, when it is next due, and who waits.
struct Watched<T> {
    since: Instant,
    first: Duration,
    due: Instant,
    waiters: Vec<oneshot::Sender<T>>,
}

impl<T> Watched<T> {
    fn new(first: Duration) -> Self {
        let since = Instant::now();
        Watched {
            since,
            first,
            due: since + first,
            waiters: Vec::new(),
        }
    }

    /// Whether a poll now serves this wait: it is due, or so nearly (within a quarter of the
    /// time waited, or of the first wait) that polling it apart would cost a request for
    /// little news. Builds of a region that started a moment apart are so polled together.
    fn served_at(&self, now: Instant, s: PollSettings) -> bool {
        self.due <= now + ((now - self.since) / 4).max(default_first(s))
    }

    /// After a poll at `now` that served it and found it still going.
    fn polled(&mut self, now: Instant, s: PollSettings) {
        self.due = now + next_interval(now - self.since, self.first, s);
    }
}

struct Poller {
    region: String,
    clients: RegionClients,
    settings: PollSettings,
    events: EventSink,
    usual: Arc<Usual>,
    instances: BTreeMap<String, Watched<InstanceSeen>>,
    images: BTreeMap<String, Watched<ImageSeen>>,
}

impl Poller {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Watch>) {
        loop {
            let next_due = self
                .instances
                .values()
                .map(|w| w.due)
                .chain(self.images.values().map(|w| w.due))
                .min();
            let Some(due) = next_due else {
                match rx.recv().await {
                    Some(w) => self.add(w),
                    None => return,
                }
                continue;
            };
            // Collect every watch that arrives while we sleep; a new one may be due sooner.
            tokio::select! {
                _ = tokio::time::sleep_until(due) => {}
                w = rx.recv() => {
                    match w {
                        Some(w) => self.add(w),
                        None => return,
                    }
                    continue;
                }
            }
            self.forget_abandoned();
            let now = Instant::now();
            if self
                .instances
                .values()
                .any(|w| w.served_at(now, self.settings))
            {
                self.poll_instances(now).await;
            }
            if self
                .images
                .values()
                .any(|w| w.served_at(now, self.settings))
            {
                self.poll_images(now).await;
            }
        }
    }

    fn first_wait(&self, kind: Kind) -> Duration {
        let s = self.settings;
        self.usual
            .get(kind)
            .map_or_else(|| default_first(s), |d| d.max(default_first(s) / 2))
    }

    fn add(&mut self, w: Watch) {
        match w {
            Watch::Instance(id, tx) => {
                let first = self.first_wait(Kind::Instance);
                let w = self
                    .instances
                    .entry(id)
                    .or_insert_with(|| Watched::new(first));
                w.waiters.push(tx);
            }
            Watch::Image(id, tx) => {
                let first = self.first_wait(Kind::Image);
                let w = self.images.entry(id).or_insert_with(|| Watched::new(first));
                w.waiters.push(tx);
            }
        }
    }

    /// Builds that timed out or were cancelled drop their receivers; stop asking for them.
    fn forget_abandoned(&mut self) {
        self.instances.retain(|_, w| {
            w.waiters.retain(|tx| !tx.is_closed());
            !w.waiters.is_empty()
        });
        self.images.retain(|_, w| {
            w.waiters.retain(|tx| !tx.is_closed());
            !w.waiters.is_empty()
        });
    }

    fn warn(&self, what: &str, e: String) {
        self.events.send(Event::Warning {
            region: self.region.clone(),
            message: format!("{what} failed, will retry: {e}"),
        });
    }

    async fn poll_instances(&mut self, now: Instant) {
        let ids: Vec<String> = self.instances.keys().cloned().collect();
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
                let seen = InstanceSeen {
                    state: state.clone(),
                    reason: inst
                        .state_reason()
                        .and_then(|r| r.message())
                        .map(str::to_string),
                };
                settle(
                    &mut self.instances,
                    id,
                    seen,
                    &self.usual,
                    Kind::Instance,
                    now,
                );
            }
        }
        reschedule(&mut self.instances, now, self.settings);
    }

    async fn poll_images(&mut self, now: Instant) {
        let ids: Vec<String> = self.images.keys().cloned().collect();
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
                settle(&mut self.images, id, seen, &self.usual, Kind::Image, now);
            }
        }
        reschedule(&mut self.images, now, self.settings);
    }
}

/// Hands `seen` to whoever waits on `id`, and learns how long the wait took.
fn settle<T: Clone>(
    watched: &mut BTreeMap<String, Watched<T>>,
    id: &str,
    seen: T,
    usual: &Usual,
    kind: Kind,
    now: Instant,
) {
    if let Some(w) = watched.remove(id) {
        usual.saw(kind, now - w.since);
        for tx in w.waiters {
            let _ = tx.send(seen.clone());
        }
    }
}

/// Moves the next poll of every wait this poll served and did not end.
fn reschedule<T>(watched: &mut BTreeMap<String, Watched<T>>, now: Instant, s: PollSettings) {
    for w in watched.values_mut().filter(|w| w.served_at(now, s)) {
        w.polled(now, s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> PollSettings {
        PollSettings {
            min: Duration::from_secs(2),
            max: Duration::from_secs(20),
        }
    }

    #[test]
    fn the_wait_doubles_up_to_the_interval_then_is_a_tenth_of_the_time_waited() {
        let (s, first) = (settings(), Duration::from_millis(500));
        let at = |secs: f64| next_interval(Duration::from_secs_f64(secs), first, s);
        assert_eq!(at(0.5), Duration::from_millis(500));
        assert_eq!(at(1.0), Duration::from_secs(1));
        assert_eq!(at(1.5), Duration::from_millis(1500));
        assert_eq!(at(2.0), Duration::from_secs(2));
        assert_eq!(at(15.0), Duration::from_secs(2));
        assert_eq!(at(60.0), Duration::from_secs(6));
        assert_eq!(at(3600.0), Duration::from_secs(20));
        // A first wait learned to be long is not cut short by the doubling.
        let long = Duration::from_secs(300);
        assert_eq!(next_interval(long, long, s), Duration::from_secs(20));
    }

    /// The polls of a wait of `length`, with a first wait of `first`.
    fn polls(first: Duration, length: Duration) -> usize {
        let start = Instant::now();
        let mut w = Watched::<()>::new(first);
        let mut n = 0;
        while w.due < start + length {
            n += 1;
            w.polled(w.due, settings());
        }
        n + 1
    }

    #[tokio::test(start_paused = true)]
    async fn an_hour_long_step_costs_at_most_one_poll_more_than_with_a_whole_first_interval() {
        let hour = Duration::from_secs(3600);
        let early = polls(default_first(settings()), hour);
        let whole = polls(settings().min, hour);
        assert!(early <= whole + 1, "{early} polls against {whole}");
        // And a step over in 0.6 s is seen after 1 s, not 2 s, with one poll.
        assert_eq!(
            polls(default_first(settings()), Duration::from_millis(600)),
            1
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_learned_first_wait_is_the_shortest_seen_and_serves_nearly_due_waits() {
        let usual = Usual::default();
        usual.saw(Kind::Image, Duration::from_secs(90));
        usual.saw(Kind::Image, Duration::from_secs(60));
        usual.saw(Kind::Image, Duration::from_secs(120));
        assert_eq!(usual.get(Kind::Image), Some(Duration::from_secs(60)));
        assert_eq!(usual.get(Kind::Instance), None);
        let s = settings();
        let w = Watched::<()>::new(Duration::from_secs(60));
        tokio::time::advance(Duration::from_secs(45)).await;
        assert!(
            !w.served_at(Instant::now(), s),
            "15 s early after 45 s is not near"
        );
        tokio::time::advance(Duration::from_secs(5)).await;
        assert!(
            w.served_at(Instant::now(), s),
            "10 s early after 50 s is near enough"
        );
        // Early on, a second (half the 2 s interval) is near enough.
        let w = Watched::<()>::new(Duration::from_secs(2));
        assert!(!w.served_at(Instant::now(), s));
        tokio::time::advance(Duration::from_millis(1100)).await;
        assert!(w.served_at(Instant::now(), s));
    }
}
