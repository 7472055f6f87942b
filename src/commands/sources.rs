//! `amipub sources update`: the regions file's source AMIs against the newest upstream images.

use std::collections::BTreeSet;

use crate::aws::Clients;
use crate::config::{self, Diagnostics};
use crate::error::Error;
use crate::options::SourcesOptions;
use crate::sources::{self, Change, Templates, Update};

/// Looks up every cell, prints the differences, and with `--write` writes them.
pub async fn update(opts: &SourcesOptions) -> Result<(), Error> {
    let update = look_up(opts).await?;
    // The differences are shown first, so that a file amipub cannot edit can be edited by hand.
    print!("{}", render(&update));
    if opts.write && !update.changes.is_empty() {
        let text = edited(&opts.regions_file, &update.changes)?;
        crate::output::write_atomic(&opts.regions_file, text.as_bytes())?;
        println!(
            "{} updated ({} source AMI(s)).",
            opts.regions_file.display(),
            update.changes.len()
        );
    } else if !update.changes.is_empty() {
        println!(
            "Nothing written; run again with --write to update {}.",
            opts.regions_file.display()
        );
    }
    failed_lookups(&update)
}

/// Looks up every cell of `opts` (the regions it names, or every enabled one of the file; with
/// `opts.profile_regions`, the profile's own regions when it lists some) and compares.
pub async fn look_up(opts: &SourcesOptions) -> Result<Update, Error> {
    let (profile, regions) =
        config::load_separately(&opts.config, &opts.regions_file).map_err(Error::Config)?;
    let templates = Templates::parse(&profile.value).map_err(|e| {
        let mut d = Diagnostics::default();
        let line = profile.line(&[config::Seg::Key("sources")]);
        d.push(&opts.config, line, e, None);
        Error::Config(d)
    })?;
    let wanted = if opts.regions.is_empty() && opts.profile_regions {
        &profile.value.regions
    } else {
        &opts.regions
    };
    let chosen = chosen_regions(&regions.value, wanted)?;
    let clients = Clients::connect(&opts.aws, chosen.iter().copied()).await?;
    let cells = sources::cells(&profile.value, &chosen);
    Ok(sources::update(&clients, &templates, &regions.value, cells).await)
}

/// The regions file at `path` with `changes` written into it (not written to disk).
pub fn edited(path: &std::path::Path, changes: &[Change]) -> Result<String, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    sources::edit::apply(&text, changes).map_err(|e| {
        Error::Failed(format!(
            "{}: {e}; nothing was written (the changes are listed above)",
            path.display()
        ))
    })
}

/// Exit 1 when a region's lookups failed (what was found is still shown and written).
pub fn failed_lookups(update: &Update) -> Result<(), Error> {
    if update.failed.is_empty() {
        Ok(())
    } else {
        Err(Error::Failed(format!(
            "{} region(s) could not be looked up; their source AMIs are unchanged",
            update.failed.len()
        )))
    }
}

/// The enabled regions of the file, or those of `wanted` (each must be in the file; a
/// disabled one is refused: its sources are kept as they are).
fn chosen_regions<'a>(
    file: &'a config::RegionsFile,
    wanted: &'a [String],
) -> Result<Vec<&'a str>, Error> {
    if wanted.is_empty() {
        return Ok(file.enabled().collect());
    }
    let enabled: BTreeSet<&str> = file.enabled().collect();
    let bad: Vec<String> = wanted
        .iter()
        .filter(|r| !enabled.contains(r.as_str()))
        .map(|r| match file.regions.get(r) {
            Some(_) => format!(
                "--region {r}: disabled in the regions file; its sources are left as they are"
            ),
            None => format!(
                "--region {r}: not in the regions file; add it with its reason to be there first"
            ),
        })
        .collect();
    if bad.is_empty() {
        Ok(wanted.iter().map(String::as_str).collect())
    } else {
        Err(Error::Usage(bad))
    }
}

/// One line per change, then what was not found or not looked up, then the totals.
pub fn render(u: &Update) -> String {
    let mut out = String::new();
    for c in &u.changes {
        let cell = &c.cell;
        out.push_str(&format!(
            "{} \"{}\" {} {}: {} -> {}  {} ({})\n",
            cell.region,
            cell.release,
            cell.virt.as_str(),
            cell.arch,
            c.old.as_deref().unwrap_or("(none)"),
            c.new.ami_id,
            c.new.name,
            c.new.created.get(..10).unwrap_or(&c.new.created)
        ));
    }
    for cell in &u.not_found {
        out.push_str(&format!(
            "{} \"{}\" {} {}: no upstream image found (no parameter, no image matching the pattern); left as it is\n",
            cell.region,
            cell.release,
            cell.virt.as_str(),
            cell.arch
        ));
    }
    for e in &u.failed {
        out.push_str(&format!("{e}\n"));
    }
    out.push_str(&if u.changes.is_empty() {
        format!(
            "{} source AMI(s) checked: the regions file is up to date.\n",
            u.checked
        )
    } else {
        format!(
            "{} of {} source AMI(s) checked differ from the newest upstream image.\n",
            u.changes.len(),
            u.checked
        )
    });
    out
}
