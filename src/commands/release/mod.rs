//! `amipub release`: the legacy kit's release checklist as one command. Checks first (nothing
//! changes if any fails), then the steps of [`steps::steps`]: set version, branch and
//! permissions in the profile; publish; verify; commit the outputs, the profile and a CHANGELOG
//! entry; tag; push; point a registry channel at it (`--channel`). One loop renders every step, as what it would do (`--dry-run`) or as what it
//! did. A re-run after a failure finds what is already done and skips it, and publish reuses
//! the AMIs already published. Nothing is tagged unless every build published and
//! verification found no difference.

use std::io::IsTerminal;
use std::path::Path;

use crate::error::Error;
use crate::options::ReleaseOptions;
use crate::plan::{Plan, plural};
use crate::release::git::Git;
use crate::release::version;

mod checks;
mod steps;

use checks::checks;
use steps::{Line, Release};

const CHANGELOG: &str = "CHANGELOG.md";

/// The state of one checklist line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mark {
    Done,
    Skipped,
    Failed,
    Would,
}

/// Prints one checklist line: `[done   ] 3. published ...`.
fn line(mark: Mark, step: usize, text: &str) {
    let m = match mark {
        Mark::Done => "done",
        Mark::Skipped => "skipped",
        Mark::Failed => "FAILED",
        Mark::Would => "would",
    };
    println!("[{m:<7}] {step}. {text}");
}

/// Prints a line under a checklist line.
fn detail(text: &str) {
    println!("            {text}");
}

fn show(step: usize, l: &Line) {
    line(l.mark, step, &l.text);
    for d in &l.details {
        detail(d);
    }
}

/// Runs `amipub release`.
pub async fn run(opts: &ReleaseOptions) -> Result<(), Error> {
    let tag = version::tag(&opts.version, opts.candidate);
    let git = Git::new(Path::new("."));
    let found = checks(opts, &git, &tag).await?;
    let mut release = Release::new(opts, found, git, tag);

    if opts.dry_run {
        let found = release.found();
        print!(
            "\n{}",
            Plan::new(&found.config, &found.selected, None).to_table()
        );
        println!();
    } else if !opts.yes
        && std::io::stdin().is_terminal()
        && !confirm(opts, release.builds().len()).await
    {
        return Err(Error::Usage(vec![
            "not confirmed; nothing was changed (pass --yes to skip the question)".into(),
        ]));
    }
    for step in steps::steps(opts) {
        let n = step.number();
        if opts.dry_run {
            show(n, &step.describe(&release));
            continue;
        }
        match step.run(&mut release).await {
            Ok(done) => show(n, &done),
            Err(failure) => {
                if let Some(l) = &failure.line {
                    show(n, l);
                }
                return Err(failure.error);
            }
        }
    }
    if opts.dry_run {
        println!("dry run: nothing was changed.");
    } else {
        println!(
            "{} {} is complete: {} in {}",
            opts.kind(),
            opts.version,
            release.amis(),
            plural(release.regions().len(), "region")
        );
    }
    Ok(())
}

async fn confirm(opts: &ReleaseOptions, builds: usize) -> bool {
    let question = format!(
        "Publish {} for {} {}, commit and tag it? [y/N] ",
        plural(builds, "AMI"),
        opts.kind(),
        opts.version
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
