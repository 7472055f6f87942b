//! `amipub release` against the emulator and a temporary git repository whose remote is a bare
//! repository: the real binary, real git, results checked through git and the EC2 API.

mod common;

use std::path::Path;
use std::process::Command as Process;

use common::emulator::{Emulator, Options};
use common::{Scratch, run_expect};

const P: &str = "configs/official.yaml";

/// A release checkout: the project's configuration committed in a fresh repository, with a
/// bare repository as `origin`.
struct Repo {
    s: Scratch,
    remote: tempfile::TempDir,
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Process::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

impl Repo {
    fn new() -> Repo {
        let s = Scratch::new();
        s.signing();
        s.write(".gitignore", ".amipub/\nlocal.yaml\nkeys/\n");
        // The official profile with a registry, whose stable channel a release may move.
        let profile = std::fs::read_to_string(s.path(P)).unwrap();
        s.write(
            P,
            &format!(
                "{profile}registry:\n  bucket: comboami-registry\n  region: us-east-1\n  artifact: comboami\n  channels:\n    stable: {{ public: true }}\n    beta: {{ public: false }}\n"
            ),
        );
        let remote = tempfile::tempdir().unwrap();
        git(remote.path(), &["init", "-q", "--bare"]);
        let d = s.dir.path();
        git(d, &["init", "-q"]);
        git(d, &["config", "user.email", "release@example.com"]);
        git(d, &["config", "user.name", "Release Engineer"]);
        git(d, &["add", "-A"]);
        git(d, &["commit", "-qm", "ComboAMI 2.6.2"]);
        git(
            d,
            &["remote", "add", "origin", remote.path().to_str().unwrap()],
        );
        git(d, &["push", "-q", "origin", "HEAD"]);
        Repo { s, remote }
    }

    fn git(&self, args: &[&str]) -> String {
        git(self.s.dir.path(), args)
    }

    fn release(&self, emu: &Emulator, args: &[&str]) -> assert_cmd::Command {
        let mut c = self.s.against(emu, "release");
        c.args(["--poll-interval", "100ms"]).args(args);
        c
    }

    /// Everything a release could change in git: HEAD, the work tree's status, the tags here
    /// and on the remote, and the profile's text.
    fn state(&self) -> (String, String, String, String, String) {
        (
            self.git(&["rev-parse", "HEAD"]),
            self.git(&["status", "--porcelain"]),
            self.git(&["tag", "--list"]),
            git(self.remote.path(), &["tag", "--list"]),
            std::fs::read_to_string(self.s.path(P)).unwrap(),
        )
    }
}

fn emulator() -> Emulator {
    Emulator::start(Options {
        provision_seconds: 0.2,
        ..Options::default()
    })
}

async fn all_images(emu: &Emulator) -> usize {
    let mut n = 0;
    for r in ["us-east-1", "eu-west-1"] {
        n += emu.amipub_images(r).await.len();
    }
    n
}

#[tokio::test(flavor = "multi_thread")]
async fn a_candidate_then_a_release_private_then_public_tagged_and_pushed() {
    let emu = emulator();
    let repo = Repo::new();

    // A candidate of the us-east-1 builds: private, tagged candidate/..., not pushed.
    let (out, _) = run_expect(
        &mut repo.release(
            &emu,
            &["2.6.3-beta1", "--candidate", "--region", "us-east-1"],
        ),
        0,
    );
    assert!(
        out.contains("[done   ] 6. tagged candidate/2.6.3-beta1"),
        "{out}"
    );
    assert!(out.contains("[skipped] 7. push (no --push)"), "{out}");
    let ids = repo.s.ami_ids();
    assert_eq!(ids["us-east-1"].as_array().unwrap().len(), 4);
    for e in ids["us-east-1"].as_array().unwrap() {
        let perms = emu
            .launch_permissions("us-east-1", e["id"].as_str().unwrap())
            .await;
        assert!(perms.is_empty(), "a candidate is private: {perms:?}");
    }
    assert_eq!(repo.git(&["tag", "--list"]), "candidate/2.6.3-beta1");
    assert_eq!(
        repo.git(&["log", "-1", "--format=%s"]),
        "Release 2.6.3-beta1"
    );
    assert!(git(repo.remote.path(), &["tag", "--list"]).is_empty());

    // The release of the whole official matrix: public, committed, tagged and pushed.
    let (out, _) = run_expect(
        &mut repo.release(&emu, &["2.6.3", "--push", "--channel", "stable"]),
        0,
    );
    assert!(out.contains("[done   ] 1. checks"), "{out}");
    assert!(
        out.contains("[done   ] 8. pointed stable at 2.6.3 (was nothing)"),
        "{out}"
    );
    assert!(
        out.contains("published 32 public AMIs in 8 regions"),
        "{out}"
    );
    assert!(
        out.contains("[done   ] 7. pushed the commit and release/2.6.3 to origin"),
        "{out}"
    );
    let tagged = repo.git(&["rev-parse", "release/2.6.3^{commit}"]);
    assert_eq!(tagged, repo.git(&["rev-parse", "HEAD"]));
    assert_eq!(
        git(repo.remote.path(), &["rev-parse", "release/2.6.3^{commit}"]),
        tagged,
        "the remote has the tag, at the release commit"
    );
    assert_eq!(
        repo.git(&["cat-file", "-t", "release/2.6.3"]),
        "tag",
        "annotated"
    );
    assert_eq!(repo.git(&["status", "--porcelain"]), "");
    let committed = repo.git(&["show", "--name-only", "--format=", "HEAD"]);
    for f in ["ami_ids.json", "amipub-manifest.json", P, "CHANGELOG.md"] {
        assert!(committed.lines().any(|l| l == f), "{f} not in {committed}");
    }
    let profile = repo.git(&["show", &format!("release/2.6.3:{P}")]);
    assert!(profile.contains("version: \"2.6.3\"") && profile.contains("groups: [all]"));
    let changelog = repo.git(&["show", "release/2.6.3:CHANGELOG.md"]);
    assert!(
        changelog
            .contains("Released 32 public AMIs (instance-store) in 8 regions: ap-northeast-1,"),
        "{changelog}"
    );

    // The tag's ami_ids.json is what verify sees in AWS.
    let at_tag = repo.git(&["show", "release/2.6.3:ami_ids.json"]);
    repo.s.write("tagged.json", &at_tag);
    let mut verify = repo.s.against(&emu, "verify");
    verify.args(["--ami-ids", "tagged.json"]);
    let (out, _) = run_expect(&mut verify, 0);
    assert!(out.contains("32 of 32 AMI(s) as expected"), "{out}");
    let tagged_ids: serde_json::Value = serde_json::from_str(&at_tag).unwrap();
    for e in tagged_ids["eu-west-1"].as_array().unwrap() {
        let perms = emu
            .launch_permissions("eu-west-1", e["id"].as_str().unwrap())
            .await;
        assert_eq!(perms, ["group:all".to_string()].into());
    }
    // The stable channel's parameter in eu-west-1 holds the release's 14.04 HVM AMI there.
    let ssm = aws_sdk_ssm::Client::new(&emu.sdk_config("eu-west-1").await);
    let param = ssm
        .get_parameter()
        .name("/comboami/stable/1404/hvm/ami-id")
        .send()
        .await
        .unwrap()
        .parameter
        .unwrap()
        .value
        .unwrap();
    let hvm_1404 = tagged_ids["eu-west-1"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["Release"] == "14.04" && e["virtualization type"] == "hvm")
        .unwrap();
    assert_eq!(hvm_1404["id"], param.as_str());

    // Running it again finds everything done.
    let (out, _) = run_expect(&mut repo.release(&emu, &["2.6.3", "--push"]), 0);
    for step in ["2.", "5.", "6.", "7."] {
        assert!(out.contains(&format!("[skipped] {step}")), "{step} {out}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn each_failed_check_refuses_with_its_reason_and_changes_nothing() {
    let emu = emulator();
    let repo = Repo::new();
    type Setup = Box<dyn Fn(&Repo)>;
    let cases: [(&str, Setup, &str); 3] = [
        (
            "dirty tree",
            Box::new(|r: &Repo| {
                r.s.edit("regions.yaml", "regions:", "# edited\nregions:");
            }),
            "the work tree has uncommitted changes (regions.yaml); commit or stash them first",
        ),
        (
            "existing tag",
            Box::new(|r: &Repo| {
                r.git(&["tag", "release/2.6.3"]);
            }),
            "the tag release/2.6.3 already exists (at ",
        ),
        (
            "older version",
            Box::new(|r: &Repo| {
                r.git(&["tag", "release/2.7.0"]);
            }),
            "2.6.3 is not newer than the last release 2.7.0 (tag release/2.7.0)",
        ),
    ];
    for (what, setup, reason) in cases {
        repo.git(&["checkout", "-q", "--", "."]);
        for t in repo.git(&["tag", "--list"]).lines() {
            repo.git(&["tag", "-d", t]);
        }
        setup(&repo);
        let before = repo.state();
        let (out, err) = run_expect(
            &mut repo.release(&emu, &["2.6.3", "--region", "us-east-1"]),
            2,
        );
        assert!(
            out.contains("[FAILED ] 1. checks (nothing was changed):"),
            "{what}: {out}"
        );
        assert!(err.contains(reason), "{what}: {err}");
        assert_eq!(repo.state(), before, "{what}: git changed");
        assert_eq!(all_images(&emu).await, 0, "{what}: something was published");
    }
    // A tag on the remote only is found too.
    repo.git(&["checkout", "-q", "--", "."]);
    repo.git(&["tag", "release/2.6.3"]);
    repo.git(&["push", "-q", "origin", "release/2.6.3"]);
    repo.git(&["tag", "-d", "release/2.6.3"]);
    let (_, err) = run_expect(&mut repo.release(&emu, &["2.6.3"]), 2);
    assert!(
        err.contains("the tag release/2.6.3 already exists on origin"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_publish_failure_tags_nothing_and_a_rerun_completes_the_release() {
    let emu = emulator();
    let repo = Repo::new();
    let head = repo.git(&["rev-parse", "HEAD"]);
    emu.control(
        serde_json::json!({"provision_seconds": 0.2, "bundle_fail": ["us-east-1-1404-hvm"]}),
    );
    let (out, err) = run_expect(
        &mut repo.release(&emu, &["2.6.3", "--region", "us-east-1"]),
        1,
    );
    assert!(
        out.contains("[FAILED ] 3. publish: 1 of 4 build(s) did not publish"),
        "{out}"
    );
    assert!(
        err.contains("run the same command again to resume"),
        "{err}"
    );
    assert!(!out.contains("4. verif"), "{out}");
    assert_eq!(repo.git(&["rev-parse", "HEAD"]), head, "nothing committed");
    assert_eq!(repo.git(&["tag", "--list"]), "", "nothing tagged");

    emu.control(serde_json::json!({"provision_seconds": 0.2}));
    let (out, _) = run_expect(
        &mut repo.release(&emu, &["2.6.3", "--region", "us-east-1"]),
        0,
    );
    assert!(
        out.contains("work tree clean but for this release's own files"),
        "{out}"
    );
    assert!(out.contains("[skipped] 2."), "{out}");
    assert!(
        out.contains("published 4 public AMIs in 1 region (3 reused from an earlier run)"),
        "{out}"
    );
    assert!(out.contains("[done   ] 6. tagged release/2.6.3"), "{out}");
    assert_eq!(repo.s.ami_ids()["us-east-1"].as_array().unwrap().len(), 4);
    assert_eq!(repo.git(&["status", "--porcelain"]), "");
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_prints_the_checklist_and_plan_and_changes_nothing() {
    let emu = emulator();
    let repo = Repo::new();
    let before = repo.state();
    let (out, _) = run_expect(
        &mut repo.release(&emu, &["2.6.3", "--push", "--dry-run"]),
        0,
    );
    assert!(out.contains("[done   ] 1. checks"), "{out}");
    assert!(out.contains("32 builds in 8 regions"), "the plan: {out}");
    for step in [
        "2. set version 2.6.3, branch 2.6, public",
        "3. publish 32 public AMIs",
        "4. verify",
        "5. commit",
        "6. create the annotated tag release/2.6.3",
        "7. push the commit and release/2.6.3 to origin",
    ] {
        assert!(out.contains(&format!("[would  ] {step}")), "{step}: {out}");
    }
    assert!(out.contains("dry run: nothing was changed."), "{out}");
    assert_eq!(repo.state(), before);
    assert_eq!(all_images(&emu).await, 0);
    for r in ["us-east-1", "eu-west-1"] {
        assert!(emu.live_instances(r).await.is_empty());
        let (_, s3) = emu.clients(r).await;
        assert!(
            s3.list_buckets().send().await.unwrap().buckets().is_empty(),
            "no bucket made"
        );
    }
}

#[test]
fn bad_input_is_refused_before_anything() {
    let emu = emulator();
    let repo = Repo::new();
    let (_, err) = run_expect(&mut repo.release(&emu, &["2.6"]), 2);
    assert!(err.contains("\"2.6\" is not a version"), "{err}");
    assert!(err.contains("e.g. 2.6.3 or 2.7.0-beta1"), "{err}");
    let (_, err) = run_expect(
        &mut repo.release(&emu, &["2.6.3", "--push", "--remote", "upstream"]),
        2,
    );
    assert!(
        err.contains("there is no remote named upstream to push to"),
        "{err}"
    );

    let (_, err) = run_expect(
        &mut repo.release(&emu, &["2.6.3-rc1", "--candidate", "--channel", "stable"]),
        2,
    );
    assert!(
        err.contains("--channel stable is public, and a --candidate release is private"),
        "{err}"
    );
    let (_, err) = run_expect(
        &mut repo.release(&emu, &["2.6.3", "--channel", "nightly"]),
        2,
    );
    assert!(err.contains("has no such channel (beta, stable)"), "{err}");

    let (_, err) = run_expect(&mut repo.release(&emu, &["2.6.3", "--branch", "2 6"]), 2);
    assert!(
        err.contains(
            "configs/official.yaml:3: branch \"2 6\" must be non-empty and contain no spaces"
        ),
        "{err}"
    );
    std::fs::remove_file(repo.s.path("local.yaml")).unwrap();
    let (_, err) = run_expect(&mut repo.release(&emu, &["2.6.3"]), 2);
    assert!(err.contains("the signing account ID is missing"), "{err}");
    assert_eq!(repo.git(&["status", "--porcelain"]), "", "nothing changed");

    // Outside a git checkout.
    let s = Scratch::new();
    let mut c = s.against(&emu, "release");
    let (_, err) = run_expect(c.arg("2.6.3"), 2);
    assert!(err.contains("release runs in the git checkout"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_preflight_refuses_the_release_with_exit_3_and_changes_nothing() {
    let emu = emulator();
    let repo = Repo::new();
    repo.s.edit("regions.yaml", "ami-c51df2ae", "ami-0000dead");
    repo.git(&["commit", "-qam", "a source AMI that does not exist"]);
    let before = repo.state();
    let (out, err) = run_expect(
        &mut repo.release(&emu, &["2.6.3", "--region", "us-east-1"]),
        3,
    );
    assert!(
        out.contains("[FAILED ] 1. checks (nothing was changed):"),
        "{out}"
    );
    assert!(
        err.contains("us-east-1-1404-pv: source AMI ami-0000dead does not exist in us-east-1"),
        "{err}"
    );
    assert_eq!(repo.state(), before);
    assert_eq!(all_images(&emu).await, 0);
}

#[test]
fn refresh_sources_fills_the_regions_file_before_the_checks_and_commits_it() {
    let emu = emulator();
    let repo = Repo::new();
    let regions = "regions-current.yaml";
    let empty = std::fs::read_to_string(common::root().join(regions)).unwrap();
    repo.s.write(regions, &empty);
    repo.git(&["add", regions]);
    repo.git(&["commit", "-qm", "Current images"]);
    let args = [
        "3.0.1",
        "--config",
        "configs/current.yaml",
        "--regions-file",
        regions,
        "--region",
        "us-east-1",
        "--refresh-sources",
    ];
    // A dry run plans with the sources it looked up, and writes nothing.
    let (out, _) = run_expect(
        &mut repo.release(&emu, &[&args[..], &["--dry-run"]].concat()),
        0,
    );
    assert!(
        out.contains("sources: would update 4 source AMI(s) in regions-current.yaml"),
        "{out}"
    );
    assert!(out.contains("us-east-1-2404-hvm-arm64"), "{out}");
    assert_eq!(repo.git(&["status", "--porcelain"]), "");

    let (out, _) = run_expect(&mut repo.release(&emu, &args), 0);
    assert!(
        out.contains(
            "sources: 4 source AMI(s) to update in regions-current.yaml (step 2 writes them)"
        ),
        "{out}"
    );
    assert!(
        out.contains("and the refreshed source AMIs in regions-current.yaml"),
        "{out}"
    );
    assert!(
        out.contains("us-east-1 \"2404\" hvm arm64: (none) -> ami-"),
        "{out}"
    );
    assert!(out.contains("[done   ] 6. tagged release/3.0.1"), "{out}");
    let committed = repo.git(&["show", "--name-only", "--format=", "HEAD"]);
    assert!(committed.lines().any(|f| f == regions), "{committed}");
    assert_eq!(
        repo.git(&["status", "--porcelain"]),
        "",
        "everything committed"
    );
    let text = std::fs::read_to_string(repo.s.path(regions)).unwrap();
    assert!(
        text.starts_with("# Source images of configs/current.yaml"),
        "{text}"
    );
    assert_eq!(
        text.matches("arm64: ami-").count(),
        2,
        "us-east-1 only: {text}"
    );

    // A dirty regions file is the user's, never swept into a release.
    repo.s.write(regions, &format!("{text}# a note\n"));
    let (_, err) = run_expect(
        &mut repo.release(&emu, &[&["3.0.2"], &args[1..], &["--dry-run"]].concat()),
        2,
    );
    assert!(err.contains(regions), "{err}");
}
