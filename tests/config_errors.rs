//! Every bad input of the configuration and the command line: the real binary's message and
//! exit code (2, nothing run). Messages are snapshotted so a change to them is reviewed.

mod common;

use common::{Scratch, run_expect};

/// Runs `amipub plan` with `args` in `s`, expecting exit 2, and returns stderr.
fn plan_fails(s: &Scratch, args: &[&str]) -> String {
    let (stdout, stderr) = run_expect(s.amipub().arg("plan").args(args), 2);
    assert!(stdout.is_empty(), "nothing printed on stdout: {stdout}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

const P: &str = "configs/official.yaml";

#[test]
fn malformed_yaml() {
    let s = Scratch::new();
    s.edit(P, "version: \"2.6.2\"", "version: \"2.6.2");
    let err = plan_fails(&s, &[]);
    assert!(
        err.contains("configs/official.yaml:2: invalid indentation in quoted scalar"),
        "{err}"
    );
    assert!(err.contains("fix the YAML syntax"), "{err}");
    insta::assert_snapshot!(err);
}

#[test]
fn unknown_key() {
    let s = Scratch::new();
    s.edit(P, "instance_type: m3.medium", "instance_tpye: m3.medium");
    let err = plan_fails(&s, &[]);
    assert!(err.contains("configs/official.yaml:5:"), "{err}");
    assert!(err.contains("unknown field `instance_tpye`"), "{err}");
    insta::assert_snapshot!(err);
}

#[test]
fn missing_required_key() {
    let s = Scratch::new();
    s.edit(P, "branch: \"2.6\"               # the git ref checked out into the image (COMBOAMI_BRANCH)\n", "");
    let err = plan_fails(&s, &[]);
    assert!(err.contains("missing field `branch`"), "{err}");
    insta::assert_snapshot!(err);
}

#[test]
fn unknown_region_in_regions_file() {
    let s = Scratch::new();
    s.edit("regions.yaml", "  us-west-2:", "  us-wset-2:");
    let err = plan_fails(&s, &[]);
    assert!(
        err.contains("regions.yaml:44: unknown region \"us-wset-2\""),
        "{err}"
    );
    insta::assert_snapshot!(err);
}

#[test]
fn unknown_region_in_profile() {
    let s = Scratch::new();
    s.edit(
        "configs/test-ebs.yaml",
        "regions: [us-east-1]",
        "regions: [us-east-1, us-east-9]",
    );
    let err = plan_fails(&s, &["--config", "configs/test-ebs.yaml"]);
    assert!(
        err.contains("configs/test-ebs.yaml:24: unknown region \"us-east-9\""),
        "{err}"
    );
    insta::assert_snapshot!(err);
}

#[test]
fn bad_ami_ids_are_all_reported_with_their_lines() {
    let s = Scratch::new();
    s.edit("regions.yaml", "ami-2aa0ba42", "ami-2aa0ba4").edit(
        "regions.yaml",
        "ami-916e57a1",
        "ami-916E57A1",
    );
    let err = plan_fails(&s, &[]);
    assert!(
        err.contains(
            "regions.yaml:38: us-east-1 1204 paravirtual: \"ami-2aa0ba4\" is not an AMI ID"
        ),
        "{err}"
    );
    assert!(
        err.contains("regions.yaml:47: us-west-2 1404 hvm: \"ami-916E57A1\""),
        "{err}"
    );
    assert!(err.contains("2 configuration problems found"), "{err}");
    insta::assert_snapshot!(err);
}

#[test]
fn duplicate_build_names() {
    let s = Scratch::new();
    s.edit(
        P,
        "releases: [\"1204\", \"1404\"]",
        "releases: [\"1204\", \"1404\", \"1404\"]",
    );
    let err = plan_fails(&s, &[]);
    assert!(
        err.contains("configs/official.yaml:29: releases lists \"1404\" twice"),
        "{err}"
    );
    insta::assert_snapshot!(err);
}

#[test]
fn ami_name_breaking_ec2_rules() {
    let s = Scratch::new();
    s.edit(
        P,
        "\"DataStax Auto-Clustering AMI {version}-{release}-{virt}\"",
        "\"DataStax: {version}-{release}-{virt}\"",
    );
    let err = plan_fails(&s, &[]);
    assert!(
        err.contains("configs/official.yaml:6: ami_name renders \"DataStax: 2.6.2-1204-pv\""),
        "{err}"
    );
    insta::assert_snapshot!(err);
}

#[test]
fn ami_name_that_is_the_same_for_two_builds() {
    let s = Scratch::new();
    s.edit(P, "{version}-{release}-{virt}\"", "{version}-{release}\"");
    let err = plan_fails(&s, &["--region", "us-east-1"]);
    assert!(
        err.contains("for both us-east-1-1204-pv and us-east-1-1204-hvm"),
        "{err}"
    );
    insta::assert_snapshot!(err);
}

#[test]
fn bucket_name_with_a_dot() {
    let s = Scratch::new();
    s.edit(
        P,
        "bucket: \"comboami-{version}-{region}\"",
        "bucket: \"comboami.{version}-{region}\"",
    );
    let err = plan_fails(&s, &[]);
    assert!(err.contains("configs/official.yaml:10: bucket renders \"comboami.2-6-2-ap-northeast-1\", which contains a dot"), "{err}");
    insta::assert_snapshot!(err);
}

#[test]
fn bucket_name_with_an_underscore_or_capitals() {
    let s = Scratch::new();
    s.edit(
        P,
        "bucket: \"comboami-{version}-{region}\"",
        "bucket: \"comboami_{version}-{region}\"",
    );
    let err = plan_fails(&s, &[]);
    assert!(err.contains("contains an underscore"), "{err}");
    let s = Scratch::new();
    s.edit(
        P,
        "bucket: \"comboami-{version}-{region}\"",
        "bucket: \"ComboAMI-{version}-{region}\"",
    );
    let err = plan_fails(&s, &[]);
    assert!(err.contains("only lowercase letters"), "{err}");
}

#[test]
fn unknown_placeholders_in_every_template() {
    let s = Scratch::new();
    s.edit(
        P,
        "{version}-{release}-{virt}",
        "{verison}-{release}-{virt}",
    )
    .edit(
        P,
        "comboami-{version}-{region}",
        "comboami-{version}-{zone}",
    )
    .edit(
        P,
        "COMBOAMI_BRANCH: \"{branch}\"",
        "COMBOAMI_BRANCH: \"{brnach}\"",
    );
    let err = plan_fails(&s, &[]);
    assert!(
        err.contains("configs/official.yaml:6: ami_name: unknown placeholder {verison}"),
        "{err}"
    );
    assert!(
        err.contains("configs/official.yaml:10: bucket: unknown placeholder {zone}"),
        "{err}"
    );
    assert!(
        err.contains("configs/official.yaml:15: provision.env: unknown placeholder {brnach}"),
        "{err}"
    );
    assert!(err.contains("3 configuration problems"), "{err}");
    insta::assert_snapshot!(err);
}

#[test]
fn account_ids_that_are_not_12_digits() {
    let s = Scratch::new();
    s.edit(
        P,
        "  accounts: []",
        "  accounts:\n    - \"12345678901\"\n    - 123456789012\n    - \"012345678901\"",
    );
    let err = plan_fails(&s, &[]);
    assert!(
        err.contains("configs/official.yaml:27: \"12345678901\" is not an AWS account ID"),
        "{err}"
    );
    assert!(
        err.contains("configs/official.yaml:28: account ID 123456789012 must be a quoted string"),
        "{err}"
    );
    assert!(!err.contains("012345678901\" is not"), "{err}");
    insta::assert_snapshot!(err);
}

#[test]
fn provisioning_script_that_does_not_exist() {
    let s = Scratch::new();
    s.edit(
        P,
        "script: ../provision/comboami.sh",
        "script: ../provision/missing.sh",
    );
    let err = plan_fails(&s, &[]);
    assert!(err.contains("configs/official.yaml:12: provisioning script \"../provision/missing.sh\" does not exist"), "{err}");
    insta::assert_snapshot!(err);
}

#[test]
fn missing_files() {
    let s = Scratch::new();
    let err = plan_fails(&s, &["--config", "configs/nope.yaml"]);
    assert!(
        err.contains("configs/nope.yaml: cannot read the profile"),
        "{err}"
    );
    let err = plan_fails(&s, &["--regions-file", "nope.yaml"]);
    assert!(
        err.contains("nope.yaml: cannot read the regions file"),
        "{err}"
    );
}

#[test]
fn problems_in_both_files_are_reported_together() {
    let s = Scratch::new();
    s.edit("regions.yaml", "ami-2aa0ba42", "ami-bad")
        .edit(P, "instance_type: m3.medium", "instance_type: m3")
        .edit(P, "groups: [all]", "groups: [everyone]");
    let err = plan_fails(&s, &[]);
    assert!(err.contains("regions.yaml:38:"), "{err}");
    assert!(
        err.contains("configs/official.yaml:5: \"m3\" is not an EC2 instance type"),
        "{err}"
    );
    assert!(
        err.contains(
            "configs/official.yaml:25: launch permission group \"everyone\" does not exist"
        ),
        "{err}"
    );
    assert!(err.contains("3 configuration problems"), "{err}");
}

#[test]
fn other_profile_values() {
    let s = Scratch::new();
    s.edit(P, "  Project: ComboAMI", "  aws:Project: ComboAMI")
        .edit(
            P,
            "    EC2_AMI_TOOLS_VERSION:",
            "    AMIPUB_BUILD_NAME: x\n    EC2_AMI_TOOLS_VERSION:",
        )
        .edit(
            P,
            "releases: [\"1204\", \"1404\"]",
            "releases: [\"1204\", \"1604\"]",
        )
        .edit(P, "  provision: 60m", "  provision: 0s")
        .edit(
            P,
            "virtualizations: [paravirtual, hvm]",
            "virtualizations: []",
        );
    let err = plan_fails(&s, &[]);
    insta::assert_snapshot!(err);
}

#[test]
fn matrix_hole_for_a_selected_region() {
    let s = Scratch::new();
    s.edit(
        "regions.yaml",
        "      \"1404\": { paravirtual: ami-47e09d30, hvm: ami-9bdda0ec }\n",
        "",
    );
    let err = plan_fails(&s, &[]);
    assert!(
        err.contains("regions.yaml:30: eu-west-1 has no paravirtual source AMI for release 1404"),
        "{err}"
    );
    // Leaving the cells out of the selection is the way around it, as the hint says.
    let (out, _) = run_expect(s.amipub().args(["plan", "--except", "eu-west-1-1404-*"]), 0);
    assert!(out.contains("30 builds in 8 regions"), "{out}");
    run_expect(s.amipub().args(["plan", "--region", "us-east-1"]), 0);
}

#[test]
fn disabled_region_without_a_reason() {
    let s = Scratch::new();
    s.edit(
        "regions.yaml",
        "    disabled: \"Packer 0.7.5 could not build in this region (ComboAMI issue 62)\"",
        "    disabled: \"\"",
    );
    let err = plan_fails(&s, &[]);
    assert!(
        err.contains("regions.yaml:19: region \"cn-north-1\" is disabled without a reason"),
        "{err}"
    );
}

#[test]
fn only_pattern_that_matches_nothing_lists_the_builds() {
    let s = Scratch::new();
    let err = plan_fails(
        &s,
        &["--only", "us-east-1-1404-xx", "--region", "us-east-1"],
    );
    insta::assert_snapshot!(err);
    let err = plan_fails(&s, &["--except", "nothing-*", "--region", "us-east-1"]);
    assert!(
        err.contains("--except 'nothing-*' matches no build"),
        "{err}"
    );
}

#[test]
fn invalid_glob() {
    let s = Scratch::new();
    let err = plan_fails(&s, &["--only", "us-[east"]);
    assert!(err.contains("--only 'us-[east': not a valid glob"), "{err}");
}

#[test]
fn unknown_and_absent_regions_on_the_command_line() {
    let s = Scratch::new();
    let err = plan_fails(&s, &["--region", "us-east-9"]);
    assert!(err.contains("--region us-east-9: unknown region"), "{err}");
    let err = plan_fails(&s, &["--region", "eu-west-2"]);
    assert!(
        err.contains("--region eu-west-2: not in regions.yaml"),
        "{err}"
    );
}

#[test]
fn disabled_region_selected_alone_selects_nothing_and_says_why() {
    let s = Scratch::new();
    let err = plan_fails(&s, &["--region", "cn-north-1"]);
    insta::assert_snapshot!(err);
}

#[test]
fn all_regions_conflicts_with_region() {
    let s = Scratch::new();
    let err = plan_fails(&s, &["--all-regions", "--region", "us-east-1"]);
    assert!(err.contains("cannot be used with"), "{err}");
}

#[test]
fn bad_format_value() {
    let s = Scratch::new();
    let err = plan_fails(&s, &["--format", "xml"]);
    assert!(err.contains("invalid value 'xml'"), "{err}");
}

#[test]
fn yaml_anchors_and_tags_are_refused_with_their_line() {
    let s = Scratch::new();
    s.edit(P, "version: \"2.6.2\"", "version: &v \"2.6.2\"");
    let err = plan_fails(&s, &[]);
    assert!(
        err.contains(
            "configs/official.yaml:2: YAML anchors and aliases (&name, *name) are not supported"
        ),
        "{err}"
    );
    let s = Scratch::new();
    s.edit(P, "version: \"2.6.2\"", "version: !!str 2.6.2");
    let err = plan_fails(&s, &[]);
    assert!(
        err.contains("configs/official.yaml:2: YAML tags (!!str, !name) are not supported"),
        "{err}"
    );
}

#[test]
fn unquoted_values_are_read_exactly_as_written() {
    // `2.10` and `1404` unquoted: other YAML readers would make numbers of them (2.1, 1404);
    // amipub reads the text, so the version keeps its trailing zero.
    let s = Scratch::new();
    s.edit(P, "version: \"2.6.2\"", "version: 2.10");
    s.edit(
        P,
        "releases: [\"1204\", \"1404\"]",
        "releases: [1204, 1404]",
    );
    let (out, _) = run_expect(s.amipub().args(["plan", "--format", "json"]), 0);
    assert!(
        out.contains("DataStax Auto-Clustering AMI 2.10-1404-"),
        "{out}"
    );
}

#[test]
fn registry_settings_that_aws_or_deployments_would_refuse() {
    let s = Scratch::new();
    let profile = std::fs::read_to_string(s.path(P)).unwrap();
    s.write(
        P,
        &format!(
            "{profile}registry:\n  bucket: comboami.registry\n  region: us-north-1\n  artifact: Combo AMI\n  channels:\n    Stable!: {{ public: true }}\n  ssm_parameter: \"/{{artifact}}/{{release}}/{{virt}}\"\n"
        ),
    );
    let err = plan_fails(&s, &[]);
    for part in [
        "registry.bucket:",
        "registry.region: unknown region \"us-north-1\"",
        "registry.artifact \"Combo AMI\" must be 1 to 64 lowercase letters",
        "registry.channels: channel \"Stable!\"",
        "registry.ssm_parameter must use {channel}",
    ] {
        assert!(err.contains(part), "{part} not in {err}");
    }
    insta::assert_snapshot!(err);

    let s = Scratch::new();
    s.write(
        P,
        &format!(
            "{profile}registry:\n  bucket: comboami-registry\n  region: us-east-1\n  artifact: comboami\n  ssm_parameter: \"aws/{{artifact}}/{{channel}}/{{release}}/{{virt}}/{{region}}\"\n"
        ),
    );
    let err = plan_fails(&s, &[]);
    assert!(
        err.contains("registry.ssm_parameter: unknown placeholder {region}"),
        "{err}"
    );
}

#[test]
fn copy_settings_aws_would_refuse_are_found_before_anything_runs() {
    let s = Scratch::new();
    let ebs = "configs/test-ebs.yaml";
    s.edit(ebs, "groups: []", "groups: [all]");
    let profile = std::fs::read_to_string(s.path(ebs)).unwrap();
    s.write(
        ebs,
        &format!(
            "{profile}strategy: copy\nhome_region: us-north-7\ncopies:\n  max_per_region: 0\n  kms_keys: {{ eu-west-1: alias/comboami }}\n"
        ),
    );
    let err = plan_fails(&s, &["--config", ebs]);
    for part in [
        "home_region: unknown region \"us-north-7\"",
        "copies.max_per_region is 0; it must be from 1 to 50",
        "AWS does not let an AMI with encrypted snapshots be made public",
    ] {
        assert!(err.contains(part), "{part} not in {err}");
    }
}

/// configs/current.yaml with regions-current.yaml given an image for every cell, so that only
/// the profile's own problems are reported.
fn current() -> Scratch {
    let s = Scratch::new();
    let mut regions = String::from("regions:\n");
    for r in ["eu-west-1", "us-east-1", "us-west-2"] {
        regions.push_str(&format!(
            "  {r}:\n    amis:\n      \"2204\": {{ hvm: {{ x86_64: ami-0aaaaaaaaaaaaaaaa, arm64: ami-0bbbbbbbbbbbbbbbb }} }}\n      \"2404\": {{ hvm: {{ x86_64: ami-0cccccccccccccccc, arm64: ami-0dddddddddddddddd }} }}\n"
        ));
    }
    s.write("regions-current.yaml", &regions);
    s
}

const CURRENT: [&str; 4] = [
    "--config",
    "configs/current.yaml",
    "--regions-file",
    "regions-current.yaml",
];

#[test]
fn architectures_and_ami_settings_aws_would_refuse_are_found_before_anything_runs() {
    let s = current();
    let p = "configs/current.yaml";
    s.edit(
        p,
        "instance_type: { x86_64: m5.large, arm64: m6g.large }",
        "instance_type: m5.large",
    )
    .edit(
        p,
        "imds_support: v2.0",
        "imds_support: v2.0\n  tpm_support: v2.0",
    )
    .edit(
        p,
        "root_volume: { type: gp3, size: 16 }",
        "root_volume: { type: st1, size: 16 }",
    )
    .edit(p, "deprecate_after: 2y", "deprecate_after: 3y");
    let err = plan_fails(&s, &CURRENT);
    for want in [
        "configs/current.yaml:8: instance_type \"m5.large\" is one type for 2 architectures",
        "ami.tpm_support needs ami.boot_mode: uefi",
        "ami.root_volume.type \"st1\" cannot be a root volume",
        "ami.deprecate_after 3years is outside what EC2 accepts (more than 0, at most 2y for public AMIs)",
    ] {
        assert!(err.contains(want), "{want} in:\n{err}");
    }
    insta::assert_snapshot!(err);
}

#[test]
fn an_unknown_architecture_or_a_missing_instance_type_is_refused() {
    let s = current();
    let p = "configs/current.yaml";
    s.edit(
        p,
        "architectures: [x86_64, arm64]",
        "architectures: [x86_64, arm64, aarch64]",
    );
    let err = plan_fails(&s, &CURRENT);
    assert!(err.contains("configs/current.yaml:26:"), "{err}");
    assert!(err.contains("unknown variant `aarch64`"), "{err}");
    let s = current();
    s.edit(
        p,
        "instance_type: { x86_64: m5.large, arm64: m6g.large }",
        "instance_type: { x86_64: m5.large }",
    );
    let err = plan_fails(&s, &CURRENT);
    assert!(
        err.contains("instance_type names no type for arm64, which the profile builds"),
        "{err}"
    );
    // arm64 boots only UEFI from HVM EBS images.
    let s = current();
    s.edit(
        p,
        "virtualizations: [hvm]",
        "virtualizations: [hvm, paravirtual]",
    );
    let err = plan_fails(&s, &CURRENT);
    assert!(
        err.contains("configs/current.yaml:26: architectures: arm64 instances boot only UEFI from HVM EBS images, and the profile asks for paravirtual images"),
        "{err}"
    );
    // An arm64 slot without an image is named with its architecture.
    let s = current();
    s.edit(
        "regions-current.yaml",
        "\"2404\": { hvm: { x86_64: ami-0cccccccccccccccc, arm64: ami-0dddddddddddddddd } }",
        "\"2404\": { hvm: ami-0cccccccccccccccc }",
    );
    let err = plan_fails(&s, &CURRENT);
    assert!(
        err.contains(
            "eu-west-1 has no hvm arm64 source AMI for release 2404, which the profile builds"
        ),
        "{err}"
    );
}
