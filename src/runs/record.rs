//! A past run, read back from its `events.ndjson`: which builds ran, when each of their steps
//! ran, and how each build ended. The run directory keeps nothing but the events, so every
//! report about a past run (the HTML page, the list of runs) is derived here, once.
//!
//! Reading is tolerant the way old files need: event types and fields this version does not
//! know are skipped (another amipub wrote them), and a run that was killed still reads, its
//! open builds marked unfinished.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use serde_json::Value;

/// One step of one build, placed on the run's timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    /// The step (`stage`, `launch`...), kept as written so steps of other versions still show.
    pub step: String,
    /// When it began, since the run started.
    pub start: Duration,
    /// When it ended, since the run started: the build's next step began, or the build ended.
    pub end: Duration,
}

impl Span {
    /// How long the step took.
    pub fn duration(&self) -> Duration {
        self.end.saturating_sub(self.start)
    }
}

/// How a build ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildOutcome {
    /// Its AMI is published; `reused` when an earlier run had already made it.
    Published {
        /// The AMI.
        ami_id: String,
        /// An earlier run made the AMI; this one only found (and reconciled) it.
        reused: bool,
    },
    /// A step failed.
    Failed {
        /// The step that failed.
        step: String,
        /// Why.
        error: String,
    },
    /// A signal stopped it, and amipub cleaned up after it.
    Cancelled,
    /// Nothing says how it ended: the run was killed (or is still going).
    Unfinished,
}

/// One build of the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildRecord {
    /// Build name.
    pub name: String,
    /// Region, when an event said it (a build that never started has none).
    pub region: Option<String>,
    /// Its steps, in the order they ran (a retried step appears once per attempt).
    pub spans: Vec<Span>,
    /// How it ended.
    pub outcome: BuildOutcome,
    /// A `build-finished` event was written for it.
    pub finished: bool,
    /// Its first event, since the run started (`None`: the run ended before it began).
    pub first_event: Option<Duration>,
    /// Its last event, since the run started.
    pub last_event: Option<Duration>,
    /// How long it took: as `build-finished` says, else from its first to its last event.
    pub duration: Option<Duration>,
}

/// How many builds ended which way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// AMIs this run made.
    pub published: usize,
    /// AMIs an earlier run had made.
    pub reused: usize,
    /// Builds that failed.
    pub failed: usize,
    /// Builds a signal stopped.
    pub cancelled: usize,
    /// Builds with no known end.
    pub unfinished: usize,
}

/// One of the longest steps of the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlowStep<'a> {
    /// The build it belongs to.
    pub build: &'a BuildRecord,
    /// The step.
    pub span: &'a Span,
}

/// A run, as its events tell it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRecord {
    /// Run ID.
    pub run_id: String,
    /// The profile published, when the run recorded it.
    pub profile: Option<String>,
    /// The version published, when the run recorded it.
    pub version: Option<String>,
    /// Its first event.
    pub started: SystemTime,
    /// Its last event.
    pub ended: SystemTime,
    /// Every build: those the run planned, in plan order, then any others as they appeared.
    pub builds: Vec<BuildRecord>,
    launches: usize,
}

impl RunRecord {
    /// Reads the lines of an `events.ndjson`. Blank lines are skipped; an error names the
    /// 1-based line that is wrong.
    pub fn from_ndjson(text: &str) -> Result<RunRecord, String> {
        let mut reader = Reader::default();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            reader
                .line(line)
                .map_err(|e| format!("line {}: {e}", i + 1))?;
        }
        reader.finish()
    }

    /// From the first event to the last.
    pub fn wall(&self) -> Duration {
        self.ended.duration_since(self.started).unwrap_or_default()
    }

    /// How many instances the run launched (each launch writes one `launched ...` note).
    pub fn launches(&self) -> usize {
        self.launches
    }

    /// The `n` longest steps of the run, longest first; ties keep build order.
    pub fn slowest_steps(&self, n: usize) -> Vec<SlowStep<'_>> {
        let mut all: Vec<SlowStep<'_>> = self
            .builds
            .iter()
            .flat_map(|build| build.spans.iter().map(move |span| SlowStep { build, span }))
            .collect();
        // Stable, so equal spans keep build order.
        all.sort_by_key(|s| std::cmp::Reverse(s.span.duration()));
        all.truncate(n);
        all
    }

    /// How many builds ended which way.
    pub fn totals(&self) -> Totals {
        let mut t = Totals::default();
        for b in &self.builds {
            match b.outcome {
                BuildOutcome::Published { reused: false, .. } => t.published += 1,
                BuildOutcome::Published { reused: true, .. } => t.reused += 1,
                BuildOutcome::Failed { .. } => t.failed += 1,
                BuildOutcome::Cancelled => t.cancelled += 1,
                BuildOutcome::Unfinished => t.unfinished += 1,
            }
        }
        t
    }

    /// One line for a list of runs: `published 30, reused 2, failed 0`, with the cancelled and
    /// unfinished builds when there are any.
    pub fn result(&self) -> String {
        let t = self.totals();
        let mut s = format!(
            "published {}, reused {}, failed {}",
            t.published, t.reused, t.failed
        );
        if t.cancelled > 0 {
            s.push_str(&format!(", cancelled {}", t.cancelled));
        }
        if t.unfinished > 0 {
            s.push_str(&format!(", unfinished {}", t.unfinished));
        }
        s
    }

    /// Every build has a `build-finished` event: the run was not killed halfway.
    pub fn finished(&self) -> bool {
        self.builds.iter().all(|b| b.finished)
    }
}

/// What `run-started` says.
#[derive(Default)]
struct RunStart {
    run_id: String,
    profile: Option<String>,
    version: Option<String>,
}

/// A build while its events are read.
#[derive(Default)]
struct Builder {
    region: Option<String>,
    spans: Vec<Span>,
    open: Option<(String, Duration)>,
    artifact: Option<(String, bool)>,
    failure: Option<(String, String)>,
    ended: Option<BuildOutcome>,
    reported: Option<Duration>,
    first: Option<Duration>,
    last: Option<Duration>,
}

impl Builder {
    fn seen(&mut self, t: Duration) {
        self.first.get_or_insert(t);
        self.last = Some(t);
    }

    /// Ends the running step at `t`; clock skew between tasks never makes a span negative.
    fn close(&mut self, t: Duration) {
        if let Some((step, start)) = self.open.take() {
            self.spans.push(Span {
                step,
                start,
                end: t.max(start),
            });
        }
    }

    fn step(&mut self, step: &str, t: Duration) {
        self.close(t);
        self.open = Some((step.to_string(), t));
    }

    fn finished(&mut self, v: &Value, t: Duration) -> Result<(), String> {
        self.close(t);
        let outcome = v.get("outcome").ok_or("build-finished has no `outcome`")?;
        self.ended = Some(self.outcome_of(outcome)?);
        // humantime_serde wrote it; an unreadable one only costs the exact figure.
        self.reported = v
            .get("duration")
            .and_then(Value::as_str)
            .and_then(|d| humantime::parse_duration(d).ok());
        Ok(())
    }

    fn outcome_of(&self, outcome: &Value) -> Result<BuildOutcome, String> {
        match text(outcome, "result")? {
            "published" => Ok(match outcome.get("artifact") {
                Some(a) => published(a)?,
                None => self.published_seen().unwrap_or(BuildOutcome::Published {
                    ami_id: String::new(),
                    reused: false,
                }),
            }),
            "failed" => Ok(BuildOutcome::Failed {
                step: text(outcome, "step")?.to_string(),
                error: text(outcome, "error")?.to_string(),
            }),
            "cancelled" => Ok(BuildOutcome::Cancelled),
            other => Err(format!("unknown build result `{other}`")),
        }
    }

    fn published_seen(&self) -> Option<BuildOutcome> {
        let (ami_id, reused) = self.artifact.clone()?;
        Some(BuildOutcome::Published { ami_id, reused })
    }

    /// Without `build-finished` the run was killed; what the build had already done still
    /// counts: a published AMI exists (only its clean-up was cut short), a failure happened.
    fn outcome(&self) -> BuildOutcome {
        if let Some(o) = &self.ended {
            return o.clone();
        }
        if let Some(o) = self.published_seen() {
            return o;
        }
        match &self.failure {
            Some((step, error)) => BuildOutcome::Failed {
                step: step.clone(),
                error: error.clone(),
            },
            None => BuildOutcome::Unfinished,
        }
    }

    fn record(mut self, name: String, run_end: Duration) -> BuildRecord {
        // Still running when the run's events stop: it ran until the run died.
        self.close(run_end);
        let outcome = self.outcome();
        let measured = match (self.first, self.last) {
            (Some(first), Some(last)) => Some(last.saturating_sub(first)),
            _ => None,
        };
        BuildRecord {
            name,
            region: self.region,
            spans: self.spans,
            outcome,
            finished: self.ended.is_some(),
            first_event: self.first,
            last_event: self.last,
            duration: self.reported.or(measured),
        }
    }
}

/// The events read so far.
#[derive(Default)]
struct Reader {
    run: Option<RunStart>,
    started: Option<SystemTime>,
    ended: Option<SystemTime>,
    builds: Vec<(String, Builder)>,
    index: HashMap<String, usize>,
    launches: usize,
}

impl Reader {
    fn line(&mut self, line: &str) -> Result<(), String> {
        let v: Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
        if !v.is_object() {
            return Err("not a JSON object".to_string());
        }
        let at = text(&v, "at")?;
        let at = humantime::parse_rfc3339_weak(at).map_err(|e| format!("bad `at` {at:?}: {e}"))?;
        let start = *self.started.get_or_insert(at);
        self.ended = Some(at);
        // Events are stamped by concurrent tasks: one may be a hair earlier than the first.
        let t = at.duration_since(start).unwrap_or_default();
        match text(&v, "type")? {
            "run-started" => self.run_started(&v),
            kind @ ("build-started" | "step-started" | "note" | "build-log" | "artifact"
            | "build-failed" | "cleaned-up" | "build-finished") => self.build_event(kind, &v, t),
            _ => Ok(()),
        }
    }

    fn run_started(&mut self, v: &Value) -> Result<(), String> {
        if self.run.is_some() {
            return Ok(());
        }
        self.run = Some(RunStart {
            run_id: text(v, "run_id")?.to_string(),
            profile: optional_text(v, "profile"),
            version: optional_text(v, "version"),
        });
        let builds = v.get("builds").and_then(Value::as_array);
        for name in builds.into_iter().flatten().filter_map(Value::as_str) {
            self.build(name);
        }
        Ok(())
    }

    fn build_event(&mut self, kind: &str, v: &Value, t: Duration) -> Result<(), String> {
        if kind == "note" && text(v, "message")?.starts_with("launched ") {
            self.launches += 1;
        }
        let b = self.build(text(v, "build")?);
        b.seen(t);
        match kind {
            "build-started" => b.region = Some(text(v, "region")?.to_string()),
            "step-started" => b.step(text(v, "step")?, t),
            "artifact" => {
                // A reused AMI's build has no build-started: the artifact names its region.
                if b.region.is_none() {
                    b.region = optional_text(v, "region");
                }
                if let BuildOutcome::Published { ami_id, reused } = published(v)? {
                    b.artifact = Some((ami_id, reused));
                }
            }
            "build-failed" => {
                b.failure = Some((text(v, "step")?.to_string(), text(v, "error")?.to_string()));
            }
            "build-finished" => b.finished(v, t)?,
            _ => {}
        }
        Ok(())
    }

    fn build(&mut self, name: &str) -> &mut Builder {
        let i = match self.index.get(name) {
            Some(&i) => i,
            None => {
                self.index.insert(name.to_string(), self.builds.len());
                self.builds.push((name.to_string(), Builder::default()));
                self.builds.len() - 1
            }
        };
        &mut self.builds[i].1
    }

    fn finish(self) -> Result<RunRecord, String> {
        let (Some(started), Some(ended)) = (self.started, self.ended) else {
            return Err("no events".to_string());
        };
        let run = self.run.ok_or("no run-started event")?;
        let run_end = ended.duration_since(started).unwrap_or_default();
        let builds = self
            .builds
            .into_iter()
            .map(|(name, b)| b.record(name, run_end))
            .collect();
        Ok(RunRecord {
            run_id: run.run_id,
            profile: run.profile,
            version: run.version,
            started,
            ended,
            builds,
            launches: self.launches,
        })
    }
}

/// An artifact (the event, or the one inside a published outcome).
fn published(a: &Value) -> Result<BuildOutcome, String> {
    Ok(BuildOutcome::Published {
        ami_id: text(a, "ami_id")?.to_string(),
        // Written by every version that wrote artifacts; absent means made, not found.
        reused: a.get("reused").and_then(Value::as_bool).unwrap_or(false),
    })
}

fn text<'v>(v: &'v Value, field: &str) -> Result<&'v str, String> {
    v.get(field)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("no string `{field}`"))
}

fn optional_text(v: &Value, field: &str) -> Option<String> {
    v.get(field).and_then(Value::as_str).map(str::to_string)
}

/// A small synthetic run, shared with the HTML tests: 3 builds in 2 regions, one published
/// through every step, one failed at provision, one reused.
#[cfg(test)]
pub(crate) mod sample {
    use std::time::{Duration, SystemTime};

    /// The instant the sample run starts.
    pub fn base() -> SystemTime {
        humantime::parse_rfc3339("2026-11-21T10:00:00Z").unwrap()
    }

    /// One event line, `ms` after [`base`], with nanosecond stamps as amipub writes them.
    pub fn line(ms: u64, body: &str) -> String {
        let at = humantime::format_rfc3339_nanos(base() + Duration::from_millis(ms));
        format!("{{\"at\":\"{at}\",{body}}}\n")
    }

    /// The failing build's error: it holds characters HTML must escape.
    pub const ERROR: &str = "bootstrap exited 1: test -x /opt/x < 2 && echo 'no'";

    /// The events of the sample run, up to (not including) line `upto` when given.
    pub fn events() -> String {
        let published = r#""artifact":{"build":"us-east-1-hvm","region":"us-east-1","ami_id":"ami-111","ami_name":"n","snapshot_ids":[],"reused":false,"run_id":"r1"}"#;
        let reused = r#""artifact":{"build":"us-east-1-pv","region":"us-east-1","ami_id":"ami-reused","ami_name":"n","snapshot_ids":[],"reused":true,"run_id":"r0"}"#;
        let error = serde_json::to_string(ERROR).unwrap();
        let lines = [
            line(
                0,
                r#""type":"run-started","run_id":"r1","builds":["us-east-1-hvm","eu-west-1-hvm","us-east-1-pv"],"profile":"demo","version":"2.6.2","someday":1"#,
            ),
            line(
                50,
                r#""type":"warning","region":"us-east-1","message":"slow""#,
            ),
            line(
                100,
                r#""type":"build-started","build":"us-east-1-hvm","region":"us-east-1""#,
            ),
            line(
                100,
                r#""type":"step-started","build":"us-east-1-hvm","step":"stage""#,
            ),
            line(
                150,
                r#""type":"build-started","build":"eu-west-1-hvm","region":"eu-west-1""#,
            ),
            line(
                150,
                r#""type":"step-started","build":"eu-west-1-hvm","step":"stage""#,
            ),
            line(
                200,
                r#""type":"note","build":"us-east-1-pv","message":"reusing ami-reused from run r0""#,
            ),
            line(
                210,
                r#""type":"artifact","build":"us-east-1-pv","region":"us-east-1","ami_id":"ami-reused","ami_name":"n","snapshot_ids":[],"reused":true,"run_id":"r0""#,
            ),
            line(
                220,
                &format!(
                    r#""type":"build-finished","build":"us-east-1-pv","outcome":{{"result":"published",{reused}}},"duration":"120ms""#
                ),
            ),
            line(
                300,
                r#""type":"step-started","build":"eu-west-1-hvm","step":"launch""#,
            ),
            line(
                400,
                r#""type":"step-started","build":"us-east-1-hvm","step":"launch""#,
            ),
            "\n".to_string(),
            line(
                700,
                r#""type":"note","build":"eu-west-1-hvm","message":"launched i-2 from ami-src""#,
            ),
            line(
                800,
                r#""type":"step-started","build":"eu-west-1-hvm","step":"provision""#,
            ),
            line(
                900,
                r#""type":"note","build":"us-east-1-hvm","message":"launched i-1 from ami-src""#,
            ),
            line(
                1000,
                r#""type":"step-started","build":"us-east-1-hvm","step":"provision""#,
            ),
            line(
                2000,
                r#""type":"frobnicated","build":"us-east-1-hvm","step":"launch""#,
            ),
            line(
                3000,
                &format!(
                    r#""type":"build-failed","build":"eu-west-1-hvm","step":"provision","error":{error},"log_tail":["x"]"#
                ),
            ),
            line(
                3500,
                r#""type":"cleaned-up","build":"eu-west-1-hvm","removed":["i-2"],"left":[]"#,
            ),
            line(
                4000,
                &format!(
                    r#""type":"build-finished","build":"eu-west-1-hvm","outcome":{{"result":"failed","step":"provision","error":{error}}},"duration":"3s 850ms""#
                ),
            ),
            line(
                5000,
                r#""type":"step-started","build":"us-east-1-hvm","step":"image""#,
            ),
            line(
                7000,
                r#""type":"step-started","build":"us-east-1-hvm","step":"permissions""#,
            ),
            line(
                7100,
                r#""type":"note","build":"us-east-1-hvm","message":"launch permissions: group:all""#,
            ),
            line(
                7500,
                r#""type":"artifact","build":"us-east-1-hvm","region":"us-east-1","ami_id":"ami-111","ami_name":"n","snapshot_ids":[],"reused":false,"run_id":"r1""#,
            ),
            line(
                7500,
                r#""type":"step-started","build":"us-east-1-hvm","step":"finish""#,
            ),
            line(
                8000,
                &format!(
                    r#""type":"build-finished","build":"us-east-1-hvm","outcome":{{"result":"published",{published}}},"duration":"7s 900ms""#
                ),
            ),
        ];
        lines.concat()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn steps(b: &BuildRecord) -> Vec<(&str, Duration, Duration)> {
        b.spans
            .iter()
            .map(|s| (s.step.as_str(), s.start, s.end))
            .collect()
    }

    fn sample() -> RunRecord {
        RunRecord::from_ndjson(&sample::events()).unwrap()
    }

    #[test]
    fn header_comes_from_run_started_and_the_first_and_last_events() {
        let r = sample();
        assert_eq!(r.run_id, "r1");
        assert_eq!(r.profile.as_deref(), Some("demo"));
        assert_eq!(r.version.as_deref(), Some("2.6.2"));
        assert_eq!(r.started, sample::base());
        assert_eq!(r.ended, sample::base() + ms(8000));
        assert_eq!(r.wall(), ms(8000));
    }

    #[test]
    fn builds_keep_plan_order_with_regions() {
        let r = sample();
        let names: Vec<(&str, Option<&str>)> = r
            .builds
            .iter()
            .map(|b| (b.name.as_str(), b.region.as_deref()))
            .collect();
        assert_eq!(
            names,
            [
                ("us-east-1-hvm", Some("us-east-1")),
                ("eu-west-1-hvm", Some("eu-west-1")),
                // No build-started for a reused AMI: the region is the artifact's.
                ("us-east-1-pv", Some("us-east-1")),
            ]
        );
    }

    #[test]
    fn a_step_lasts_until_the_next_step_or_the_end_of_its_build() {
        let r = sample();
        assert_eq!(
            steps(&r.builds[0]),
            [
                ("stage", ms(100), ms(400)),
                ("launch", ms(400), ms(1000)),
                ("provision", ms(1000), ms(5000)),
                ("image", ms(5000), ms(7000)),
                ("permissions", ms(7000), ms(7500)),
                ("finish", ms(7500), ms(8000)),
            ]
        );
        assert_eq!(
            steps(&r.builds[1]),
            [
                ("stage", ms(150), ms(300)),
                ("launch", ms(300), ms(800)),
                ("provision", ms(800), ms(4000)),
            ]
        );
        assert!(r.builds[2].spans.is_empty());
    }

    #[test]
    fn outcomes_come_from_build_finished() {
        let r = sample();
        assert_eq!(
            r.builds[0].outcome,
            BuildOutcome::Published {
                ami_id: "ami-111".into(),
                reused: false
            }
        );
        assert_eq!(
            r.builds[1].outcome,
            BuildOutcome::Failed {
                step: "provision".into(),
                error: sample::ERROR.into()
            }
        );
        assert_eq!(
            r.builds[2].outcome,
            BuildOutcome::Published {
                ami_id: "ami-reused".into(),
                reused: true
            }
        );
        assert_eq!(r.builds[0].duration, Some(ms(7900)));
        assert_eq!(r.builds[2].first_event, Some(ms(200)));
        assert!(r.finished());
        assert_eq!(r.result(), "published 1, reused 1, failed 1");
    }

    #[test]
    fn launches_count_launched_notes_only() {
        // "launch permissions: ..." is a note too, but no launch.
        assert_eq!(sample().launches(), 2);
    }

    #[test]
    fn slowest_steps_are_the_longest_spans_longest_first() {
        let r = sample();
        let slow: Vec<(&str, &str, Duration)> = r
            .slowest_steps(3)
            .iter()
            .map(|s| {
                (
                    s.build.name.as_str(),
                    s.span.step.as_str(),
                    s.span.duration(),
                )
            })
            .collect();
        assert_eq!(
            slow,
            [
                ("us-east-1-hvm", "provision", ms(4000)),
                ("eu-west-1-hvm", "provision", ms(3200)),
                ("us-east-1-hvm", "image", ms(2000)),
            ]
        );
        assert_eq!(r.slowest_steps(100).len(), 9);
    }

    #[test]
    fn a_killed_run_leaves_builds_unfinished_with_their_steps_running_to_the_end() {
        // Cut before eu-west-1-hvm's build-failed: nothing says how it or us-east-1-hvm ended.
        let text: String = sample::events()
            .lines()
            .take_while(|l| !l.contains("build-failed"))
            .map(|l| format!("{l}\n"))
            .collect();
        let r = RunRecord::from_ndjson(&text).unwrap();
        assert!(!r.finished());
        assert_eq!(r.wall(), ms(2000));
        assert_eq!(r.builds[0].outcome, BuildOutcome::Unfinished);
        assert_eq!(r.builds[1].outcome, BuildOutcome::Unfinished);
        assert!(r.builds[2].finished);
        assert_eq!(
            r.builds[1].spans.last().unwrap(),
            &Span {
                step: "provision".into(),
                start: ms(800),
                end: ms(2000)
            }
        );
        assert_eq!(r.result(), "published 0, reused 1, failed 0, unfinished 2");
    }

    #[test]
    fn a_failure_without_build_finished_still_counts() {
        let text: String = sample::events()
            .lines()
            .take_while(|l| !l.contains("cleaned-up"))
            .map(|l| format!("{l}\n"))
            .collect();
        let r = RunRecord::from_ndjson(&text).unwrap();
        assert!(!r.builds[1].finished);
        assert!(matches!(
            &r.builds[1].outcome,
            BuildOutcome::Failed { step, .. } if step == "provision"
        ));
    }

    #[test]
    fn cancelled_builds_and_builds_outside_the_plan() {
        let text = [
            sample::line(0, r#""type":"run-started","run_id":"r2","builds":["a","b"]"#),
            sample::line(10, r#""type":"build-started","build":"a","region":"x""#),
            sample::line(10, r#""type":"step-started","build":"a","step":"stage""#),
            sample::line(20, r#""type":"build-started","build":"z","region":"y""#),
            sample::line(30, r#""type":"stopping","signal":"interrupted (SIGINT)","at_once":false"#),
            sample::line(40, r#""type":"build-finished","build":"a","outcome":{"result":"cancelled"},"duration":"30ms""#),
        ]
        .concat();
        let r = RunRecord::from_ndjson(&text).unwrap();
        let names: Vec<&str> = r.builds.iter().map(|b| b.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "z"]);
        assert_eq!(r.builds[0].outcome, BuildOutcome::Cancelled);
        assert_eq!(steps(&r.builds[0]), [("stage", ms(10), ms(40))]);
        // b never started.
        assert_eq!(r.builds[1].outcome, BuildOutcome::Unfinished);
        assert_eq!(r.builds[1].first_event, None);
        assert_eq!(r.builds[1].region, None);
        assert_eq!(r.profile, None);
        assert_eq!(
            r.result(),
            "published 0, reused 0, failed 0, cancelled 1, unfinished 2"
        );
    }

    #[test]
    fn a_bad_line_is_named_by_its_number() {
        let mut text = sample::events();
        text.insert(0, '\n');
        text.push_str("{\"at\": truncated\n");
        let lines = text.lines().count();
        let e = RunRecord::from_ndjson(&text).unwrap_err();
        assert!(e.starts_with(&format!("line {lines}: not JSON")), "{e}");

        let e = RunRecord::from_ndjson(&sample::line(0, r#""type":"step-started","step":"x""#))
            .unwrap_err();
        assert_eq!(e, "line 1: no string `build`");
        let e = RunRecord::from_ndjson("{\"at\":\"yesterday\",\"type\":\"note\"}").unwrap_err();
        assert!(e.starts_with("line 1: bad `at`"), "{e}");
    }

    #[test]
    fn nothing_to_read_is_an_error() {
        assert_eq!(RunRecord::from_ndjson("\n \n").unwrap_err(), "no events");
        let e = RunRecord::from_ndjson(&sample::line(0, r#""type":"warning""#)).unwrap_err();
        assert_eq!(e, "no run-started event");
    }
}
