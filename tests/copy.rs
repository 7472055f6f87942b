//! Copy mode against the emulator: each release and virtualization type built once in the
//! home region and copied to the others (counted by the emulator's proxy), each region
//! finished as soon as its own copy is, a failed region failing alone, kill -9 during copies,
//! and cleanup of copies and home images.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::emulator::{Emulator, Options};
use common::{Scratch, block, count_entries, note_starting, run_expect};
use serde_json::json;

const EBS: &str = "configs/test-ebs.yaml";
const COPY: [&str; 4] = ["--strategy", "copy", "--home-region", "us-east-1"];

fn emulator() -> Emulator {
    Emulator::start(Options {
        provision_seconds: 0.2,
        image_pending_seconds: Some(0.3),
        ..Options::default()
    })
}

/// test-ebs.yaml in us-east-1 and eu-west-1: 8 builds, 4 of them copies.
fn two_regions() -> Scratch {
    let s = Scratch::new();
    s.edit(
        EBS,
        "regions: [us-east-1]",
        "regions: [us-east-1, eu-west-1]",
    );
    s
}

/// As [`two_regions`], and us-west-2: 12 builds, 8 of them copies.
fn three_regions() -> Scratch {
    let s = Scratch::new();
    s.edit(
        EBS,
        "regions: [us-east-1]",
        "regions: [us-east-1, eu-west-1, us-west-2]",
    );
    s
}

fn publish(s: &Scratch, emu: &Emulator, code: i32) -> (String, String) {
    let mut args = vec!["--config", EBS];
    args.extend(COPY);
    run_expect(&mut s.publish(emu, &args), code)
}

/// The AMIs of `region` amipub made, by build.
fn images(emu: &Emulator, region: &str) -> BTreeMap<String, usize> {
    let mut by_build = BTreeMap::new();
    for img in block(emu.own_images(region)) {
        let build = img
            .tags()
            .iter()
            .find(|t| t.key() == Some("amipub:build"))
            .and_then(|t| t.value())
            .unwrap_or("?")
            .to_string();
        *by_build.entry(build).or_default() += 1;
    }
    by_build
}

#[test]
fn plan_shows_the_strategy_and_its_instance_launches() {
    let s = Scratch::new();
    let mut args = vec!["plan", "--all-regions"];
    args.extend(COPY);
    let (out, _) = run_expect(s.amipub().args(&args), 0);
    assert!(
        out.contains("Strategy copy: 4 builds in us-east-1, 28 copies to the other regions; 4 instance launches (per region: 32)"),
        "{out}"
    );
    assert!(out.contains("copy of us-east-1-1404-hvm"), "{out}");
    args.extend(["--format", "json"]);
    let (out, _) = run_expect(s.amipub().args(&args), 0);
    let plan: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(plan["strategy"], "copy");
    assert_eq!(plan["home_region"], "us-east-1");
    assert_eq!(plan["summary"]["launches"], 4);
    assert_eq!(plan["summary"]["copies"], 28);
    let eu = plan["builds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["name"] == "eu-west-1-1404-hvm")
        .unwrap();
    assert_eq!(eu["copy_of"], "us-east-1-1404-hvm");

    // Selecting a copy selects its home build too.
    let (out, _) = run_expect(
        s.amipub()
            .args(["plan", "--all-regions", "--only", "eu-west-1-1404-hvm"])
            .args(COPY),
        0,
    );
    assert!(
        out.contains("us-east-1-1404-hvm") && out.contains("2 builds"),
        "{out}"
    );

    let (_, err) = run_expect(s.amipub().args(["plan", "--strategy", "copy"]), 2);
    assert!(err.contains("copy mode builds in a home region"), "{err}");
    let (_, err) = run_expect(
        s.amipub()
            .args(["plan", "--strategy", "copy", "--home-region", "us-north-9"]),
        2,
    );
    assert!(err.contains("--home-region us-north-9: not in"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_official_matrix_is_published_from_4_instances_and_28_copies() {
    let emu = Emulator::start(Options {
        provision_seconds: 0.2,
        image_pending_seconds: Some(0.3),
        ..Options::default()
    });
    let s = Scratch::new();
    s.signing();
    let mut args = vec!["--all-regions"];
    args.extend(COPY);
    let (out, err) = run_expect(&mut s.publish(&emu, &args), 0);
    assert!(
        out.contains("32 AMIs: 32 published now, 0 failed"),
        "{out}\n{err}"
    );
    assert_eq!(emu.stat("amipub ec2:RunInstances"), 4, "{:?}", emu.stats());
    assert_eq!(emu.stat("amipub ec2:CopyImage"), 28, "{:?}", emu.stats());
    assert_eq!(emu.stat("amipub ec2:CreateTags"), 0, "tagged at creation");
    let ids = s.ami_ids();
    assert_eq!(count_entries(&ids), 32, "ami_ids.json in the legacy shape");
    let (out, _) = run_expect(&mut s.against(&emu, "verify"), 0);
    assert!(out.contains("32 of 32 AMI(s) as expected"), "{out}");
    // Each copy is public and says what it was copied from.
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(s.path("amipub-manifest.json")).unwrap())
            .unwrap();
    let home = manifest["builds"]["us-east-1-1404-hvm"]["ami_id"]
        .as_str()
        .unwrap()
        .to_string();
    let copy = &manifest["builds"]["eu-west-1-1404-hvm"];
    assert_eq!(copy["copied_from"], format!("us-east-1:{home}").as_str());
    let perms = emu
        .launch_permissions("eu-west-1", copy["ami_id"].as_str().unwrap())
        .await;
    assert_eq!(perms, ["group:all".to_string()].into());
}

#[test]
fn each_region_finishes_as_soon_as_its_own_copies_are_available() {
    let emu = emulator();
    let s = three_regions();
    emu.control(json!({"image_pending_seconds_in": {"eu-west-1": 8}}));
    publish(&s, &emu, 0);
    let run = s.runs().pop().unwrap();
    let events = s.events(&run);
    let published_at = |prefix: &str| -> Vec<usize> {
        events
            .iter()
            .enumerate()
            .filter(|(_, e)| {
                e["type"] == "artifact"
                    && e["region"].as_str().is_some_and(|r| r.starts_with(prefix))
            })
            .map(|(i, _)| i)
            .collect()
    };
    let (slow, fast) = (published_at("eu-west-1"), published_at("us-west-2"));
    assert_eq!((slow.len(), fast.len()), (4, 4));
    assert!(
        fast.iter().max() < slow.iter().min(),
        "us-west-2's copies are published before the slow region's: {fast:?} {slow:?}"
    );
}

#[test]
fn a_copy_failing_in_one_region_fails_only_there_and_a_rerun_copies_only_it() {
    let emu = emulator();
    let s = three_regions();
    emu.control(json!({"faults": [{"operation": "ec2:CopyImage", "region": "eu-west-1", "error": "InternalError"}]}));
    let (out, _) = publish(&s, &emu, 1);
    assert!(out.contains("12 AMIs: 8 published now, 4 failed"), "{out}");
    let ids = s.ami_ids();
    assert_eq!(count_entries(&ids), 8);
    assert!(ids.get("eu-west-1").is_none(), "{ids}");
    assert!(images(&emu, "eu-west-1").is_empty(), "no half-made copy");

    emu.control(json!({}));
    let launches = emu.stat("amipub ec2:RunInstances");
    let copies = emu.stat("amipub ec2:CopyImage");
    let (out, _) = publish(&s, &emu, 0);
    assert!(
        out.contains("12 AMIs: 4 published now, 8 already published, 0 failed"),
        "{out}"
    );
    assert_eq!(
        emu.stat("amipub ec2:RunInstances"),
        launches,
        "the home images are reused"
    );
    assert_eq!(
        emu.stat("amipub ec2:CopyImage"),
        copies + 4,
        "only eu-west-1 is copied"
    );
    assert_eq!(count_entries(&s.ami_ids()), 12);
}

#[test]
fn killed_during_copies_a_rerun_leaves_no_duplicate_and_verify_is_clean() {
    let emu = emulator();
    let s = two_regions();
    emu.control(json!({"image_pending_seconds_in": {"eu-west-1": 30}}));
    let mut args = vec!["publish", "--poll-interval", "100ms", "--config", EBS];
    args.extend(COPY);
    let run = s.spawn(&emu, &args);
    assert!(
        s.wait_for_events(Duration::from_secs(60), 4, |e| note_starting(
            e,
            "copying ami-"
        )),
        "the copies started"
    );
    run.signal("KILL");
    assert_eq!(run.wait(Duration::from_secs(30)).code, None);
    emu.control(json!({}));
    let (out, _) = publish(&s, &emu, 0);
    assert!(
        out.contains("8 AMIs: ") && out.contains(" already published, 0 failed"),
        "{out}"
    );
    for region in ["us-east-1", "eu-west-1"] {
        let by_build = images(&emu, region);
        assert_eq!(by_build.len(), 4, "{region}: {by_build:?}");
        assert!(
            by_build.values().all(|n| *n == 1),
            "no duplicate in {region}: {by_build:?}"
        );
    }
    let (out, _) = run_expect(s.against(&emu, "verify").args(["--config", EBS]), 0);
    assert!(out.contains("8 of 8 AMI(s) as expected"), "{out}");

    // cleanup of the version removes copies and home images alike.
    run_expect(
        s.against(&emu, "cleanup").args([
            "--version",
            "2.6.2",
            "--all-regions",
            "--force",
            "--yes",
        ]),
        0,
    );
    for region in ["us-east-1", "eu-west-1"] {
        assert!(images(&emu, region).is_empty(), "{region}");
    }
}
