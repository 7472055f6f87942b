//! Helpers shared by the CLI tests: a scratch copy of the project's configuration to edit, and
//! the amipub binary run in it.
#![allow(dead_code)]

pub mod emulator;

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use tempfile::TempDir;

/// The repository root (where regions.yaml and configs/ are).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The instance profile the project's instance-store profiles name, which the emulator creates.
pub const INSTANCE_PROFILE: &str = "amipub-bundler";

/// A scratch directory holding copies of regions.yaml, configs/ and provision/.
pub struct Scratch {
    /// The directory; removed on drop.
    pub dir: TempDir,
}

impl Scratch {
    /// A fresh copy of the project's configuration.
    pub fn new() -> Scratch {
        let dir = tempfile::tempdir().expect("tempdir");
        copy(
            &root().join("regions.yaml"),
            &dir.path().join("regions.yaml"),
        );
        for sub in ["configs", "provision"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
            for e in std::fs::read_dir(root().join(sub)).unwrap() {
                let e = e.unwrap();
                copy(&e.path(), &dir.path().join(sub).join(e.file_name()));
            }
        }
        Scratch { dir }
    }

    /// The path of `rel` inside the scratch directory.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Replaces the one occurrence of `from` with `to` in `rel`; panics if `from` is absent,
    /// so a test cannot silently edit nothing.
    pub fn edit(&self, rel: &str, from: &str, to: &str) -> &Self {
        let p = self.path(rel);
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.contains(from), "{rel} does not contain {from:?}");
        std::fs::write(&p, text.replacen(from, to, 1)).unwrap();
        self
    }

    /// Writes `rel` with `text`.
    pub fn write(&self, rel: &str, text: &str) -> &Self {
        std::fs::write(self.path(rel), text).unwrap();
        self
    }

    /// amipub, run in the scratch directory (killed if it runs for more than ten minutes, so
    /// that a hang fails the test instead of stalling the suite).
    pub fn amipub(&self) -> Command {
        let mut c = Command::cargo_bin("amipub").unwrap();
        c.current_dir(self.dir.path());
        c.timeout(std::time::Duration::from_secs(600));
        for v in [
            "AWS_ENDPOINT_URL",
            "AMIPUB_ACCOUNT_ID",
            "AMIPUB_SIGNING_CERT",
            "AMIPUB_SIGNING_KEY",
            // The plan fits COLUMNS when it is set; tests see every column unless they set it.
            "COLUMNS",
            "GITHUB_STEP_SUMMARY",
            "NO_COLOR",
        ] {
            c.env_remove(v);
        }
        c
    }

    /// amipub `subcommand` against `emu`, with the emulator's credentials and endpoint.
    pub fn against(&self, emu: &emulator::Emulator, subcommand: &str) -> Command {
        let mut c = self.amipub();
        emulator::aws_env(&mut c);
        c.args([subcommand, "--endpoint-url", &emu.endpoint]);
        c
    }

    /// ami_ids.json as written by the last run.
    pub fn ami_ids(&self) -> serde_json::Value {
        serde_json::from_str(
            &std::fs::read_to_string(self.path("ami_ids.json")).expect("ami_ids.json written"),
        )
        .unwrap()
    }

    /// Writes local.yaml with a throwaway certificate and key (mode 600) and returns the
    /// marker their bodies contain, for tests that search outputs for the key's bytes.
    pub fn signing(&self) -> String {
        let marker = format!("SECRETKEYBYTES{}", std::process::id());
        let cert = "-----BEGIN CERTIFICATE-----\nTUlJQ2NlcnRpZmljYXRl\n-----END CERTIFICATE-----\n";
        let key =
            format!("-----BEGIN RSA PRIVATE KEY-----\n{marker}\n-----END RSA PRIVATE KEY-----\n");
        std::fs::create_dir_all(self.path("keys")).unwrap();
        self.write("keys/cert.pem", cert);
        self.write("keys/pk.pem", &key);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(
                self.path("keys/pk.pem"),
                std::fs::Permissions::from_mode(0o600),
            )
            .unwrap();
        }
        self.write(
            "local.yaml",
            "account_id: \"123456789012\"\ncertificate: keys/cert.pem\nprivate_key: keys/pk.pem\n",
        );
        marker
    }
}

fn copy(from: &Path, to: &Path) {
    std::fs::copy(from, to).unwrap_or_else(|e| panic!("copy {}: {e}", from.display()));
}

/// Runs `cmd`, expecting exit code `code`; returns (stdout, stderr).
pub fn run_expect(cmd: &mut Command, code: i32) -> (String, String) {
    let out = cmd.output().expect("run amipub");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(code),
        "exit code\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    (stdout, stderr)
}

/// amipub started in the background, for tests that send it signals.
pub struct Running {
    child: std::process::Child,
    out: std::sync::mpsc::Receiver<(String, String)>,
}

/// What a background amipub printed and how it ended.
#[derive(Debug)]
pub struct Ended {
    /// Its exit code (`None` when a signal ended it).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Scratch {
    /// Starts amipub `args` against `emu` in the background.
    pub fn spawn(&self, emu: &emulator::Emulator, args: &[&str]) -> Running {
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("amipub"))
            .current_dir(self.dir.path())
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("AWS_ENDPOINT_URL")
            .env("AWS_CONFIG_FILE", "/nonexistent")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .args(args)
            .args(["--endpoint-url", &emu.endpoint])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start amipub");
        // Both pipes are drained as the process writes, so it never blocks on a full pipe.
        let (mut so, mut se) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
        let (tx, out) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let err = std::thread::spawn(move || {
                let mut s = String::new();
                let _ = std::io::Read::read_to_string(&mut se, &mut s);
                s
            });
            let mut o = String::new();
            let _ = std::io::Read::read_to_string(&mut so, &mut o);
            let _ = tx.send((o, err.join().unwrap_or_default()));
        });
        Running { child, out }
    }
}

impl Running {
    /// Its process ID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` (`INT`, `TERM`, `HUP`, `KILL`).
    pub fn signal(&self, signal: &str) {
        let ok = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .expect("kill")
            .success();
        assert!(ok, "kill -{signal} {}", self.child.id());
    }

    /// Waits at most `limit` for it to end; kills it and fails the test if it does not.
    pub fn wait(mut self, limit: std::time::Duration) -> Ended {
        let deadline = std::time::Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                let (stdout, stderr) = self
                    .out
                    .recv_timeout(std::time::Duration::from_secs(10))
                    .unwrap_or_default();
                return Ended {
                    code: status.code(),
                    stdout,
                    stderr,
                };
            }
            if std::time::Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                let (stdout, stderr) = self
                    .out
                    .recv_timeout(std::time::Duration::from_secs(10))
                    .unwrap_or_default();
                panic!("amipub did not end within {limit:?}\nstdout:\n{stdout}\nstderr:\n{stderr}");
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // A test that fails before waiting must not leave amipub running.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Scratch {
    /// `amipub publish ARGS` against `emu`, polling every 100 ms.
    pub fn publish(&self, emu: &emulator::Emulator, args: &[&str]) -> Command {
        let mut c = self.against(emu, "publish");
        c.args(["--poll-interval", "100ms"]).args(args);
        c
    }

    /// The run IDs under `.amipub/runs`, oldest first.
    pub fn runs(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.path(".amipub/runs"))
            .map(|d| {
                d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    /// Every event of run `run` so far.
    pub fn events(&self, run: &str) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.path(&format!(".amipub/runs/{run}/events.ndjson")))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Waits at most `limit` until the newest run has `n` events for which `pred` holds.
    pub fn wait_for_events(
        &self,
        limit: std::time::Duration,
        n: usize,
        pred: impl Fn(&serde_json::Value) -> bool,
    ) -> bool {
        emulator::eventually(limit, || {
            self.runs()
                .last()
                .is_some_and(|r| self.events(r).iter().filter(|e| pred(e)).count() >= n)
        })
    }
}

/// True for a `note` event whose message starts with `prefix`.
pub fn note_starting(e: &serde_json::Value, prefix: &str) -> bool {
    e["type"] == "note" && e["message"].as_str().is_some_and(|m| m.starts_with(prefix))
}

/// How many AMIs an ami_ids.json value lists.
pub fn count_entries(v: &serde_json::Value) -> usize {
    v.as_object()
        .unwrap()
        .values()
        .map(|l| l.as_array().unwrap().len())
        .sum()
}

/// Runs `f` to its end on a runtime of its own (for checks through the SDK in sync tests).
pub fn block<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Runtime::new().unwrap().block_on(f)
}

/// `(region, result)` of each row of a verify report (`--format json`).
pub fn region_results(report: &serde_json::Value) -> Vec<(String, String)> {
    report["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["region"].as_str().unwrap().into(),
                r["result"].as_str().unwrap().into(),
            )
        })
        .collect()
}
