//! The table printed at the end of a run: build, region, AMI or failure, duration.

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
    let ok = rows
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Published { .. }))
        .count();
    let failed = rows
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Failed { .. }))
        .count();
    let cancelled = rows.len() - ok - failed;
    out.push_str(&format!(
        "{} published, {failed} failed{}\n",
        plural(ok, "AMI"),
        if cancelled > 0 {
            format!(", {cancelled} cancelled")
        } else {
            String::new()
        }
    ));
    out
}
