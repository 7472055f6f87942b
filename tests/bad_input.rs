//! Bad input is refused with a message and exit code 2, and nothing runs: empty selections,
//! duplicate keys, files that are not configuration files (huge, endless, directories, deep
//! nesting) and durations out of range. None of these needs AWS.

mod common;

use common::{Scratch, run_expect};

const EBS: &str = "configs/test-ebs.yaml";

/// `amipub ARGS` in `s`, expecting exit code 2; returns stderr.
fn refused(s: &Scratch, args: &[&str]) -> String {
    let mut c = s.amipub();
    // Nothing here may reach AWS: an unreachable endpoint makes any attempt fail loudly.
    c.env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .args(args);
    let (out, err) = run_expect(&mut c, 2);
    assert!(!out.contains("preflight"), "nothing ran: {out}");
    err
}

#[test]
fn an_empty_only_or_except_selects_nothing_instead_of_everything() {
    let s = Scratch::new();
    for cmd in ["plan", "publish"] {
        for value in ["", ",", " , "] {
            let err = refused(&s, &[cmd, "--config", EBS, "--only", value]);
            assert!(
                err.contains(&format!("--only '{value}' names no pattern")),
                "{err}"
            );
            let err = refused(&s, &[cmd, "--config", EBS, "--except", value]);
            assert!(
                err.contains(&format!("--except '{value}' names no pattern")),
                "{err}"
            );
        }
    }
}

#[test]
fn an_empty_cleanup_build_pattern_is_refused_with_every_other_bad_flag() {
    let s = Scratch::new();
    let err = refused(
        &s,
        &[
            "cleanup",
            "--build",
            " , ",
            "--build",
            "a[",
            "--ami",
            "ami-nothex",
        ],
    );
    assert!(err.contains("--build ' , ' names no pattern"), "{err}");
    assert!(err.contains("--build 'a[': not a valid glob"), "{err}");
    assert!(err.contains("--ami "), "{err}");
    assert!(
        err.contains("say where to clean up: --all-regions"),
        "every problem at once: {err}"
    );
}

#[test]
fn a_key_given_twice_in_a_map_is_refused_with_both_lines() {
    let s = Scratch::new();
    let regions = std::fs::read_to_string(s.path("regions.yaml")).unwrap();
    let block = regions
        .split("\n  us-east-1:")
        .nth(1)
        .and_then(|rest| rest.split("\n  ").next())
        .expect("us-east-1 block");
    s.write("regions.yaml", &format!("{regions}\n  us-east-1:{block}\n"));
    let err = refused(&s, &["plan", "--config", EBS]);
    assert!(err.contains("regions.yaml:"), "{err}");
    assert!(
        err.contains("the key \"us-east-1\" appears twice in one mapping (first at line"),
        "{err}"
    );

    let s = Scratch::new();
    s.edit(
        EBS,
        "version: \"2.6.2\"",
        "version: \"2.6.2\"\nversion: \"9.9.9\"",
    );
    let err = refused(&s, &["plan", "--config", EBS]);
    assert!(
        err.contains(
            "test-ebs.yaml:3: the key \"version\" appears twice in one mapping (first at line 2)"
        ),
        "{err}"
    );
}

#[test]
fn deep_nesting_is_refused_without_parsing_it() {
    let s = Scratch::new();
    let n = 100_000;
    s.write(
        "configs/deep.yaml",
        &format!("version: {}{}\n", "[".repeat(n), "]".repeat(n)),
    );
    let err = refused(&s, &["plan", "--config", "configs/deep.yaml"]);
    assert!(
        err.contains("deep.yaml:1: collections nest deeper than 64 levels"),
        "{err}"
    );
}

#[cfg(unix)]
#[test]
fn a_device_a_directory_or_a_huge_file_is_not_read_as_configuration() {
    let s = Scratch::new();
    let err = refused(&s, &["plan", "--config", "/dev/zero"]);
    assert!(err.contains("/dev/zero is larger than 1024 KiB"), "{err}");
    let err = refused(
        &s,
        &["plan", "--config", EBS, "--regions-file", "/dev/zero"],
    );
    assert!(err.contains("/dev/zero is larger than 1024 KiB"), "{err}");
    let err = refused(&s, &["plan", "--config", "configs"]);
    assert!(err.contains("configs is a directory, not a file"), "{err}");
    s.write("configs/huge.yaml", &"# padding\n".repeat(200_000));
    let err = refused(&s, &["plan", "--config", "configs/huge.yaml"]);
    assert!(err.contains("is larger than 1024 KiB"), "{err}");
}

#[test]
fn durations_out_of_range_are_usage_errors() {
    let s = Scratch::new();
    let err = refused(
        &s,
        &[
            "publish",
            "--config",
            EBS,
            "--poll-interval",
            "100000000000years",
        ],
    );
    assert!(
        err.contains("invalid value '100000000000years' for '--poll-interval <DURATION>'"),
        "{err}"
    );
    let err = refused(&s, &["publish", "--config", EBS, "--poll-interval", "2h"]);
    assert!(err.contains("must be from 1ms to 1h"), "{err}");
    let err = refused(
        &s,
        &[
            "cleanup",
            "--region",
            "us-east-1",
            "--older-than",
            "100000000000years",
        ],
    );
    assert!(
        err.contains("invalid value '100000000000years' for '--older-than <DURATION>'"),
        "{err}"
    );
}

#[test]
fn an_output_that_is_a_directory_is_a_usage_error() {
    let s = Scratch::new();
    let err = refused(&s, &["publish", "--config", EBS, "--output", "configs"]);
    assert!(err.contains("--output configs is a directory"), "{err}");
}

#[test]
fn timeouts_longer_than_presigned_urls_can_last_are_refused() {
    let s = Scratch::new();
    s.edit(EBS, "provision: 30m", "provision: 8d");
    let err = refused(&s, &["plan", "--config", EBS]);
    assert!(
        err.contains("timeouts.provision is 8days, longer than the 6days 23h 54m it may be"),
        "{err}"
    );
    s.edit(EBS, "provision: 8d", "provision: 400000000000years");
    let err = refused(&s, &["plan", "--config", EBS]);
    assert!(err.contains("timeouts"), "{err}");
}

#[test]
fn an_ec2_rate_limit_that_is_not_action_burst_per_second_is_refused() {
    let s = Scratch::new();
    for (value, says) in [
        ("RunInstances", "expected ACTION=BURST/PER_SECOND"),
        ("RunInstances=5", "expected ACTION=BURST/PER_SECOND"),
        (
            "RunInstances=0/2",
            "the burst must be at least 1 and the rate above 0",
        ),
        (
            "describe=100/0",
            "the burst must be at least 1 and the rate above 0",
        ),
    ] {
        let err = refused(&s, &["publish", "--config", EBS, "--ec2-rate-limit", value]);
        assert!(
            err.contains(&format!("invalid value '{value}' for '--ec2-rate-limit")),
            "{err}"
        );
        assert!(err.contains(says), "{value}: {err}");
    }
}

#[test]
fn a_json_summary_and_machine_readable_lines_both_want_stdout() {
    let s = Scratch::new();
    let err = refused(
        &s,
        &[
            "publish",
            "--config",
            EBS,
            "--format",
            "json",
            "--machine-readable",
        ],
    );
    assert!(
        err.contains("the argument '--format <FORMAT>' cannot be used with '--machine-readable'"),
        "{err}"
    );
    let err = refused(&s, &["publish", "--config", EBS, "--format", "yaml"]);
    assert!(
        err.contains("invalid value 'yaml' for '--format <FORMAT>'"),
        "{err}"
    );
}
