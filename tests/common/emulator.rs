//! The local AWS the tests publish to: `support/emulator.py` (moto's server made as strict as
//! AWS where amipub depends on it, behind the counting, fault-injecting proxy, plus the
//! instance simulator that plays the VMs moto does not run). One emulator per test, so tests
//! share no state. Its stderr is kept in a file and printed when a test fails.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use aws_sdk_ec2::types::Filter;

use super::root;

/// The emulator's account (moto's default).
pub const ACCOUNT: &str = "123456789012";

/// A running emulator; stopped on drop.
pub struct Emulator {
    child: Child,
    /// What amipub is pointed at (`--endpoint-url`).
    pub endpoint: String,
    /// The emulator's scratch directory (instance consoles, control.json).
    pub work: PathBuf,
    /// Holds the work directory and the emulator's stderr log.
    dir: tempfile::TempDir,
}

/// How to start it.
#[derive(Default)]
pub struct Options {
    /// Seconds the simulated provisioning takes.
    pub provision_seconds: f64,
    /// Answer every Nth EC2 request of amipub with RequestLimitExceeded.
    pub throttle_every: u32,
    /// Seconds a new image stays pending (default 0.5 in tests: long enough that amipub
    /// must wait for it, short enough to keep tests quick).
    pub image_pending_seconds: Option<f64>,
}

impl Emulator {
    /// Starts an emulator preloaded with the source AMIs of the project's regions.yaml.
    pub fn start(opts: Options) -> Emulator {
        let python = root().join(".venv/bin/python");
        assert!(
            python.exists(),
            "the emulator is not installed: run scripts/setup-emulator.sh (scripts/test does)"
        );
        let dir = tempfile::tempdir().expect("emulator tempdir");
        let log = std::fs::File::create(dir.path().join("emulator.log")).expect("emulator log");
        let mut cmd = Command::new(python);
        cmd.arg(root().join("support/emulator.py"))
            .arg("--work")
            .arg(dir.path().join("work"))
            .arg("--image-pending-seconds")
            .arg(opts.image_pending_seconds.unwrap_or(0.5).to_string())
            .arg("--regions-file")
            .arg(root().join("regions.yaml"))
            .arg("--provision-seconds")
            .arg(opts.provision_seconds.max(0.0).to_string())
            .arg("--poll")
            .arg("0.1")
            .arg("--instance-profile")
            .arg(super::INSTANCE_PROFILE)
            .stdout(Stdio::piped())
            .stderr(log);
        if opts.throttle_every > 0 {
            cmd.arg("--throttle-every")
                .arg(opts.throttle_every.to_string());
        }
        let mut child = cmd.spawn().expect("start support/emulator.py");
        // The ready line comes within seconds; a thread bounds the wait so that an emulator
        // that hangs fails the test instead of stalling it.
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(l) => l,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "the emulator did not start within 60 s:\n{}",
                    tail(&dir.path().join("emulator.log"))
                );
            }
        };
        let ready: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|e| {
            panic!(
                "emulator did not start ({e}): {line:?}\n{}",
                tail(&dir.path().join("emulator.log"))
            )
        });
        Emulator {
            child,
            endpoint: ready["endpoint"].as_str().unwrap().to_string(),
            work: PathBuf::from(ready["work"].as_str().unwrap()),
            dir,
        }
    }

    /// The end of the emulator's stderr.
    pub fn log_tail(&self) -> String {
        tail(&self.dir.path().join("emulator.log"))
    }

    /// Tells the instance simulator what the next bootstraps do, e.g.
    /// `{"fail": ["us-east-1-1404-hvm"]}`.
    pub fn control(&self, json: serde_json::Value) {
        std::fs::write(self.work.join("control.json"), json.to_string()).unwrap();
    }

    /// The proxy's request counts: "client service:Operation" -> n.
    pub fn stats(&self) -> serde_json::Map<String, serde_json::Value> {
        let out = Command::new("curl")
            .args(["-fsS", &format!("{}/_amipub/stats", self.endpoint)])
            .output()
            .expect("curl");
        serde_json::from_slice(&out.stdout).expect("stats JSON")
    }

    /// The SDK configuration of `region` against the emulator, for a test's own clients.
    pub async fn sdk_config(&self, region: &str) -> aws_types::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_types::region::Region::new(region.to_string()))
            .endpoint_url(&self.endpoint)
            .credentials_provider(aws_credential_types::Credentials::new(
                "testing", "testing", None, None, "tests",
            ))
            .load()
            .await
    }

    /// SDK clients for `region`, to check results through the API.
    pub async fn clients(&self, region: &str) -> (aws_sdk_ec2::Client, aws_sdk_s3::Client) {
        let cfg = self.sdk_config(region).await;
        let s3 = aws_sdk_s3::config::Builder::from(&cfg)
            .force_path_style(true)
            .build();
        (
            aws_sdk_ec2::Client::new(&cfg),
            aws_sdk_s3::Client::from_conf(s3),
        )
    }
}

/// Queries of what amipub left in the emulator, for the tests' checks.
impl Emulator {
    /// Every AMI amipub made in `region`, by build name.
    pub async fn amipub_images(&self, region: &str) -> Vec<aws_sdk_ec2::types::Image> {
        let (ec2, _) = self.clients(region).await;
        ec2.describe_images()
            .owners("self")
            .filters(
                Filter::builder()
                    .name("tag:amipub:managed")
                    .values("true")
                    .build(),
            )
            .send()
            .await
            .unwrap()
            .images()
            .to_vec()
    }

    /// An AMI's launch permissions as `group:all` / `account:ID`.
    pub async fn launch_permissions(
        &self,
        region: &str,
        ami: &str,
    ) -> std::collections::BTreeSet<String> {
        let (ec2, _) = self.clients(region).await;
        ec2.describe_image_attribute()
            .image_id(ami)
            .attribute(aws_sdk_ec2::types::ImageAttributeName::LaunchPermission)
            .send()
            .await
            .unwrap()
            .launch_permissions()
            .iter()
            .map(|p| {
                p.group()
                    .map(|g| format!("group:{}", g.as_str()))
                    .or_else(|| p.user_id().map(|u| format!("account:{u}")))
                    .unwrap_or_default()
            })
            .collect()
    }

    /// Instances amipub launched that are not terminated.
    pub async fn live_instances(&self, region: &str) -> Vec<String> {
        self.amipub_instances(region, &["pending", "running", "stopping", "stopped"])
            .await
    }

    /// Every instance amipub launched, terminated ones included.
    pub async fn instances_ever(&self, region: &str) -> Vec<String> {
        self.amipub_instances(region, &[]).await
    }

    /// Instances amipub launched (tagged with a run ID) in one of `states` (any, when empty).
    async fn amipub_instances(&self, region: &str, states: &[&str]) -> Vec<String> {
        let (ec2, _) = self.clients(region).await;
        let mut req = ec2.describe_instances().filters(
            Filter::builder()
                .name("tag-key")
                .values("amipub:run-id")
                .build(),
        );
        if !states.is_empty() {
            req = req.filters(
                Filter::builder()
                    .name("instance-state-name")
                    .set_values(Some(states.iter().map(|s| s.to_string()).collect()))
                    .build(),
            );
        }
        req.send()
            .await
            .unwrap()
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .filter_map(|i| i.instance_id().map(str::to_string))
            .collect()
    }

    /// Objects in `bucket` (none when it does not exist).
    pub async fn objects(&self, region: &str, bucket: &str) -> Vec<String> {
        let (_, s3) = self.clients(region).await;
        match s3.list_objects_v2().bucket(bucket).send().await {
            Ok(o) => o
                .contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_string))
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    /// Every AMI the account owns in `region`, tagged or not.
    pub async fn own_images(&self, region: &str) -> Vec<aws_sdk_ec2::types::Image> {
        let (ec2, _) = self.clients(region).await;
        ec2.describe_images()
            .owners("self")
            .send()
            .await
            .unwrap()
            .images()
            .to_vec()
    }

    /// Every snapshot the account owns in `region`, tagged or not (moto's "self" also
    /// answers the upstream images' snapshots, so the owner is checked here).
    pub async fn own_snapshots(&self, region: &str) -> Vec<aws_sdk_ec2::types::Snapshot> {
        let (ec2, _) = self.clients(region).await;
        ec2.describe_snapshots()
            .owner_ids("self")
            .send()
            .await
            .unwrap()
            .snapshots()
            .iter()
            .filter(|s| s.owner_id() == Some(ACCOUNT))
            .cloned()
            .collect()
    }

    /// Whether `bucket` exists (asked through its own region's client, as S3 requires).
    pub async fn bucket_exists(&self, region: &str, bucket: &str) -> bool {
        let (_, s3) = self.clients(region).await;
        s3.head_bucket().bucket(bucket).send().await.is_ok()
    }

    /// A stats counter, 0 when absent.
    pub fn stat(&self, key: &str) -> u64 {
        self.stats().get(key).and_then(|v| v.as_u64()).unwrap_or(0)
    }

    /// The sum of the stats counters whose key starts with `prefix`.
    pub fn stat_sum(&self, prefix: &str) -> u64 {
        self.stats()
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .filter_map(|(_, v)| v.as_u64())
            .sum()
    }

    /// The user data of every instance the simulator booted.
    pub fn user_data(&self) -> Vec<String> {
        std::fs::read_dir(&self.work)
            .map(|d| {
                d.filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("user-data")).ok())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Snapshots amipub tagged in `region`.
    pub async fn amipub_snapshots(&self, region: &str) -> Vec<String> {
        let (ec2, _) = self.clients(region).await;
        ec2.describe_snapshots()
            .owner_ids("self")
            .filters(
                Filter::builder()
                    .name("tag:amipub:managed")
                    .values("true")
                    .build(),
            )
            .send()
            .await
            .unwrap()
            .snapshots()
            .iter()
            .filter_map(|s| s.snapshot_id().map(str::to_string))
            .collect()
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- the emulator's stderr (end) ---\n{}", self.log_tail());
        }
    }
}

/// The last 60 lines of `path`.
fn tail(path: &std::path::Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(60)..].join("\n")
}

/// Environment for amipub runs against the emulator: test credentials, and nothing from the
/// machine's own AWS configuration.
pub fn aws_env(cmd: &mut assert_cmd::Command) {
    cmd.env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env("AWS_EC2_METADATA_DISABLED", "true");
}

/// Polls `f` every 100 ms for up to `limit`; true once it holds.
pub fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + limit;
    while std::time::Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    f()
}
