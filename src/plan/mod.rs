//! The plan: what a publish would do, printable as a table or as JSON, made without AWS calls.

use serde::Serialize;

use crate::config::{Architecture, Backing, Config, Virtualization};
use crate::matrix::{Build, Selected, SkippedRegion};

/// Version of the JSON plan format. Fields are only ever added within a version.
pub const PLAN_SCHEMA_VERSION: u32 = 1;

/// What will be built, and what was left out.
#[derive(Debug, Serialize)]
pub struct Plan {
    /// JSON format version.
    pub schema_version: u32,
    /// The profile file.
    pub profile: String,
    /// Image version.
    pub version: String,
    /// Branch baked into the image.
    pub branch: String,
    /// `per-region` or `copy`.
    pub strategy: &'static str,
    /// Copy mode's home region.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub home_region: Option<String>,
    /// The selected builds.
    pub builds: Vec<PlannedBuild>,
    /// Regions skipped because they are disabled.
    pub skipped_regions: Vec<SkippedRegion>,
    /// Counts.
    pub summary: Summary,
}

/// One build as the plan shows it.
#[derive(Debug, Serialize)]
pub struct PlannedBuild {
    /// Build name.
    pub name: String,
    /// Region.
    pub region: String,
    /// Release, dotted (`14.04`).
    pub release: String,
    /// `paravirtual` or `hvm`.
    pub virtualization: Virtualization,
    /// `x86_64` or `arm64`.
    pub architecture: Architecture,
    /// Upstream AMI.
    pub source_ami: String,
    /// AMI name.
    pub ami_name: String,
    /// AMI description.
    pub description: String,
    /// `ebs` or `instance-store`.
    pub backing: Backing,
    /// Build instance type.
    pub instance_type: String,
    /// Staging bucket.
    pub bucket: String,
    /// Where the build stages its files: `s3://bucket/<run-id>/<build>/`.
    pub s3_location: String,
    /// Copy mode: the home build whose AMI is copied here.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub copy_of: Option<String>,
}

/// The plan's counts.
#[derive(Debug, Serialize)]
pub struct Summary {
    /// Number of builds.
    pub builds: usize,
    /// Number of distinct regions.
    pub regions: usize,
    /// Build instances launched.
    pub launches: usize,
    /// AMIs copied from the home region.
    pub copies: usize,
}

impl Plan {
    /// Builds the plan for `selected`. `run_id` fills the S3 location; `None` shows `<run-id>`.
    pub fn new(config: &Config, selected: &Selected, run_id: Option<&str>) -> Plan {
        let builds: Vec<PlannedBuild> = selected
            .builds
            .iter()
            .map(|b| planned(b, run_id.unwrap_or("<run-id>")))
            .collect();
        let mut regions: Vec<&str> = selected.builds.iter().map(|b| b.region.as_str()).collect();
        regions.dedup();
        let launches = selected.launches();
        Plan {
            schema_version: PLAN_SCHEMA_VERSION,
            strategy: if selected.home_region.is_some() {
                "copy"
            } else {
                "per-region"
            },
            home_region: selected.home_region.clone(),
            profile: config.profile_path.display().to_string(),
            version: config.p().version.clone(),
            branch: config.p().branch.clone(),
            summary: Summary {
                builds: builds.len(),
                regions: regions.len(),
                launches,
                copies: builds.len() - launches,
            },
            builds,
            skipped_regions: selected.skipped.clone(),
        }
    }

    /// The plan as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("plan serializes")
    }

    /// The plan as an aligned table with a summary line. The ARCH column appears only when
    /// a build is not x86_64, so that plans of x86_64-only profiles stay as narrow as before.
    pub fn to_table(&self) -> String {
        self.to_table_within(terminal_width())
    }

    /// Each column's header and cells; ARCH only when a build is not x86_64.
    fn columns(&self) -> Vec<(&'static str, Vec<String>)> {
        let cells = |f: fn(&PlannedBuild) -> String| self.builds.iter().map(f).collect();
        let mut columns: Vec<(&'static str, Vec<String>)> = vec![
            (PLAN_COLUMNS[0], cells(|b| b.name.clone())),
            (PLAN_COLUMNS[1], cells(|b| b.region.clone())),
            (PLAN_COLUMNS[2], cells(|b| b.release.clone())),
            (
                PLAN_COLUMNS[3],
                cells(|b| b.virtualization.as_str().to_string()),
            ),
            (
                PLAN_COLUMNS[4],
                cells(|b| b.architecture.as_str().to_string()),
            ),
            (PLAN_COLUMNS[5], cells(|b| b.source_ami.clone())),
            (PLAN_COLUMNS[6], cells(|b| b.backing.as_str().to_string())),
            (PLAN_COLUMNS[7], cells(|b| b.ami_name.clone())),
            (PLAN_COLUMNS[8], cells(|b| b.s3_location.clone())),
        ];
        if self
            .builds
            .iter()
            .all(|b| b.architecture == Architecture::X86_64)
        {
            columns.retain(|c| c.0 != "ARCH");
        }
        columns
    }

    /// The plan as a table at most `width` columns wide, when given: the columns that least
    /// identify a build are left out first (S3 location, AMI name, backing), and a line says
    /// so; `--format json` always has them all.
    pub fn to_table_within(&self, width: Option<usize>) -> String {
        let mut columns = self.columns();
        let mut left_out = Vec::new();
        while let Some(w) = width {
            let drop = DROP_ORDER
                .iter()
                .find(|h| columns.iter().any(|c| c.0 == **h));
            match drop {
                Some(h) if table_width(&columns) > w => {
                    columns.retain(|c| c.0 != *h);
                    left_out.push(h.to_lowercase());
                }
                _ => break,
            }
        }
        let headers: Vec<&str> = columns.iter().map(|c| c.0).collect();
        let rows: Vec<Vec<String>> = (0..self.builds.len())
            .map(|i| columns.iter().map(|c| c.1[i].clone()).collect())
            .collect();
        let mut out = table_of(&headers, &rows);
        if !left_out.is_empty() {
            out.push_str(&format!(
                "({} left out to fit {} columns; `amipub plan --format json` has everything)\n",
                left_out.join(", "),
                width.unwrap_or_default()
            ));
        }
        out.push_str(&format!(
            "\n{} in {} (profile {}, version {}, branch {})\n",
            plural(self.summary.builds, "build"),
            plural(self.summary.regions, "region"),
            self.profile,
            self.version,
            self.branch
        ));
        out.push_str(&self.strategy_line());
        if !self.skipped_regions.is_empty() {
            out.push_str(&format!(
                "Skipped {}:\n",
                plural(self.skipped_regions.len(), "disabled region")
            ));
            for s in &self.skipped_regions {
                out.push_str(&format!("  {}: {}\n", s.region, s.reason));
            }
        }
        out
    }
}

/// Which columns go first when the plan must fit a narrow terminal.
const DROP_ORDER: [&str; 3] = ["S3 LOCATION", "AMI NAME", "BACKING"];

/// The terminal's width: `COLUMNS` when set, else the terminal's own when standard output is
/// one; none otherwise (a file or a pipe gets every column).
fn terminal_width() -> Option<usize> {
    if let Some(n) = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|n| *n > 0)
    {
        return Some(n);
    }
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() {
        return None;
    }
    console::Term::stdout()
        .size_checked()
        .map(|(_, cols)| usize::from(cols))
}

/// How wide [`table_of`] makes `columns`.
fn table_width(columns: &[(&str, Vec<String>)]) -> usize {
    let widths: Vec<usize> = columns
        .iter()
        .map(|(h, v)| {
            v.iter()
                .map(|c| c.chars().count())
                .chain([h.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    widths.iter().sum::<usize>() + 2 * widths.len().saturating_sub(1)
}

/// [`table`] for a number of columns known only when running.
fn table_of(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let n = cells.len();
        let mut s = String::new();
        for (i, cell) in cells.into_iter().enumerate() {
            if i + 1 < n {
                s.push_str(&format!("{cell:<w$}  ", w = widths[i]));
            } else {
                s.push_str(cell);
            }
        }
        format!("{}\n", s.trim_end())
    };
    let mut out = line(headers.to_vec());
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

const PLAN_COLUMNS: [&str; 9] = [
    "BUILD",
    "REGION",
    "RELEASE",
    "VIRTUALIZATION",
    "ARCH",
    "SOURCE AMI",
    "BACKING",
    "AMI NAME",
    "S3 LOCATION",
];

fn planned(b: &Build, run_id: &str) -> PlannedBuild {
    PlannedBuild {
        name: b.name.clone(),
        region: b.region.clone(),
        release: crate::config::template::dotted_release(&b.release),
        virtualization: b.virtualization,
        architecture: b.architecture,
        source_ami: b.source_ami.clone(),
        ami_name: b.ami_name.clone(),
        description: b.description.clone(),
        backing: b.backing,
        instance_type: b.instance_type.clone(),
        bucket: b.bucket.clone(),
        s3_location: match &b.copy_of {
            Some(home) => format!("copy of {home}"),
            None => format!("s3://{}/{}/", b.bucket, b.prefix(run_id)),
        },
        copy_of: b.copy_of.clone(),
    }
}

impl Plan {
    /// How the AMIs are made, and what it costs in instance launches.
    fn strategy_line(&self) -> String {
        let s = &self.summary;
        match &self.home_region {
            Some(home) => format!(
                "Strategy copy: {} in {home}, {} to the other regions; {} (per region: {})\n",
                plural(s.launches, "build"),
                count(s.copies, "copy", "copies"),
                count(s.launches, "instance launch", "instance launches"),
                s.builds
            ),
            None => format!(
                "Strategy per-region: {} (one per AMI)\n",
                count(s.launches, "instance launch", "instance launches")
            ),
        }
    }
}

/// `1 copy`, `2 copies`: a count with its word's own plural.
fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `1 build`, `2 builds`.
pub fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

/// Left-aligned columns separated by two spaces; the last column is not padded.
pub fn table<const N: usize>(header: &[&str; N], rows: &[[String; N]]) -> String {
    let mut widths = header.map(|h| h.chars().count());
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut s = String::new();
        for (i, cell) in cells.enumerate() {
            if i + 1 < N {
                s.push_str(&format!("{cell:<w$}  ", w = widths[i]));
            } else {
                s.push_str(cell);
            }
        }
        out.push_str(s.trim_end());
        out.push('\n');
    };
    line(&mut header.iter().copied());
    for row in rows {
        line(&mut row.iter().map(String::as_str));
    }
    out
}
