//! What people and other tools read, from synthetic events: the plain lines, Packer's
//! machine-readable lines and the summary table of a run with a published build, a reused one,
//! a failed one (with its log's end and what its clean-up left), a warning and a build stopped
//! by a signal. Reviewed snapshots in tests/snapshots/ show every change of wording.

use std::time::{Duration, SystemTime};

use amipub::events::{Artifact, Event, Outcome, Stamped, Step};
use amipub::report::{Machine, Plain, Reporter, summary};

/// 2026-11-21T05:31:15Z plus `secs`.
fn at(secs: u64) -> SystemTime {
    humantime::parse_rfc3339("2026-11-21T05:31:15Z").unwrap() + Duration::from_secs(secs)
}

fn artifact(build: &str, ami: &str, reused: bool) -> Artifact {
    Artifact {
        build: build.into(),
        region: "us-east-1".into(),
        ami_id: ami.into(),
        ami_name: format!("ComboAMI test {build}"),
        snapshot_ids: vec!["snap-0123456789abcdef0".into()],
        reused,
        run_id: "20261121T053115Z-1a2b3c".into(),
    }
}

/// The run: four builds, each ending differently.
fn run() -> Vec<(Event, &'static str, Outcome, u64)> {
    let published = artifact("us-east-1-1404-hvm", "ami-0aaaaaaaaaaaaaaaa", false);
    let reused = artifact("us-east-1-1404-pv", "ami-0bbbbbbbbbbbbbbbb", true);
    let failed = Outcome::Failed {
        step: Step::Provision,
        error: "the provisioning script exited with status 3".into(),
    };
    vec![
        (
            Event::Artifact(published.clone()),
            "us-east-1-1404-hvm",
            Outcome::Published {
                artifact: published,
            },
            97,
        ),
        (
            Event::Artifact(reused.clone()),
            "us-east-1-1404-pv",
            Outcome::Published { artifact: reused },
            2,
        ),
        (
            Event::BuildFailed {
                build: "us-east-1-1204-hvm".into(),
                step: Step::Provision,
                error: "the provisioning script exited with status 3".into(),
                code: None,
                log_tail: vec!["apt-get: unable to fetch".into(), "exit 3".into()],
            },
            "us-east-1-1204-hvm",
            failed,
            61,
        ),
        (
            Event::CleanedUp {
                build: "us-east-1-1204-pv".into(),
                removed: vec!["instance i-0ccccccccccccccc (terminated)".into()],
                left: vec!["us-east-1-1204-pv: snapshot snap-0ddddddddddddddd in us-east-1".into()],
            },
            "us-east-1-1204-pv",
            Outcome::Cancelled,
            30,
        ),
    ]
}

/// Every event of the run, stamped a second apart.
fn events() -> Vec<Stamped> {
    let mut v = vec![Event::RunStarted {
        run_id: "20261121T053115Z-1a2b3c".into(),
        builds: run().iter().map(|(_, b, _, _)| b.to_string()).collect(),
    }];
    v.push(Event::Warning {
        region: "us-east-1".into(),
        message: "terminated build instance(s) of interrupted runs: i-0eeeeeeeeeeeeeee".into(),
    });
    for (event, build, outcome, secs) in run() {
        v.push(Event::BuildStarted {
            build: build.into(),
            region: "us-east-1".into(),
        });
        v.push(Event::StepStarted {
            build: build.into(),
            step: Step::Launch,
        });
        v.push(Event::Note {
            build: build.into(),
            message: "launched i-0123456789abcdef0 from ami-eb6b8480".into(),
        });
        v.push(event);
        v.push(Event::BuildFinished {
            build: build.into(),
            outcome,
            duration: Duration::from_secs(secs),
        });
    }
    v.into_iter()
        .enumerate()
        .map(|(i, event)| Stamped {
            at: at(i as u64),
            event,
        })
        .collect()
}

fn shown(reporter: &mut dyn Reporter) {
    for e in events() {
        reporter.event(&e).expect("writing to memory");
    }
    reporter.finish().expect("writing to memory");
}

#[test]
fn plain_lines() {
    let mut out = Vec::new();
    shown(&mut Plain::new(&mut out));
    insta::assert_snapshot!(String::from_utf8(out).unwrap());
}

#[test]
fn machine_readable_lines() {
    let mut out = Vec::new();
    shown(&mut Machine::new(&mut out));
    insta::assert_snapshot!(String::from_utf8(out).unwrap());
}

#[test]
fn summary_table() {
    let run = run();
    let rows: Vec<summary::Row<'_>> = run
        .iter()
        .map(|(_, build, outcome, secs)| summary::Row {
            build,
            region: "us-east-1",
            outcome,
            duration: Duration::from_secs(*secs),
        })
        .collect();
    insta::assert_snapshot!(summary::render(&rows));
}
