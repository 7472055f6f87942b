//! What people and other tools read, from synthetic events and results: the plain lines,
//! Packer's machine-readable lines, the lines progress bars leave, the notices on standard
//! error and the summary table of a run with a published build, a reused one, a failed one
//! (with its log and what its clean-up left), a warning and a build stopped by Ctrl-C; and the
//! tables of `verify` and `cleanup`. Reviewed snapshots in tests/snapshots/ show every change
//! of wording.

use std::time::{Duration, SystemTime};

use amipub::events::{Artifact, Event, Outcome, Stamped, Step};
use amipub::lifecycle::cleanup::{Item, Kind, Removal};
use amipub::lifecycle::verify::{Row, Verdict};
use amipub::report::{Machine, Notices, Plain, Reporter, kept_line, summary, tables};

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
        copied_from: None,
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
                kept: false,
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
        profile: Some("configs/official.yaml".into()),
        version: Some("2.6.2".into()),
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
        if let Event::BuildFailed { build, .. } = &event {
            v.push(Event::BuildLog {
                build: build.clone(),
                path: format!(".amipub/runs/20261121T053115Z-1a2b3c/logs/{build}.log"),
                text: "apt-get: unable to fetch\nexit 3\n".into(),
            });
        }
        if matches!(event, Event::CleanedUp { .. }) {
            // The cancelled build: Ctrl-C came while it ran.
            v.push(Event::Stopping {
                signal: "interrupted (SIGINT)".into(),
                at_once: false,
            });
        }
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

#[test]
fn progress_lines_kept_above_the_bars() {
    let lines: Vec<String> = events()
        .iter()
        .filter_map(|e| kept_line(&e.event))
        .collect();
    insta::assert_snapshot!(lines.join("\n"));
}

#[test]
fn notices_on_standard_error() {
    let mut out = Vec::new();
    shown(&mut Notices::new(&mut out));
    insta::assert_snapshot!(String::from_utf8(out).unwrap());
}

fn row(build: &str, ami: &str, result: Verdict, differences: &[&str]) -> Row {
    Row {
        build: build.into(),
        region: "us-east-1".into(),
        ami_id: ami.into(),
        result,
        differences: differences.iter().map(|d| d.to_string()).collect(),
    }
}

#[test]
fn verify_table() {
    let rows = [
        row(
            "us-east-1-1404-hvm",
            "ami-0aaaaaaaaaaaaaaaa",
            Verdict::Ok,
            &[],
        ),
        row(
            "us-east-1-1404-pv",
            "ami-0bbbbbbbbbbbbbbbb",
            Verdict::Mismatch,
            &[
                "launch permissions are [] instead of [group:all]",
                "tag amipub:version is 2.6.1",
            ],
        ),
        row(
            "us-east-1-1204-hvm",
            "ami-0cccccccccccccccc",
            Verdict::Missing,
            &["not found in us-east-1"],
        ),
        Row {
            region: "eu-west-1".into(),
            ..row(
                "eu-west-1-1404-hvm",
                "ami-0dddddddddddddddd",
                Verdict::Unreachable,
                &["eu-west-1 did not answer"],
            )
        },
    ];
    let notes = ["us-east-1-1404-pv: the manifest lists ami-0eeeeeeeeeeeeeeee, ami_ids.json ami-0bbbbbbbbbbbbbbbb".to_string()];
    insta::assert_snapshot!(tables::verify(&rows, &notes));
}

fn item(
    kind: Kind,
    id: &str,
    size: Option<i32>,
    refused: Option<&str>,
    result: Option<Removal>,
) -> Item {
    Item {
        kind,
        region: "us-east-1".into(),
        id: id.into(),
        build: Some("us-east-1-1404-hvm".into()),
        size_gib: size,
        refused: refused.map(str::to_string),
        keys: if kind == Kind::Objects {
            vec!["a".into(), "b".into()]
        } else {
            Vec::new()
        },
        result,
    }
}

#[test]
fn cleanup_table_and_summaries() {
    let items = [
        item(
            Kind::Instance,
            "i-0123456789abcdef0",
            None,
            None,
            Some(Removal::Removed),
        ),
        item(
            Kind::Ami,
            "ami-0aaaaaaaaaaaaaaaa",
            None,
            Some("listed in ami_ids.json (--force removes it anyway)"),
            None,
        ),
        item(
            Kind::Snapshot,
            "snap-0aaaaaaaaaaaaaaaa",
            Some(8),
            Some("belongs to ami-0aaaaaaaaaaaaaaaa, which is kept"),
            None,
        ),
        item(
            Kind::Snapshot,
            "snap-0bbbbbbbbbbbbbbbb",
            Some(8),
            None,
            Some(Removal::Removed),
        ),
        item(
            Kind::Volume,
            "vol-0123456789abcdef0",
            Some(8),
            None,
            Some(Removal::Failed("VolumeInUse: attached".into())),
        ),
        item(
            Kind::Objects,
            "comboami-2-6-2-us-east-1/20261121T053115Z-1a2b3c/us-east-1-1404-hvm",
            None,
            None,
            Some(Removal::Removed),
        ),
    ];
    let shown = format!(
        "{}\n-- dry run --\n{}\n-- after --yes --\n{}\n-- nothing --\n{}",
        tables::cleanup(&items),
        tables::cleanup_summary(&items, false),
        tables::cleanup_summary(&items, true),
        tables::cleanup(&[]),
    );
    insta::assert_snapshot!(shown);
}

/// What a build's clean-up says: kept on purpose (`--on-error=abort`, the answer `a`) is not
/// "nothing to clean up; LEFT BEHIND", and a short build's duration is not `0s`.
#[test]
fn kept_for_inspection_is_said_as_such_and_short_durations_keep_their_decimals() {
    let left = vec!["b: instance i-0123 in us-east-1".to_string()];
    let cleaned = |removed: Vec<String>, kept: bool| {
        amipub::report::line(&Event::CleanedUp {
            build: "b".into(),
            removed,
            left: left.clone(),
            kept,
        })
        .unwrap()
        .1
    };
    assert_eq!(
        cleaned(Vec::new(), true),
        "kept for inspection: b: instance i-0123 in us-east-1"
    );
    assert_eq!(
        cleaned(vec!["x (deleted)".into()], false),
        "cleaned up: x (deleted); LEFT BEHIND: b: instance i-0123 in us-east-1"
    );
    let finished = Event::BuildFinished {
        build: "b".into(),
        outcome: Outcome::Cancelled,
        duration: Duration::from_millis(970),
    };
    let rows = [summary::Row {
        build: "b",
        region: "us-east-1",
        outcome: &Outcome::Cancelled,
        duration: Duration::from_millis(970),
    }];
    assert!(summary::render(&rows).contains("0.97s"));
    assert_eq!(amipub::report::line(&finished).unwrap().1, "cancelled");
}
