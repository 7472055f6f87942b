//! The summary of a run: the table printed at its end (build, region, AMI or failure,
//! duration), the same as JSON (`publish --format json`) and as Markdown (a CI job's summary).

use std::time::Duration;

use crate::events::Outcome;
use crate::plan::{plural, table};

/// One row.
pub struct Row<'a> {
    /// Build name.
    pub build: &'a str,
    /// Region.
    pub region: &'a str,
    /// How it ended.
    pub outcome: &'a Outcome,
    /// How long it took.
    pub duration: Duration,
}

/// The table and a closing count.
pub fn render(rows: &[Row<'_>]) -> String {
    let cells: Vec<[String; 4]> = rows
        .iter()
        .map(|r| {
            let result = match r.outcome {
                Outcome::Published { artifact } if artifact.reused => {
                    format!("{} (already published)", artifact.ami_id)
                }
                Outcome::Published { artifact } => artifact.ami_id.clone(),
                Outcome::Failed { step, error } => format!("FAILED ({}): {error}", step.describe()),
                Outcome::Cancelled => "cancelled".to_string(),
            };
            [
                r.build.to_string(),
                r.region.to_string(),
                result,
                super::text::secs(r.duration),
            ]
        })
        .collect();
    let mut out = table(&["BUILD", "REGION", "RESULT", "DURATION"], &cells);
    let (now, before, failed, cancelled) = counts(rows);
    let mut parts = vec![format!("{now} published now")];
    if before > 0 {
        parts.push(format!("{before} already published"));
    }
    parts.push(format!("{failed} failed"));
    if cancelled > 0 {
        parts.push(format!("{cancelled} cancelled"));
    }
    out.push_str(&format!(
        "{}: {}\n",
        plural(rows.len(), "AMI"),
        parts.join(", ")
    ));
    out
}

/// How many ended each way.
fn counts(rows: &[Row<'_>]) -> (usize, usize, usize, usize) {
    let count = |f: fn(&Outcome) -> bool| rows.iter().filter(|r| f(r.outcome)).count();
    let now = count(|o| matches!(o, Outcome::Published { artifact } if !artifact.reused));
    let before = count(|o| matches!(o, Outcome::Published { artifact } if artifact.reused));
    let failed = count(|o| matches!(o, Outcome::Failed { .. }));
    (now, before, failed, rows.len() - now - before - failed)
}

/// Where a run's records are, for the JSON and Markdown summaries.
pub struct Records<'a> {
    /// The run's ID.
    pub run_id: &'a str,
    /// ami_ids.json, when this run wrote it.
    pub ami_ids: Option<&'a std::path::Path>,
    /// The run directory.
    pub run_dir: &'a std::path::Path,
    /// Its report.html, when written.
    pub report: Option<&'a std::path::Path>,
    /// What is left behind.
    pub left_behind: &'a [String],
}

/// The summary as one JSON document (`publish --format json`, schema 1; README).
pub fn json(rows: &[Row<'_>], rec: &Records<'_>) -> serde_json::Value {
    let (now, before, failed, cancelled) = counts(rows);
    let builds: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            let mut b = serde_json::json!({
                "build": r.build,
                "region": r.region,
                "seconds": (r.duration.as_secs_f64() * 100.0).round() / 100.0,
            });
            let extra = match r.outcome {
                Outcome::Published { artifact } => serde_json::json!({
                    "result": "published",
                    "ami_id": artifact.ami_id,
                    "already_published": artifact.reused,
                }),
                Outcome::Failed { step, error } => serde_json::json!({
                    "result": "failed", "step": step, "error": error,
                }),
                Outcome::Cancelled => serde_json::json!({"result": "cancelled"}),
            };
            if let (Some(b), Some(extra)) = (b.as_object_mut(), extra.as_object()) {
                b.extend(extra.clone());
            }
            b
        })
        .collect();
    let path = |p: Option<&std::path::Path>| p.map(|p| p.display().to_string());
    serde_json::json!({
        "schema": 1,
        "run_id": rec.run_id,
        "published_now": now,
        "already_published": before,
        "failed": failed,
        "cancelled": cancelled,
        "ami_ids": path(rec.ami_ids),
        "run_dir": rec.run_dir.display().to_string(),
        "report": path(rec.report),
        "left_behind": rec.left_behind,
        "builds": builds,
    })
}

/// The summary as Markdown, for a CI job's summary page (`GITHUB_STEP_SUMMARY`).
pub fn markdown(rows: &[Row<'_>], rec: &Records<'_>) -> String {
    let (now, before, failed, cancelled) = counts(rows);
    let cell = |s: &str| s.replace('|', "\\|").replace('\n', " ");
    let mut out = format!(
        "### amipub publish {}\n\n{now} published now, {before} already published, {failed} \
         failed, {cancelled} cancelled\n\n| Build | Region | Result | Duration |\n| --- | --- | --- \
         | --- |\n",
        rec.run_id
    );
    for r in rows {
        let result = match r.outcome {
            Outcome::Published { artifact } if artifact.reused => {
                format!("`{}` (already published)", artifact.ami_id)
            }
            Outcome::Published { artifact } => format!("`{}`", artifact.ami_id),
            Outcome::Failed { step, error } => {
                format!("**FAILED** ({}): {}", step.describe(), cell(error))
            }
            Outcome::Cancelled => "cancelled".to_string(),
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            cell(r.build),
            cell(r.region),
            result,
            super::text::secs(r.duration)
        ));
    }
    if !rec.left_behind.is_empty() {
        out.push_str("\n**Left behind:**\n\n");
        for l in rec.left_behind {
            out.push_str(&format!("- {}\n", cell(l)));
        }
    }
    out.push_str(&format!(
        "\nRun directory: `{}`{}\n\n",
        rec.run_dir.display(),
        rec.report
            .map(|p| format!("; its timeline: `{}`", p.display()))
            .unwrap_or_default()
    ));
    out
}
