//! The fault suite: amipub keeps its promises when things go wrong. Each test runs the real
//! binary against the strict emulator (support/), injects one fault (a signal, kill -9, a
//! concurrent run, throttling, a failed AWS call, an unwritable file) and checks through the
//! APIs and files what is left, what is recorded, and what was said. Small matrices keep it
//! within CI's time.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::emulator::{Emulator, Options};
use common::{Running, Scratch, block, note_starting, region_results, run_expect};
use serde_json::json;

const EBS: &str = "configs/test-ebs.yaml";
const REGION: &str = "us-east-1";
const BUCKET: &str = "comboami-test-2-6-2-us-east-1";
/// Two of test-ebs.yaml's four builds.
const TWO: &str = "us-east-1-1404-*";

/// A scratch copy whose test-ebs profile publishes public AMIs (the case where recording a
/// private AMI as public would be a lie).
fn public_ebs() -> Scratch {
    let s = Scratch::new();
    s.edit(EBS, "groups: []", "groups: [all]");
    s
}

fn emulator(provision_seconds: f64, image_pending_seconds: f64) -> Emulator {
    Emulator::start(Options {
        provision_seconds,
        image_pending_seconds: Some(image_pending_seconds),
        ..Options::default()
    })
}

/// `amipub publish ARGS` started in the background, returned once `n` builds have sent a note
/// starting with `moment` (e.g. "launched i-" once their instance is up).
fn publish_until(s: &Scratch, emu: &Emulator, args: &[&str], n: usize, moment: &str) -> Running {
    publish_until_event(s, emu, args, n, |e| note_starting(e, moment))
}

/// `amipub publish --config test-ebs.yaml --only TWO` started in the background, returned once
/// both builds' instances are up.
fn both_launched(s: &Scratch, emu: &Emulator) -> Running {
    publish_until(s, emu, &["--config", EBS, "--only", TWO], 2, "launched i-")
}

/// `amipub publish ARGS` started in the background, returned once `n` of its events satisfy
/// `pred`.
fn publish_until_event(
    s: &Scratch,
    emu: &Emulator,
    args: &[&str],
    n: usize,
    pred: impl Fn(&serde_json::Value) -> bool,
) -> Running {
    let mut all = vec!["publish", "--poll-interval", "100ms"];
    all.extend_from_slice(args);
    let run = s.spawn(emu, &all);
    assert!(
        s.wait_for_events(Duration::from_secs(60), n, pred),
        "{n} build(s) did not get there"
    );
    run
}

/// A second profile of the same version as test-ebs.yaml, with its own AMI names and bucket.
fn other_profile(s: &Scratch) -> &'static str {
    let other = std::fs::read_to_string(s.path(EBS))
        .unwrap()
        .replace("ComboAMI test {version}", "ComboAMI other {version}")
        .replace("comboami-test-{version}", "comboami-other-{version}");
    s.write("configs/other.yaml", &other);
    "configs/other.yaml"
}

/// Nothing amipub made is left in us-east-1 but `amis` published AMIs: no instance, no staged
/// object, no snapshot or AMI beyond them.
fn assert_only_published(emu: &Emulator, amis: usize) {
    assert_only_published_and(emu, amis, &[]);
}

/// As [`assert_only_published`], with these objects allowed to remain.
fn assert_only_published_and(emu: &Emulator, amis: usize, objects: &[&str]) {
    block(async {
        let instances = emu.live_instances(REGION).await;
        assert_eq!(instances, Vec::<String>::new(), "instances left");
        let left: Vec<String> = emu
            .objects(REGION, BUCKET)
            .await
            .into_iter()
            .filter(|k| !objects.contains(&k.as_str()))
            .collect();
        assert_eq!(left, Vec::<String>::new(), "objects left");
        assert_eq!(emu.own_images(REGION).await.len(), amis, "AMIs");
        let snapshots = emu.own_snapshots(REGION).await.len();
        assert_eq!(snapshots, amis, "snapshots (one per EBS AMI)");
    });
}

/// `amipub verify` of the scratch ami_ids.json exits 0.
fn verify_clean(s: &Scratch, emu: &Emulator) {
    let (out, _) = run_expect(s.against(emu, "verify").args(["--config", EBS]), 0);
    assert!(out.contains("as expected"), "{out}");
}

fn tag(tags: &[aws_sdk_ec2::types::Tag], key: &str) -> Option<String> {
    tags.iter()
        .find(|t| t.key() == Some(key))
        .and_then(|t| t.value())
        .map(str::to_string)
}

// ---------------------------------------------------------------------------------------
// kill -9, then run again

/// True for the event that starts `step` (kebab-case, as in events.ndjson).
fn step_started(e: &serde_json::Value, step: &str) -> bool {
    e["type"] == "step-started" && e["step"] == step
}

/// kill -9 once both builds reach `at` (held there by the faults `hold` injects), then the
/// same command again: it finishes the job, records only finished AMIs (`recorded`: whether the
/// killed run had recorded them already), leaves no duplicate and removes what the killed run
/// left.
fn killed_then_rerun(
    at: impl Fn(&serde_json::Value) -> bool,
    hold: serde_json::Value,
    recorded: bool,
) {
    let emu = emulator(0.5, 3.0);
    let s = public_ebs();
    emu.control(hold);
    let run = publish_until_event(&s, &emu, &["--config", EBS, "--only", TWO], 2, at);
    run.signal("KILL");
    let killed = run.wait(Duration::from_secs(30));
    assert_eq!(killed.code, None, "killed by the signal");
    // Whatever exists now was tagged in the call that made it: cleanup and the next run can
    // find it.
    block(async {
        for img in emu.own_images(REGION).await {
            assert_eq!(
                tag(img.tags(), "amipub:managed").as_deref(),
                Some("true"),
                "{img:?}"
            );
        }
        for snap in emu.own_snapshots(REGION).await {
            assert_eq!(
                tag(snap.tags(), "amipub:managed").as_deref(),
                Some("true"),
                "{snap:?}"
            );
        }
    });
    assert_eq!(
        s.path("ami_ids.json").exists(),
        recorded,
        "an AMI is recorded once, and only once, it is published"
    );

    emu.control(json!({}));
    let (out, err) = run_expect(&mut s.publish(&emu, &["--config", EBS, "--only", TWO]), 0);
    assert!(
        out.contains("2 AMIs: ") && out.contains(", 0 failed"),
        "{out}\n{err}"
    );
    assert_eq!(common::count_entries(&s.ami_ids()), 2);
    block(async {
        for img in emu.own_images(REGION).await {
            let id = img.image_id().unwrap();
            assert_eq!(
                emu.launch_permissions(REGION, id).await,
                BTreeSet::from(["group:all".to_string()]),
                "{id} is public, as recorded"
            );
        }
    });
    verify_clean(&s, &emu);
    assert_only_published(&emu, 2);
}

/// A fault that keeps failing `operation` with a retryable error, so that the run stays in the
/// step that calls it (the SDK retries with backoff) until it is killed.
fn hold_at(operation: &str) -> serde_json::Value {
    json!({"faults": [{"operation": operation, "error": "InternalError"}]})
}

#[test]
fn killed_while_provisioning_a_rerun_rebuilds_and_removes_the_leftovers() {
    killed_then_rerun(|e| note_starting(e, "launched i-"), json!({}), false);
}

#[test]
fn killed_after_create_image_a_rerun_finishes_the_ami_before_recording_it() {
    killed_then_rerun(|e| note_starting(e, "creating ami-"), json!({}), false);
}

#[test]
fn killed_before_the_permissions_were_set_a_rerun_sets_them_before_recording() {
    killed_then_rerun(
        |e| step_started(e, "permissions"),
        hold_at("ec2:ModifyImageAttribute"),
        false,
    );
}

#[test]
fn killed_while_finishing_a_rerun_keeps_the_recorded_amis_and_removes_the_rest() {
    killed_then_rerun(
        |e| step_started(e, "finish"),
        hold_at("ec2:TerminateInstances"),
        true,
    );
}

// ---------------------------------------------------------------------------------------
// Signals

/// `signal` while the builds provision: the run cleans up, says what is true, and exits with
/// `code`.
fn signal_cleans_up(signal: &str, code: i32) {
    let emu = emulator(30.0, 0.5);
    let s = Scratch::new();
    let run = both_launched(&s, &emu);
    run.signal(signal);
    let out = run.wait(Duration::from_secs(120));
    assert_eq!(out.code, Some(code), "{out:?}");
    assert!(
        out.stderr.contains("cleaning up the builds in flight"),
        "{out:?}"
    );
    assert!(
        out.stderr.contains("2 build(s) cancelled and cleaned up"),
        "{out:?}"
    );
    assert!(out.stderr.contains("nothing was published"), "{out:?}");
    assert!(!out.stdout.contains("wrote ami_ids.json"), "{}", out.stdout);
    assert!(!s.path("ami_ids.json").exists());
    assert_only_published(&emu, 0);
}

#[test]
fn sigint_cleans_up_and_exits_130() {
    signal_cleans_up("INT", 130);
}

#[test]
fn sigterm_cleans_up_like_ctrl_c_and_exits_143() {
    signal_cleans_up("TERM", 143);
}

#[test]
fn sighup_cleans_up_like_ctrl_c_and_exits_129() {
    signal_cleans_up("HUP", 129);
}

#[test]
fn a_second_signal_lists_what_is_left_and_cleanup_run_removes_it_all() {
    let emu = emulator(30.0, 0.5);
    let s = Scratch::new();
    let run = both_launched(&s, &emu);
    // Terminating keeps failing (and being retried) so that the second signal surely comes
    // while the first one's clean-up is under way.
    emu.control(
        json!({"faults": [{"operation": "ec2:TerminateInstances", "error": "InternalError"}]}),
    );
    run.signal("INT");
    std::thread::sleep(Duration::from_millis(500));
    run.signal("INT");
    let out = run.wait(Duration::from_secs(30));
    assert_eq!(out.code, Some(130), "{out:?}");
    assert!(
        out.stderr
            .contains("exiting at once; these are left behind:"),
        "{out:?}"
    );
    let run_id = s.runs().pop().unwrap();
    assert!(
        out.stderr
            .contains(&format!("amipub cleanup --run {run_id}")),
        "{out:?}"
    );
    // Every instance named is one that still exists.
    let live: BTreeSet<String> = block(emu.live_instances(REGION)).into_iter().collect();
    let named: BTreeSet<String> = out
        .stderr
        .split_whitespace()
        .filter(|w| w.starts_with("i-"))
        .map(str::to_string)
        .collect();
    assert_eq!(named.len(), 2, "{out:?}");
    assert!(named.is_subset(&live), "{named:?} not all live: {live:?}");

    emu.control(json!({}));
    run_expect(
        s.against(&emu, "cleanup")
            .args(["--run", &run_id, "--region", REGION, "--yes"]),
        0,
    );
    // The killed run's lock stays until it lapses or the next run takes it over.
    assert_only_published_and(&emu, 0, &[".amipub/lock.json"]);
}

// ---------------------------------------------------------------------------------------
// Concurrency: the lock

#[test]
fn a_second_publish_of_the_version_is_refused_naming_the_holder() {
    let emu = emulator(3.0, 0.5);
    let s = Scratch::new();
    let first = publish_until(&s, &emu, &["--config", EBS], 1, "launched i-");
    let holder = s.runs().pop().unwrap();
    let (_, err) = run_expect(&mut s.publish(&emu, &["--config", EBS]), 4);
    assert!(
        err.contains(&format!("another publish is using s3://{BUCKET}")),
        "{err}"
    );
    assert!(err.contains(&format!("run {holder}")), "{err}");
    assert!(err.contains(&format!("pid {}", first.pid())), "{err}");
    assert!(err.contains("on host "), "{err}");
    assert!(err.contains("--break-lock"), "{err}");
    assert!(err.contains("nothing was launched"), "{err}");

    let done = first.wait(Duration::from_secs(120));
    assert_eq!(done.code, Some(0), "{done:?}");
    assert_eq!(common::count_entries(&s.ami_ids()), 4);
    assert_only_published(&emu, 4);
}

#[test]
fn the_lock_of_a_killed_run_is_taken_over_and_its_leftovers_removed() {
    let emu = emulator(30.0, 0.5);
    let s = Scratch::new();
    let first = both_launched(&s, &emu);
    first.signal("KILL");
    first.wait(Duration::from_secs(30));
    emu.control(json!({"provision_seconds": 0.3}));
    let (out, err) = run_expect(&mut s.publish(&emu, &["--config", EBS, "--only", TWO]), 0);
    assert!(
        format!("{out}{err}").contains("terminated build instance(s) of interrupted runs"),
        "{out}\n{err}"
    );
    assert_only_published(&emu, 2);
}

#[test]
fn two_profiles_starting_together_in_a_region_both_publish() {
    let emu = emulator(0.5, 0.5);
    let s = Scratch::new();
    let other = other_profile(&s);
    let start = |config: &str, output: &str| {
        s.spawn(
            &emu,
            &[
                "publish", "--config", config, "--only", TWO, "--output", output,
            ],
        )
    };
    let (a, b) = (start(EBS, "a/ami_ids.json"), start(other, "b/ami_ids.json"));
    for run in [a, b] {
        let out = run.wait(Duration::from_secs(120));
        assert_eq!(out.code, Some(0), "{out:?}");
    }
    assert_eq!(block(emu.own_images(REGION)).len(), 4);
}

// ---------------------------------------------------------------------------------------
// ami_ids.json and the manifest

#[cfg(unix)]
#[test]
fn outputs_keep_a_concurrent_writers_entries_unknown_fields_mode_and_symlink() {
    use std::os::unix::fs::PermissionsExt;
    let emu = emulator(2.0, 0.5);
    let s = Scratch::new();
    std::fs::create_dir_all(s.path("real")).unwrap();
    s.write(
        "real/ami_ids.json",
        r#"{"sa-east-1": [{"id": "ami-11111111", "Distributor ID": "Ubuntu", "Release": "14.04",
            "virtualization type": "hvm", "note": "kept by another tool"}]}"#,
    );
    std::fs::set_permissions(
        s.path("real/ami_ids.json"),
        std::fs::Permissions::from_mode(0o640),
    )
    .unwrap();
    std::os::unix::fs::symlink("real/ami_ids.json", s.path("ami_ids.json")).unwrap();

    let run = both_launched(&s, &emu);
    // Another writer adds an entry while the run goes on.
    let mut doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(s.path("real/ami_ids.json")).unwrap())
            .unwrap();
    doc["eu-west-1"] = json!([{"id": "ami-22222222", "Distributor ID": "Ubuntu",
        "Release": "12.04", "virtualization type": "paravirtual"}]);
    std::fs::write(s.path("real/ami_ids.json"), doc.to_string()).unwrap();
    let out = run.wait(Duration::from_secs(120));
    assert_eq!(out.code, Some(0), "{out:?}");

    assert!(
        std::fs::symlink_metadata(s.path("ami_ids.json"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    let ids = s.ami_ids();
    assert_eq!(ids["eu-west-1"][0]["id"], "ami-22222222", "{ids}");
    assert_eq!(ids["sa-east-1"][0]["note"], "kept by another tool", "{ids}");
    assert_eq!(ids[REGION].as_array().unwrap().len(), 2, "{ids}");
    let mode = std::fs::metadata(s.path("real/ami_ids.json"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o640);
}

#[cfg(unix)]
#[test]
fn unwritable_outputs_stop_the_run_before_anything_is_launched() {
    use std::os::unix::fs::PermissionsExt;
    let emu = emulator(0.2, 0.2);
    let s = Scratch::new();
    s.write("ami_ids.json", "{}");
    std::fs::set_permissions(
        s.path("ami_ids.json"),
        std::fs::Permissions::from_mode(0o444),
    )
    .unwrap();
    let (_, err) = run_expect(&mut s.publish(&emu, &["--config", EBS]), 2);
    assert!(err.contains("--output ami_ids.json is read-only"), "{err}");

    std::fs::create_dir_all(s.path("ro")).unwrap();
    std::fs::set_permissions(s.path("ro"), std::fs::Permissions::from_mode(0o555)).unwrap();
    let (_, err) = run_expect(
        &mut s.publish(&emu, &["--config", EBS, "--output", "ro/ami_ids.json"]),
        2,
    );
    assert!(err.contains("the directory ro is read-only"), "{err}");

    let (_, err) = run_expect(
        &mut s.publish(&emu, &["--config", EBS, "--output", "configs"]),
        2,
    );
    assert!(err.contains("--output configs is a directory"), "{err}");

    assert_eq!(emu.stat("amipub ec2:RunInstances"), 0);
    assert!(!block(emu.bucket_exists(REGION, BUCKET)), "no bucket made");
}

// ---------------------------------------------------------------------------------------
// Tags at creation

#[test]
fn everything_is_tagged_in_the_call_that_creates_it() {
    let emu = emulator(0.2, 0.5);
    let s = Scratch::new();
    run_expect(&mut s.publish(&emu, &["--config", EBS, "--only", TWO]), 0);
    assert_eq!(emu.stat("amipub ec2:CreateTags"), 0, "{:?}", emu.stats());
    assert_eq!(
        emu.stat("amipub s3:PUT bucket?tagging"),
        0,
        "{:?}",
        emu.stats()
    );
    block(async {
        let images = emu.own_images(REGION).await;
        assert_eq!(images.len(), 2);
        for img in &images {
            for (k, v) in [
                ("amipub:managed", "true"),
                ("amipub:version", "2.6.2"),
                ("amipub:bucket", BUCKET),
                ("Project", "ComboAMI"),
            ] {
                assert_eq!(tag(img.tags(), k).as_deref(), Some(v), "{img:?}");
            }
        }
        for snap in emu.own_snapshots(REGION).await {
            assert_eq!(
                tag(snap.tags(), "amipub:managed").as_deref(),
                Some("true"),
                "{snap:?}"
            );
            assert!(tag(snap.tags(), "amipub:build").is_some(), "{snap:?}");
        }
        let (ec2, s3) = emu.clients(REGION).await;
        let sg = ec2
            .describe_security_groups()
            .group_names("amipub-build")
            .send()
            .await
            .unwrap();
        let sg = &sg.security_groups()[0];
        assert_eq!(tag(sg.tags(), "amipub:managed").as_deref(), Some("true"));
        assert_eq!(tag(sg.tags(), "Project").as_deref(), Some("ComboAMI"));
        let t = s3.get_bucket_tagging().bucket(BUCKET).send().await.unwrap();
        let keys: BTreeSet<&str> = t.tag_set().iter().map(|t| t.key()).collect();
        assert!(
            keys.contains("amipub:managed") && keys.contains("Project"),
            "{keys:?}"
        );
    });
}

// ---------------------------------------------------------------------------------------
// Throttling and failed calls

#[test]
fn throttling_one_request_in_three_is_survived_and_counted() {
    let emu = Emulator::start(Options {
        provision_seconds: 0.2,
        throttle_every: 3,
        ..Options::default()
    });
    let s = Scratch::new();
    let (out, _) = run_expect(&mut s.publish(&emu, &["--config", EBS]), 0);
    assert!(out.contains("4 AMIs: 4 published now, 0 failed"), "{out}");
    let stats = emu.stats();
    let ec2: u64 = stats
        .iter()
        .filter(|(k, _)| k.starts_with("amipub ec2:"))
        .filter_map(|(_, v)| v.as_u64())
        .sum();
    let throttled = emu.stat_sum("injected amipub ec2:");
    assert!(ec2 >= 30, "{stats:?}");
    assert_eq!(
        throttled,
        ec2 / 3,
        "every third EC2 request was throttled: {stats:?}"
    );
    assert_only_published(&emu, 4);
}

/// An account whose RunInstances bucket AWS set to one token, refilled every two seconds.
/// amipub, assuming AWS's default bucket (5 at 2 per second), is throttled on its second
/// launch: the SDK retries while the budget waits for the refill, and both builds publish.
/// Told the account's limits (`--ec2-rate-limit`), amipub is not throttled at all.
#[test]
fn throttling_slows_a_run_down_and_the_accounts_own_limits_avoid_it() {
    let limits = json!({"rate_limits": {"RunInstances": [1, 0.5]}});
    let emu = emulator(0.2, 0.3);
    emu.control(limits.clone());
    let s = public_ebs();
    run_expect(&mut s.publish(&emu, &["--config", EBS, "--only", TWO]), 0);
    assert!(
        emu.stat("rate-limited amipub ec2:RunInstances") >= 1,
        "{:?}",
        emu.stats()
    );
    assert_eq!(common::count_entries(&s.ami_ids()), 2, "both published");

    let emu = emulator(0.2, 0.3);
    emu.control(limits);
    let s = public_ebs();
    let told = ["--ec2-rate-limit", "RunInstances=1/0.5"];
    run_expect(
        &mut s.publish(
            &emu,
            &[&["--config", EBS, "--only", TWO][..], &told].concat(),
        ),
        0,
    );
    assert_eq!(emu.stat("throttled"), 0, "{:?}", emu.stats());
    assert_eq!(emu.stat("amipub ec2:RunInstances"), 2, "{:?}", emu.stats());
    assert_eq!(common::count_entries(&s.ami_ids()), 2, "both published");
}

#[test]
fn a_finished_ami_is_kept_when_terminating_its_instance_fails() {
    let emu = emulator(0.2, 0.5);
    let s = public_ebs();
    // Both builds' instances are terminated in one call when the region's last build ends.
    emu.control(json!({"faults": [{"operation": "ec2:TerminateInstances", "error": "UnauthorizedOperation", "times": 1}]}));
    let (out, err) = run_expect(&mut s.publish(&emu, &["--config", EBS, "--only", TWO]), 1);
    assert!(
        err.contains("every build is published, but these were left behind"),
        "{out}\n{err}"
    );
    assert!(out.contains("TerminateInstances failed"), "{out}");
    assert_eq!(common::count_entries(&s.ami_ids()), 2, "both AMIs recorded");
    verify_clean(&s, &emu);
    assert_eq!(block(emu.live_instances(REGION)).len(), 2);
    // The next run reuses both AMIs and removes the instances.
    run_expect(&mut s.publish(&emu, &["--config", EBS, "--only", TWO]), 0);
    assert_only_published(&emu, 2);
}

/// One build of the public profile, published while `operation` fails for good with `code`;
/// the run must exit `exit`. Returns what it printed.
fn one_build_while_failing(
    operation: &str,
    code: &str,
    exit: i32,
) -> (Emulator, Scratch, String, String) {
    let emu = emulator(0.2, 0.3);
    let s = public_ebs();
    emu.control(json!({"faults": [{"operation": operation, "error": code}]}));
    let (out, err) = run_expect(
        &mut s.publish(&emu, &["--config", EBS, "--only", "us-east-1-1404-hvm"]),
        exit,
    );
    (emu, s, out, err)
}

/// One AWS operation fails for good: the build fails (or the run stops before launching), and
/// nothing is left behind.
fn failed_operation(operation: &str, code: &str) {
    let (emu, s, out, err) = one_build_while_failing(operation, code, 1);
    assert!(
        format!("{out}\n{err}").contains(code),
        "{operation}: {out}\n{err}"
    );
    assert!(
        !s.path("ami_ids.json").exists(),
        "{operation}: nothing recorded"
    );
    assert_only_published(&emu, 0);
}

#[test]
fn a_failed_run_instances_leaves_nothing() {
    failed_operation("ec2:RunInstances", "UnauthorizedOperation");
}

#[test]
fn a_failed_create_image_leaves_nothing() {
    failed_operation("ec2:CreateImage", "UnauthorizedOperation");
}

#[test]
fn a_failed_modify_image_attribute_leaves_nothing() {
    failed_operation("ec2:ModifyImageAttribute", "UnauthorizedOperation");
}

/// A new AMI's permissions are not read back (ModifyImageAttribute's success says they are
/// set), but an AMI found already made is reconciled with what it has: when reading that fails,
/// the build fails and the AMI, already published, stays.
#[test]
fn a_failed_describe_image_attribute_fails_a_reused_build_and_keeps_its_ami() {
    let emu = emulator(0.2, 0.3);
    let s = public_ebs();
    let one = ["--config", EBS, "--only", "us-east-1-1404-hvm"];
    run_expect(&mut s.publish(&emu, &one), 0);
    emu.control(json!({"faults": [
        {"operation": "ec2:DescribeImageAttribute", "error": "UnauthorizedOperation"}
    ]}));
    let (out, err) = run_expect(&mut s.publish(&emu, &one), 1);
    assert!(
        format!("{out}\n{err}").contains("UnauthorizedOperation"),
        "{out}\n{err}"
    );
    assert_only_published(&emu, 1);
}

#[test]
fn a_failed_put_object_leaves_nothing() {
    failed_operation("s3:PutObject", "AccessDenied");
}

#[test]
fn staged_files_a_run_cannot_delete_are_listed_and_the_next_run_removes_them() {
    let (emu, s, out, err) = one_build_while_failing("s3:DeleteObjects", "AccessDenied", 1);
    assert!(err.contains("left behind"), "{out}\n{err}");
    assert!(
        err.contains(&format!("objects under s3://{BUCKET}/")),
        "{err}"
    );
    assert_eq!(
        common::count_entries(&s.ami_ids()),
        1,
        "the AMI is published and recorded"
    );
    emu.control(json!({}));
    let (out, err) = run_expect(
        &mut s.publish(&emu, &["--config", EBS, "--only", "us-east-1-1404-hvm"]),
        0,
    );
    assert!(
        format!("{out}{err}").contains("staged object(s) of interrupted runs"),
        "{out}\n{err}"
    );
    assert_only_published(&emu, 1);
}

#[test]
fn a_failed_create_security_group_fails_the_region_before_launching() {
    failed_operation("ec2:CreateSecurityGroup", "UnauthorizedOperation");
}

#[test]
fn a_failed_create_bucket_fails_the_region_before_launching() {
    failed_operation("s3:CreateBucket", "AccessDenied");
}

#[test]
fn a_failed_seal_is_listed_as_left_behind_and_the_ami_stands() {
    let (emu, s, out, err) = one_build_while_failing("s3:PutBucketPolicy", "AccessDenied", 1);
    assert!(
        out.contains("this run's presigned upload URLs there work until"),
        "{out}"
    );
    assert!(
        err.contains("every build is published, but these were left behind"),
        "{err}"
    );
    assert!(err.contains("presigned upload URLs for s3://"), "{err}");
    assert!(err.contains("(not sealed; they work until"), "{err}");
    assert_eq!(
        common::count_entries(&s.ami_ids()),
        1,
        "the AMI is recorded"
    );
    assert_only_published(&emu, 1);
}

#[test]
fn images_that_end_failed_fail_their_build_and_are_removed() {
    let emu = emulator(0.2, 0.5);
    let s = Scratch::new();
    emu.control(json!({"image_fail": ["*1404-hvm"], "image_fail_reason": "Server.InternalError: disk error"}));
    let (out, _) = run_expect(&mut s.publish(&emu, &["--config", EBS, "--only", TWO]), 1);
    assert!(
        out.contains("is failed: Server.InternalError: disk error"),
        "{out}"
    );
    assert_only_published(&emu, 1);
}

// ---------------------------------------------------------------------------------------
// Signing material and presigned URLs

#[test]
fn presigned_puts_of_a_finished_build_can_no_longer_write() {
    let emu = emulator(0.2, 0.3);
    let s = Scratch::new();
    run_expect(
        &mut s.publish(&emu, &["--config", EBS, "--only", "us-east-1-1404-hvm"]),
        0,
    );
    let user_data = emu.user_data();
    assert_eq!(user_data.len(), 1);
    let urls: Vec<&str> = user_data[0]
        .split(['\'', '"', ' ', '\n'])
        .filter(|w| w.starts_with("http") && w.contains("X-Amz-Signature"))
        .filter(|w| w.contains("/status?") || w.contains("/build.log?"))
        .collect();
    assert_eq!(urls.len(), 2, "{}", user_data[0]);
    for url in urls {
        let out = std::process::Command::new("curl")
            .args([
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "-X",
                "PUT",
                "--data",
                "replayed",
                url,
            ])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "403", "{url}");
    }
    assert_only_published(&emu, 1);
}

#[test]
fn credentials_that_expire_before_the_urls_are_refused_by_preflight() {
    let emu = emulator(0.2, 0.3);
    let s = Scratch::new();
    s.write(
        "aws-config",
        &format!(
            "[profile base]\naws_access_key_id = testing\naws_secret_access_key = testing\n\
             [profile release]\nrole_arn = arn:aws:iam::123456789012:role/{}\n\
             source_profile = base\nregion = us-east-1\n",
            common::INSTANCE_PROFILE
        ),
    );
    let run = |s: &Scratch, code| {
        let mut c = s.against(&emu, "publish");
        c.env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env("AWS_CONFIG_FILE", s.path("aws-config"))
            .env("AWS_PROFILE", "release")
            // The role is assumed through the emulator's STS too.
            .env("AWS_ENDPOINT_URL", &emu.endpoint)
            .args(["--config", EBS, "--dry-run"]);
        run_expect(&mut c, code)
    };
    // The SDK assumes the role for an hour (it does not read duration_seconds).
    s.edit(EBS, "provision: 30m", "provision: 90m");
    let (_, err) = run(&s, 3);
    assert!(err.contains("the AWS credentials expire in 59m"), "{err}");
    assert!(err.contains("must work for 1h 35m"), "{err}");
    s.edit(EBS, "provision: 90m", "provision: 30m");
    run(&s, 0);
}

#[test]
fn the_next_run_removes_signing_material_a_killed_run_left() {
    let emu = emulator(0.2, 0.3);
    let s = Scratch::new();
    s.signing();
    emu.control(json!({"hang": ["*"]}));
    let run = publish_until(
        &s,
        &emu,
        &[
            "--config",
            "configs/test-instance.yaml",
            "--only",
            "us-east-1-1404-hvm",
        ],
        1,
        "launched i-",
    );
    run.signal("KILL");
    run.wait(Duration::from_secs(30));
    let bucket = "comboami-itest-2-6-2-us-east-1";
    let signing = |emu: &Emulator| {
        block(emu.objects(REGION, bucket))
            .into_iter()
            .filter(|k| k.contains("/signing/"))
            .count()
    };
    assert_eq!(signing(&emu), 3, "the killed run left its signing material");
    emu.control(json!({}));
    run_expect(
        &mut s.publish(
            &emu,
            &[
                "--config",
                "configs/test-instance.yaml",
                "--only",
                "us-east-1-1404-pv",
            ],
        ),
        0,
    );
    assert_eq!(signing(&emu), 0);
}

// ---------------------------------------------------------------------------------------
// cleanup and verify

#[test]
fn cleanup_refuses_an_ami_ids_file_that_does_not_exist() {
    let s = Scratch::new();
    let (_, err) = run_expect(
        s.amipub()
            .args(["cleanup", "--region", REGION, "--ami-ids", "nope.json"]),
        2,
    );
    assert!(err.contains("--ami-ids nope.json: no such file"), "{err}");
}

/// One build published in eu-west-1 and one in us-east-1.
fn publish_in_two_regions(s: &Scratch, emu: &Emulator) {
    let args = [
        "--config",
        EBS,
        "--region",
        "eu-west-1",
        "--region",
        REGION,
        "--only",
        "*-1404-hvm",
    ];
    run_expect(&mut s.publish(emu, &args), 0);
}

#[test]
fn cleanup_removes_buckets_through_their_own_regions() {
    let emu = emulator(0.2, 0.3);
    let s = Scratch::new();
    publish_in_two_regions(&s, &emu);
    let eu = "comboami-test-2-6-2-eu-west-1";
    assert!(block(emu.bucket_exists("eu-west-1", eu)));
    let (out, _) = run_expect(
        s.against(&emu, "cleanup").args([
            "--version",
            "2.6.2",
            "--all-regions",
            "--force",
            "--yes",
        ]),
        0,
    );
    assert!(out.contains(eu), "{out}");
    assert!(!block(emu.bucket_exists("eu-west-1", eu)), "{out}");
    assert!(!block(emu.bucket_exists(REGION, BUCKET)), "{out}");
}

#[test]
fn verify_tells_an_unreachable_region_from_a_missing_ami() {
    let emu = emulator(0.2, 0.3);
    let s = Scratch::new();
    publish_in_two_regions(&s, &emu);
    emu.control(json!({"faults": [{"operation": "ec2:*", "region": "eu-west-1", "drop": true}]}));
    let (out, _) = run_expect(
        s.against(&emu, "verify")
            .args(["--config", EBS, "--format", "json"]),
        1,
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let results = region_results(&v);
    assert!(
        results.contains(&("eu-west-1".into(), "unreachable".into())),
        "{results:?}"
    );
    assert!(
        results.contains(&(REGION.into(), "ok".into())),
        "{results:?}"
    );
}

#[test]
fn verify_ignores_another_profiles_amis_of_the_same_version() {
    let emu = emulator(0.2, 0.3);
    let s = Scratch::new();
    let other = other_profile(&s);
    run_expect(
        &mut s.publish(&emu, &["--config", EBS, "--only", "us-east-1-1404-hvm"]),
        0,
    );
    run_expect(
        &mut s.publish(
            &emu,
            &[
                "--config",
                other,
                "--only",
                TWO,
                "--output",
                "other/ami_ids.json",
            ],
        ),
        0,
    );
    let (out, _) = run_expect(s.against(&emu, "verify").args(["--config", EBS]), 0);
    assert!(!out.contains("unlisted"), "{out}");
}

#[test]
fn answers_lost_on_the_way_back_are_retried_without_doubling_anything() {
    let emu = emulator(0.2, 0.3);
    let s = Scratch::new();
    // The first RunInstances and the first CreateImage take effect, and their answers are lost:
    // the retried RunInstances must get the same instance (client token), the retried
    // CreateImage must take the AMI the first attempt made.
    emu.control(json!({"faults": [
        {"operation": "ec2:RunInstances", "lose_response": true, "nth": [1]},
        {"operation": "ec2:CreateImage", "lose_response": true, "nth": [1]}
    ]}));
    let (out, err) = run_expect(&mut s.publish(&emu, &["--config", EBS, "--only", TWO]), 0);
    assert!(
        out.contains("2 AMIs: 2 published now, 0 failed"),
        "{out}\n{err}"
    );
    assert_eq!(
        emu.stat("injected amipub ec2:RunInstances lose_response"),
        1
    );
    assert_eq!(emu.stat("injected amipub ec2:CreateImage lose_response"), 1);
    block(async {
        let launched = emu.instances_ever(REGION).await.len();
        assert_eq!(launched, 2, "one instance per build, ever");
    });
    assert_only_published(&emu, 2);
}
