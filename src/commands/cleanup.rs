//! `amipub cleanup`: remove what amipub made, dry run by default.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::aws::Clients;
use crate::error::Error;
use crate::lifecycle::cleanup::{self, Criteria, Item, Kind, Removal};
use crate::options::{CleanupOptions, CleanupRegions, OutputFormat};
use crate::output::ami_ids::AmiIds;

/// Runs `amipub cleanup`.
pub async fn run(args: &CleanupOptions) -> Result<(), Error> {
    let regions = regions(&args.regions)?;
    let listed: BTreeSet<(String, String)> = protected_list(args.ami_ids.as_deref())?
        .all()
        .map(|(r, e)| (r.to_string(), e.id.clone()))
        .collect();
    let criteria = Criteria {
        version: args.version.clone(),
        run: args.run.clone(),
        builds: args.builds.clone(),
        older_than: args.older_than,
        keep: args.keep,
        amis: args.amis.clone(),
        listed,
        force: args.force,
    };
    let clients = Clients::connect(&args.aws, regions.iter().map(String::as_str)).await?;
    let mut inv = cleanup::inventory(&clients, &criteria).await;

    let json = args.format == OutputFormat::Json;
    if args.yes {
        if !json {
            print!("{}", crate::report::tables::cleanup(&inv.items));
        }
        cleanup::remove(&clients, &mut inv, |item| {
            if !json {
                match &item.result {
                    Some(Removal::Removed) => println!(
                        "removed {} {} ({})",
                        crate::report::tables::kind_name(item.kind),
                        item.id,
                        item.region
                    ),
                    Some(Removal::Failed(why)) => println!(
                        "FAILED to remove {} {} ({}): {why}",
                        crate::report::tables::kind_name(item.kind),
                        item.id,
                        item.region,
                    ),
                    None => {}
                }
            }
        })
        .await;
    } else if !json {
        print!("{}", crate::report::tables::cleanup(&inv.items));
    }
    let failed: Vec<&Item> = inv
        .items
        .iter()
        .filter(|i| matches!(i.result, Some(Removal::Failed(_))))
        .collect();
    let refused = inv
        .items
        .iter()
        .filter(|i| i.refused.is_some() && i.kind == Kind::Ami)
        .count();
    if json {
        #[derive(Serialize)]
        struct Out<'a> {
            schema_version: u32,
            dry_run: bool,
            resources: &'a [Item],
            errors: &'a [String],
        }
        let out = Out {
            schema_version: 1,
            dry_run: !args.yes,
            resources: &inv.items,
            errors: &inv.errors,
        };
        println!(
            "{}",
            serde_json::to_string_pretty(&out).expect("in-memory JSON")
        );
    } else {
        print!(
            "{}",
            crate::report::tables::cleanup_summary(&inv.items, args.yes)
        );
        if !args.yes && inv.items.iter().any(|i| i.refused.is_none()) {
            println!("dry run: nothing was removed; run again with --yes to remove the above.");
        }
    }
    for e in &inv.errors {
        eprintln!("error: {e}");
    }
    if !inv.errors.is_empty() || !failed.is_empty() || (args.yes && refused > 0) {
        return Err(Error::Failed(format!(
            "cleanup incomplete: {} region or bucket error(s), {} failed removal(s), {refused} AMI(s) refused",
            inv.errors.len(),
            failed.len()
        )));
    }
    Ok(())
}

/// The regions to look in: those named, or every region of the regions file.
fn regions(regions: &CleanupRegions) -> Result<Vec<String>, Error> {
    let regions_file = match regions {
        CleanupRegions::Named(named) => return Ok(named.clone()),
        CleanupRegions::AllOf(file) => file,
    };
    let mut diags = crate::config::Diagnostics::default();
    let file = crate::config::yaml::load::<crate::config::RegionsFile>(
        regions_file,
        "regions file",
        &mut diags,
    )
    .ok_or(Error::Config(diags))?
    .value;
    Ok(file.regions.keys().cloned().collect())
}

/// The ami_ids.json whose AMIs cleanup must keep. A file named with --ami-ids must exist: a
/// typo must not leave the published AMIs unprotected. Without the flag, ./ami_ids.json is
/// used when it exists.
fn protected_list(named: Option<&std::path::Path>) -> Result<AmiIds, Error> {
    match named {
        Some(p) if !p.exists() => Err(Error::Usage(vec![format!(
            "--ami-ids {}: no such file; name the ami_ids.json whose AMIs must be kept",
            p.display()
        )])),
        Some(p) => AmiIds::load(p),
        None => AmiIds::load(std::path::Path::new("ami_ids.json")),
    }
}
