//! Choosing builds: by region (`--region`, `--all-regions`, the profile's list) and by name
//! (`--only`, `--except` globs).

use serde::Serialize;

use super::{Build, Patterns, cell_names, expand};
use crate::config::{Config, rules};
use crate::error::Error;

/// What the user asked for on the command line.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Every enabled region of the regions file, whatever the profile lists.
    pub all_regions: bool,
    /// These regions only.
    pub regions: Vec<String>,
    /// Glob patterns a build name must match (any of them).
    pub only: Patterns,
    /// Glob patterns a build name must not match.
    pub except: Patterns,
}

/// A region that would have been selected but is disabled in the regions file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SkippedRegion {
    /// Region name.
    pub region: String,
    /// Why it is disabled.
    pub reason: String,
}

/// The outcome of selection.
#[derive(Debug, Clone)]
pub struct Selected {
    /// The builds to run, in matrix order.
    pub builds: Vec<Build>,
    /// Regions left out because they are disabled.
    pub skipped: Vec<SkippedRegion>,
}

/// Applies `sel` to `config`'s matrix.
pub fn select(config: &Config, sel: &Selection) -> Result<Selected, Error> {
    let file = &config.regions.value;
    let candidates: Vec<&str> = if !sel.regions.is_empty() {
        let mut problems = Vec::new();
        for r in &sel.regions {
            if !rules::is_known_region(r) {
                problems.push(format!("--region {r}: unknown region"));
            } else if !file.regions.contains_key(r) {
                problems.push(format!(
                    "--region {r}: not in {}; regions there: {}",
                    config.regions_path.display(),
                    file.regions.keys().cloned().collect::<Vec<_>>().join(", ")
                ));
            }
        }
        if !problems.is_empty() {
            return Err(Error::Usage(problems));
        }
        let mut v: Vec<&str> = sel.regions.iter().map(String::as_str).collect();
        v.sort();
        v.dedup();
        v
    } else if sel.all_regions || config.p().regions.is_empty() {
        file.regions.keys().map(String::as_str).collect()
    } else {
        config.p().regions.iter().map(String::as_str).collect()
    };

    let mut enabled = Vec::new();
    let mut skipped = Vec::new();
    for r in candidates {
        match file.regions.get(r).and_then(|e| e.disabled.as_ref()) {
            Some(reason) => skipped.push(SkippedRegion {
                region: r.to_string(),
                reason: reason.clone(),
            }),
            None => enabled.push(r),
        }
    }

    let names = cell_names(config, &enabled);
    let mut problems = Vec::new();
    for pats in [&sel.only, &sel.except] {
        for (src, pat) in pats.iter() {
            if !names.iter().any(|n| pat.matches(n)) {
                problems.push(format!(
                    "{} '{src}' matches no build; the builds are: {}",
                    pats.flag,
                    list(&names)
                ));
            }
        }
    }
    if !problems.is_empty() {
        return Err(Error::Usage(problems));
    }
    let keep = |name: &str| {
        (sel.only.is_empty() || sel.only.any_matches(name)) && !sel.except.any_matches(name)
    };
    let builds = expand(config, &enabled, keep).map_err(Error::Config)?;
    if builds.is_empty() {
        let mut msg = vec!["no builds are selected".to_string()];
        msg.extend(
            skipped
                .iter()
                .map(|s| format!("{} is disabled: {}", s.region, s.reason)),
        );
        return Err(Error::Usage(msg));
    }
    Ok(Selected { builds, skipped })
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "(none)".into()
    } else {
        names.join(", ")
    }
}
