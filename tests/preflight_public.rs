//! Preflight for what would make a public publish fail long after it started: AWS blocking new
//! public sharing of AMIs in a region, the account's public AMI quota, and regions the account
//! has not enabled. Each stops the run before anything launches, with its message and exit
//! code (3); `--skip-disabled-regions` publishes the rest.

mod common;

use common::emulator::{Emulator, Options};
use common::{Scratch, count_entries, run_expect};
use serde_json::json;

const EBS: &str = "configs/test-ebs.yaml";

fn emulator() -> Emulator {
    Emulator::start(Options {
        provision_seconds: 0.2,
        image_pending_seconds: Some(0.3),
        ..Options::default()
    })
}

/// test-ebs.yaml made public, in us-east-1 and eu-west-1 (8 builds).
fn public_two_regions() -> Scratch {
    let s = Scratch::new();
    s.edit(EBS, "groups: []", "groups: [all]").edit(
        EBS,
        "regions: [us-east-1]",
        "regions: [us-east-1, eu-west-1]",
    );
    s
}

/// Publishes `s`'s profile expecting `code`; nothing may have launched when it is 3.
fn publish(s: &Scratch, emu: &Emulator, extra: &[&str], code: i32) -> (String, String) {
    let mut args = vec!["--config", EBS];
    args.extend_from_slice(extra);
    let out = run_expect(&mut s.publish(emu, &args), code);
    if code == 3 {
        assert_eq!(emu.stat("amipub ec2:RunInstances"), 0, "nothing launched");
    }
    out
}

#[test]
fn a_region_blocking_public_sharing_stops_a_public_publish_at_preflight() {
    let emu = emulator();
    let s = public_two_regions();
    emu.control(json!({"image_block_public_access": {"eu-west-1": "block-new-sharing"}}));
    let (_, err) = publish(&s, &emu, &[], 3);
    assert!(
        err.contains(
            "eu-west-1: block public access for AMIs is on, so no AMI can be made public there"
        ),
        "{err}"
    );
    assert!(
        err.contains("aws ec2 disable-image-block-public-access --region eu-west-1"),
        "{err}"
    );
    assert!(!err.contains("us-east-1: block"), "{err}");

    emu.control(json!({
        "image_block_public_access": {"eu-west-1": "block-new-sharing"},
        "image_block_public_access_managed_by": {"eu-west-1": "declarative-policy"},
    }));
    let (_, err) = publish(&s, &emu, &[], 3);
    assert!(err.contains("declarative policy"), "{err}");

    // A private profile is not concerned.
    s.edit(EBS, "groups: [all]", "groups: []");
    let (out, _) = publish(&s, &emu, &["--dry-run"], 0);
    assert!(
        out.contains("preflight: 2 region(s) checked for 8 build(s): ok"),
        "{out}"
    );
}

#[test]
fn a_run_that_would_exceed_the_public_ami_quota_stops_with_the_numbers() {
    let emu = emulator();
    let s = public_two_regions();
    emu.control(json!({"public_ami_quota": 3}));
    s.edit(EBS, "timeouts:", "public_ami_quota: 3\ntimeouts:");
    let (_, err) = publish(&s, &emu, &[], 3);
    assert!(
        err.contains("us-east-1: this run would make 4 AMI(s) public, the account already has 0 public AMI(s) there, and its quota is 3"),
        "{err}"
    );
    assert!(
        err.contains("amipub cleanup --region us-east-1 --keep N"),
        "{err}"
    );
    // Within the quota: published, every AMI public.
    s.edit(EBS, "public_ami_quota: 3", "public_ami_quota: 4");
    emu.control(json!({"public_ami_quota": 4}));
    let (out, _) = publish(&s, &emu, &[], 0);
    assert!(out.contains("8 AMIs: 8 published now, 0 failed"), "{out}");
    // The next version would make 4 more: over the quota of 4, refused before launching.
    s.edit(EBS, "version: \"2.6.2\"", "version: \"2.6.3\"");
    let launched = emu.stat("amipub ec2:RunInstances");
    let (_, err) = run_expect(&mut s.publish(&emu, &["--config", EBS]), 3);
    assert!(
        err.contains("the account already has 4 public AMI(s) there"),
        "{err}"
    );
    assert_eq!(emu.stat("amipub ec2:RunInstances"), launched);
}

#[test]
fn a_region_the_account_has_not_enabled_is_named_and_can_be_skipped() {
    let emu = emulator();
    let s = public_two_regions();
    emu.control(json!({"regions_not_opted_in": ["eu-west-1"]}));
    let (_, err) = publish(&s, &emu, &[], 3);
    assert!(
        err.contains("eu-west-1 is not enabled for this account"),
        "{err}"
    );
    assert!(
        err.contains("aws account enable-region --region-name eu-west-1"),
        "{err}"
    );
    assert!(err.contains("--skip-disabled-regions"), "{err}");

    let (out, _) = publish(&s, &emu, &["--skip-disabled-regions"], 0);
    assert!(
        out.contains("skipped, not enabled for this account: eu-west-1"),
        "{out}"
    );
    assert!(out.contains("4 AMIs: 4 published now, 0 failed"), "{out}");
    assert_eq!(count_entries(&s.ami_ids()), 4);
}

#[test]
fn copy_mode_whose_home_region_is_not_enabled_is_refused_even_when_skipping() {
    let emu = emulator();
    let s = public_two_regions();
    emu.control(json!({"regions_not_opted_in": ["eu-west-1"]}));
    let copy = ["--strategy", "copy", "--home-region", "eu-west-1"];
    let mut args = vec!["--skip-disabled-regions"];
    args.extend(copy);
    let (_, err) = publish(&s, &emu, &args, 3);
    assert!(
        err.contains(
            "the home region eu-west-1 is not enabled for this account, and copy mode builds there"
        ),
        "{err}"
    );
}
