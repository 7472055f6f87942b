//! Choosing builds: by region (`--region`, `--all-regions`, the profile's list) and by name
//! (`--only`, `--except` globs).

use serde::Serialize;

use super::{Build, Patterns, cell_names, expand};
use crate::config::{Config, Strategy, rules};
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
    /// The strategy, overriding the profile's.
    pub strategy: Option<Strategy>,
    /// The home region, overriding the profile's.
    pub home_region: Option<String>,
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
    /// Copy mode's home region, when the builds are copied from it.
    pub home_region: Option<String>,
}

impl Selected {
    /// How many build instances the builds launch (copies launch none).
    pub fn launches(&self) -> usize {
        self.builds.iter().filter(|b| b.copy_of.is_none()).count()
    }
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
    let home_region = home_region(config, sel)?;
    let builds = match &home_region {
        None => expand(config, &enabled, keep).map_err(Error::Config)?,
        Some(home) => copy_builds(config, &enabled, home, keep)?,
    };
    if builds.is_empty() {
        // The cause first: a disabled region is why a selection that names it is empty.
        let mut msg: Vec<String> = skipped
            .iter()
            .map(|s| {
                format!(
                    "{} is disabled in {}: {}",
                    s.region,
                    config.regions_path.display(),
                    s.reason
                )
            })
            .collect();
        msg.push(if skipped.is_empty() {
            "no builds are selected".to_string()
        } else {
            "so no builds are selected; choose enabled regions, or remove the region's \
             `disabled:` from the regions file once it can be built"
                .to_string()
        });
        return Err(Error::Usage(msg));
    }
    Ok(Selected {
        builds,
        skipped,
        home_region,
    })
}

/// Copy mode's home region (`None` in per-region mode): the command line's, or the profile's;
/// it must be an enabled region of the regions file.
fn home_region(config: &Config, sel: &Selection) -> Result<Option<String>, Error> {
    let strategy = sel.strategy.unwrap_or(config.p().strategy);
    if strategy != Strategy::Copy {
        return Ok(None);
    }
    let Some(home) = sel
        .home_region
        .clone()
        .or_else(|| config.p().home_region.clone())
    else {
        return Err(Error::Usage(vec![
            "copy mode builds in a home region: set home_region in the profile or pass --home-region, e.g. --home-region us-east-1".into(),
        ]));
    };
    match config.regions.value.regions.get(&home) {
        None => Err(Error::Usage(vec![format!(
            "--home-region {home}: not in {}",
            config.regions_path.display()
        )])),
        Some(e) if e.disabled.is_some() => Err(Error::Usage(vec![format!(
            "--home-region {home}: the region is disabled ({})",
            e.disabled.as_deref().unwrap_or_default()
        )])),
        Some(_) => Ok(Some(home)),
    }
}

/// Copy mode: the builds `keep` selects, each outside the home region copied from the home
/// build of its release, virtualization type and architecture, which is selected with it.
fn copy_builds(
    config: &Config,
    enabled: &[&str],
    home: &str,
    keep: impl Fn(&str) -> bool,
) -> Result<Vec<Build>, Error> {
    let p = config.p();
    let mut homes = std::collections::BTreeSet::new();
    for region in enabled {
        for release in &p.releases {
            for &virt in &p.virtualizations {
                for &arch in &p.architectures {
                    if keep(&super::build_name(region, release, virt, arch)) {
                        homes.insert(super::build_name(home, release, virt, arch));
                    }
                }
            }
        }
    }
    let mut regions: Vec<&str> = enabled.to_vec();
    if !regions.contains(&home) {
        regions.push(home);
    }
    let mut builds =
        expand(config, &regions, |n| keep(n) || homes.contains(n)).map_err(Error::Config)?;
    for b in &mut builds {
        if b.region != home {
            b.copy_of = Some(super::build_name(
                home,
                &b.release,
                b.virtualization,
                b.architecture,
            ));
        }
    }
    Ok(builds)
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "(none)".into()
    } else {
        names.join(", ")
    }
}
