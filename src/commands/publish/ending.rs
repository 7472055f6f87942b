//! How a publish run ends: the summary, where its outputs are, and the error (with its exit
//! code) when it did not simply publish everything.

use super::session::Finished;
use crate::error::Error;
use crate::events::Outcome;
use crate::matrix::Build;
use crate::options::{OutputFormat, RunOptions};
use crate::output::manifest::Manifest;
use crate::report::{Style, summary};

/// Prints the summary of `finished` and returns its outcomes, or the error it ends with.
pub fn report(
    run: &RunOptions,
    builds: &[Build],
    finished: Finished,
) -> Result<Vec<Outcome>, Error> {
    let rows = rows(builds, &finished);
    let records = records(run, &finished);
    match run.summary {
        OutputFormat::Json => println!("{:#}", summary::json(&rows, &records)),
        OutputFormat::Table if run.style != Style::Machine => {
            print_summary(run, &rows, &finished);
        }
        OutputFormat::Table => {}
    }
    github_step_summary(&rows, &records);
    if !finished.write_failures.is_empty() {
        return Err(Error::Failed(format!(
            "the run's outputs could not all be written: {}",
            finished.write_failures.join("; ")
        )));
    }
    if finished.lock_lost {
        return Err(Error::Locked(vec![format!(
            "another run took this run's lock over; this run stopped and left its builds in \
             flight to that run, which finishes or removes them{}",
            listed(&finished.left_behind)
        )]));
    }
    if let Some(e) = interrupted(run, &finished) {
        return Err(e);
    }
    let outcomes = finished.outcomes;
    let all_published = outcomes
        .iter()
        .all(|o| matches!(o, Outcome::Published { .. }));
    if all_published && !finished.left_behind.is_empty() {
        // Every AMI is published and recorded, but something still costs money or still
        // works: say so, and fail, so that CI does not pass over it.
        return Err(Error::Failed(format!(
            "every build is published, but these were left behind:{}\nthe next publish of this \
             profile and version removes the instances and staged files",
            listed(&finished.left_behind)
        )));
    }
    Ok(outcomes)
}

/// One summary row per build.
fn rows<'a>(builds: &'a [Build], finished: &'a Finished) -> Vec<summary::Row<'a>> {
    builds
        .iter()
        .zip(&finished.outcomes)
        .map(|(b, o)| summary::Row {
            build: &b.name,
            region: &b.region,
            outcome: o,
            duration: finished.durations.get(&b.name).copied().unwrap_or_default(),
        })
        .collect()
}

/// Where the run's records are.
fn records<'a>(run: &'a RunOptions, finished: &'a Finished) -> summary::Records<'a> {
    summary::Records {
        run_id: finished
            .rundir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default(),
        ami_ids: (finished.writes > 0 && finished.write_failures.is_empty())
            .then_some(run.output.as_path()),
        run_dir: &finished.rundir,
        report: finished.report.as_ref().ok().map(|p| p.as_path()),
        left_behind: &finished.left_behind,
    }
}

/// The summary table, and where the outputs and the run's records are.
fn print_summary(run: &RunOptions, rows: &[summary::Row<'_>], finished: &Finished) {
    print!("\n{}", summary::render(rows));
    let rundir = finished.rundir.display();
    if finished.writes == 0 {
        println!(
            "nothing was published, so {} was not written; logs and events in {rundir}",
            run.output.display()
        );
    } else if finished.write_failures.is_empty() {
        println!(
            "wrote {} and {}; logs and events in {rundir}",
            run.output.display(),
            Manifest::path_beside(&run.output).display()
        );
    }
    match &finished.report {
        Ok(path) => println!("report (timeline of every build): {}", path.display()),
        Err(e) => eprintln!("warning: the run's report was not written: {e}"),
    }
}

/// In a GitHub Actions job (`GITHUB_STEP_SUMMARY` names a file), appends the summary as
/// Markdown to the job's summary page; a file that cannot be written is a warning.
fn github_step_summary(rows: &[summary::Row<'_>], records: &summary::Records<'_>) {
    let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) else {
        return;
    };
    let appended = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| {
            std::io::Write::write_all(&mut f, summary::markdown(rows, records).as_bytes())
        });
    if let Err(e) = appended {
        eprintln!(
            "warning: the job summary {} was not written: {e}",
            std::path::Path::new(&path).display()
        );
    }
}

/// The error of a run a signal stopped (its builds cancelled), if one did.
fn interrupted(run: &RunOptions, finished: &Finished) -> Option<Error> {
    let count = |f: fn(&Outcome) -> bool| finished.outcomes.iter().filter(|o| f(o)).count();
    let cancelled = count(|o| matches!(o, Outcome::Cancelled));
    if cancelled == 0 {
        return None;
    }
    let published = count(|o| matches!(o, Outcome::Published { .. }));
    let stop = finished
        .stops
        .first
        .get()
        .map_or_else(|| "stopped".to_string(), ToString::to_string);
    let written = if published > 0 {
        format!("what was published is in {}", run.output.display())
    } else {
        "nothing was published".to_string()
    };
    let failed = finished.outcomes.len() - cancelled - published;
    let cleaned = if finished.left_behind.is_empty() {
        "cancelled and cleaned up"
    } else {
        "cancelled"
    };
    Some(Error::Interrupted(
        format!(
            "{stop}: {cancelled} build(s) {cleaned}, {failed} failed; {written}{}",
            listed(&finished.left_behind)
        ),
        finished.stops.exit_code(),
    ))
}

/// `lines` as an indented list after a colon and a newline; nothing when empty.
fn listed(lines: &[String]) -> String {
    if lines.is_empty() {
        String::new()
    } else {
        format!("; left behind:\n  {}", lines.join("\n  "))
    }
}
