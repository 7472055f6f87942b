//! The registry against the emulator: publish records versions, promote points channels (and
//! every region's SSM parameters) at them, revoke rolls them back, events reach a queue; every
//! refusal changes nothing; racing promotes and a region whose parameter write fails leave the
//! registry consistent.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::emulator::{Emulator, Options};
use common::{Scratch, block, region_results, run_expect};
use serde_json::{Value, json};

const PROFILE: &str = "configs/test-ebs.yaml";
const REGIONS: [&str; 2] = ["eu-west-1", "us-east-1"];
const PARAM: &str = "/comboami/stable/1404/hvm/ami-id";

/// A public profile of one build in each of two regions, with a registry.
fn profile() -> Scratch {
    let s = Scratch::new();
    s.edit(
        PROFILE,
        "releases: [\"1204\", \"1404\"]",
        "releases: [\"1404\"]",
    )
    .edit(
        PROFILE,
        "virtualizations: [paravirtual, hvm]",
        "virtualizations: [hvm]",
    )
    .edit(
        PROFILE,
        "regions: [us-east-1]",
        "regions: [us-east-1, eu-west-1]",
    )
    .edit(PROFILE, "groups: []", "groups: [all]");
    let text = std::fs::read_to_string(s.path(PROFILE)).unwrap();
    s.write(
        PROFILE,
        &format!(
            "{text}registry:\n  bucket: comboami-registry\n  region: us-east-1\n  artifact: comboami\n  channels:\n    stable: {{ public: true }}\n    beta: {{ public: false }}\n"
        ),
    );
    s
}

fn emulator() -> Emulator {
    Emulator::start(Options {
        provision_seconds: 0.2,
        image_pending_seconds: Some(0.3),
        ..Options::default()
    })
}

/// Publishes the profile at `version` (`extra`: more flags); returns stdout.
fn publish(s: &Scratch, emu: &Emulator, version: &str, extra: &[&str]) -> String {
    let text = std::fs::read_to_string(s.path(PROFILE)).unwrap();
    let current = text
        .lines()
        .find_map(|l| l.strip_prefix("version: \""))
        .and_then(|l| l.split('"').next())
        .unwrap()
        .to_string();
    s.edit(
        PROFILE,
        &format!("version: \"{current}\""),
        &format!("version: \"{version}\""),
    );
    let mut args = vec!["--config", PROFILE];
    args.extend_from_slice(extra);
    let (out, err) = run_expect(&mut s.publish(emu, &args), 0);
    assert!(
        out.contains(&format!("registry: comboami {version} recorded")),
        "{out}\n{err}"
    );
    out
}

/// `amipub SUB --config PROFILE ARGS` expecting `code`; (stdout, stderr).
fn amipub(s: &Scratch, emu: &Emulator, sub: &[&str], args: &[&str], code: i32) -> (String, String) {
    let mut c = s.amipub();
    common::emulator::aws_env(&mut c);
    c.args(sub)
        .args(["--endpoint-url", &emu.endpoint, "--config", PROFILE])
        .args(args);
    run_expect(&mut c, code)
}

fn json_of(s: &Scratch, emu: &Emulator, sub: &[&str], args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend(["--format", "json"]);
    let (out, _) = amipub(s, emu, sub, &all, 0);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// Each region's AMI of `version`, as the registry records it.
fn amis(s: &Scratch, emu: &Emulator, version: &str) -> BTreeMap<String, String> {
    let doc = json_of(s, emu, &["registry", "show", version], &[]);
    doc["builds"]
        .as_object()
        .unwrap()
        .values()
        .map(|b| {
            (
                b["region"].as_str().unwrap().to_string(),
                b["ami_id"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// What `name` holds in each region (absent: not there).
fn parameters(emu: &Emulator, name: &str) -> BTreeMap<String, String> {
    block(async {
        let mut out = BTreeMap::new();
        for r in REGIONS {
            let ssm = aws_sdk_ssm::Client::new(&emu.sdk_config(r).await);
            if let Ok(p) = ssm.get_parameter().name(name).send().await {
                let p = p.parameter.unwrap();
                assert_eq!(p.data_type(), Some("aws:ec2:image"));
                out.insert(r.to_string(), p.value.unwrap());
            }
        }
        out
    })
}

/// Where `channel` points (`None`: nowhere), as `amipub channels` says.
fn channel(s: &Scratch, emu: &Emulator, channel: &str) -> Option<String> {
    let all = json_of(s, emu, &["channels"], &[]);
    all["channels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["channel"] == channel)
        .and_then(|c| c["version"].as_str().map(str::to_string))
}

fn promote(s: &Scratch, emu: &Emulator, version: &str, code: i32) -> String {
    let (out, err) = amipub(
        s,
        emu,
        &["promote", version],
        &["--channel", "stable", "--yes"],
        code,
    );
    format!("{out}{err}")
}

/// An SQS queue in us-east-1 receiving every amipub event of the default bus.
fn subscribe(emu: &Emulator) -> String {
    block(async {
        let cfg = emu.sdk_config("us-east-1").await;
        let sqs = aws_sdk_sqs::Client::new(&cfg);
        let url = sqs
            .create_queue()
            .queue_name("deploys")
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap();
        let arn = sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .unwrap()
            .attributes
            .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
            .clone();
        let events = aws_sdk_eventbridge::Client::new(&cfg);
        events
            .put_rule()
            .name("amipub-to-deploys")
            .event_pattern(json!({"source": ["amipub"]}).to_string())
            .send()
            .await
            .unwrap();
        events
            .put_targets()
            .rule("amipub-to-deploys")
            .targets(
                aws_sdk_eventbridge::types::Target::builder()
                    .id("q")
                    .arn(arn)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
        url
    })
}

/// Every event the queue holds, in order.
fn received(emu: &Emulator, url: &str) -> Vec<Value> {
    block(async {
        let sqs = aws_sdk_sqs::Client::new(&emu.sdk_config("us-east-1").await);
        let mut all = Vec::new();
        loop {
            let got = sqs
                .receive_message()
                .queue_url(url)
                .max_number_of_messages(10)
                .send()
                .await
                .unwrap();
            let msgs = got.messages.unwrap_or_default();
            if msgs.is_empty() {
                return all;
            }
            for m in msgs {
                all.push(serde_json::from_str(m.body().unwrap()).unwrap());
            }
        }
    })
}

#[test]
fn promote_points_every_region_at_the_version_and_revoke_rolls_back() {
    let emu = emulator();
    let s = profile();
    let queue = subscribe(&emu);
    publish(&s, &emu, "2.6.2", &[]);
    let first = amis(&s, &emu, "2.6.2");
    assert_eq!(first.len(), 2, "{first:?}");
    // The registry's bucket was created private and encrypted, tagged as the registry's.
    block(async {
        let (_, s3) = emu.clients("us-east-1").await;
        let b = "comboami-registry";
        let block = s3.get_public_access_block().bucket(b).send().await.unwrap();
        let conf = block.public_access_block_configuration.unwrap();
        assert_eq!(conf.block_public_acls, Some(true));
        assert_eq!(conf.restrict_public_buckets, Some(true));
        assert!(s3.get_bucket_encryption().bucket(b).send().await.is_ok());
        let tags = s3.get_bucket_tagging().bucket(b).send().await.unwrap();
        assert!(
            tags.tag_set()
                .iter()
                .any(|t| t.key() == "amipub:registry" && t.value() == "comboami")
        );
        assert!(!tags.tag_set().iter().any(|t| t.key() == "amipub:managed"));
    });

    let out = promote(&s, &emu, "2.6.2", 0);
    assert!(out.contains("stable: (none) -> 2.6.2"), "{out}");
    assert_eq!(
        parameters(&emu, PARAM),
        first,
        "each region's parameter holds its own AMI"
    );
    assert_eq!(channel(&s, &emu, "stable").as_deref(), Some("2.6.2"));

    publish(&s, &emu, "2.6.3", &[]);
    let second = amis(&s, &emu, "2.6.3");
    promote(&s, &emu, "2.6.3", 0);
    assert_eq!(parameters(&emu, PARAM), second);
    let index = json_of(&s, &emu, &["registry", "versions"], &[]);
    let moves: Vec<(Value, Value)> = index["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["from"].clone(), m["to"].clone()))
        .collect();
    assert_eq!(
        moves,
        [
            (Value::Null, json!("2.6.2")),
            (json!("2.6.2"), json!("2.6.3"))
        ]
    );

    let events = received(&emu, &queue);
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["detail-type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "Image Version Published",
            "Channel Promoted",
            "Image Version Published",
            "Channel Promoted"
        ]
    );
    let last = &events[3]["detail"];
    assert_eq!(last["version"], "2.6.3");
    assert_eq!(last["previous"], "2.6.2");
    assert_eq!(
        last["amis"]["eu-west-1"]["eu-west-1-1404-hvm"],
        second["eu-west-1"].as_str()
    );

    // A channel points at it: refused without --rollback, nothing changed.
    let (_, err) = amipub(
        &s,
        &emu,
        &["revoke", "2.6.3"],
        &["--reason", "broken", "--yes"],
        1,
    );
    assert!(err.contains("pass --rollback"), "{err}");
    assert_eq!(parameters(&emu, PARAM), second);
    assert_eq!(channel(&s, &emu, "stable").as_deref(), Some("2.6.3"));

    let (out, _) = amipub(
        &s,
        &emu,
        &["revoke", "2.6.3"],
        &[
            "--reason",
            "broken cassandra.yaml",
            "--rollback",
            "--deprecate",
            "--yes",
        ],
        0,
    );
    assert!(out.contains("stable: 2.6.3 -> 2.6.2"), "{out}");
    block(async {
        for (region, ami) in &second {
            let (ec2, _) = emu.clients(region).await;
            let img = ec2.describe_images().image_ids(ami).send().await.unwrap();
            let when = img.images()[0].deprecation_time();
            assert!(when.is_some(), "{ami} in {region} is set to deprecate");
        }
    });
    assert_eq!(
        parameters(&emu, PARAM),
        first,
        "every region follows the rollback"
    );
    assert_eq!(channel(&s, &emu, "stable").as_deref(), Some("2.6.2"));
    let out = promote(&s, &emu, "2.6.3", 1);
    assert!(
        out.contains("was revoked") && out.contains("broken cassandra.yaml"),
        "{out}"
    );
    assert_eq!(
        received(&emu, &queue)
            .iter()
            .map(|e| e["detail-type"].as_str().unwrap().to_string())
            .collect::<Vec<_>>(),
        ["Channel Promoted", "Version Revoked"],
        "the rollback is a move deployments follow"
    );
}

#[test]
fn incomplete_unverified_and_private_versions_are_refused_with_nothing_changed() {
    let emu = emulator();
    let s = profile();
    publish(&s, &emu, "2.6.2", &["--only", "us-east-1-*"]);
    let out = promote(&s, &emu, "2.6.2", 1);
    assert!(
        out.contains("2.6.2 is incomplete") && out.contains("eu-west-1-1404-hvm"),
        "{out}"
    );
    assert!(parameters(&emu, PARAM).is_empty());

    publish(&s, &emu, "2.6.2", &[]);
    let ids = amis(&s, &emu, "2.6.2");
    // Someone made one AMI private since: verify finds it, the public channel is refused.
    block(async {
        let (ec2, _) = emu.clients("eu-west-1").await;
        ec2.modify_image_attribute()
            .image_id(&ids["eu-west-1"])
            .launch_permission(
                aws_sdk_ec2::types::LaunchPermissionModifications::builder()
                    .remove(
                        aws_sdk_ec2::types::LaunchPermission::builder()
                            .group(aws_sdk_ec2::types::PermissionGroup::All)
                            .build(),
                    )
                    .build(),
            )
            .send()
            .await
            .unwrap();
    });
    let out = promote(&s, &emu, "2.6.2", 1);
    assert!(
        out.contains("verifying version 2.6.2 found differences"),
        "{out}"
    );
    assert!(parameters(&emu, PARAM).is_empty());
    assert_eq!(channel(&s, &emu, "stable"), None);

    s.edit(PROFILE, "groups: [all]", "groups: []");
    publish(&s, &emu, "2.6.4", &[]);
    let out = promote(&s, &emu, "2.6.4", 1);
    assert!(
        out.contains("the channel stable is public, and these AMIs of 2.6.4 are not"),
        "{out}"
    );
    assert!(parameters(&emu, PARAM).is_empty());
    let (_, err) = amipub(
        &s,
        &emu,
        &["promote", "2.6.4"],
        &["--channel", "nightly", "--yes"],
        1,
    );
    assert!(
        err.contains("no channel \"nightly\"; its channels: beta, stable"),
        "{err}"
    );
    // A private channel takes it.
    amipub(
        &s,
        &emu,
        &["promote", "2.6.4"],
        &["--channel", "beta", "--yes"],
        0,
    );
    let beta = parameters(&emu, "/comboami/beta/1404/hvm/ami-id");
    assert_eq!(beta, amis(&s, &emu, "2.6.4"));
}

#[test]
fn a_region_whose_parameter_write_fails_leaves_the_channel_and_a_rerun_finishes() {
    let emu = emulator();
    let s = profile();
    publish(&s, &emu, "2.6.2", &[]);
    emu.control(json!({"faults": [{"operation": "ssm:PutParameter", "region": "eu-west-1", "error": "InternalServerError", "status": 500}]}));
    let out = promote(&s, &emu, "2.6.2", 1);
    assert!(out.contains("could not all be written"), "{out}");
    assert!(out.contains("eu-west-1: still unset"), "{out}");
    assert!(out.contains("run the same promote again"), "{out}");
    assert_eq!(
        channel(&s, &emu, "stable"),
        None,
        "the channel did not move"
    );
    emu.control(json!({}));
    promote(&s, &emu, "2.6.2", 0);
    assert_eq!(parameters(&emu, PARAM), amis(&s, &emu, "2.6.2"));
    assert_eq!(channel(&s, &emu, "stable").as_deref(), Some("2.6.2"));

    // cleanup of everything amipub made never takes the registry for a staging bucket.
    let mut c = s.against(&emu, "cleanup");
    run_expect(c.args(["--all-regions", "--force", "--yes"]), 0);
    assert!(block(emu.bucket_exists("us-east-1", "comboami-registry")));
    assert_eq!(channel(&s, &emu, "stable").as_deref(), Some("2.6.2"));
}

#[test]
fn racing_promotes_leave_the_registry_and_the_regions_agreeing() {
    let emu = emulator();
    let s = profile();
    publish(&s, &emu, "2.6.2", &[]);
    publish(&s, &emu, "2.6.3", &[]);
    let runs: Vec<_> = ["2.6.2", "2.6.3"]
        .iter()
        .map(|v| {
            s.spawn(
                &emu,
                &[
                    "promote",
                    v,
                    "--channel",
                    "stable",
                    "--yes",
                    "--config",
                    PROFILE,
                ],
            )
        })
        .collect();
    let codes: Vec<Option<i32>> = runs
        .into_iter()
        .map(|r| r.wait(Duration::from_secs(120)).code)
        .collect();
    assert!(codes.contains(&Some(0)), "one of them wins: {codes:?}");
    let now = channel(&s, &emu, "stable").expect("the channel points somewhere");
    assert_eq!(
        parameters(&emu, PARAM),
        amis(&s, &emu, &now),
        "the regions hold what the registry says"
    );
    let index = json_of(&s, &emu, &["registry", "versions"], &[]);
    let last = index["history"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["to"], now.as_str());
    assert!(
        index["channels"]["stable"].get("pending").is_none(),
        "{index}"
    );
}

#[test]
fn parameters_amipub_did_not_write_are_left_alone_unless_forced_and_verify_finds_changes() {
    let emu = emulator();
    let s = profile();
    publish(&s, &emu, "2.6.2", &[]);
    let ids = amis(&s, &emu, "2.6.2");
    let beta = "/comboami/beta/1404/hvm/ami-id";
    // Someone else's parameter, already there: same name, another AMI of the region.
    block(async {
        let ssm = aws_sdk_ssm::Client::new(&emu.sdk_config("us-east-1").await);
        ssm.put_parameter()
            .name(beta)
            .value("ami-eb6b8480")
            .r#type(aws_sdk_ssm::types::ParameterType::String)
            .data_type("aws:ec2:image")
            .send()
            .await
            .unwrap();
    });
    let (_, err) = amipub(
        &s,
        &emu,
        &["promote", "2.6.2"],
        &["--channel", "beta", "--yes"],
        1,
    );
    assert!(
        err.contains(&format!(
            "{beta} was not written by amipub for comboami; pass --force"
        )),
        "{err}"
    );
    assert_eq!(channel(&s, &emu, "beta"), None);
    amipub(
        &s,
        &emu,
        &["promote", "2.6.2"],
        &["--channel", "beta", "--yes", "--force"],
        0,
    );
    assert_eq!(parameters(&emu, beta), ids);

    let (out, _) = amipub(&s, &emu, &["verify"], &["--channel", "beta"], 0);
    assert!(
        out.contains("beta -> 2.6.2: 2 of 2 parameter(s) as the registry says"),
        "{out}"
    );
    // A region's parameter changed by hand.
    block(async {
        let ssm = aws_sdk_ssm::Client::new(&emu.sdk_config("eu-west-1").await);
        ssm.put_parameter()
            .name(beta)
            .value("ami-9bdda0ec")
            .r#type(aws_sdk_ssm::types::ParameterType::String)
            .data_type("aws:ec2:image")
            .overwrite(true)
            .send()
            .await
            .unwrap();
    });
    let report = json_of_code(&s, &emu, &["verify"], &["--channel", "beta"], 1);
    let results = region_results(&report);
    assert_eq!(
        results,
        [
            ("eu-west-1".to_string(), "wrong".to_string()),
            ("us-east-1".into(), "correct".into())
        ]
    );
}

/// As [`json_of`], expecting `code`.
fn json_of_code(s: &Scratch, emu: &Emulator, sub: &[&str], args: &[&str], code: i32) -> Value {
    let mut all = args.to_vec();
    all.extend(["--format", "json"]);
    let (out, _) = amipub(s, emu, sub, &all, code);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

#[test]
fn a_rollback_to_a_version_with_fewer_regions_leaves_no_region_on_the_revoked_ami() {
    let emu = emulator();
    let s = profile();
    // 2.6.2 is built in us-east-1 only (the profile's regions then); 2.6.3 in both.
    s.edit(
        PROFILE,
        "regions: [us-east-1, eu-west-1]",
        "regions: [us-east-1]",
    );
    publish(&s, &emu, "2.6.2", &[]);
    s.edit(
        PROFILE,
        "regions: [us-east-1]",
        "regions: [us-east-1, eu-west-1]",
    );
    publish(&s, &emu, "2.6.3", &[]);
    let first = amis(&s, &emu, "2.6.2");
    promote(&s, &emu, "2.6.2", 0);
    promote(&s, &emu, "2.6.3", 0);
    assert_eq!(parameters(&emu, PARAM), amis(&s, &emu, "2.6.3"));
    amipub(
        &s,
        &emu,
        &["revoke", "2.6.3"],
        &["--reason", "broken", "--rollback", "--yes"],
        0,
    );
    // us-east-1 is back on 2.6.2; eu-west-1, where 2.6.2 has no build, serves nothing: the
    // name is the same in both regions, and only us-east-1 needs it.
    assert_eq!(parameters(&emu, PARAM), first);
    assert_eq!(channel(&s, &emu, "stable").as_deref(), Some("2.6.2"));
}
