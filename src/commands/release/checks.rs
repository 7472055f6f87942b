//! Step 1 of a release: every check, all reported together, before anything changes; and what
//! they find out for the steps after them (what an earlier run already did).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::{CHANGELOG, Mark, detail, line};
use crate::aws::Clients;
use crate::config::{self, Config};
use crate::engine::{self, Preflight};
use crate::error::Error;
use crate::matrix::{self, Selected};
use crate::options::ReleaseOptions;
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
    /// What preflight found; the publish step takes it rather than asking again.
    pub(super) preflight: Option<Preflight>,
    /// The work tree's root (where CHANGELOG.md is).
    pub(super) root: PathBuf,
    /// With `--refresh-sources`: the regions file with the newest source AMIs, which the
    /// profile step writes (after confirmation), never the checks.
    pub(super) regions_text: Option<String>,
}

/// What git says of the work tree, the tag and the remote.
struct GitState {
    root: PathBuf,
    head: Option<String>,
    committed: bool,
    tagged: bool,
    pushed: bool,
    has_remote: bool,
    /// The work tree has changes, all of them this release's own files.
    own_changes_only: bool,
}

fn fail(e: String) -> Error {
    Error::Failed(e)
}

/// Step 1: every check, all reported together; nothing has changed when this fails.
pub(super) async fn checks(opts: &ReleaseOptions, git: &Git, tag: &str) -> Result<Found, Error> {
    let mut problems = Vec::new();
    let profile_path = &opts.publish.selection.config;
    let original = std::fs::read_to_string(profile_path).map_err(|e| Error::io(profile_path, e))?;
    let groups: &[&str] = if opts.candidate { &[] } else { &["all"] };
    let edited = profile_edit::edit(&original, &opts.version, &opts.branch, groups)
        .map_err(|e| Error::Usage(vec![format!("{}: {e}", profile_path.display())]))?;
    let state = git_state(opts, git, tag, &original, &mut problems).await?;
    check_newer(opts, git, tag, &mut problems).await?;
    let (sources, regions_text) =
        refresh_sources(opts, is_resuming(opts, &original), &mut problems).await?;
    let config = load_config(opts, (&edited.text, regions_text.as_deref()), &problems)?;
    let selected = matrix::select(&config, &opts.publish.selection.builds)?;
    let signing = match crate::commands::publish::load_signing(
        &selected.builds,
        opts.publish.run.local_settings.as_deref(),
    ) {
        Ok(s) => s,
        Err(Error::Usage(lines)) => {
            problems.extend(lines);
            None
        }
        Err(e) => return Err(e),
    };
    let clients =
        crate::commands::publish::checks::connect(&opts.publish.run.aws, &config, &selected)
            .await?;
    let not_enabled =
        match crate::commands::publish::checks::enabled_only(&clients, &selected, false).await {
            Err(Error::Preflight(off)) => off,
            _ => Vec::new(),
        };
    let mut preflight = engine::preflight::run(
        &clients,
        &selected.builds,
        (&opts.version, false),
        engine::url_lifetime(&config.p().timeouts),
        &config.p().ami,
    )
    .await;
    if let Some(reg) = crate::registry::Registry::of(&config, &clients) {
        let (problems, _) = crate::registry::record::preflight(&reg, &opts.version).await;
        preflight.problems.extend(problems);
    }
    preflight.problems.extend(not_enabled);
    crate::commands::publish::checks::public_sharing(
        &config,
        &clients,
        &selected.builds,
        &mut preflight,
    )
    .await;
    problems.extend(channel_problems(opts, &config));
    if !problems.is_empty() || !preflight.problems.is_empty() {
        return Err(report_problems(problems, preflight.problems));
    }
    let regions: BTreeSet<&str> = selected.builds.iter().map(|b| b.region.as_str()).collect();
    line(
        Mark::Done,
        1,
        &format!(
            "checks: work tree clean{}, {}, {} newer than the last release, preflight passed in {}",
            if state.own_changes_only {
                " but for this release's own files"
            } else {
                ""
            },
            if state.tagged {
                format!("{tag} made by this release already")
            } else {
                format!("{tag} free")
            },
            opts.version,
            plural(regions.len(), "region")
        ),
    );
    for d in sources {
        detail(&d);
    }
    if !state.has_remote {
        detail(&format!(
            "no remote named {}: the tag was looked for locally only",
            opts.remote
        ));
    }
    Ok(Found {
        preflight: Some(preflight),
        root: state.root,
        config,
        selected,
        clients,
        signing,
        edited,
        head: state.head,
        committed: state.committed,
        tagged: state.tagged,
        pushed: state.pushed,
        regions_text,
    })
}

/// The failed checks line and every problem under it; the error the release ends with.
fn report_problems(mut problems: Vec<String>, preflight: Vec<String>) -> Error {
    line(Mark::Failed, 1, "checks (nothing was changed):");
    for p in problems.iter().chain(&preflight) {
        detail(p);
    }
    if problems.is_empty() {
        Error::Preflight(preflight)
    } else {
        problems.extend(preflight);
        Error::Usage(problems)
    }
}

/// The configuration as the release will have it (its version and branch set); when it has
/// problems, the checks line lists `problems` found so far with them.
fn load_config(
    opts: &ReleaseOptions,
    (edited, regions_text): (&str, Option<&str>),
    problems: &[String],
) -> Result<Config, Error> {
    let sel = &opts.publish.selection;
    config::load_text(&sel.config, edited, (&sel.regions_file, regions_text)).map_err(|diags| {
        line(Mark::Failed, 1, "checks (nothing was changed):");
        for p in problems {
            detail(p);
        }
        detail("the configuration, with this release's version and branch, has the problems below");
        for p in problems {
            eprintln!("error: {p}");
        }
        Error::Config(diags)
    })
}

/// The version must be newer than the last release's.
async fn check_newer(
    opts: &ReleaseOptions,
    git: &Git,
    tag: &str,
    problems: &mut Vec<String>,
) -> Result<(), Error> {
    let v = version::parse(&opts.version).map_err(|e| Error::Usage(vec![e]))?;
    let release_tags = git.tags("release/*").await.map_err(fail)?;
    if let Some(last) = version::latest_release(&release_tags, tag)
        && v <= last
    {
        problems.push(format!(
            "{} is not newer than the last release {last} (tag release/{last})",
            opts.version
        ));
    }
    Ok(())
}

/// What git says of the work tree (only this release's own files may be changed, and only
/// when an earlier run of it set the version), the tag and the remote.
async fn git_state(
    opts: &ReleaseOptions,
    git: &Git,
    tag: &str,
    original_profile: &str,
    problems: &mut Vec<String>,
) -> Result<GitState, Error> {
    let not_git = |e: String| {
        Error::Usage(vec![format!(
            "{e}\nrelease runs in the git checkout that holds the profile and ami_ids.json"
        )])
    };
    let root = git.root().await.map_err(not_git)?;
    let head = git.commit_of("HEAD").await.map_err(not_git)?;
    let committed = match head {
        Some(_) => git.head_subject().await.map_err(fail)? == format!("Release {}", opts.version),
        None => false,
    };
    let changed = git.changed_files().await.map_err(fail)?;
    let foreign = foreign_changes(opts, &root, original_profile, &changed)?;
    if !foreign.is_empty() {
        problems.push(format!(
            "the work tree has uncommitted changes ({}); commit or stash them first",
            foreign.join(", ")
        ));
    }
    let tagged = match git
        .commit_of(&format!("refs/tags/{tag}"))
        .await
        .map_err(fail)?
    {
        Some(c) if committed && Some(&c) == head.as_ref() => true,
        Some(c) => {
            problems.push(format!(
                "the tag {tag} already exists (at {}); a released version is not released again",
                &c[..c.len().min(12)]
            ));
            false
        }
        None => false,
    };
    let has_remote = git.has_remote(&opts.remote).await.map_err(fail)?;
    let mut pushed = false;
    if has_remote {
        match git.remote_tag(&opts.remote, tag).await {
            Ok(Some(c)) if tagged && Some(&c) == head.as_ref() => pushed = true,
            Ok(Some(_)) => {
                problems.push(format!("the tag {tag} already exists on {}", opts.remote))
            }
            Ok(None) => {}
            Err(e) => problems.push(format!("cannot read {}'s tags: {e}", opts.remote)),
        }
    } else if opts.push {
        problems.push(format!(
            "there is no remote named {} to push to; add it, or name another with --remote",
            opts.remote
        ));
    }
    Ok(GitState {
        root,
        own_changes_only: !changed.is_empty(),
        head,
        committed,
        tagged,
        pushed,
        has_remote,
    })
}

/// `--refresh-sources`: the newest source AMIs of the regions the release builds, looked up
/// before the configuration is loaded so that the checks, the plan and the publish use them.
/// Returns the lines to show under the checks and the regions file's new text, which the
/// profile step writes: the checks change nothing. A resumed release keeps the sources its
/// first run refreshed (its AMIs were built from them). A failed lookup or an edit amipub
/// cannot make is a problem of the checks.
async fn refresh_sources(
    opts: &ReleaseOptions,
    resuming: bool,
    problems: &mut Vec<String>,
) -> Result<(Vec<String>, Option<String>), Error> {
    let sel = &opts.publish.selection;
    if !opts.refresh_sources {
        return Ok((Vec::new(), None));
    }
    if resuming {
        let line = format!(
            "sources: not refreshed: {} {} is resumed, with the sources its first run refreshed",
            opts.kind(),
            opts.version
        );
        return Ok((vec![line], None));
    }
    let sources = crate::options::SourcesOptions {
        config: sel.config.clone(),
        regions_file: sel.regions_file.clone(),
        regions: sel.builds.regions.clone(),
        profile_regions: !sel.builds.all_regions,
        write: false,
        aws: opts.publish.run.aws.clone(),
    };
    let update = crate::commands::sources::look_up(&sources).await?;
    problems.extend(update.failed.iter().map(|e| format!("sources: {e}")));
    let text = match update.changes.as_slice() {
        [] => None,
        changes => match crate::commands::sources::edited(&sel.regions_file, changes) {
            Ok(t) => Some(t),
            Err(e) => {
                problems.push(format!("sources: {e}"));
                None
            }
        },
    };
    let file = sel.regions_file.display();
    let mut lines = vec![match update.changes.len() {
        0 => format!(
            "sources: {} source AMI(s) checked, {file} up to date",
            update.checked
        ),
        n if opts.dry_run => format!("sources: would update {n} source AMI(s) in {file}"),
        n => format!("sources: {n} source AMI(s) to update in {file} (step 2 writes them)"),
    }];
    let rendered = crate::commands::sources::render(&update);
    // Every line but the totals: the changes, and the cells nothing was found for.
    let details: Vec<&str> = rendered.lines().collect();
    let details = &details[..details.len().saturating_sub(1)];
    lines.extend(details.iter().map(|l| format!("  {l}")));
    Ok((lines, text))
}

/// Whether an earlier run of this release already set the profile's version (it then owns the
/// files it changes).
fn is_resuming(opts: &ReleaseOptions, original_profile: &str) -> bool {
    marked_yaml::parse_yaml(0, original_profile).is_ok_and(|doc| {
        doc.as_mapping()
            .and_then(|m| m.get_scalar("version"))
            .is_some_and(|v| v.as_str() == opts.version)
    })
}

/// The changed files that are not this release's own. A release that already set the version
/// (an earlier, interrupted run) may leave its own files changed; anything else must be
/// committed first.
fn foreign_changes(
    opts: &ReleaseOptions,
    root: &Path,
    original_profile: &str,
    changed: &[String],
) -> Result<Vec<String>, Error> {
    let resuming = is_resuming(opts, original_profile);
    let cwd = std::env::current_dir().map_err(|e| Error::io(".", e))?;
    let ami_ids = &opts.publish.run.output;
    let own: BTreeSet<PathBuf> = [
        ami_ids.clone(),
        Manifest::path_beside(ami_ids),
        opts.publish.selection.config.clone(),
        PathBuf::from(CHANGELOG),
    ]
    .iter()
    // The profile step writes refreshed sources along with the version.
    .chain(
        opts.refresh_sources
            .then_some(&opts.publish.selection.regions_file),
    )
    .map(|p| relative_to(root, &cwd.join(p)))
    .collect();
    Ok(changed
        .iter()
        .filter(|f| !resuming || !own.contains(Path::new(f.as_str())))
        .cloned()
        .collect())
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

/// `--channel` names a channel of the profile's registry, and a candidate never goes to a
/// public one.
fn channel_problems(opts: &ReleaseOptions, config: &Config) -> Vec<String> {
    let Some(channel) = &opts.channel else {
        return Vec::new();
    };
    let Some(registry) = &config.p().registry else {
        return vec![format!(
            "--channel {channel}: the profile has no registry: section"
        )];
    };
    match registry.channels.get(channel) {
        None => vec![format!(
            "--channel {channel}: the profile's registry has no such channel ({})",
            registry
                .channels
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        )],
        Some(c) if c.public && opts.candidate => vec![format!(
            "--channel {channel} is public, and a --candidate release is private: promote candidates to a private channel"
        )],
        Some(_) => Vec::new(),
    }
}
