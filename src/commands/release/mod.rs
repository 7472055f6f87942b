//! `amipub release`: the legacy kit's release checklist as one command. Checks first (nothing
//! changes if any fails), then: set version, branch and permissions in the profile; publish;
//! verify; commit the outputs, the profile and a CHANGELOG entry; tag; push. Each step prints
//! one checklist line. A re-run after a failure finds what is already done and skips it, and
//! publish reuses the AMIs already published. Nothing is tagged unless every build published
//! and verification found no difference.

use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use crate::cli::{OnError, PublishArgs, ReleaseArgs};
use crate::engine::Permissions;
use crate::error::Error;
use crate::events::Outcome;
use crate::lifecycle::verify::{self, Expected};
use crate::output::manifest::Manifest;
use crate::output::write_atomic;
use crate::plan::{Plan, plural};
use crate::release::git::Git;
use crate::release::{changelog, version};

mod checks;
use checks::{Found, checks, relative_to};

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
    let reused = found.preflight.published.len();
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
                reused
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
        break_lock: args.break_lock,
        machine_readable: false,
        output: PathBuf::from(AMI_IDS),
        runs_dir: args.runs_dir.clone(),
        local_settings: args.local_settings.clone(),
    };
    let clients = found.clients.clone();
    let outcomes = super::publish::execute(
        &publish_args,
        &found.config,
        &found.selected,
        found.signing.clone(),
        Some((clients, found.preflight)),
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
        // (An interrupted publish already returned its own error.)
        return Err(Error::Failed(resume.into()));
    }
    line(
        Mark::Done,
        3,
        &format!(
            "published {} in {} ({} reused from an earlier run)",
            amis(builds.len(), visibility),
            plural(regions.len(), "region"),
            reused
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
    let names: std::collections::BTreeSet<String> =
        builds.iter().map(|b| b.ami_name.clone()).collect();
    let rows = verify::run(&found.clients, &expected, &args.version, &perms, &names).await;
    let bad: Vec<_> = rows
        .iter()
        .filter(|r| r.result != crate::lifecycle::verify::Verdict::Ok)
        .collect();
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
    let changelog_path = found.root.join(CHANGELOG);
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
