//! Step 1 of a release: every check, all reported together, before anything changes; and what
//! they find out for the steps after them (what an earlier run already did).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::{AMI_IDS, CHANGELOG, Mark, detail, fail, line};
use crate::aws::Clients;
use crate::cli::ReleaseArgs;
use crate::config::{self, Config};
use crate::engine::{self, Preflight};
use crate::error::Error;
use crate::matrix::{self, Selected};
use crate::output::manifest::Manifest;
use crate::plan::plural;
use crate::release::git::Git;
use crate::release::{profile_edit, version};

/// What the checks found out, for the steps after them.
pub(super) struct Found {
    pub(super) config: Config,
    pub(super) selected: Selected,
    pub(super) clients: Clients,
    pub(super) signing: Option<std::sync::Arc<config::SigningMaterial>>,
    pub(super) edited: profile_edit::Edited,
    pub(super) head: Option<String>,
    /// HEAD is already this release's commit.
    pub(super) committed: bool,
    /// The tag exists and points at HEAD.
    pub(super) tagged: bool,
    /// The remote has the tag, at HEAD.
    pub(super) pushed: bool,
    /// What preflight found (the publish step runs on it rather than asking again).
    pub(super) preflight: Preflight,
    /// The work tree's root (where CHANGELOG.md is).
    pub(super) root: PathBuf,
}

/// Step 1: every check, all reported together; nothing has changed when this fails.
pub(super) async fn checks(
    args: &ReleaseArgs,
    git: &Git,
    branch: &str,
    tag: &str,
) -> Result<Found, Error> {
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
    let resuming = marked_yaml::parse_yaml(0, &original).is_ok_and(|doc| {
        doc.as_mapping()
            .and_then(|m| m.get_scalar("version"))
            .is_some_and(|v| v.as_str() == args.version)
    });
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
    let has_remote = git.has_remote(&args.remote).await.map_err(fail)?;
    if has_remote {
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
    let signing = match crate::commands::publish::load_signing(
        &selected.builds,
        args.local_settings.as_deref(),
    ) {
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
    let preflight = engine::preflight::run(
        &clients,
        &selected.builds,
        &args.version,
        false,
        engine::url_lifetime(&config.p().timeouts),
    )
    .await;
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
        if !has_remote {
            detail(&format!(
                "no remote named {}: the tag was looked for locally only",
                args.remote
            ));
        }
        return Ok(Found {
            preflight,
            root,
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
pub(super) fn relative_to(root: &Path, path: &Path) -> PathBuf {
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
