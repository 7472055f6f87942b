//! `amipub release`: the legacy kit's release checklist as one command. Checks first (nothing
//! changes if any fails), then: set version, branch and permissions in the profile; publish;
//! verify; commit the outputs, the profile and a CHANGELOG entry; tag; push. Each step prints
//! one checklist line. A re-run after a failure finds what is already done and skips it, and
//! publish reuses the AMIs already published. Nothing is tagged unless every build published
//! and verification found no difference.

use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use crate::aws::Clients;
use crate::cli::{OnError, PublishArgs, ReleaseArgs};
use crate::config::{self, Config};
use crate::engine::{self, Permissions};
use crate::error::Error;
use crate::events::Outcome;
use crate::lifecycle::verify::{self, Expected};
use crate::matrix::{self, Selected};
use crate::output::manifest::Manifest;
use crate::output::write_atomic;
use crate::plan::{Plan, plural};
use crate::release::git::Git;
use crate::release::{changelog, profile_edit, version};

/// Where the release's ami_ids.json goes (the manifest goes beside it).
const AMI_IDS: &str = "ami_ids.json";
const CHANGELOG: &str = "CHANGELOG.md";

/// The state of one checklist line.
#[derive(Clone, Copy)]
enum Mark {
    Done,
    Skipped,
    Failed,
    Would,
}

fn line(mark: Mark, step: usize, text: &str) {
    let m = match mark {
        Mark::Done => "done",
        Mark::Skipped => "skipped",
        Mark::Failed => "FAILED",
        Mark::Would => "would",
    };
    println!("[{m:<7}] {step}. {text}");
}

fn detail(text: &str) {
    println!("            {text}");
}

/// What the checks found out, for the steps after them.
struct Found {
    config: Config,
    selected: Selected,
    clients: Clients,
    signing: Option<std::sync::Arc<config::SigningMaterial>>,
    edited: profile_edit::Edited,
    head: Option<String>,
    /// HEAD is already this release's commit.
    committed: bool,
    /// The tag exists and points at HEAD.
    tagged: bool,
    /// The remote has the tag, at HEAD.
    pushed: bool,
    /// Builds an earlier run already published.
    reused: usize,
}

/// Runs `amipub release`.
pub async fn run(args: ReleaseArgs) -> Result<(), Error> {
    let v = version::parse(&args.version).map_err(|e| Error::Usage(vec![e]))?;
    if args.concurrency.poll_interval.is_zero() {
        return Err(Error::Usage(vec![
            "--poll-interval must be longer than zero, e.g. 2s".into(),
        ]));
    }
    let branch = args
        .branch
        .clone()
        .unwrap_or_else(|| version::default_branch(&v));
    let tag = version::tag(&args.version, args.candidate);
    let kind = if args.candidate {
        "release candidate"
    } else {
        "release"
    };
    let visibility = if args.candidate { "private" } else { "public" };
    let git = Git::new(Path::new("."));

    let found = checks(&args, &git, &branch, &tag).await?;
    let builds = &found.selected.builds;
    let regions: BTreeSet<&str> = builds.iter().map(|b| b.region.as_str()).collect();
    let profile = args.selection.config.display().to_string();

    if args.dry_run {
        print!(
            "\n{}",
            Plan::new(&found.config, &found.selected, None).to_table()
        );
        println!();
        profile_line(
            Mark::Would,
            &found,
            &profile,
            &args.version,
            &branch,
            visibility,
        );
        line(
            Mark::Would,
            3,
            &format!(
                "publish {} in {} ({} already published, reused)",
                amis(builds.len(), visibility),
                plural(regions.len(), "region"),
                found.reused
            ),
        );
        line(
            Mark::Would,
            4,
            "verify launch permissions and availability of every AMI",
        );
        line(
            Mark::Would,
            5,
            &format!(
                "commit {AMI_IDS}, its manifest, {profile} and a {CHANGELOG} entry as \"Release {}\"",
                args.version
            ),
        );
        line(Mark::Would, 6, &format!("create the annotated tag {tag}"));
        push_line(&args, &tag, true, found.pushed);
        println!("dry run: nothing was changed.");
        return Ok(());
    }

    if !args.yes && std::io::stdin().is_terminal() && !confirm(&args, kind, builds.len()).await {
        return Err(Error::Usage(vec![
            "not confirmed; nothing was changed (pass --yes to skip the question)".into(),
        ]));
    }

    // 2. The profile.
    if found.edited.changes.is_empty() {
        profile_line(
            Mark::Skipped,
            &found,
            &profile,
            &args.version,
            &branch,
            visibility,
        );
    } else {
        write_atomic(&args.selection.config, found.edited.text.as_bytes())?;
        profile_line(
            Mark::Done,
            &found,
            &profile,
            &args.version,
            &branch,
            visibility,
        );
    }

    // 3. Publish.
    let publish_args = PublishArgs {
        selection: args.selection.clone(),
        aws: args.aws.clone(),
        dry_run: false,
        concurrency: args.concurrency.clone(),
        debug: false,
        on_error: OnError::Cleanup,
        force: false,
        machine_readable: false,
        output: PathBuf::from(AMI_IDS),
        runs_dir: args.runs_dir.clone(),
        local_settings: args.local_settings.clone(),
    };
    let outcomes = super::publish::execute(
        &publish_args,
        &found.config,
        &found.selected,
        found.signing.clone(),
    )
    .await?;
    let failed = outcomes
        .iter()
        .filter(|o| !matches!(o, Outcome::Published { .. }))
        .count();
    if failed > 0 {
        line(
            Mark::Failed,
            3,
            &format!(
                "publish: {failed} of {} build(s) did not publish",
                builds.len()
            ),
        );
        let resume = "run the same command again to resume: published AMIs are reused; nothing was committed or tagged";
        return Err(
            if outcomes.iter().any(|o| matches!(o, Outcome::Cancelled)) {
                Error::Interrupted(resume.into())
            } else {
                Error::Failed(resume.into())
            },
        );
    }
    line(
        Mark::Done,
        3,
        &format!(
            "published {} in {} ({} reused from an earlier run)",
            amis(builds.len(), visibility),
            plural(regions.len(), "region"),
            found.reused
        ),
    );

    // 4. Verify.
    let expected: Vec<Expected> = builds
        .iter()
        .zip(&outcomes)
        .filter_map(|(b, o)| match o {
            Outcome::Published { artifact } => Some(Expected {
                build: b.name.clone(),
                region: b.region.clone(),
                ami_id: artifact.ami_id.clone(),
                ami_name: Some(b.ami_name.clone()),
            }),
            _ => None,
        })
        .collect();
    let perms = Permissions {
        groups: found.config.p().launch_permissions.groups.clone(),
        accounts: found.config.accounts.clone(),
    };
    let rows = verify::run(&found.clients, &expected, &args.version, &perms).await;
    let bad: Vec<_> = rows.iter().filter(|r| r.result != "ok").collect();
    if !bad.is_empty() {
        line(
            Mark::Failed,
            4,
            &format!("verify: {} of {} AMI(s) differ", bad.len(), rows.len()),
        );
        for r in &bad {
            detail(&format!(
                "{} {}: {}",
                r.build,
                r.ami_id,
                r.differences.join("; ")
            ));
        }
        return Err(Error::Failed(
            "verification found differences; nothing was committed or tagged".into(),
        ));
    }
    line(
        Mark::Done,
        4,
        &format!(
            "verified {}: available, {visibility}, named and tagged as the profile says",
            plural(rows.len(), "AMI")
        ),
    );

    // 5. Commit.
    let message = format!("Release {}", args.version);
    let changelog_path = git.root().await.map_err(fail)?.join(CHANGELOG);
    let old = std::fs::read_to_string(&changelog_path).unwrap_or_default();
    if !changelog::has_entry(&old, &args.version) {
        let today = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
        let entry = format!(
            "{}\n- {} {} {} AMIs ({}) in {}: {}.\n- Built from branch {branch}; the IDs are in {AMI_IDS}.\n",
            changelog::heading(&args.version, &today[..10], args.candidate),
            if args.candidate {
                "Published"
            } else {
                "Released"
            },
            builds.len(),
            visibility,
            builds.first().map(|b| b.backing.as_str()).unwrap_or("ebs"),
            plural(regions.len(), "region"),
            regions.iter().copied().collect::<Vec<_>>().join(", ")
        );
        write_atomic(&changelog_path, changelog::insert(&old, &entry).as_bytes())?;
    }
    let manifest = Manifest::path_beside(Path::new(AMI_IDS));
    let files = [
        AMI_IDS.to_string(),
        manifest.display().to_string(),
        profile.clone(),
        relative_to(
            &std::env::current_dir().map_err(|e| Error::io(".", e))?,
            &changelog_path,
        )
        .display()
        .to_string(),
    ];
    let mut add = vec!["add", "--"];
    add.extend(files.iter().map(String::as_str));
    git.run(&add).await.map_err(fail)?;
    let staged = git
        .run(&["diff", "--cached", "--name-only"])
        .await
        .map_err(fail)?;
    if staged.is_empty() && found.committed {
        line(
            Mark::Skipped,
            5,
            &format!("already committed as \"{message}\""),
        );
    } else {
        git.run(&["commit", "-q", "-m", &message])
            .await
            .map_err(fail)?;
        let sha = git
            .run(&["rev-parse", "--short", "HEAD"])
            .await
            .map_err(fail)?;
        line(
            Mark::Done,
            5,
            &format!("committed {sha} \"{message}\": {}", files.join(", ")),
        );
    }

    // 6. Tag.
    let head = git.commit_of("HEAD").await.map_err(fail)?;
    if found.tagged && head == found.head {
        line(
            Mark::Skipped,
            6,
            &format!("{tag} already points at this commit"),
        );
    } else {
        let note = format!(
            "{} {}: {} in {}",
            if args.candidate {
                "Release candidate"
            } else {
                "Release"
            },
            args.version,
            plural(builds.len(), "AMI"),
            plural(regions.len(), "region")
        );
        git.run(&["tag", "-a", &tag, "-m", &note])
            .await
            .map_err(fail)?;
        line(Mark::Done, 6, &format!("tagged {tag}"));
    }

    // 7. Push.
    if args.push && !(found.pushed && head == found.head) {
        git.run(&["push", "-q", &args.remote, "HEAD"])
            .await
            .map_err(fail)?;
        git.run(&["push", "-q", &args.remote, &format!("refs/tags/{tag}")])
            .await
            .map_err(fail)?;
        line(
            Mark::Done,
            7,
            &format!("pushed the commit and {tag} to {}", args.remote),
        );
    } else {
        push_line(&args, &tag, false, found.pushed);
    }
    println!(
        "{kind} {} is complete: {} in {}",
        args.version,
        amis(builds.len(), visibility),
        plural(regions.len(), "region")
    );
    Ok(())
}

/// `4 public AMIs`.
fn amis(n: usize, visibility: &str) -> String {
    format!("{n} {visibility} AMI{}", if n == 1 { "" } else { "s" })
}

fn fail(e: String) -> Error {
    Error::Failed(e)
}

fn profile_line(
    mark: Mark,
    found: &Found,
    profile: &str,
    version: &str,
    branch: &str,
    visibility: &str,
) {
    let what = format!("version {version}, branch {branch}, {visibility} in {profile}");
    match mark {
        Mark::Skipped => line(mark, 2, &format!("{what}: already set")),
        _ => {
            line(mark, 2, &format!("set {what}"));
            for c in &found.edited.changes {
                for o in &c.old {
                    detail(&format!("{profile}:{} - {o}", c.line));
                }
                for n in c.new.lines() {
                    detail(&format!("{profile}:{} + {n}", c.line));
                }
            }
        }
    }
}

fn push_line(args: &ReleaseArgs, tag: &str, dry_run: bool, pushed: bool) {
    if pushed {
        line(
            Mark::Skipped,
            7,
            &format!("{} already has {tag}", args.remote),
        );
    } else if !args.push {
        line(
            Mark::Skipped,
            7,
            &format!(
                "push (no --push): `git push {r} HEAD refs/tags/{tag}` publishes the commit and the tag",
                r = args.remote
            ),
        );
    } else if dry_run {
        line(
            Mark::Would,
            7,
            &format!("push the commit and {tag} to {}", args.remote),
        );
    }
}

/// Step 1: every check, all reported together; nothing has changed when this fails.
async fn checks(args: &ReleaseArgs, git: &Git, branch: &str, tag: &str) -> Result<Found, Error> {
    let mut problems = Vec::new();
    let mut preflight_problems = Vec::new();
    let not_git = |e: String| {
        Error::Usage(vec![format!(
            "{e}\nrelease runs in the git checkout that holds the profile and ami_ids.json"
        )])
    };
    let root = git.root().await.map_err(not_git)?;
    let head = git.commit_of("HEAD").await.map_err(not_git)?;
    let committed = match head {
        Some(_) => git.head_subject().await.map_err(fail)? == format!("Release {}", args.version),
        None => false,
    };

    let profile_path = &args.selection.config;
    let original = std::fs::read_to_string(profile_path).map_err(|e| Error::io(profile_path, e))?;
    let groups: &[&str] = if args.candidate { &[] } else { &["all"] };
    let edited = profile_edit::edit(&original, &args.version, branch, groups)
        .map_err(|e| Error::Usage(vec![format!("{}: {e}", profile_path.display())]))?;
    // A release that already set the version (an earlier, interrupted run) may leave its own
    // files changed; anything else must be committed first.
    let resuming = serde_yaml::from_str::<serde_yaml::Value>(&original)
        .ok()
        .and_then(|d| {
            d.get("version")
                .and_then(|v| v.as_str())
                .map(str::to_string)
        })
        .as_deref()
        == Some(args.version.as_str());
    let cwd = std::env::current_dir().map_err(|e| Error::io(".", e))?;
    let own: BTreeSet<PathBuf> = [
        PathBuf::from(AMI_IDS),
        Manifest::path_beside(Path::new(AMI_IDS)),
        profile_path.clone(),
        PathBuf::from(CHANGELOG),
    ]
    .iter()
    .map(|p| relative_to(&root, &cwd.join(p)))
    .collect();
    let changed = git.changed_files().await.map_err(fail)?;
    let foreign: Vec<&String> = changed
        .iter()
        .filter(|f| !resuming || !own.contains(Path::new(f.as_str())))
        .collect();
    if !foreign.is_empty() {
        problems.push(format!(
            "the work tree has uncommitted changes ({}); commit or stash them first",
            foreign
                .iter()
                .map(|f| f.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }

    let mut tagged = false;
    match git
        .commit_of(&format!("refs/tags/{tag}"))
        .await
        .map_err(fail)?
    {
        Some(c) if committed && Some(&c) == head.as_ref() => tagged = true,
        Some(c) => problems.push(format!(
            "the tag {tag} already exists (at {}); a released version is not released again",
            &c[..c.len().min(12)]
        )),
        None => {}
    }
    let mut pushed = false;
    if git.has_remote(&args.remote).await.map_err(fail)? {
        match git.remote_tag(&args.remote, tag).await {
            Ok(Some(c)) if tagged && Some(&c) == head.as_ref() => pushed = true,
            Ok(Some(_)) => {
                problems.push(format!("the tag {tag} already exists on {}", args.remote))
            }
            Ok(None) => {}
            Err(e) => problems.push(format!("cannot read {}'s tags: {e}", args.remote)),
        }
    } else if args.push {
        problems.push(format!(
            "there is no remote named {} to push to; add it, or name another with --remote",
            args.remote
        ));
    }
    let v = version::parse(&args.version).map_err(|e| Error::Usage(vec![e]))?;
    let release_tags = git.tags("release/*").await.map_err(fail)?;
    if let Some(last) = version::latest_release(&release_tags, tag)
        && v <= last
    {
        problems.push(format!(
            "{} is not newer than the last release {last} (tag release/{last})",
            args.version
        ));
    }

    let config = match config::load_text(profile_path, &edited.text, &args.selection.regions_file) {
        Ok(c) => c,
        Err(diags) => {
            // The other checks need a valid configuration; report what was found so far with it.
            line(Mark::Failed, 1, "checks (nothing was changed):");
            for p in &problems {
                detail(p);
            }
            detail(
                "the configuration, with this release's version and branch, has the problems below",
            );
            for p in &problems {
                eprintln!("error: {p}");
            }
            return Err(Error::Config(diags));
        }
    };
    let selected = matrix::select(&config, &args.selection.selection())?;
    let signing =
        match super::publish::load_signing(&selected.builds, args.local_settings.as_deref()) {
            Ok(s) => s,
            Err(Error::Usage(lines)) => {
                problems.extend(lines);
                None
            }
            Err(e) => return Err(e),
        };
    let clients = Clients::connect(
        &args.aws.settings(),
        selected.builds.iter().map(|b| b.region.as_str()),
    )
    .await?;
    let preflight = engine::preflight::run(&clients, &selected.builds, &args.version, false).await;
    preflight_problems.extend(preflight.problems.iter().cloned());
    let regions: BTreeSet<&str> = selected.builds.iter().map(|b| b.region.as_str()).collect();

    if problems.is_empty() && preflight_problems.is_empty() {
        line(
            Mark::Done,
            1,
            &format!(
                "checks: work tree clean{}, {}, {} newer than the last release, preflight passed in {}",
                if changed.is_empty() {
                    ""
                } else {
                    " but for this release's own files"
                },
                if tagged {
                    format!("{tag} made by this release already")
                } else {
                    format!("{tag} free")
                },
                args.version,
                plural(regions.len(), "region")
            ),
        );
        if !git.has_remote(&args.remote).await.map_err(fail)? {
            detail(&format!(
                "no remote named {}: the tag was looked for locally only",
                args.remote
            ));
        }
        return Ok(Found {
            reused: preflight.published.len(),
            config,
            selected,
            clients,
            signing,
            edited,
            head,
            committed,
            tagged,
            pushed,
        });
    }
    line(Mark::Failed, 1, "checks (nothing was changed):");
    for p in problems.iter().chain(&preflight_problems) {
        detail(p);
    }
    Err(if problems.is_empty() {
        Error::Preflight(preflight_problems)
    } else {
        problems.extend(preflight_problems);
        Error::Usage(problems)
    })
}

/// `path` relative to `root` (both made absolute and canonical where they exist).
fn relative_to(root: &Path, path: &Path) -> PathBuf {
    let canon = |p: &Path| {
        p.parent()
            .and_then(|d| d.canonicalize().ok())
            .map(|d| d.join(p.file_name().unwrap_or_default()))
            .unwrap_or_else(|| p.to_path_buf())
    };
    let root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    let p = canon(path);
    p.strip_prefix(&root).map(Path::to_path_buf).unwrap_or(p)
}

async fn confirm(args: &ReleaseArgs, kind: &str, builds: usize) -> bool {
    let question = format!(
        "Publish {} for {kind} {}, commit and tag it? [y/N] ",
        plural(builds, "AMI"),
        args.version
    );
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        print!("{question}");
        let _ = std::io::stdout().flush();
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer).is_ok()
            && matches!(answer.trim(), "y" | "Y" | "yes")
    })
    .await
    .unwrap_or(false)
}
