//! The git operations a release needs, through the `git` command (the user's own git, with
//! their configuration, hooks and credentials), run without blocking the runtime.

use std::path::{Path, PathBuf};

/// A git work tree.
pub struct Git {
    dir: PathBuf,
}

impl Git {
    /// The work tree containing `dir`.
    pub fn new(dir: &Path) -> Git {
        Git {
            dir: dir.to_path_buf(),
        }
    }

    /// Runs `git args`; its stdout (trimmed) on success, a message naming the command and git's
    /// own words on failure.
    pub async fn run(&self, args: &[&str]) -> Result<String, String> {
        self.run_raw(args).await.map(|s| s.trim().to_string())
    }

    /// As [`Git::run`], with stdout as git wrote it (porcelain lines start with a space).
    async fn run_raw(&self, args: &[&str]) -> Result<String, String> {
        let out = self.output(args).await?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(format!(
                "`git {}` failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }

    /// Whether `git args` succeeds (for questions git answers with its exit status).
    async fn succeeds(&self, args: &[&str]) -> Result<bool, String> {
        Ok(self.output(args).await?.status.success())
    }

    async fn output(&self, args: &[&str]) -> Result<std::process::Output, String> {
        tokio::process::Command::new("git")
            .args(args)
            .current_dir(&self.dir)
            .stdin(std::process::Stdio::null())
            .output()
            .await
            .map_err(|e| format!("cannot run git: {e}; is git installed?"))
    }

    /// Paths of tracked files with changes (staged or not), relative to the work tree's root.
    pub async fn changed_files(&self) -> Result<Vec<String>, String> {
        let out = self
            .run_raw(&["status", "--porcelain", "--untracked-files=no"])
            .await?;
        Ok(out
            .lines()
            .filter_map(|l| l.get(3..))
            .map(|p| p.rsplit(" -> ").next().unwrap_or(p).to_string())
            .collect())
    }

    /// The work tree's root.
    pub async fn root(&self) -> Result<PathBuf, String> {
        self.run(&["rev-parse", "--show-toplevel"])
            .await
            .map(PathBuf::from)
    }

    /// The commit `rev` names, if it exists.
    pub async fn commit_of(&self, rev: &str) -> Result<Option<String>, String> {
        let spec = format!("{rev}^{{commit}}");
        if self
            .succeeds(&["rev-parse", "-q", "--verify", &spec])
            .await?
        {
            self.run(&["rev-parse", &spec]).await.map(Some)
        } else {
            Ok(None)
        }
    }

    /// The subject line of HEAD's commit.
    pub async fn head_subject(&self) -> Result<String, String> {
        self.run(&["log", "-1", "--format=%s"]).await
    }

    /// Tags matching `pattern`, e.g. `release/*`.
    pub async fn tags(&self, pattern: &str) -> Result<Vec<String>, String> {
        let out = self.run(&["tag", "--list", pattern]).await?;
        Ok(out.lines().map(str::to_string).collect())
    }

    /// Whether `remote` is configured.
    pub async fn has_remote(&self, remote: &str) -> Result<bool, String> {
        let out = self.run(&["remote"]).await?;
        Ok(out.lines().any(|r| r == remote))
    }

    /// The commit `tag` points at on `remote`, if the remote has it.
    pub async fn remote_tag(&self, remote: &str, tag: &str) -> Result<Option<String>, String> {
        let full = format!("refs/tags/{tag}");
        let peeled = format!("{full}^{{}}");
        let out = self
            .run(&["ls-remote", "--tags", remote, &full, &peeled])
            .await?;
        let mut found = None;
        for line in out.lines() {
            if let Some((sha, name)) = line.split_once('\t') {
                // An annotated tag lists the tag object, then the commit it peels to.
                if name == peeled || (name == full && found.is_none()) {
                    found = Some(sha.to_string());
                }
            }
        }
        Ok(found)
    }
}
