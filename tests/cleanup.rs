//! `amipub cleanup` after real publishes against the emulator, checked through the API.

mod common;

use aws_sdk_ec2::types::Filter;
use common::emulator::{Emulator, Options, aws_env};
use common::{Scratch, run_expect};

const EBS: &str = "configs/test-ebs.yaml";

fn emulator() -> Emulator {
    Emulator::start(Options {
        provision_seconds: 0.2,
        ..Options::default()
    })
}

/// Publishes test-ebs's four builds, writing ami_ids.json to `output`.
fn publish(s: &Scratch, emu: &Emulator, output: &str) {
    let mut cmd = s.amipub();
    aws_env(&mut cmd);
    cmd.args([
        "publish",
        "--config",
        EBS,
        "--endpoint-url",
        &emu.endpoint,
        "--poll-interval",
        "100ms",
        "--output",
        output,
    ]);
    run_expect(&mut cmd, 0);
}

fn cleanup(s: &Scratch, emu: &Emulator, args: &[&str], code: i32) -> String {
    let mut cmd = s.amipub();
    aws_env(&mut cmd);
    cmd.args(["cleanup", "--endpoint-url", &emu.endpoint])
        .args(args);
    let (out, err) = run_expect(&mut cmd, code);
    format!("{out}{err}")
}

struct Seen {
    amis: Vec<(String, Option<String>)>,
    snapshots: usize,
    volumes: usize,
    instances: usize,
    buckets: Vec<String>,
}

/// What the emulator holds in us-east-1: every self-owned AMI with its version tag, amipub's
/// snapshots, live instances, and buckets.
async fn seen(emu: &Emulator) -> Seen {
    let (ec2, s3) = emu.clients("us-east-1").await;
    let images = ec2.describe_images().owners("self").send().await.unwrap();
    let amis = images
        .images()
        .iter()
        .map(|i| {
            let v = i
                .tags()
                .iter()
                .find(|t| t.key() == Some("amipub:version"))
                .and_then(|t| t.value())
                .map(str::to_string);
            (i.image_id().unwrap().to_string(), v)
        })
        .collect();
    let snapshots = emu.amipub_snapshots("us-east-1").await.len();
    let volumes = ec2
        .describe_volumes()
        .filters(
            Filter::builder()
                .name("tag:amipub:managed")
                .values("true")
                .build(),
        )
        .send()
        .await
        .unwrap()
        .volumes()
        .len();
    let instances = emu.live_instances("us-east-1").await.len();
    let buckets = s3
        .list_buckets()
        .send()
        .await
        .unwrap()
        .buckets()
        .iter()
        .filter_map(|b| b.name().map(str::to_string))
        .collect();
    Seen {
        amis,
        snapshots,
        volumes,
        instances,
        buckets,
    }
}

#[tokio::test]
async fn dry_run_lists_everything_then_yes_removes_it_and_spares_the_untagged() {
    let emu = emulator();
    let s = Scratch::new();
    publish(&s, &emu, "out/ami_ids.json");
    let (ec2, _) = emu.clients("us-east-1").await;
    let untagged = ec2
        .register_image()
        .name("not amipub's")
        .send()
        .await
        .unwrap()
        .image_id()
        .unwrap()
        .to_string();

    let out = cleanup(&s, &emu, &["--version", "2.6.2", "--all-regions"], 0);
    assert_eq!(out.matches(" AMI ").count(), 4, "{out}");
    assert_eq!(out.matches(" snapshot ").count(), 4, "{out}");
    assert!(
        out.contains("bucket    comboami-test-2-6-2-us-east-1"),
        "{out}"
    );
    assert!(
        out.contains("us-east-1: 9 resource(s) to remove, 60 GiB of snapshots freed"),
        "{out}"
    );
    assert!(out.contains("dry run: nothing was removed"), "{out}");
    assert!(!out.contains(&untagged), "{out}");
    let before = seen(&emu).await;
    assert_eq!(
        before.amis.iter().filter(|(_, v)| v.is_some()).count(),
        4,
        "dry run removed nothing"
    );

    let out = cleanup(
        &s,
        &emu,
        &["--version", "2.6.2", "--all-regions", "--yes"],
        0,
    );
    assert!(out.contains("us-east-1: 9 resource(s) removed"), "{out}");
    let after = seen(&emu).await;
    assert!(
        after.amis.iter().all(|(_, v)| v.is_none()),
        "no amipub AMI left: {:?}",
        after.amis
    );
    assert!(
        after.amis.iter().any(|(id, _)| *id == untagged),
        "the untagged AMI is untouched"
    );
    assert_eq!(after.snapshots, 0);
    assert_eq!(after.volumes, 0, "no volume amipub tagged is left");
    assert_eq!(after.instances, 0);
    assert!(
        !after
            .buckets
            .contains(&"comboami-test-2-6-2-us-east-1".to_string()),
        "{:?}",
        after.buckets
    );
    let json = cleanup(
        &s,
        &emu,
        &["--version", "2.6.2", "--all-regions", "--format", "json"],
        0,
    );
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        v["resources"].as_array().unwrap().len(),
        0,
        "nothing left to find: {json}"
    );
}

#[tokio::test]
async fn keep_one_keeps_the_newest_ami_of_each_build() {
    let emu = emulator();
    let s = Scratch::new();
    publish(&s, &emu, "out/ami_ids.json");
    s.edit(EBS, "version: \"2.6.2\"", "version: \"2.6.3\"");
    publish(&s, &emu, "out/ami_ids.json");
    assert_eq!(
        seen(&emu)
            .await
            .amis
            .iter()
            .filter(|(_, v)| v.is_some())
            .count(),
        8
    );

    let out = cleanup(
        &s,
        &emu,
        &["--region", "us-east-1", "--keep", "1", "--yes"],
        0,
    );
    assert_eq!(out.matches("removed AMI").count(), 4, "{out}");
    let left: Vec<Option<String>> = seen(&emu)
        .await
        .amis
        .into_iter()
        .map(|(_, v)| v)
        .filter(Option::is_some)
        .collect();
    assert_eq!(left, vec![Some("2.6.3".to_string()); 4]);
}

#[tokio::test]
async fn amis_in_ami_ids_json_are_refused_unless_forced() {
    let emu = emulator();
    let s = Scratch::new();
    publish(&s, &emu, "ami_ids.json");
    let out = cleanup(
        &s,
        &emu,
        &["--version", "2.6.2", "--region", "us-east-1", "--yes"],
        1,
    );
    assert_eq!(
        out.matches("keep: listed in ami_ids.json").count(),
        4,
        "{out}"
    );
    assert!(out.contains("4 AMI(s) refused"), "{out}");
    assert_eq!(
        seen(&emu)
            .await
            .amis
            .iter()
            .filter(|(_, v)| v.is_some())
            .count(),
        4,
        "all kept"
    );

    cleanup(
        &s,
        &emu,
        &[
            "--version",
            "2.6.2",
            "--region",
            "us-east-1",
            "--yes",
            "--force",
        ],
        0,
    );
    assert_eq!(
        seen(&emu)
            .await
            .amis
            .iter()
            .filter(|(_, v)| v.is_some())
            .count(),
        0
    );
}

#[tokio::test]
async fn an_ami_a_running_instance_uses_is_refused() {
    let emu = emulator();
    let s = Scratch::new();
    publish(&s, &emu, "out/ami_ids.json");
    let (ec2, _) = emu.clients("us-east-1").await;
    let ami = seen(&emu)
        .await
        .amis
        .into_iter()
        .find(|(_, v)| v.is_some())
        .unwrap()
        .0;
    let run = ec2
        .run_instances()
        .image_id(&ami)
        .min_count(1)
        .max_count(1)
        .send()
        .await
        .unwrap();
    let inst = run.instances()[0].instance_id().unwrap().to_string();
    let out = cleanup(
        &s,
        &emu,
        &["--version", "2.6.2", "--region", "us-east-1"],
        0,
    );
    assert!(
        out.contains(&format!(
            "keep: instance {inst} was launched from it and runs"
        )),
        "{out}"
    );
    assert_eq!(
        out.matches("keep: belongs to").count(),
        1,
        "its snapshot is kept too: {out}"
    );
}

#[tokio::test]
async fn an_untagged_ami_is_removed_only_when_named() {
    let emu = emulator();
    let s = Scratch::new();
    let (ec2, _) = emu.clients("us-east-1").await;
    let ami = ec2
        .register_image()
        .name("old hand-made")
        .send()
        .await
        .unwrap()
        .image_id()
        .unwrap()
        .to_string();
    let out = cleanup(&s, &emu, &["--region", "us-east-1", "--yes"], 0);
    assert!(!out.contains(&ami), "{out}");
    let out = cleanup(
        &s,
        &emu,
        &["--region", "us-east-1", "--ami", &ami, "--yes"],
        0,
    );
    assert!(
        out.contains(&format!("removed AMI {ami} (us-east-1)")),
        "{out}"
    );
    assert!(seen(&emu).await.amis.iter().all(|(id, _)| *id != ami));
}

#[tokio::test]
async fn older_than_selects_by_age() {
    let emu = emulator();
    let s = Scratch::new();
    publish(&s, &emu, "out/ami_ids.json");
    let out = cleanup(
        &s,
        &emu,
        &["--region", "us-east-1", "--older-than", "1h"],
        0,
    );
    assert!(
        out.contains("nothing of amipub's matches"),
        "AMIs made seconds ago are not an hour old: {out}"
    );
    // Let the AMIs age past the threshold (EC2 dates have whole seconds).
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let out = cleanup(
        &s,
        &emu,
        &["--region", "us-east-1", "--older-than", "1s"],
        0,
    );
    assert_eq!(out.matches(" AMI ").count(), 4, "{out}");
    assert!(
        out.contains("bucket    comboami-test-2-6-2-us-east-1"),
        "the aged bucket goes too: {out}"
    );
    // A bucket serves every build of its version: a narrowed selection never offers it.
    let out = cleanup(
        &s,
        &emu,
        &["--region", "us-east-1", "--build", "us-east-1-1204-*"],
        0,
    );
    assert_eq!(out.matches(" AMI ").count(), 2, "{out}");
    assert!(!out.contains(" bucket "), "{out}");
}

#[test]
fn bad_input() {
    let s = Scratch::new();
    let mut cmd = s.amipub();
    aws_env(&mut cmd);
    let (_, err) = run_expect(cmd.args(["cleanup", "--version", "2.6.2"]), 2);
    assert!(
        err.contains("say where to clean up: --all-regions"),
        "{err}"
    );
    let mut cmd = s.amipub();
    aws_env(&mut cmd);
    let (_, err) = run_expect(
        cmd.args([
            "cleanup",
            "--region",
            "us-east-1",
            "--ami",
            "ami-xyz",
            "--build",
            "us-[east",
        ]),
        2,
    );
    assert!(err.contains("--ami \"ami-xyz\" is not an AMI ID"), "{err}");
    assert!(
        err.contains("--build 'us-[east': not a valid glob"),
        "{err}"
    );
    let mut cmd = s.amipub();
    aws_env(&mut cmd);
    let (_, err) = run_expect(cmd.args(["cleanup", "--region", "us-east-9"]), 2);
    assert!(err.contains("--region us-east-9: unknown region"), "{err}");
    let mut cmd = s.amipub();
    aws_env(&mut cmd);
    let (_, err) = run_expect(
        cmd.args(["cleanup", "--all-regions", "--older-than", "ages"]),
        2,
    );
    assert!(
        err.contains("invalid value 'ages' for '--older-than <DURATION>'"),
        "{err}"
    );
}
