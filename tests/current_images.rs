//! Current images against the emulator: `sources update` from Canonical's seeded public
//! parameters (diff, --write keeping the file's comments, the DescribeImages fallback), a
//! profile of two releases and two architectures with IMDSv2, a deprecation date, a gp3 root
//! volume and deregistration protection, published and verified; what verify sees when a
//! setting is lost; cleanup through deregistration protection and its cooldown; and the
//! preflight refusals of a source or instance type of the wrong architecture.

mod common;

use common::emulator::{Emulator, Options};
use common::{Scratch, block, run_expect};
use serde_json::json;

const CURRENT: &str = "configs/current.yaml";
const REGIONS: &str = "regions-current.yaml";

fn emulator() -> Emulator {
    Emulator::start(Options {
        provision_seconds: 0.2,
        image_pending_seconds: Some(0.3),
        ..Options::default()
    })
}

/// A scratch copy with the project's regions-current.yaml (only regions, no images yet).
fn scratch() -> Scratch {
    let s = Scratch::new();
    let text = std::fs::read_to_string(common::root().join(REGIONS)).unwrap();
    s.write(REGIONS, &text);
    s
}

/// The current profile building x86_64 only.
fn x86_64_only(s: &Scratch) {
    s.edit(
        CURRENT,
        "architectures: [x86_64, arm64]",
        "architectures: [x86_64]",
    )
    .edit(
        CURRENT,
        "instance_type: { x86_64: m5.large, arm64: m6g.large }",
        "instance_type: m5.large",
    );
}

fn sources(s: &Scratch, emu: &Emulator, extra: &[&str], code: i32) -> (String, String) {
    let mut cmd = s.amipub();
    common::emulator::aws_env(&mut cmd);
    cmd.args(["sources", "update", "--endpoint-url", &emu.endpoint])
        .args(["--config", CURRENT, "--regions-file", REGIONS])
        .args(extra);
    run_expect(&mut cmd, code)
}

fn read(s: &Scratch, rel: &str) -> String {
    std::fs::read_to_string(s.path(rel)).unwrap()
}

/// The ID `sources update` reports for a cell (`us-east-1 "2404" hvm arm64`).
fn reported(out: &str, cell: &str) -> String {
    let line = out
        .lines()
        .find(|l| l.starts_with(cell))
        .unwrap_or_else(|| panic!("no line for {cell} in:\n{out}"));
    line.split(" -> ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap()
        .to_string()
}

#[test]
fn sources_update_prints_the_newest_images_and_changes_nothing() {
    let emu = emulator();
    let s = scratch();
    let before = read(&s, REGIONS);
    let (out, _) = sources(&s, &emu, &[], 0);
    // 3 regions x 2 releases x 1 virtualization type x 2 architectures.
    assert!(
        out.contains("12 of 12 source AMI(s) checked differ from the newest upstream image."),
        "{out}"
    );
    let line = out
        .lines()
        .find(|l| l.starts_with("us-east-1 \"2404\" hvm arm64: (none) -> ami-"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        line.ends_with(
            "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-arm64-server-20261101 (2026-11-01)"
        ),
        "the newest image, by name and date: {line}"
    );
    assert!(
        out.contains("Nothing written; run again with --write"),
        "{out}"
    );
    assert_eq!(read(&s, REGIONS), before, "nothing written without --write");
}

#[test]
fn sources_update_write_changes_only_what_is_stale_and_keeps_comments() {
    let emu = emulator();
    let s = scratch();
    let (first, _) = sources(&s, &emu, &["--write"], 0);
    let newest = reported(&first, "us-east-1 \"2404\" hvm x86_64");
    let stale = reported(&first, "us-east-1 \"2204\" hvm x86_64");
    let written = read(&s, REGIONS);
    assert!(
        written.starts_with("# Source images of configs/current.yaml"),
        "{written}"
    );
    // An older image in one cell, and a comment of the user's.
    let edited = written.replacen(&newest, &stale, 1).replacen(
        "  us-east-1:\n",
        "  us-east-1:  # the first region\n",
        1,
    );
    s.write(REGIONS, &edited);
    let (out, _) = sources(&s, &emu, &["--write"], 0);
    assert!(
        out.contains("1 of 12 source AMI(s) checked differ from the newest upstream image."),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "us-east-1 \"2404\" hvm x86_64: {stale} -> {newest}"
        )),
        "{out}"
    );
    let after = read(&s, REGIONS);
    assert_eq!(
        after,
        written.replacen("  us-east-1:\n", "  us-east-1:  # the first region\n", 1),
        "only the stale ID changed, the comment kept"
    );
    let (again, _) = sources(&s, &emu, &[], 0);
    assert!(
        again.contains("12 source AMI(s) checked: the regions file is up to date."),
        "{again}"
    );
}

#[test]
fn a_region_without_parameters_falls_back_to_the_newest_image_by_name() {
    let emu = emulator();
    let s = scratch();
    let (with_parameters, _) = sources(&s, &emu, &["--region", "eu-west-1"], 0);
    emu.control(json!({"canonical_parameters_missing": ["eu-west-1"]}));
    let (fallback, _) = sources(&s, &emu, &["--region", "eu-west-1"], 0);
    for cell in [
        "eu-west-1 \"2204\" hvm x86_64",
        "eu-west-1 \"2204\" hvm arm64",
        "eu-west-1 \"2404\" hvm x86_64",
        "eu-west-1 \"2404\" hvm arm64",
    ] {
        assert_eq!(
            reported(&fallback, cell),
            reported(&with_parameters, cell),
            "the newest by creation date is the one the parameter names"
        );
    }
    assert!(
        fallback.contains("-server-20261101 (2026-11-01)"),
        "{fallback}"
    );
    assert!(
        !fallback.contains("20260901"),
        "never the older image: {fallback}"
    );
}

#[test]
fn sources_update_refuses_a_disabled_or_unknown_region() {
    let s = Scratch::new();
    let mut cmd = s.amipub();
    cmd.args([
        "sources",
        "update",
        "--region",
        "cn-north-1",
        "--region",
        "eu-north-1",
    ]);
    let (_, err) = run_expect(&mut cmd, 2);
    assert!(
        err.contains(
            "--region cn-north-1: disabled in the regions file; its sources are left as they are"
        ),
        "{err}"
    );
    assert!(
        err.contains("--region eu-north-1: not in the regions file"),
        "{err}"
    );
}

/// Fills the regions file, then publishes the current profile (12 builds in 3 regions).
fn publish_current(s: &Scratch, emu: &Emulator) -> String {
    sources(s, emu, &["--write"], 0);
    let (out, _) = run_expect(
        &mut s.publish(emu, &["--config", CURRENT, "--regions-file", REGIONS]),
        0,
    );
    out
}

#[test]
fn two_releases_on_two_architectures_publish_with_their_settings_and_verify() {
    let emu = emulator();
    let s = scratch();
    let mut plan = s.amipub();
    plan.args(["plan", "--config", CURRENT, "--regions-file", REGIONS]);
    sources(&s, &emu, &["--write"], 0);
    let (table, _) = run_expect(&mut plan, 0);
    assert!(table.contains("ARCH"), "{table}");
    for name in [
        "us-east-1-2204-hvm ",
        "us-east-1-2204-hvm-arm64 ",
        "eu-west-1-2404-hvm-arm64 ",
    ] {
        assert!(table.contains(name), "{name} in:\n{table}");
    }
    assert!(table.contains("12 builds in 3 regions"), "{table}");
    let out = publish_current(&s, &emu);
    assert!(out.contains("12 AMIs: 12 published now, 0 failed"), "{out}");

    let ids = s.ami_ids();
    let arm = ids["us-east-1"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["architecture"] == "arm64")
        .count();
    assert_eq!(arm, 2, "only arm64 entries gain the field: {ids}");
    for img in block(emu.amipub_images("us-east-1")) {
        let name = img.name().unwrap_or_default().to_string();
        let arch = img.architecture().unwrap().as_str();
        assert_eq!(
            name.ends_with("-arm64"),
            arch == "arm64",
            "{name} is {arch}"
        );
        assert_eq!(
            img.imds_support().map(|v| v.as_str()),
            Some("v2.0"),
            "{name}"
        );
        assert_eq!(img.ena_support(), Some(true), "{name}");
        assert!(img.deprecation_time().is_some(), "{name} deprecates");
        assert_eq!(
            img.deregistration_protection(),
            Some("enabled-without-cooldown"),
            "{name}"
        );
        // Two years from its creation at most, as EC2 allows a public AMI: 730 days.
        let at = |t: Option<&str>| {
            aws_smithy_types::DateTime::from_str(
                t.unwrap(),
                aws_smithy_types::date_time::Format::DateTime,
            )
            .unwrap()
            .secs()
        };
        let days = (at(img.deprecation_time()) - at(img.creation_date())) as f64 / 86400.0;
        assert!((729.99..=730.01).contains(&days), "{name}: {days} days");
        let root = img.block_device_mappings()[0].ebs().unwrap();
        assert_eq!(
            root.volume_type().map(|v| v.as_str()),
            Some("gp3"),
            "{name}"
        );
        assert_eq!(root.volume_size(), Some(16), "{name}");
        let tag = img
            .tags()
            .iter()
            .find(|t| t.key() == Some("amipub:architecture"))
            .and_then(|t| t.value());
        assert_eq!(tag, Some(arch), "{name}");
    }
    let mut verify = s.against(&emu, "verify");
    verify.args(["--config", CURRENT, "--regions-file", REGIONS]);
    let (out, _) = run_expect(&mut verify, 0);
    assert!(out.contains("12 of 12 AMI(s) as expected"), "{out}");

    // A re-run reuses every AMI, its settings applied again where they differ (public AMIs'
    // deprecation counted from their creation, as EC2 requires).
    let (again, _) = run_expect(
        &mut s.publish(&emu, &["--config", CURRENT, "--regions-file", REGIONS]),
        0,
    );
    assert_eq!(again.matches("(already published)").count(), 12, "{again}");
    assert_eq!(
        emu.stat("amipub ec2:RunInstances"),
        12,
        "nothing launched again"
    );
}

#[test]
fn verify_names_a_setting_an_ami_lost_and_cleanup_turns_protection_off() {
    let emu = emulator();
    let s = scratch();
    publish_current(&s, &emu);
    let id = s.ami_ids()["eu-west-1"][1]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (ec2, _) = block(emu.clients("eu-west-1"));
    block(ec2.disable_image_deprecation().image_id(&id).send()).unwrap();
    let mut verify = s.against(&emu, "verify");
    verify.args(["--config", CURRENT, "--regions-file", REGIONS]);
    let (out, _) = run_expect(&mut verify, 1);
    assert!(
        out.contains("no deprecation time, expected one (ami.deprecate_after)"),
        "{out}"
    );

    let mut cleanup = s.against(&emu, "cleanup");
    cleanup.args([
        "--regions-file",
        REGIONS,
        "--version",
        "3.0.0",
        "--all-regions",
    ]);
    cleanup.args(["--force", "--yes"]);
    let (out, err) = run_expect(&mut cleanup, 0);
    assert!(
        block(emu.amipub_images("eu-west-1")).is_empty(),
        "{out}{err}"
    );
}

#[test]
fn cleanup_explains_a_protection_cooldown_and_finishes_after_it() {
    let emu = emulator();
    let s = scratch();
    s.edit(
        CURRENT,
        "deregistration_protection: enabled",
        "deregistration_protection: enabled-with-cooldown",
    )
    .edit(
        CURRENT,
        "regions: [us-east-1, us-west-2, eu-west-1]",
        "regions: [us-east-1]",
    )
    .edit(
        CURRENT,
        "releases: [\"2204\", \"2404\"]",
        "releases: [\"2404\"]",
    );
    x86_64_only(&s);
    publish_current(&s, &emu);
    emu.control(json!({"deregistration_cooldown_seconds": 2}));
    let cleanup = || {
        let mut c = s.against(&emu, "cleanup");
        c.args([
            "--regions-file",
            REGIONS,
            "--version",
            "3.0.0",
            "--region",
            "us-east-1",
        ]);
        c.args(["--force", "--yes"]);
        c
    };
    let (out, err) = run_expect(&mut cleanup(), 1);
    let all = format!("{out}{err}");
    assert!(
        all.contains("had deregistration protection with a cooldown: protection is off now, and EC2 allows deregistering it only after the 24-hour cooldown (20"),
        "{all}"
    );
    assert_eq!(
        block(emu.amipub_images("us-east-1")).len(),
        1,
        "kept during the cooldown"
    );
    std::thread::sleep(std::time::Duration::from_secs(3));
    run_expect(&mut cleanup(), 0);
    assert!(block(emu.amipub_images("us-east-1")).is_empty());
}

#[test]
fn a_source_or_instance_type_of_the_wrong_architecture_stops_preflight() {
    let emu = emulator();
    let s = scratch();
    sources(&s, &emu, &["--write"], 0);
    let (first, _) = sources(&s, &emu, &[], 0);
    assert!(first.contains("up to date"), "{first}");
    // us-east-1's 2404 arm64 slot holds the x86_64 image, and arm64 builds get an x86 type.
    let text = read(&s, REGIONS);
    let line = text
        .lines()
        .skip_while(|l| !l.starts_with("  us-east-1:"))
        .find(|l| l.contains("\"2404\""))
        .unwrap()
        .to_string();
    let x86 = line
        .split("x86_64: ")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap();
    let arm = line
        .split("arm64: ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap();
    s.write(REGIONS, &text.replacen(&line, &line.replace(arm, x86), 1));
    s.edit(CURRENT, "arm64: m6g.large", "arm64: m5.large")
        .edit(CURRENT, "size: 16", "size: 4");
    let (_, err) = run_expect(
        &mut s.publish(&emu, &["--config", CURRENT, "--regions-file", REGIONS]),
        3,
    );
    assert!(
        err.contains(&format!(
            "us-east-1-2404-hvm-arm64: source AMI {x86} in us-east-1 is a x86_64 image, and the build is arm64"
        )),
        "{err}"
    );
    assert!(
        err.contains("us-west-2-2204-hvm-arm64: instance type m5.large runs x86_64, not arm64"),
        "{err}"
    );
    assert!(
        err.contains("ami.root_volume.size is 4 GiB, and source AMI ami-"),
        "{err}"
    );
    assert!(
        err.contains("'s root is 8 GiB; EC2 cannot shrink it: give at least 8"),
        "{err}"
    );
    assert_eq!(emu.stat("amipub ec2:RunInstances"), 0, "nothing launched");
}

#[test]
fn an_ebs_boot_mode_the_source_does_not_have_stops_preflight() {
    let emu = emulator();
    let s = scratch();
    sources(&s, &emu, &["--write"], 0);
    s.edit(
        CURRENT,
        "imds_support: v2.0",
        "imds_support: v2.0\n  boot_mode: legacy-bios",
    );
    x86_64_only(&s);
    let (_, err) = run_expect(
        &mut s.publish(&emu, &["--config", CURRENT, "--regions-file", REGIONS]),
        3,
    );
    assert!(
        err.contains("us-east-1-2404-hvm: ami.boot_mode is legacy-bios, and source AMI ami-"),
        "{err}"
    );
    assert!(
        err.contains("has uefi-preferred; an EBS image takes it from its source"),
        "{err}"
    );
    assert_eq!(emu.stat("amipub ec2:RunInstances"), 0, "nothing launched");
}

#[test]
fn a_sources_template_with_an_unknown_placeholder_is_refused_before_any_lookup() {
    let s = scratch();
    let profile = read(&s, CURRENT);
    s.write(
        CURRENT,
        &format!(
            "{profile}sources:\n  parameters: [\"/aws/service/x/{{release}}/{{arhc}}/ami-id\"]\n"
        ),
    );
    let mut cmd = s.amipub();
    cmd.args([
        "sources",
        "update",
        "--config",
        CURRENT,
        "--regions-file",
        REGIONS,
    ]);
    let (out, err) = run_expect(&mut cmd, 2);
    assert!(out.is_empty(), "{out}");
    assert!(
        err.contains("configs/current.yaml:38: sources.parameters: unknown placeholder {arhc}"),
        "{err}"
    );
    assert!(
        err.contains("placeholders are {release}, {arch}, {virtualization}"),
        "{err}"
    );
}
