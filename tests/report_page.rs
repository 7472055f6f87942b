//! The run report: every publish writes report.html into its run directory (a lane per build,
//! a bar per step, failures marked), `amipub runs` lists runs, `amipub report` draws a run's
//! page again; and the page renders in a real headless browser (Debian's chromium, installed
//! by scripts/setup-browser.sh).

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::emulator::{Emulator, Options};
use common::{Scratch, run_expect};

const EBS: &str = "configs/test-ebs.yaml";
const OK: &str = "us-east-1-1404-pv";
const FAILS: &str = "us-east-1-1404-hvm";

/// A publish of two builds, one of whose provisioning fails; returns the report's path.
fn published_with_one_failure(s: &Scratch) -> PathBuf {
    let emu = Emulator::start(Options {
        provision_seconds: 0.2,
        ..Options::default()
    });
    emu.control(serde_json::json!({"provision_seconds": 0.2, "fail": [FAILS]}));
    let (out, _) = run_expect(
        &mut s.publish(&emu, &["--config", EBS, "--only", "us-east-1-1404-*"]),
        1,
    );
    let run = s.runs().pop().expect("a run directory");
    let report = s.path(&format!(".amipub/runs/{run}/report.html"));
    assert!(
        out.contains(&format!(
            "report (timeline of every build): .amipub/runs/{run}/report.html"
        )),
        "the summary names the report:\n{out}"
    );
    report
}

/// The `<rect` elements of `page` with `attr="value"`.
fn rects_with<'a>(page: &'a str, attr: &str, value: &str) -> Vec<&'a str> {
    let needle = format!("{attr}=\"{value}\"");
    page.split("<rect")
        .skip(1)
        .map(|r| &r[..r.find('>').unwrap_or(r.len())])
        .filter(|r| r.contains(&needle))
        .collect()
}

#[test]
fn a_publish_writes_a_report_with_each_builds_steps_and_its_failure_marked() {
    let s = Scratch::new();
    let path = published_with_one_failure(&s);
    let page = std::fs::read_to_string(&path).expect("report.html");
    for step in [
        "stage",
        "launch",
        "provision",
        "image",
        "permissions",
        "finish",
    ] {
        let bars = rects_with(&page, "data-step", step);
        assert!(
            bars.iter()
                .any(|r| r.contains(&format!("data-build=\"{OK}\""))),
            "{OK} has a {step} bar"
        );
    }
    for step in ["stage", "launch", "provision"] {
        assert!(
            rects_with(&page, "data-step", step)
                .iter()
                .any(|r| r.contains(&format!("data-build=\"{FAILS}\""))),
            "{FAILS} has a {step} bar"
        );
    }
    let failed: Vec<&str> = rects_with(&page, "data-build", FAILS)
        .into_iter()
        .filter(|r| r.contains("failed"))
        .collect();
    assert_eq!(failed.len(), 1, "one failed bar: {failed:?}");
    assert!(failed[0].contains("data-step=\"provision\""), "{failed:?}");
    assert!(page.contains("failure-mark"));
    assert!(page.contains("the provisioning script exited with status"));
    assert!(
        page.contains("us-east-1"),
        "lanes grouped under their region"
    );
    assert!(!page.contains("<script"), "no scripts");
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "nothing from elsewhere"
    );
}

#[test]
fn runs_lists_the_run_and_report_draws_it_again() {
    let s = Scratch::new();
    let path = published_with_one_failure(&s);
    let run = s.runs().pop().unwrap();
    let (out, _) = run_expect(s.amipub().arg("runs"), 0);
    let line = out
        .lines()
        .find(|l| l.starts_with(&run))
        .expect("the run is listed");
    assert!(line.contains(EBS) && line.contains("2.6.2"), "{line}");
    assert!(line.contains("published 1, reused 0, failed 1"), "{line}");
    std::fs::remove_file(&path).unwrap();
    let (out, _) = run_expect(s.amipub().args(["report", &run[..12]]), 0);
    assert_eq!(out.trim(), format!(".amipub/runs/{run}/report.html"));
    assert!(path.exists(), "drawn again");
    let (_, err) = run_expect(s.amipub().args(["report", "19990101"]), 2);
    assert!(
        err.contains("no run 19990101 in .amipub/runs; `amipub runs` lists them"),
        "{err}"
    );
}

#[test]
fn report_and_runs_of_an_empty_runs_directory() {
    let s = Scratch::new();
    let (out, _) = run_expect(s.amipub().arg("runs"), 0);
    assert_eq!(out.trim(), "no runs in .amipub/runs yet");
    let (_, err) = run_expect(s.amipub().arg("report"), 2);
    assert!(err.contains("no runs in .amipub/runs yet"), "{err}");
}

/// Runs chromium headless on `page` with `args`; its stdout.
fn chromium(page: &Path, args: &[&str]) -> Vec<u8> {
    let mut c = assert_cmd::Command::new("chromium");
    c.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
    ])
    .args(args)
    .arg(format!("file://{}", page.display()))
    .timeout(Duration::from_secs(120));
    let out = c
        .output()
        .expect("chromium runs (scripts/setup-browser.sh installs it)");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn the_report_renders_in_a_headless_browser() {
    let s = Scratch::new();
    let path = published_with_one_failure(&s);
    // The DOM as the browser built it: the SVG parsed into elements, every bar there.
    let dom = String::from_utf8(chromium(&path, &["--dump-dom"])).unwrap();
    let source = std::fs::read_to_string(&path).unwrap();
    assert!(
        source.matches("data-step=").count() >= 9,
        "two builds' steps drawn"
    );
    assert_eq!(
        dom.matches("data-step=").count(),
        source.matches("data-step=").count(),
        "the browser kept every bar"
    );
    assert!(dom.contains("<svg"), "an SVG element in the DOM");
    // And a picture of it.
    let png = s.path("report.png");
    chromium(
        &path,
        &[
            &format!("--screenshot={}", png.display()),
            "--window-size=1280,900",
        ],
    );
    let bytes = std::fs::read(&png).expect("a screenshot");
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "a PNG");
    let width = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    assert_eq!(width, 1280);
    assert!(
        bytes.len() > 20_000,
        "more than a blank page: {} bytes",
        bytes.len()
    );
}
