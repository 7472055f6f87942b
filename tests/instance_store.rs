//! Instance-store builds against the emulator: the instance simulator plays the bundle tools
//! (a small fake manifest and parts, uploaded with the instance profile's credentials), and
//! everything is checked through the EC2 and S3 APIs and in the files amipub writes.

mod common;

use std::path::Path;

use common::emulator::{Emulator, Options};
use common::{Scratch, run_expect};

const REGIONS: [&str; 8] = [
    "ap-northeast-1",
    "ap-southeast-1",
    "ap-southeast-2",
    "eu-west-1",
    "sa-east-1",
    "us-east-1",
    "us-west-1",
    "us-west-2",
];

fn emulator() -> Emulator {
    Emulator::start(Options {
        provision_seconds: 0.2,
        ..Options::default()
    })
}

fn publish(s: &Scratch, emu: &Emulator, args: &[&str]) -> assert_cmd::Command {
    let mut cmd = s.against(emu, "publish");
    cmd.args(["--poll-interval", "100ms"]).args(args);
    cmd
}

fn bucket(region: &str) -> String {
    format!("comboami-2-6-2-{region}")
}

/// Every file under `dir` that contains `needle`.
fn files_containing(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if std::fs::read(&p).is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle))
            {
                found.push(p.display().to_string());
            }
        }
    }
    found
}

/// Every object's key and body in `bucket`.
async fn bodies(emu: &Emulator, region: &str, bucket: &str) -> Vec<(String, Vec<u8>)> {
    let (_, s3) = emu.clients(region).await;
    let mut out = Vec::new();
    for key in emu.objects(region, bucket).await {
        let o = s3
            .get_object()
            .bucket(bucket)
            .key(&key)
            .send()
            .await
            .unwrap();
        out.push((key, o.body.collect().await.unwrap().into_bytes().to_vec()));
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn official_profile_publishes_32_public_instance_store_amis_and_keeps_no_secret() {
    let emu = emulator();
    let s = Scratch::new();
    let marker = s.signing();
    let (out, err) = run_expect(&mut publish(&s, &emu, &["--all-regions"]), 0);
    assert!(out.contains("32 AMIs: 32 published now, 0 failed"), "{out}");
    assert!(!err.contains("warning"), "{err}");

    // ami_ids.json in the legacy shape: 8 regions, 4 entries each.
    let ids = s.ami_ids();
    assert_eq!(ids.as_object().unwrap().len(), 8);
    for region in REGIONS {
        let entries = ids[region].as_array().unwrap();
        assert_eq!(entries.len(), 4, "{region}");
        let images = emu.amipub_images(region).await;
        assert_eq!(images.len(), 4, "{region}");
        for e in entries {
            let id = e["id"].as_str().unwrap();
            assert_eq!(e["Distributor ID"], "Ubuntu");
            let img = images.iter().find(|i| i.image_id() == Some(id)).unwrap();
            let build = img
                .tags()
                .iter()
                .find(|t| t.key() == Some("amipub:build"))
                .and_then(|t| t.value())
                .unwrap();
            // Registered from its manifest in the version's bucket of its own region.
            let location = img.image_location().unwrap();
            assert!(
                location.starts_with(&format!("{}/", bucket(region)))
                    && location.ends_with(&format!("/{build}/image.manifest.xml")),
                "{location}"
            );
            assert_eq!(
                img.root_device_type().map(|d| d.as_str()),
                Some("instance-store")
            );
            assert_eq!(
                img.virtualization_type().unwrap().as_str(),
                e["virtualization type"].as_str().unwrap()
            );
            assert_eq!(
                emu.launch_permissions(region, id).await,
                ["group:all".to_string()].into()
            );
        }
        // The bundles stay (the AMIs boot from them); nothing else does.
        let keys = emu.objects(region, &bucket(region)).await;
        assert_eq!(keys.len(), 4 * 3, "{region}: {keys:?}");
        assert!(
            keys.iter()
                .all(|k| k.ends_with("/image.manifest.xml") || k.contains("/image.part.")),
            "{keys:?}"
        );
        assert!(emu.live_instances(region).await.is_empty());
        for (key, body) in bodies(&emu, region, &bucket(region)).await {
            assert!(
                !String::from_utf8_lossy(&body).contains(&marker),
                "the signing key is in {key}"
            );
        }
    }

    // The key's bytes are in no output, log, event, user data or instance console.
    assert!(!out.contains(&marker) && !err.contains(&marker));
    for dir in [s.path(".amipub"), emu.work.clone()] {
        assert_eq!(
            files_containing(&dir, marker.as_bytes()),
            Vec::<String>::new()
        );
    }
    for f in ["ami_ids.json", "amipub-manifest.json"] {
        assert!(
            !std::fs::read_to_string(s.path(f))
                .unwrap()
                .contains(&marker)
        );
    }
    // The search can find the key where it is, so its silence above means something.
    assert_eq!(
        files_containing(&s.path("keys"), marker.as_bytes()).len(),
        1
    );
    let user_data = files_containing(&emu.work, b"ec2-bundle-vol");
    assert_eq!(
        user_data
            .iter()
            .filter(|p| p.ends_with("/user-data"))
            .count(),
        32,
        "every instance ran a bundling bootstrap"
    );

    // --partition mbr for HVM images of 14.04 only; the signing material excluded.
    let logs = std::fs::read_dir(s.path(".amipub/runs"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
        .join("logs");
    for region in REGIONS {
        for (build, partition) in [
            ("1204-pv", "(none)"),
            ("1204-hvm", "(none)"),
            ("1404-pv", "(none)"),
            ("1404-hvm", "mbr"),
        ] {
            let log = std::fs::read_to_string(logs.join(format!("{region}-{build}.log"))).unwrap();
            assert!(
                log.contains(&format!(
                    "ec2-bundle-vol --partition {partition} -e /tmp/amipub."
                )),
                "{region}-{build}: {log}"
            );
        }
    }
}

#[test]
fn the_staging_bucket_is_made_in_its_region_private_and_encrypted() {
    let emu = emulator();
    let s = Scratch::new();
    s.signing();
    run_expect(&mut publish(&s, &emu, &["--only", "eu-west-1-1404-hvm"]), 0);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let (_, s3) = emu.clients("eu-west-1").await;
        let b = bucket("eu-west-1");
        let loc = s3.get_bucket_location().bucket(&b).send().await.unwrap();
        assert_eq!(
            loc.location_constraint().map(|l| l.as_str()),
            Some("eu-west-1")
        );
        let pab = s3
            .get_public_access_block()
            .bucket(&b)
            .send()
            .await
            .unwrap();
        let c = pab.public_access_block_configuration().unwrap();
        assert_eq!(
            (c.block_public_acls(), c.restrict_public_buckets()),
            (Some(true), Some(true))
        );
        let enc = s3.get_bucket_encryption().bucket(&b).send().await.unwrap();
        let rule = &enc.server_side_encryption_configuration().unwrap().rules()[0];
        let algo = rule.apply_server_side_encryption_by_default().unwrap();
        assert_eq!(algo.sse_algorithm().as_str(), "AES256");
        let own = s3
            .get_bucket_ownership_controls()
            .bucket(&b)
            .send()
            .await
            .unwrap();
        assert_eq!(
            own.ownership_controls().unwrap().rules()[0]
                .object_ownership()
                .as_str(),
            "BucketOwnerEnforced"
        );
    });
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_bundle_leaves_no_object_ami_or_instance() {
    let emu = emulator();
    let s = Scratch::new();
    s.signing();
    emu.control(serde_json::json!({
        "bundle_fail": ["us-east-1-1404-hvm"],
        "upload_fail": ["us-east-1-1204-pv"],
    }));
    let (out, _) = run_expect(&mut publish(&s, &emu, &["--region", "us-east-1"]), 1);
    assert!(out.contains("4 AMIs: 2 published now, 2 failed"), "{out}");
    assert!(
        out.contains("the bundle command exited with status 4"),
        "{out}"
    );
    assert!(
        out.contains("the upload command exited with status 1"),
        "{out}"
    );
    let images = emu.amipub_images("us-east-1").await;
    assert_eq!(images.len(), 2);
    let keys = emu.objects("us-east-1", &bucket("us-east-1")).await;
    assert_eq!(
        keys.len(),
        2 * 3,
        "only the published bundles stay: {keys:?}"
    );
    assert!(
        !keys
            .iter()
            .any(|k| k.contains("/us-east-1-1404-hvm/") || k.contains("/us-east-1-1204-pv/")),
        "{keys:?}"
    );
    assert!(emu.live_instances("us-east-1").await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn on_error_abort_keeps_the_partial_bundle_but_never_the_signing_material() {
    let emu = emulator();
    let s = Scratch::new();
    s.signing();
    emu.control(serde_json::json!({"upload_fail": ["us-east-1-1404-pv"]}));
    let (out, _) = run_expect(
        &mut publish(
            &s,
            &emu,
            &["--only", "us-east-1-1404-pv", "--on-error", "abort"],
        ),
        1,
    );
    assert!(
        out.contains("objects under s3://comboami-2-6-2-us-east-1/"),
        "where the partial bundle is: {out}"
    );
    let keys = emu.objects("us-east-1", &bucket("us-east-1")).await;
    assert!(
        keys.iter().any(|k| k.ends_with("/image.part.0")),
        "the partial upload is kept for inspection: {keys:?}"
    );
    assert!(!keys.iter().any(|k| k.contains("/signing/")), "{keys:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_instance_profile_that_does_not_exist_fails_the_launch_and_leaves_nothing() {
    let emu = emulator();
    let s = Scratch::new();
    s.signing();
    s.edit(
        "configs/official.yaml",
        "iam_instance_profile: amipub-bundler",
        "iam_instance_profile: no-such-profile",
    );
    let (out, _) = run_expect(&mut publish(&s, &emu, &["--only", "us-east-1-1204-pv"]), 1);
    assert!(out.contains("RunInstances"), "{out}");
    assert!(
        emu.objects("us-east-1", &bucket("us-east-1"))
            .await
            .is_empty()
    );
    assert!(emu.amipub_images("us-east-1").await.is_empty());
}

#[test]
fn a_key_readable_by_others_is_warned_about() {
    let emu = emulator();
    let s = Scratch::new();
    s.signing();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            s.path("keys/pk.pem"),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
    }
    let (_, err) = run_expect(&mut publish(&s, &emu, &["--dry-run"]), 0);
    assert!(
        err.contains("warning: the signing key keys/pk.pem is readable by other users (mode 0644); run `chmod 600 keys/pk.pem`"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn cleanup_keeps_the_bundle_of_a_kept_ami_and_removes_it_with_the_ami() {
    let emu = emulator();
    let s = Scratch::new();
    s.signing();
    run_expect(&mut publish(&s, &emu, &["--only", "us-east-1-1204-pv"]), 0);
    let cleanup = |extra: &[&str]| {
        let mut c = s.against(&emu, "cleanup");
        c.args(["--region", "us-east-1", "--yes"]).args(extra);
        c
    };
    // The AMI is listed in ami_ids.json, so it stays (a refusal: exit 1), and so does the
    // bundle it boots from, and the bucket.
    let (out, _) = run_expect(&mut cleanup(&[]), 1);
    assert!(out.contains("holds the bundle of ami-"), "{out}");
    assert_eq!(
        emu.objects("us-east-1", &bucket("us-east-1")).await.len(),
        3
    );
    // Forced, both go (and the bucket, now empty).
    run_expect(&mut cleanup(&["--force"]), 0);
    assert!(emu.amipub_images("us-east-1").await.is_empty());
    assert!(
        emu.objects("us-east-1", &bucket("us-east-1"))
            .await
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_instance_deletes_the_signing_material_as_soon_as_it_has_it() {
    let emu = Emulator::start(Options {
        provision_seconds: 0.2,
        ..Options::default()
    });
    let s = Scratch::new();
    s.signing();
    run_expect(&mut publish(&s, &emu, &["--only", "us-east-1-1404-hvm"]), 0);
    let stats = emu.stats();
    let count = |k: &str| stats.get(k).and_then(|v| v.as_u64()).unwrap_or(0);
    // The provisioning script and the three signing objects, through presigned GETs; then
    // the three signing objects again, through presigned DELETEs, from the instance itself.
    assert_eq!(count("instance s3:GET object"), 4, "{stats:?}");
    assert_eq!(count("instance s3:DELETE object"), 3, "{stats:?}");
    assert!(
        !emu.objects("us-east-1", &bucket("us-east-1"))
            .await
            .iter()
            .any(|k| k.contains("/signing/"))
    );
}

#[test]
fn register_image_gets_the_profiles_ami_settings() {
    let emu = emulator();
    let s = Scratch::new();
    s.signing();
    let profile = std::fs::read_to_string(s.path("configs/official.yaml")).unwrap();
    s.write(
        "configs/official.yaml",
        &format!(
            "{profile}ami:\n  imds_support: v2.0\n  boot_mode: legacy-bios\n  deprecate_after: 1y\n"
        ),
    );
    run_expect(&mut publish(&s, &emu, &["--only", "eu-west-1-1404-hvm"]), 0);
    let images = common::block(emu.amipub_images("eu-west-1"));
    assert_eq!(images.len(), 1);
    let img = &images[0];
    assert_eq!(img.imds_support().map(|v| v.as_str()), Some("v2.0"));
    assert_eq!(img.boot_mode().map(|v| v.as_str()), Some("legacy-bios"));
    assert!(img.deprecation_time().is_some());
    let mut verify = s.against(&emu, "verify");
    let (out, _) = run_expect(&mut verify, 0);
    assert!(out.contains("1 of 1 AMI(s) as expected"), "{out}");
}
