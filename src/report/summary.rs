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
    let count = |f: fn(&Outcome) -> bool| rows.iter().filter(|r| f(r.outcome)).count();
    let now = count(|o| matches!(o, Outcome::Published { artifact } if !artifact.reused));
    let before = count(|o| matches!(o, Outcome::Published { artifact } if artifact.reused));
    let failed = count(|o| matches!(o, Outcome::Failed { .. }));
    let cancelled = rows.len() - now - before - failed;
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
