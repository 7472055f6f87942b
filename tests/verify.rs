//! `amipub verify` after a real publish against the emulator: passes as published, and fails
//! naming the AMI and the difference after each kind of drift.

mod common;

use aws_sdk_ec2::types::{LaunchPermission, LaunchPermissionModifications, PermissionGroup};
use common::emulator::{Emulator, Options, aws_env};
use common::{Scratch, run_expect};

const P: &str = "configs/official.yaml";

/// Publishes the four us-east-1 builds of the official profile as public EBS AMIs that one
/// extra account may also launch.
fn published() -> (Emulator, Scratch) {
    let emu = Emulator::start(Options {
        provision_seconds: 0.2,
        ..Options::default()
    });
    let s = Scratch::new();
    s.edit(P, "backing: instance-store", "backing: ebs").edit(
        P,
        "  accounts: []",
        "  accounts: [\"111122223333\"]",
    );
    let mut cmd = s.amipub();
    aws_env(&mut cmd);
    cmd.args([
        "publish",
        "--region",
        "us-east-1",
        "--endpoint-url",
        &emu.endpoint,
        "--poll-interval",
        "100ms",
    ]);
    run_expect(&mut cmd, 0);
    (emu, s)
}

fn verify(s: &Scratch, emu: &Emulator, code: i32) -> String {
    let mut cmd = s.amipub();
    aws_env(&mut cmd);
    cmd.args(["verify", "--endpoint-url", &emu.endpoint]);
    let (out, err) = run_expect(&mut cmd, code);
    format!("{out}{err}")
}

fn first_ami(s: &Scratch) -> String {
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(s.path("ami_ids.json")).unwrap()).unwrap();
    v["us-east-1"][0]["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn passes_right_after_publish() {
    let (emu, s) = published();
    let out = verify(&s, &emu, 0);
    assert!(out.contains("4 of 4 AMI(s) as expected"), "{out}");
    assert_eq!(out.matches("  ok").count(), 4, "{out}");
    let mut cmd = s.amipub();
    aws_env(&mut cmd);
    let (json, _) = run_expect(
        cmd.args([
            "verify",
            "--endpoint-url",
            &emu.endpoint,
            "--format",
            "json",
        ]),
        0,
    );
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(v["results"].as_array().unwrap().len(), 4);
}

#[tokio::test]
async fn fails_after_a_launch_permission_is_revoked() {
    let (emu, s) = published();
    let ami = first_ami(&s);
    let (ec2, _) = emu.clients("us-east-1").await;
    ec2.modify_image_attribute()
        .image_id(&ami)
        .launch_permission(
            LaunchPermissionModifications::builder()
                .remove(
                    LaunchPermission::builder()
                        .group(PermissionGroup::All)
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let out = verify(&s, &emu, 1);
    let line = out.lines().find(|l| l.contains(&ami)).unwrap();
    assert!(line.contains("mismatch"), "{line}");
    assert!(line.contains("launch permissions are [account:111122223333], expected [account:111122223333, group:all]"), "{line}");
    assert!(out.contains("3 of 4 AMI(s) as expected"), "{out}");
}

#[tokio::test]
async fn fails_after_an_ami_is_deregistered() {
    let (emu, s) = published();
    let ami = first_ami(&s);
    let (ec2, _) = emu.clients("us-east-1").await;
    ec2.deregister_image().image_id(&ami).send().await.unwrap();
    let out = verify(&s, &emu, 1);
    let line = out.lines().find(|l| l.contains(&ami)).unwrap();
    assert!(line.contains("missing"), "{line}");
    assert!(
        line.contains(&format!("{ami} does not exist in us-east-1")),
        "{line}"
    );
}

#[tokio::test]
async fn fails_after_an_id_in_ami_ids_json_is_edited() {
    let (emu, s) = published();
    let ami = first_ami(&s);
    let text = std::fs::read_to_string(s.path("ami_ids.json")).unwrap();
    s.write("ami_ids.json", &text.replace(&ami, "ami-0123456789abcdef0"));
    let out = verify(&s, &emu, 1);
    assert!(
        out.contains("ami-0123456789abcdef0 does not exist in us-east-1"),
        "{out}"
    );
    let line = out.lines().find(|l| l.contains(&ami)).unwrap();
    assert!(
        line.contains("unlisted"),
        "the real AMI is reported as not listed: {line}"
    );
    assert!(out.contains("the manifest lists"), "{out}");
}

#[tokio::test]
async fn fails_after_a_snapshot_permission_is_revoked() {
    let (emu, s) = published();
    let ami = first_ami(&s);
    let (ec2, _) = emu.clients("us-east-1").await;
    let img = ec2.describe_images().image_ids(&ami).send().await.unwrap();
    let snap = img.images()[0].block_device_mappings()[0]
        .ebs()
        .unwrap()
        .snapshot_id()
        .unwrap()
        .to_string();
    ec2.modify_snapshot_attribute()
        .snapshot_id(&snap)
        .attribute(aws_sdk_ec2::types::SnapshotAttributeName::CreateVolumePermission)
        .operation_type(aws_sdk_ec2::types::OperationType::Remove)
        .user_ids("111122223333")
        .send()
        .await
        .unwrap();
    let out = verify(&s, &emu, 1);
    assert!(
        out.contains(&format!(
            "snapshot {snap} can be used by accounts [], expected [111122223333]"
        )),
        "{out}"
    );
}

#[test]
fn a_missing_ami_ids_json_is_bad_input() {
    let s = Scratch::new();
    let mut cmd = s.amipub();
    aws_env(&mut cmd);
    let (_, err) = run_expect(cmd.args(["verify", "--ami-ids", "nope.json"]), 2);
    assert!(
        err.contains("nope.json does not exist; pass the ami_ids.json to verify with --ami-ids"),
        "{err}"
    );
}
