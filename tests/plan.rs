//! `amipub plan` as users run it: the real binary on the project's real configuration.

mod common;

use common::{Scratch, run_expect};

fn plan(args: &[&str]) -> (String, String) {
    let s = Scratch::new();
    run_expect(s.amipub().arg("plan").args(args), 0)
}

fn build_names(json: &str) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_str(json).expect("plan JSON");
    v["builds"]
        .as_array()
        .expect("builds array")
        .iter()
        .map(|b| b["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn all_regions_lists_32_builds_in_8_regions() {
    let (out, _) = plan(&["--all-regions"]);
    assert!(out.contains("32 builds in 8 regions"), "{out}");
    insta::assert_snapshot!(out);
}

#[test]
fn all_regions_json_has_the_same_32_builds() {
    let (table, _) = plan(&["--all-regions"]);
    let (json, _) = plan(&["--all-regions", "--format", "json"]);
    let names = build_names(&json);
    assert_eq!(names.len(), 32);
    for n in &names {
        assert!(table.contains(n.as_str()), "{n} missing from table");
    }
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let first = &v["builds"][0];
    for key in [
        "name",
        "region",
        "release",
        "virtualization",
        "source_ami",
        "ami_name",
        "backing",
    ] {
        assert!(first.get(key).is_some(), "builds[0] lacks {key}");
    }
    assert_eq!(v["summary"]["regions"], 8);
    assert_eq!(v["skipped_regions"].as_array().unwrap().len(), 2);
    insta::assert_snapshot!(json);
}

#[test]
fn default_selection_of_official_profile_is_every_enabled_region() {
    let (out, _) = plan(&[]);
    assert!(out.contains("32 builds in 8 regions"), "{out}");
}

#[test]
fn plan_says_which_regions_were_skipped_and_why() {
    let (out, _) = plan(&["--all-regions"]);
    assert!(out.contains("Skipped 2 disabled regions:"), "{out}");
    assert!(
        out.contains("cn-north-1: Packer 0.7.5 could not build in this region (ComboAMI issue 62)")
    );
    assert!(out.contains("eu-central-1: Packer 0.7.5"));
}

#[test]
fn only_one_build() {
    let (json, _) = plan(&["--only", "us-east-1-1404-pv", "--format", "json"]);
    assert_eq!(build_names(&json), ["us-east-1-1404-pv"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let b = &v["builds"][0];
    assert_eq!(b["region"], "us-east-1");
    assert_eq!(b["release"], "14.04");
    assert_eq!(b["virtualization"], "paravirtual");
    assert_eq!(b["source_ami"], "ami-c51df2ae");
    assert_eq!(b["ami_name"], "DataStax Auto-Clustering AMI 2.6.2-1404-pv");
    assert_eq!(b["backing"], "instance-store");
    assert_eq!(b["bucket"], "comboami-2-6-2-us-east-1");
}

#[test]
fn only_us_except_1204_is_the_six_us_builds_of_1404() {
    let (json, _) = plan(&["--only", "us-*", "--except", "*-1204-*", "--format", "json"]);
    assert_eq!(
        build_names(&json),
        [
            "us-east-1-1404-pv",
            "us-east-1-1404-hvm",
            "us-west-1-1404-pv",
            "us-west-1-1404-hvm",
            "us-west-2-1404-pv",
            "us-west-2-1404-hvm",
        ]
    );
    let (table, _) = plan(&["--only", "us-*", "--except", "*-1204-*"]);
    assert!(table.contains("6 builds in 3 regions"), "{table}");
}

#[test]
fn only_takes_comma_separated_and_repeated_patterns() {
    let (json, _) = plan(&[
        "--only",
        "us-east-1-1404-pv,eu-west-1-1204-hvm",
        "--only",
        "sa-east-1-1404-hvm",
        "--format",
        "json",
    ]);
    assert_eq!(
        build_names(&json),
        [
            "eu-west-1-1204-hvm",
            "sa-east-1-1404-hvm",
            "us-east-1-1404-pv"
        ]
    );
}

#[test]
fn region_selects_those_regions() {
    let (json, _) = plan(&[
        "--region",
        "eu-west-1",
        "--region",
        "us-west-2",
        "--format",
        "json",
    ]);
    let names = build_names(&json);
    assert_eq!(names.len(), 8);
    assert!(
        names
            .iter()
            .all(|n| n.starts_with("eu-west-1-") || n.starts_with("us-west-2-"))
    );
}

#[test]
fn all_regions_overrides_the_profiles_region_list() {
    let s = Scratch::new();
    let (json, _) = run_expect(
        s.amipub().args([
            "plan",
            "--config",
            "configs/test-ebs.yaml",
            "--format",
            "json",
        ]),
        0,
    );
    assert_eq!(
        build_names(&json).len(),
        4,
        "test-ebs builds us-east-1 only"
    );
    let (json, _) = run_expect(
        s.amipub().args([
            "plan",
            "--config",
            "configs/test-ebs.yaml",
            "--all-regions",
            "--format",
            "json",
        ]),
        0,
    );
    assert_eq!(build_names(&json).len(), 32);
}

#[test]
fn test_profiles_plan_private_builds_in_us_east_1() {
    let s = Scratch::new();
    for (profile, backing) in [
        ("configs/test-ebs.yaml", "ebs"),
        ("configs/test-instance.yaml", "instance-store"),
    ] {
        let (json, _) = run_expect(
            s.amipub()
                .args(["plan", "--config", profile, "--format", "json"]),
            0,
        );
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        for b in v["builds"].as_array().unwrap() {
            assert_eq!(b["region"], "us-east-1");
            assert_eq!(b["backing"], backing);
        }
    }
}

#[test]
fn every_command_has_help_with_examples() {
    let s = Scratch::new();
    for cmd in ["plan", "publish"] {
        let (out, _) = run_expect(s.amipub().args([cmd, "--help"]), 0);
        assert!(out.contains("Examples:"), "{cmd} --help: {out}");
        assert!(out.contains("--only"), "{cmd} --help: {out}");
        assert!(out.contains("e.g."), "{cmd} --help: {out}");
    }
    for cmd in ["verify", "cleanup"] {
        let (out, _) = run_expect(s.amipub().args([cmd, "--help"]), 0);
        assert!(out.contains("Examples:"), "{cmd} --help: {out}");
        assert!(out.contains("e.g."), "{cmd} --help: {out}");
    }
}

/// The plan fits the terminal's width (`COLUMNS`): the S3 location goes first, then the AMI
/// name, and a line says what was left out; JSON keeps everything.
#[test]
fn the_plan_fits_the_terminal_and_says_what_it_left_out() {
    let s = Scratch::new();
    let full = run_expect(s.amipub().arg("plan"), 0).0;
    let widest = |out: &str| out.lines().map(|l| l.chars().count()).max().unwrap_or(0);
    assert!(
        widest(&full) > 150,
        "the full table is wide: {}",
        widest(&full)
    );
    let (at150, _) = run_expect(s.amipub().arg("plan").env("COLUMNS", "150"), 0);
    let table: Vec<&str> = at150.lines().take_while(|l| !l.is_empty()).collect();
    assert!(table.iter().all(|l| l.chars().count() <= 150), "{at150}");
    assert!(
        !table[0].contains("S3 LOCATION") && table[0].contains("AMI NAME"),
        "{at150}"
    );
    assert!(
        at150.contains(
            "(s3 location left out to fit 150 columns; `amipub plan --format json` has everything)"
        ),
        "{at150}"
    );
    let (at100, _) = run_expect(s.amipub().arg("plan").env("COLUMNS", "100"), 0);
    assert!(
        at100.contains("(s3 location, ami name left out to fit 100 columns"),
        "{at100}"
    );
    assert!(
        at100
            .lines()
            .take_while(|l| !l.is_empty())
            .all(|l| l.chars().count() <= 100),
        "{at100}"
    );
    let (json, _) = run_expect(
        s.amipub()
            .args(["plan", "--format", "json"])
            .env("COLUMNS", "80"),
        0,
    );
    assert!(json.contains("\"s3_location\""), "{json}");
}

/// Completion scripts and man pages come from the same clap definitions as the commands.
#[test]
fn completions_and_man_pages_know_every_command_and_flag() {
    let s = Scratch::new();
    for shell in ["bash", "zsh", "fish"] {
        let (out, _) = run_expect(s.amipub().args(["completions", shell]), 0);
        for word in [
            "publish",
            "release",
            "runs",
            "report",
            "--ec2-rate-limit",
            "--format",
        ] {
            assert!(out.contains(word), "{shell} completion lacks {word}");
        }
    }
    let (_, err) = run_expect(s.amipub().args(["completions", "tcsh"]), 2);
    assert!(err.contains("invalid value 'tcsh' for '<SHELL>'"), "{err}");
    let (page, _) = run_expect(s.amipub().arg("man"), 0);
    assert!(page.contains(".TH amipub 1"), "{page}");
    for cmd in [
        "plan", "publish", "verify", "cleanup", "release", "runs", "report",
    ] {
        assert!(
            page.contains(&format!("amipub\\-{cmd}(1)")),
            "{cmd} listed:\n{page}"
        );
    }
    let (out, _) = run_expect(s.amipub().args(["man", "--dir", "man1"]), 0);
    assert_eq!(out.trim(), "man1");
    let publish = std::fs::read_to_string(s.path("man1/amipub-publish.1")).unwrap();
    assert!(publish.contains(".TH amipub-publish 1"), "{publish}");
    assert!(
        publish.contains(env!("CARGO_PKG_VERSION")),
        "the version on every page"
    );
    assert!(publish.contains("ec2\\-rate\\-limit"), "{publish}");
}
