//! The release checklist after its checks: each step can say what it would do (`--dry-run`)
//! and do it, skipping what an earlier, interrupted run already did.

use std::collections::BTreeSet;
use std::path::Path;

use super::checks::{Found, relative_to};
use super::{CHANGELOG, Mark};
use crate::engine::Permissions;
use crate::error::Error;
use crate::events::Outcome;
use crate::lifecycle::verify::{self, Expected, Verdict};
use crate::matrix::Build;
use crate::options::ReleaseOptions;
use crate::output::manifest::Manifest;
use crate::output::write_atomic;
use crate::plan::plural;
use crate::release::changelog;
use crate::release::git::Git;

/// A step of the checklist (step 1, the checks, runs before them all).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReleaseStep {
    /// Set version, branch and launch permissions in the profile.
    Profile,
    /// Publish every build (reusing what is published).
    Publish,
    /// Verify every AMI against the profile.
    Verify,
    /// Commit the outputs, the profile and a CHANGELOG entry.
    Commit,
    /// Create the annotated tag.
    Tag,
    /// Push the commit and the tag (`--push`).
    Push,
    /// Point the registry channel at the release (`--channel`).
    Promote,
}

/// Every step, in order.
const ALL: [ReleaseStep; 7] = [
    ReleaseStep::Profile,
    ReleaseStep::Publish,
    ReleaseStep::Verify,
    ReleaseStep::Commit,
    ReleaseStep::Tag,
    ReleaseStep::Push,
    ReleaseStep::Promote,
];

/// The steps of a release of `opts`, in order (promote only with `--channel`).
pub fn steps(opts: &ReleaseOptions) -> Vec<ReleaseStep> {
    ALL.into_iter()
        .filter(|s| *s != ReleaseStep::Promote || opts.channel.is_some())
        .collect()
}

/// One checklist line and the lines under it.
#[derive(Debug)]
pub struct Line {
    /// Done, skipped, failed or would.
    pub mark: Mark,
    /// What.
    pub text: String,
    /// Under it.
    pub details: Vec<String>,
}

impl Line {
    fn new(mark: Mark, text: impl Into<String>) -> Line {
        Line {
            mark,
            text: text.into(),
            details: Vec::new(),
        }
    }
}

/// A step that failed: its line (when it has one to show) and the error the release ends with.
pub struct Failure {
    /// The FAILED line.
    pub line: Option<Line>,
    /// Why the release stops.
    pub error: Error,
}

impl From<Error> for Failure {
    fn from(error: Error) -> Failure {
        Failure { line: None, error }
    }
}

/// A git command that failed.
fn git_failed(e: String) -> Failure {
    Error::Failed(e).into()
}

/// What the steps share: the options, what the checks found, and what earlier steps did.
pub struct Release<'a> {
    opts: &'a ReleaseOptions,
    found: Found,
    git: Git,
    tag: String,
    /// AMIs preflight found already published (reused by the publish step).
    reused: usize,
    /// The publish step's outcomes, in plan order.
    outcomes: Vec<Outcome>,
}

impl<'a> Release<'a> {
    /// A release of `opts` after its checks found `found`.
    pub fn new(opts: &'a ReleaseOptions, found: Found, git: Git, tag: String) -> Release<'a> {
        let reused = found.preflight.as_ref().map_or(0, |p| p.published.len());
        Release {
            opts,
            found,
            git,
            tag,
            reused,
            outcomes: Vec::new(),
        }
    }

    /// What the checks found.
    pub fn found(&self) -> &Found {
        &self.found
    }

    /// The builds released.
    pub fn builds(&self) -> &[Build] {
        &self.found.selected.builds
    }

    /// The regions released in.
    pub fn regions(&self) -> BTreeSet<&str> {
        self.builds().iter().map(|b| b.region.as_str()).collect()
    }

    /// `4 public AMIs`.
    pub fn amis(&self) -> String {
        let n = self.builds().len();
        format!(
            "{n} {} AMI{}",
            self.opts.visibility(),
            if n == 1 { "" } else { "s" }
        )
    }

    fn profile(&self) -> String {
        self.opts.publish.selection.config.display().to_string()
    }

    fn ami_ids(&self) -> &Path {
        &self.opts.publish.run.output
    }
}

impl ReleaseStep {
    /// Its number on the checklist (the checks are 1).
    pub fn number(self) -> usize {
        ALL.iter().position(|s| *s == self).unwrap_or_default() + 2
    }

    /// What the step would do, for `--dry-run`.
    pub fn describe(self, r: &Release<'_>) -> Line {
        let regions = plural(r.regions().len(), "region");
        match self {
            ReleaseStep::Profile => profile_line(r, Mark::Would),
            ReleaseStep::Publish => Line::new(
                Mark::Would,
                format!(
                    "publish {} in {regions} ({} already published, reused)",
                    r.amis(),
                    r.reused
                ),
            ),
            ReleaseStep::Verify => Line::new(
                Mark::Would,
                "verify launch permissions and availability of every AMI",
            ),
            ReleaseStep::Commit => Line::new(
                Mark::Would,
                format!(
                    "commit {}, its manifest, {}{} and a {CHANGELOG} entry as \"Release {}\"",
                    r.ami_ids().display(),
                    r.profile(),
                    if r.opts.refresh_sources {
                        format!(", {}", r.opts.publish.selection.regions_file.display())
                    } else {
                        String::new()
                    },
                    r.opts.version
                ),
            ),
            ReleaseStep::Tag => {
                Line::new(Mark::Would, format!("create the annotated tag {}", r.tag))
            }
            ReleaseStep::Push => push_line(r, true),
            ReleaseStep::Promote => Line::new(
                Mark::Would,
                format!(
                    "point the registry channel {} at {}",
                    r.opts.channel.as_deref().unwrap_or("-"),
                    r.opts.version
                ),
            ),
        }
    }

    /// Does the step, or finds it done; returns its line.
    pub async fn run(self, r: &mut Release<'_>) -> Result<Line, Failure> {
        match self {
            ReleaseStep::Profile => set_profile(r),
            ReleaseStep::Publish => publish(r).await,
            ReleaseStep::Verify => verify(r).await,
            ReleaseStep::Commit => commit(r).await,
            ReleaseStep::Tag => tag(r).await,
            ReleaseStep::Push => push(r).await,
            ReleaseStep::Promote => promote(r).await,
        }
    }
}

/// The profile step's line, with the edit shown under it unless `mark` says it was done before.
fn profile_line(r: &Release<'_>, mark: Mark) -> Line {
    let profile = r.profile();
    let what = format!(
        "version {}, branch {}, {} in {profile}",
        r.opts.version,
        r.opts.branch,
        r.opts.visibility()
    );
    if mark == Mark::Skipped {
        return Line::new(mark, format!("{what}: already set"));
    }
    let mut l = Line::new(mark, format!("set {what}"));
    for c in &r.found.edited.changes {
        for o in &c.old {
            l.details.push(format!("{profile}:{} - {o}", c.line));
        }
        for n in c.new.lines() {
            l.details.push(format!("{profile}:{} + {n}", c.line));
        }
    }
    l
}

fn set_profile(r: &Release<'_>) -> Result<Line, Failure> {
    let sources = r.found.regions_text.as_ref().map(|text| {
        let path = &r.opts.publish.selection.regions_file;
        (path, text)
    });
    if let Some((path, text)) = sources {
        // First: a profile with the new version marks the release as resumable, and a resumed
        // release keeps the sources it finds.
        write_atomic(path, text.as_bytes())?;
    }
    if r.found.edited.changes.is_empty() {
        return Ok(profile_line(r, Mark::Skipped));
    }
    let path = &r.opts.publish.selection.config;
    write_atomic(path, r.found.edited.text.as_bytes())?;
    let mut line = profile_line(r, Mark::Done);
    if let Some((path, _)) = sources {
        line.details.push(format!(
            "and the refreshed source AMIs in {}",
            path.display()
        ));
    }
    Ok(line)
}

async fn publish(r: &mut Release<'_>) -> Result<Line, Failure> {
    let checked = r
        .found
        .preflight
        .take()
        .map(|p| (r.found.clients.clone(), p));
    let outcomes = crate::commands::publish::execute(
        &r.opts.publish,
        &r.found.config,
        &r.found.selected,
        r.found.signing.clone(),
        checked,
    )
    .await?;
    let failed = outcomes
        .iter()
        .filter(|o| !matches!(o, Outcome::Published { .. }))
        .count();
    if failed > 0 {
        // (An interrupted publish already returned its own error.)
        return Err(Failure {
            line: Some(Line::new(
                Mark::Failed,
                format!(
                    "publish: {failed} of {} build(s) did not publish",
                    outcomes.len()
                ),
            )),
            error: Error::Failed(
                "run the same command again to resume: published AMIs are reused; nothing was committed or tagged".into(),
            ),
        });
    }
    r.outcomes = outcomes;
    Ok(Line::new(
        Mark::Done,
        format!(
            "published {} in {} ({} reused from an earlier run)",
            r.amis(),
            plural(r.regions().len(), "region"),
            r.reused
        ),
    ))
}

async fn verify(r: &mut Release<'_>) -> Result<Line, Failure> {
    let expected: Vec<Expected> = r
        .builds()
        .iter()
        .zip(&r.outcomes)
        .filter_map(|(b, o)| match o {
            Outcome::Published { artifact } => Some(Expected {
                build: b.name.clone(),
                region: b.region.clone(),
                ami_id: artifact.ami_id.clone(),
                ami_name: Some(b.ami_name.clone()),
                architecture: Some(b.architecture),
            }),
            _ => None,
        })
        .collect();
    let config = &r.found.config;
    let wants = verify::Wants {
        permissions: Permissions {
            groups: config.p().launch_permissions.groups.clone(),
            accounts: config.accounts.clone(),
        },
        ami: config.p().ami.clone(),
        backing: config.p().backing,
    };
    let names: BTreeSet<String> = r.builds().iter().map(|b| b.ami_name.clone()).collect();
    let rows = verify::run(&r.found.clients, &expected, &r.opts.version, &wants, &names).await;
    let bad: Vec<_> = rows
        .iter()
        .filter(|row| row.result != Verdict::Ok)
        .collect();
    if bad.is_empty() {
        return Ok(Line::new(
            Mark::Done,
            format!(
                "verified {}: available, {}, named and tagged as the profile says",
                plural(rows.len(), "AMI"),
                r.opts.visibility()
            ),
        ));
    }
    let mut l = Line::new(
        Mark::Failed,
        format!("verify: {} of {} AMI(s) differ", bad.len(), rows.len()),
    );
    for row in &bad {
        l.details.push(format!(
            "{} {}: {}",
            row.build,
            row.ami_id,
            row.differences.join("; ")
        ));
    }
    Err(Failure {
        line: Some(l),
        error: Error::Failed(
            "verification found differences; nothing was committed or tagged".into(),
        ),
    })
}

/// Adds this release's entry to CHANGELOG.md unless it has one; returns the file.
fn write_changelog(r: &Release<'_>) -> Result<std::path::PathBuf, Error> {
    let path = r.found.root.join(CHANGELOG);
    let old = std::fs::read_to_string(&path).unwrap_or_default();
    if changelog::has_entry(&old, &r.opts.version) {
        return Ok(path);
    }
    let today = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let regions = r.regions();
    let entry = format!(
        "{}\n- {} {} {} AMIs ({}) in {}: {}.\n- Built from branch {}; the IDs are in {}.\n",
        changelog::heading(&r.opts.version, &today[..10], r.opts.candidate),
        if r.opts.candidate {
            "Published"
        } else {
            "Released"
        },
        r.builds().len(),
        r.opts.visibility(),
        r.builds().first().map_or("ebs", |b| b.backing.as_str()),
        plural(regions.len(), "region"),
        regions.iter().copied().collect::<Vec<_>>().join(", "),
        r.opts.branch,
        r.ami_ids().display()
    );
    write_atomic(&path, changelog::insert(&old, &entry).as_bytes())?;
    Ok(path)
}

async fn commit(r: &mut Release<'_>) -> Result<Line, Failure> {
    let message = format!("Release {}", r.opts.version);
    let changelog_path = write_changelog(r)?;
    let cwd = std::env::current_dir().map_err(|e| Error::io(".", e))?;
    let mut files = vec![
        r.ami_ids().display().to_string(),
        Manifest::path_beside(r.ami_ids()).display().to_string(),
        r.profile(),
        relative_to(&cwd, &changelog_path).display().to_string(),
    ];
    if r.opts.refresh_sources {
        files.push(r.opts.publish.selection.regions_file.display().to_string());
    }
    let mut add = vec!["add", "--"];
    add.extend(files.iter().map(String::as_str));
    r.git.run(&add).await.map_err(git_failed)?;
    let staged = r
        .git
        .run(&["diff", "--cached", "--name-only"])
        .await
        .map_err(git_failed)?;
    if staged.is_empty() && r.found.committed {
        return Ok(Line::new(
            Mark::Skipped,
            format!("already committed as \"{message}\""),
        ));
    }
    r.git
        .run(&["commit", "-q", "-m", &message])
        .await
        .map_err(git_failed)?;
    let sha = r
        .git
        .run(&["rev-parse", "--short", "HEAD"])
        .await
        .map_err(git_failed)?;
    Ok(Line::new(
        Mark::Done,
        format!("committed {sha} \"{message}\": {}", files.join(", ")),
    ))
}

/// Whether HEAD is still the commit the checks found (an earlier run's release commit).
async fn head_unchanged(r: &Release<'_>) -> Result<bool, Failure> {
    let head = r.git.commit_of("HEAD").await.map_err(git_failed)?;
    Ok(head == r.found.head)
}

async fn tag(r: &mut Release<'_>) -> Result<Line, Failure> {
    if r.found.tagged && head_unchanged(r).await? {
        return Ok(Line::new(
            Mark::Skipped,
            format!("{} already points at this commit", r.tag),
        ));
    }
    let note = format!(
        "{} {}: {} in {}",
        if r.opts.candidate {
            "Release candidate"
        } else {
            "Release"
        },
        r.opts.version,
        plural(r.builds().len(), "AMI"),
        plural(r.regions().len(), "region")
    );
    r.git
        .run(&["tag", "-a", &r.tag, "-m", &note])
        .await
        .map_err(git_failed)?;
    Ok(Line::new(Mark::Done, format!("tagged {}", r.tag)))
}

/// The push step's line when it does not push (`dry_run`: the line of a dry run).
fn push_line(r: &Release<'_>, dry_run: bool) -> Line {
    let (remote, tag) = (&r.opts.remote, &r.tag);
    if r.found.pushed {
        Line::new(Mark::Skipped, format!("{remote} already has {tag}"))
    } else if !r.opts.push {
        Line::new(
            Mark::Skipped,
            format!(
                "push (no --push): `git push {remote} HEAD refs/tags/{tag}` publishes the commit and the tag"
            ),
        )
    } else if dry_run {
        Line::new(
            Mark::Would,
            format!("push the commit and {tag} to {remote}"),
        )
    } else {
        Line::new(Mark::Skipped, format!("{remote} already has {tag}"))
    }
}

async fn push(r: &mut Release<'_>) -> Result<Line, Failure> {
    let done_before = r.found.pushed && head_unchanged(r).await?;
    if !r.opts.push || done_before {
        return Ok(push_line(r, false));
    }
    let remote = r.opts.remote.clone();
    r.git
        .run(&["push", "-q", &remote, "HEAD"])
        .await
        .map_err(git_failed)?;
    r.git
        .run(&["push", "-q", &remote, &format!("refs/tags/{}", r.tag)])
        .await
        .map_err(git_failed)?;
    Ok(Line::new(
        Mark::Done,
        format!("pushed the commit and {} to {remote}", r.tag),
    ))
}

async fn promote(r: &mut Release<'_>) -> Result<Line, Failure> {
    let channel = r.opts.channel.clone().unwrap_or_default();
    let Some(reg) = crate::registry::Registry::of(&r.found.config, &r.found.clients) else {
        return Err(Error::Usage(vec![
            "--channel needs the profile's registry: section".into(),
        ])
        .into());
    };
    match crate::registry::channels::promote(&reg, &r.opts.version, &channel, false).await {
        Ok(p) => Ok(Line::new(
            Mark::Done,
            format!(
                "pointed {channel} at {} (was {})",
                p.to,
                p.from.as_deref().unwrap_or("nothing")
            ),
        )),
        Err(e) => Err(Failure {
            line: Some(Line::new(Mark::Failed, format!("promote to {channel}: {e}"))),
            error: Error::Failed(
                "the release is published, committed and tagged; run the same command again to promote it".into(),
            ),
        }),
    }
}
