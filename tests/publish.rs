//! `amipub publish` against the emulator: the real binary, real flags and files, results
//! checked through the EC2 and S3 APIs.

mod common;

use std::collections::BTreeSet;

use aws_sdk_ec2::types::Filter;
use common::emulator::{Emulator, Options};
use common::{Scratch, count_entries, run_expect};

const EBS: &str = "configs/test-ebs.yaml";

fn tag(img: &aws_sdk_ec2::types::Image, key: &str) -> Option<String> {
    img.tags()
        .iter()
        .find(|t| t.key() == Some(key))
        .and_then(|t| t.value())
        .map(str::to_string)
}

/// An emulator whose simulated provisioning takes 0.2 s.
fn quick_emulator() -> Emulator {
    Emulator::start(Options {
        provision_seconds: 0.2,
        ..Options::default()
    })
}

/// No instance amipub launched is left in `region`, and nothing is left staged in `bucket`.
async fn assert_nothing_left(emu: &Emulator, region: &str, bucket: &str) {
    assert!(
        emu.live_instances(region).await.is_empty(),
        "{region}: an instance is left"
    );
    assert!(
        emu.objects(region, bucket).await.is_empty(),
        "{region}: objects are left in {bucket}"
    );
}

#[tokio::test]
async fn one_build_end_to_end() {
    let emu = quick_emulator();
    let s = Scratch::new();
    let (out, _) = run_expect(
        &mut s.publish(&emu, &["--config", EBS, "--only", "us-east-1-1404-pv"]),
        0,
    );
    assert!(out.contains("1 AMI: 1 published now, 0 failed"), "{out}");

    let images = emu.amipub_images("us-east-1").await;
    assert_eq!(images.len(), 1);
    let img = &images[0];
    assert_eq!(img.name(), Some("ComboAMI test 2.6.2-1404-pv"));
    assert_eq!(img.description(), Some("ComboAMI test build (private)"));
    assert_eq!(
        tag(img, "amipub:build").as_deref(),
        Some("us-east-1-1404-pv")
    );
    assert_eq!(tag(img, "amipub:version").as_deref(), Some("2.6.2"));
    assert_eq!(tag(img, "Project").as_deref(), Some("ComboAMI"));
    assert!(
        emu.launch_permissions("us-east-1", img.image_id().unwrap())
            .await
            .is_empty(),
        "private"
    );
    assert_eq!(
        emu.amipub_snapshots("us-east-1").await.len(),
        1,
        "the AMI's snapshot is tagged"
    );
    assert_nothing_left(&emu, "us-east-1", "comboami-test-2-6-2-us-east-1").await;

    let ids = s.ami_ids();
    assert_eq!(ids["us-east-1"][0]["id"], img.image_id().unwrap());
    assert_eq!(ids["us-east-1"][0]["Release"], "14.04");
    assert_eq!(ids["us-east-1"][0]["virtualization type"], "paravirtual");
    assert_eq!(ids["us-east-1"][0]["Distributor ID"], "Ubuntu");

    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(s.path("amipub-manifest.json")).unwrap())
            .unwrap();
    let m = &manifest["builds"]["us-east-1-1404-pv"];
    assert_eq!(m["ami_id"], img.image_id().unwrap());
    assert_eq!(m["source_ami"], "ami-c51df2ae");
    assert_eq!(m["snapshot_ids"].as_array().unwrap().len(), 1);

    // The bootstrap ran the provisioning script's stand-in with the build's environment, and
    // its full log was kept on disk.
    let runs: Vec<_> = std::fs::read_dir(s.path(".amipub/runs")).unwrap().collect();
    assert_eq!(runs.len(), 1);
    let run = runs[0].as_ref().unwrap().path();
    let log = std::fs::read_to_string(run.join("logs/us-east-1-1404-pv.log")).unwrap();
    assert!(log.contains("PACKER_BUILD_NAME=us-east-1-1404-pv"), "{log}");
    assert!(log.contains("COMBOAMI_BRANCH=2.6"), "{log}");
    assert!(log.contains("provisioning exited with status 0"), "{log}");
    let events = std::fs::read_to_string(run.join("events.ndjson")).unwrap();
    assert!(
        events
            .lines()
            .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok())
    );
    assert!(events.contains("\"type\":\"artifact\""));
}

#[tokio::test]
async fn official_matrix_as_public_ebs_builds() {
    let emu = Emulator::start(Options {
        provision_seconds: 0.5,
        ..Options::default()
    });
    let s = Scratch::new();
    s.edit(
        "configs/official.yaml",
        "backing: instance-store",
        "backing: ebs",
    );
    let (out, _) = run_expect(&mut s.publish(&emu, &["--all-regions"]), 0);
    assert!(out.contains("32 AMIs: 32 published now, 0 failed"), "{out}");

    let ids = s.ami_ids();
    assert_eq!(count_entries(&ids), 32);
    let regions = [
        "ap-northeast-1",
        "ap-southeast-1",
        "ap-southeast-2",
        "eu-west-1",
        "sa-east-1",
        "us-east-1",
        "us-west-1",
        "us-west-2",
    ];
    for region in regions {
        let images = emu.amipub_images(region).await;
        assert_eq!(images.len(), 4, "{region}");
        let listed: BTreeSet<&str> = ids[region]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_str().unwrap())
            .collect();
        for img in &images {
            let id = img.image_id().unwrap();
            assert!(listed.contains(id), "{id} in ami_ids.json");
            assert!(
                img.name()
                    .unwrap()
                    .starts_with("DataStax Auto-Clustering AMI 2.6.2-")
            );
            assert_eq!(tag(img, "amipub:version").as_deref(), Some("2.6.2"));
            assert!(tag(img, "amipub:build").unwrap().starts_with(region));
            assert_eq!(
                emu.launch_permissions(region, id).await,
                BTreeSet::from(["group:all".to_string()])
            );
        }
        assert_nothing_left(&emu, region, &format!("comboami-2-6-2-{region}")).await;
    }
    // The legacy shape, consistently: Release dotted, full virtualization names.
    for entries in ids.as_object().unwrap().values() {
        let e: Vec<_> = entries
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["Release"].as_str().unwrap(),
                    e["virtualization type"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            e,
            [
                ("12.04", "paravirtual"),
                ("12.04", "hvm"),
                ("14.04", "paravirtual"),
                ("14.04", "hvm")
            ]
        );
    }
}

#[tokio::test]
async fn only_one_build_leaves_other_entries_untouched() {
    let emu = quick_emulator();
    let s = Scratch::new();
    let before = include_str!("data/ami_ids.excerpt.json");
    s.write("ami_ids.json", before);
    run_expect(
        &mut s.publish(&emu, &["--config", EBS, "--only", "us-east-1-1404-pv"]),
        0,
    );
    let after = s.ami_ids();
    let before: serde_json::Value = serde_json::from_str(before).unwrap();
    let new_id = emu.amipub_images("us-east-1").await[0]
        .image_id()
        .unwrap()
        .to_string();
    assert_eq!(after["us-east-1"][2]["id"], new_id.as_str());
    assert_eq!(after["us-east-1"][2]["Release"], "14.04");
    for i in [0, 1, 3] {
        assert_eq!(
            after["us-east-1"][i], before["us-east-1"][i],
            "entry {i} kept"
        );
    }
    // sa-east-1's entries are kept, with the legacy "pv" written consistently as "paravirtual".
    assert_eq!(after["sa-east-1"][0]["id"], before["sa-east-1"][0]["id"]);
    assert_eq!(after["sa-east-1"][0]["virtualization type"], "paravirtual");
    assert_eq!(count_entries(&after), 8);
}

/// The order builds started and finished in, from the run's events.
fn event_order(s: &Scratch) -> Vec<(String, String)> {
    let runs: Vec<_> = std::fs::read_dir(s.path(".amipub/runs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let text = std::fs::read_to_string(runs[0].join("events.ndjson")).unwrap();
    text.lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["type"] == "build-started" || v["type"] == "build-finished")
        .map(|v| {
            (
                v["type"].as_str().unwrap().to_string(),
                v["build"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn serial_mode_runs_one_build_at_a_time_in_plan_order() {
    let emu = quick_emulator();
    let s = Scratch::new();
    run_expect(
        &mut s.publish(&emu, &["--config", EBS, "--parallel=false"]),
        0,
    );
    let order = event_order(&s);
    let names = [
        "us-east-1-1204-pv",
        "us-east-1-1204-hvm",
        "us-east-1-1404-pv",
        "us-east-1-1404-hvm",
    ];
    let expected: Vec<(String, String)> = names
        .iter()
        .flat_map(|n| {
            [
                ("build-started".to_string(), n.to_string()),
                ("build-finished".to_string(), n.to_string()),
            ]
        })
        .collect();
    assert_eq!(order, expected);
}

#[tokio::test]
async fn a_failing_build_leaves_nothing_behind_and_a_rerun_finishes_the_job() {
    let emu = quick_emulator();
    emu.control(serde_json::json!({"provision_seconds": 0.2, "fail": ["us-east-1-1404-hvm"]}));
    let s = Scratch::new();
    let (out, err) = run_expect(&mut s.publish(&emu, &["--config", EBS]), 1);
    assert!(out.contains("4 AMIs: 3 published now, 1 failed"), "{out}");
    assert!(
        out.contains("the provisioning script exited with status 3"),
        "{out}"
    );
    assert!(
        out.contains("| instance-sim: provisioning failed"),
        "the end of the log is shown: {out}"
    );
    assert!(
        err.contains("1 of 4 build(s) failed; run the same command again"),
        "{err}"
    );

    let images = emu.amipub_images("us-east-1").await;
    assert_eq!(images.len(), 3);
    assert!(
        images
            .iter()
            .all(|i| tag(i, "amipub:build").as_deref() != Some("us-east-1-1404-hvm"))
    );
    assert_eq!(
        emu.amipub_snapshots("us-east-1").await.len(),
        3,
        "no snapshot of the failed build"
    );
    assert_nothing_left(&emu, "us-east-1", "comboami-test-2-6-2-us-east-1").await;
    assert_eq!(count_entries(&s.ami_ids()), 3);

    emu.control(serde_json::json!({"provision_seconds": 0.2}));
    let (out, _) = run_expect(&mut s.publish(&emu, &["--config", EBS]), 0);
    assert_eq!(out.matches("(already published)").count(), 3, "{out}");
    assert!(
        out.contains("4 AMIs: 1 published now, 3 already published, 0 failed"),
        "{out}"
    );
    assert_eq!(
        emu.amipub_images("us-east-1").await.len(),
        4,
        "only the missing build was made"
    );
    assert_eq!(count_entries(&s.ami_ids()), 4);
}

#[tokio::test]
async fn a_build_that_hangs_times_out_and_is_cleaned_up() {
    let emu = quick_emulator();
    emu.control(serde_json::json!({"provision_seconds": 0.2, "hang": ["us-east-1-1204-pv"]}));
    let s = Scratch::new();
    s.edit(EBS, "  provision: 30m", "  provision: 3s");
    let (out, _) = run_expect(
        &mut s.publish(&emu, &["--config", EBS, "--only", "us-east-1-1204-*"]),
        1,
    );
    assert!(
        out.contains("provisioning did not finish within 3s"),
        "{out}"
    );
    assert!(out.contains("2 AMIs: 1 published now, 1 failed"), "{out}");
    assert!(
        out.contains("instance-sim: hanging"),
        "the partial log is shown: {out}"
    );
    assert_eq!(emu.amipub_images("us-east-1").await.len(), 1);
    assert_nothing_left(&emu, "us-east-1", "comboami-test-2-6-2-us-east-1").await;
}

#[tokio::test]
async fn machine_readable_lines_end_with_packer_artifact_lines() {
    let emu = quick_emulator();
    let s = Scratch::new();
    let (out, _) = run_expect(
        &mut s.publish(&emu, &["--config", EBS, "--machine-readable"]),
        0,
    );
    let ids = s.ami_ids();
    for line in out.lines() {
        let fields: Vec<&str> = line.splitn(3, ',').collect();
        assert_eq!(fields.len(), 3, "timestamp,target,type...: {line}");
        assert!(fields[0].parse::<u64>().is_ok(), "{line}");
    }
    for e in ids["us-east-1"].as_array().unwrap() {
        let id = e["id"].as_str().unwrap();
        let line = out
            .lines()
            .find(|l| l.ends_with(&format!(",artifact,0,id,us-east-1:{id}")))
            .unwrap_or_else(|| panic!("no artifact line for {id}:\n{out}"));
        assert!(
            line.split(',').nth(1).unwrap().starts_with("us-east-1-1"),
            "{line}"
        );
    }
    assert_eq!(out.matches(",artifact-count,1").count(), 4);
    assert!(
        !out.contains("BUILD "),
        "no table in machine-readable output"
    );
}

#[tokio::test]
async fn preflight_refuses_a_missing_source_ami_and_launches_nothing() {
    let emu = Emulator::start(Options::default());
    let s = Scratch::new();
    s.edit("regions.yaml", "ami-c51df2ae", "ami-0000dead");
    let (_, err) = run_expect(&mut s.publish(&emu, &["--config", EBS]), 3);
    assert!(
        err.contains("us-east-1-1404-pv: source AMI ami-0000dead does not exist in us-east-1"),
        "{err}"
    );
    assert!(err.contains("nothing was launched"), "{err}");
    assert!(emu.live_instances("us-east-1").await.is_empty());
    assert!(!s.path("ami_ids.json").exists());
}

#[tokio::test]
async fn preflight_refuses_a_taken_name_and_force_replaces_it() {
    let emu = quick_emulator();
    let (ec2, _) = emu.clients("us-east-1").await;
    let squatter = ec2
        .register_image()
        .name("ComboAMI test 2.6.2-1404-hvm")
        .send()
        .await
        .unwrap();
    let squatter = squatter.image_id().unwrap().to_string();
    let s = Scratch::new();
    let (_, err) = run_expect(&mut s.publish(&emu, &["--config", EBS]), 3);
    assert!(
        err.contains(&format!(
            "the AMI name \"ComboAMI test 2.6.2-1404-hvm\" is taken in us-east-1 by {squatter}"
        )),
        "{err}"
    );
    assert!(
        emu.live_instances("us-east-1").await.is_empty(),
        "nothing launched"
    );

    let (out, _) = run_expect(
        &mut s.publish(&emu, &["--config", EBS, "--force", "--only", "*-1404-hvm"]),
        0,
    );
    assert!(
        out.contains(&format!("--force will deregister {squatter}")),
        "{out}"
    );
    let images = emu.amipub_images("us-east-1").await;
    assert_eq!(images.len(), 1);
    let gone = ec2
        .describe_images()
        .filters(Filter::builder().name("image-id").values(&squatter).build())
        .send()
        .await
        .unwrap();
    assert!(gone.images().is_empty(), "{squatter} was deregistered");
}

#[tokio::test]
async fn dry_run_prints_plan_and_preflight_and_launches_nothing() {
    let emu = Emulator::start(Options::default());
    let s = Scratch::new();
    let (out, _) = run_expect(&mut s.publish(&emu, &["--config", EBS, "--dry-run"]), 0);
    assert!(out.contains("4 builds in 1 region"), "{out}");
    assert!(
        out.contains("preflight: 1 region(s) checked for 4 build(s): ok"),
        "{out}"
    );
    assert!(
        out.contains("bucket comboami-test-2-6-2-us-east-1 will be created"),
        "{out}"
    );
    assert!(out.contains("dry run: nothing was launched."), "{out}");
    let (plan, _) = run_expect(s.amipub().args(["plan", "--config", EBS]), 0);
    assert!(
        out.starts_with(&plan),
        "the dry run begins with the plan:\n{out}\nplan:\n{plan}"
    );
    assert!(emu.live_instances("us-east-1").await.is_empty());
    assert!(!s.path("ami_ids.json").exists());
    let (_, s3) = emu.clients("us-east-1").await;
    assert!(
        s3.head_bucket()
            .bucket("comboami-test-2-6-2-us-east-1")
            .send()
            .await
            .is_err(),
        "no bucket made"
    );
}

#[test]
fn the_staging_bucket_is_private_and_encrypted() {
    let emu = quick_emulator();
    let s = Scratch::new();
    run_expect(
        &mut s.publish(&emu, &["--config", EBS, "--only", "us-east-1-1204-pv"]),
        0,
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let (_, s3) = emu.clients("us-east-1").await;
        let b = "comboami-test-2-6-2-us-east-1";
        let pab = s3.get_public_access_block().bucket(b).send().await.unwrap();
        let c = pab.public_access_block_configuration().unwrap();
        assert_eq!(
            (
                c.block_public_acls(),
                c.ignore_public_acls(),
                c.block_public_policy(),
                c.restrict_public_buckets()
            ),
            (Some(true), Some(true), Some(true), Some(true))
        );
        let enc = s3.get_bucket_encryption().bucket(b).send().await.unwrap();
        let rule = &enc.server_side_encryption_configuration().unwrap().rules()[0];
        assert_eq!(
            rule.apply_server_side_encryption_by_default()
                .unwrap()
                .sse_algorithm()
                .as_str(),
            "AES256"
        );
    });
}

/// The builds of a bucket share what can be shared: the provisioning script is staged once,
/// and when the last build ends their stopped instances are terminated in one call, the run's
/// prefix is sealed with one policy write and the staged files go in one DeleteObjects. A new
/// AMI's permissions are not read back (ModifyImageAttribute's success says they are set).
#[test]
fn a_buckets_builds_share_the_script_and_the_calls_that_finish_them() {
    let emu = quick_emulator();
    let s = Scratch::new();
    run_expect(
        &mut s.publish(&emu, &["--config", EBS, "--only", "us-east-1-*"]),
        0,
    );
    let builds = count_entries(&s.ami_ids());
    assert!(builds >= 2, "several builds in the region: {builds}");
    let stat = |k: &str| emu.stat(&format!("amipub {k}"));
    assert_eq!(stat("ec2:RunInstances"), builds as u64, "{:?}", emu.stats());
    // The lock and the script: one PUT each.
    assert_eq!(stat("s3:PUT object"), 2, "{:?}", emu.stats());
    assert_eq!(stat("ec2:TerminateInstances"), 1, "{:?}", emu.stats());
    assert_eq!(stat("s3:PUT bucket?policy"), 1, "{:?}", emu.stats());
    assert_eq!(stat("s3:POST bucket?delete"), 1, "{:?}", emu.stats());
    assert_eq!(stat("ec2:DescribeImageAttribute"), 0, "{:?}", emu.stats());
    // A bucket this run created has no policy to read first.
    assert_eq!(stat("s3:GET bucket?policy"), 0, "{:?}", emu.stats());
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(assert_nothing_left(
            &emu,
            "us-east-1",
            "comboami-test-2-6-2-us-east-1",
        ));
}

#[tokio::test]
async fn a_bootstrap_over_16_kb_is_sent_compressed_and_one_that_cannot_fit_is_refused() {
    let emu = quick_emulator();
    let s = Scratch::new();
    // 20 KB of repetitive text: too big for user data as it is, small once compressed.
    let notes = "release notes line; ".repeat(1000);
    s.edit(
        EBS,
        "    COMBOAMI_VERSION: \"{version}\"",
        &format!("    COMBOAMI_VERSION: \"{{version}}\"\n    COMBOAMI_NOTES: \"{notes}\""),
    );
    let (out, _) = run_expect(
        &mut s.publish(&emu, &["--config", EBS, "--only", "us-east-1-1404-hvm"]),
        0,
    );
    assert!(out.contains("1 AMI: 1 published now, 0 failed"), "{out}");
    let log = std::fs::read_dir(s.path(".amipub/runs"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
        .join("logs/us-east-1-1404-hvm.log");
    assert!(
        std::fs::read_to_string(log)
            .unwrap()
            .contains(&format!("COMBOAMI_NOTES={notes}")),
        "the instance got the whole environment"
    );

    // 40 KB that does not compress: refused at launch, with the sizes, and cleaned up.
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let noise: String = (0..40_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from(b'a' + (x % 26) as u8)
        })
        .collect();
    s.edit(EBS, &notes, &noise);
    let (out, _) = run_expect(
        &mut s.publish(&emu, &["--config", EBS, "--only", "us-east-1-1404-pv"]),
        1,
    );
    assert!(
        out.contains("compressed), over EC2's user-data limit of 16384; shorten provision.env"),
        "{out}"
    );
    assert!(emu.live_instances("us-east-1").await.is_empty());
}

/// `--format json`: standard output is one JSON document (the summary, schema 1) and the
/// progress goes to standard error; in a GitHub Actions job (`GITHUB_STEP_SUMMARY`) the
/// summary is appended to the job's page as Markdown, after what earlier steps wrote.
#[test]
fn a_json_summary_on_stdout_and_a_markdown_one_for_the_ci_job() {
    let emu = quick_emulator();
    let s = Scratch::new();
    let page = s.path("step-summary.md");
    std::fs::write(&page, "earlier step\n").unwrap();
    let mut c = s.publish(
        &emu,
        &[
            "--config",
            EBS,
            "--only",
            "us-east-1-1404-*",
            "--format",
            "json",
        ],
    );
    c.env("GITHUB_STEP_SUMMARY", &page);
    let (out, err) = run_expect(&mut c, 0);
    let doc: serde_json::Value = serde_json::from_str(&out).expect("stdout is one JSON document");
    assert_eq!(doc["schema"], 1);
    assert_eq!(doc["published_now"], 2, "{doc:#}");
    assert_eq!(doc["already_published"], 0);
    assert_eq!(doc["failed"], 0);
    assert_eq!(doc["ami_ids"], "ami_ids.json");
    let builds = doc["builds"].as_array().unwrap();
    assert_eq!(builds.len(), 2);
    for b in builds {
        assert_eq!(b["result"], "published", "{b}");
        assert!(b["ami_id"].as_str().unwrap().starts_with("ami-"), "{b}");
        assert_eq!(b["region"], "us-east-1");
    }
    let report = doc["report"].as_str().unwrap();
    assert!(s.path(report).exists(), "{report}");
    assert!(
        err.contains("launching the build instance"),
        "progress on stderr:\n{err}"
    );

    let md = std::fs::read_to_string(&page).unwrap();
    assert!(md.starts_with("earlier step\n### amipub publish "), "{md}");
    assert!(
        md.contains("2 published now, 0 already published, 0 failed"),
        "{md}"
    );
    assert!(
        md.contains("| Build | Region | Result | Duration |"),
        "{md}"
    );
    for b in builds {
        let row = format!(
            "| {} | us-east-1 | `{}` |",
            b["build"].as_str().unwrap(),
            b["ami_id"].as_str().unwrap()
        );
        assert!(md.contains(&row), "{row} in\n{md}");
    }
    assert!(md.contains(report), "{md}");
}
