//! Bad input to `amipub publish`: each case's message and exit code, from the real binary.
//! None of these reaches the point of launching anything.

mod common;

use common::emulator::aws_env;
use common::{Scratch, run_expect};

const EBS: &str = "configs/test-ebs.yaml";

fn publish(s: &Scratch, args: &[&str], code: i32) -> String {
    let mut cmd = s.amipub();
    aws_env(&mut cmd);
    let (_, err) = run_expect(cmd.arg("publish").args(args), code);
    assert!(!err.contains("panicked"), "{err}");
    err
}

#[test]
fn no_credentials_and_no_endpoint_says_how_to_get_either() {
    let s = Scratch::new();
    let mut cmd = s.amipub();
    aws_env(&mut cmd);
    cmd.env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY");
    let (_, err) = run_expect(cmd.args(["publish", "--config", EBS]), 3);
    assert!(
        err.contains(
            "no AWS credentials found: none in the environment, the shared config and \
             credentials files, SSO or an instance role."
        ),
        "{err}"
    );
    assert!(
        !err.contains("IMDS"),
        "nothing about the metadata service: {err}"
    );
    assert!(err.contains("AWS_PROFILE"), "{err}");
    assert!(err.contains("--endpoint-url"), "{err}");
    assert!(err.contains("scripts/demo"), "{err}");
}

#[test]
fn debug_without_a_terminal_is_refused() {
    let s = Scratch::new();
    let err = publish(&s, &["--config", EBS, "--debug"], 2);
    assert!(
        err.contains("--debug and --on-error=ask wait for answers on a terminal"),
        "{err}"
    );
    let err = publish(&s, &["--config", EBS, "--on-error", "ask"], 2);
    assert!(err.contains("standard input is not one"), "{err}");
}

#[test]
fn instance_store_without_signing_material_names_each_missing_item() {
    let s = Scratch::new();
    let err = publish(&s, &["--only", "us-east-1-1404-pv"], 2);
    for item in [
        "the signing account ID is missing: set account_id in local.yaml (copy local.example.yaml) or the environment variable AMIPUB_ACCOUNT_ID",
        "the signing certificate is missing: set certificate in local.yaml",
        "AMIPUB_SIGNING_CERT",
        "the signing key is missing: set private_key in local.yaml",
        "AMIPUB_SIGNING_KEY",
    ] {
        assert!(err.contains(item), "{item:?} not in:\n{err}");
    }
    assert_eq!(
        err.matches("error: instance-store builds need signing material")
            .count(),
        3,
        "{err}"
    );
}

#[test]
fn a_named_local_settings_file_must_exist() {
    let s = Scratch::new();
    let err = publish(&s, &["--local-settings", "nowhere.yaml"], 2);
    assert!(
        err.contains("nowhere.yaml: No such file or directory"),
        "{err}"
    );
}

#[test]
fn bad_signing_material_is_refused_without_quoting_it() {
    let s = Scratch::new();
    let marker = s.signing();
    s.write("keys/cert.pem", "not a certificate");
    s.edit("local.yaml", "\"123456789012\"", "\"12345\"");
    let err = publish(&s, &[], 2);
    assert!(
        err.contains("the signing account ID (account_id in local.yaml) must be 12 digits"),
        "{err}"
    );
    assert!(err.contains("the signing certificate"), "{err}");
    assert!(err.contains("is not a PEM certificate"), "{err}");
    assert!(
        !err.contains("12345\""),
        "the account ID is not quoted: {err}"
    );
    assert!(!err.contains(&marker), "{err}");
    // An account ID written as a number may lose leading zeros.
    s.edit("local.yaml", "\"12345\"", "123456789012");
    let err = publish(&s, &[], 2);
    assert!(
        err.contains("account_id in local.yaml must be a quoted string"),
        "{err}"
    );
}

#[test]
fn an_instance_store_profile_without_an_instance_profile_is_refused_with_its_line() {
    let s = Scratch::new();
    s.signing();
    s.edit(
        "configs/official.yaml",
        "iam_instance_profile: amipub-bundler\n",
        "",
    );
    let err = publish(&s, &[], 2);
    assert!(
        err.contains("configs/official.yaml:4: instance-store builds need iam_instance_profile"),
        "{err}"
    );
    s.edit(
        "configs/official.yaml",
        "backing: instance-store",
        "backing: instance-store\niam_instance_profile: arn:aws:iam::1:instance-profile/x",
    );
    let err = publish(&s, &[], 2);
    assert!(err.contains("configs/official.yaml:5: iam_instance_profile \"arn:aws:iam::1:instance-profile/x\" is not an instance profile name"), "{err}");
}

#[test]
fn bundle_commands_belong_to_instance_store_profiles() {
    let s = Scratch::new();
    s.write(
        EBS,
        &(std::fs::read_to_string(s.path(EBS)).unwrap() + "bundle:\n  command: \"true\"\n"),
    );
    let err = publish(&s, &["--config", EBS], 2);
    assert!(
        err.contains("bundle applies to instance-store builds only, and this profile is ebs"),
        "{err}"
    );
}

#[test]
fn a_damaged_ami_ids_json_stops_the_run_before_anything_starts() {
    let s = Scratch::new();
    s.write("ami_ids.json", "{\n  \"us-east-1\": [ {\"id\": 5} ]\n}\n");
    let err = publish(
        &s,
        &["--config", EBS, "--endpoint-url", "http://127.0.0.1:9"],
        2,
    );
    assert!(
        err.contains("ami_ids.json:2: not an ami_ids.json file"),
        "{err}"
    );
}

#[test]
fn bad_flag_values() {
    let s = Scratch::new();
    let err = publish(&s, &["--config", EBS, "--max-parallel", "0"], 2);
    assert!(
        err.contains("invalid value '0' for '--max-parallel <N>'"),
        "{err}"
    );
    let err = publish(&s, &["--config", EBS, "--parallel=maybe"], 2);
    assert!(
        err.contains("invalid value 'maybe' for '--parallel <BOOL>'"),
        "{err}"
    );
    let err = publish(&s, &["--config", EBS, "--on-error", "explode"], 2);
    assert!(err.contains("invalid value 'explode'"), "{err}");
    let err = publish(&s, &["--config", EBS, "--poll-interval", "soon"], 2);
    assert!(
        err.contains("invalid value 'soon' for '--poll-interval <DURATION>'"),
        "{err}"
    );
    let err = publish(&s, &["--config", EBS, "--poll-interval", "0s"], 2);
    assert!(
        err.contains("invalid value '0s' for '--poll-interval <DURATION>': must be from 1ms to 1h"),
        "{err}"
    );
}

#[test]
fn an_unreachable_endpoint_fails_preflight_with_the_reason() {
    let s = Scratch::new();
    let mut cmd = s.amipub();
    aws_env(&mut cmd);
    let (out, err) = run_expect(
        cmd.args([
            "publish",
            "--config",
            EBS,
            "--endpoint-url",
            "http://127.0.0.1:9",
        ]),
        3,
    );
    // The SDK's retries take half a minute to give up: the wait is announced first.
    assert!(
        out.contains("preflight: checking 1 region(s) at http://127.0.0.1:9..."),
        "{out}"
    );
    assert!(
        err.contains(
            "us-east-1: cannot reach AWS at http://127.0.0.1:9 (--endpoint-url or AWS_ENDPOINT_URL): dispatch failure"
        ),
        "{err}"
    );
    assert!(err.contains("Connection refused"), "{err}");
    assert!(!err.contains("DispatchFailure {"), "no debug dump: {err}");
    assert_eq!(
        err.lines().filter(|l| l.starts_with("error: ")).count(),
        1,
        "one line for the region: {err}"
    );
    assert!(err.contains("nothing was launched"), "{err}");
}
