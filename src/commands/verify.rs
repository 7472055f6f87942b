//! `amipub verify`: check every AMI ami_ids.json lists against AWS and the profile.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::aws::Clients;
use crate::config::{self, Vars, Virtualization};
use crate::engine::Permissions;
use crate::error::Error;
use crate::lifecycle::verify::{self, Expected, Row, Verdict};
use crate::matrix::build_name;
use crate::options::{OutputFormat, VerifyOptions};
use crate::output::ami_ids::AmiIds;
use crate::output::manifest::Manifest;
use crate::plan::table;

/// Runs `amipub verify`.
pub async fn run(args: &VerifyOptions) -> Result<(), Error> {
    let config = config::load(&args.config, &args.regions_file).map_err(Error::Config)?;
    if !args.ami_ids.exists() {
        return Err(Error::Usage(vec![format!(
            "{} does not exist; pass the ami_ids.json to verify with --ami-ids",
            args.ami_ids.display()
        )]));
    }
    let ids = AmiIds::load(&args.ami_ids)?;
    let manifest = Manifest::load(&Manifest::path_beside(&args.ami_ids))?;
    let p = config.p();
    let mut expected = Vec::new();
    let mut notes = Vec::new();
    for (region, entry) in ids.all() {
        let release = entry.release.replace('.', "");
        let virt = match entry.virtualization.as_str() {
            "hvm" => Virtualization::Hvm,
            _ => Virtualization::Paravirtual,
        };
        let build = build_name(region, &release, virt);
        let vars = Vars {
            version: &p.version,
            branch: &p.branch,
            region,
            release: &release,
            virt: Some(virt),
            build: &build,
        };
        if let Some(m) = manifest.builds.get(&build)
            && m.ami_id != entry.id
        {
            notes.push(format!(
                "{build}: the manifest lists {}, ami_ids.json {}",
                m.ami_id, entry.id
            ));
        }
        expected.push(Expected {
            ami_name: Some(config.templates.ami_name.render(&vars)),
            build,
            region: region.to_string(),
            ami_id: entry.id.clone(),
        });
    }
    if expected.is_empty() {
        return Err(Error::Usage(vec![format!(
            "{} lists no AMI to verify",
            args.ami_ids.display()
        )]));
    }
    let regions: BTreeSet<&str> = expected.iter().map(|e| e.region.as_str()).collect();
    let clients = Clients::connect(&args.aws, regions.iter().copied()).await?;
    let perms = Permissions {
        groups: p.launch_permissions.groups.clone(),
        accounts: config.accounts.clone(),
    };
    // What this profile builds anywhere: another profile's AMIs of the same version are not
    // this file's business.
    let everything = crate::matrix::Selection {
        all_regions: true,
        ..Default::default()
    };
    let profile_names: BTreeSet<String> = crate::matrix::select(&config, &everything)
        .map(|s| s.builds.into_iter().map(|b| b.ami_name).collect())
        .unwrap_or_default();
    let rows = verify::run(&clients, &expected, &p.version, &perms, &profile_names).await;
    let bad = rows.iter().filter(|r| r.result != Verdict::Ok).count() + notes.len();
    match args.format {
        OutputFormat::Json => {
            #[derive(Serialize)]
            struct Out<'a> {
                schema_version: u32,
                ok: bool,
                results: &'a [Row],
                manifest_differences: &'a [String],
            }
            let out = Out {
                schema_version: 1,
                ok: bad == 0,
                results: &rows,
                manifest_differences: &notes,
            };
            println!(
                "{}",
                serde_json::to_string_pretty(&out).expect("in-memory JSON")
            );
        }
        OutputFormat::Table => {
            let cells: Vec<[String; 5]> = rows
                .iter()
                .map(|r| {
                    [
                        r.build.clone(),
                        r.region.clone(),
                        r.ami_id.clone(),
                        r.result.as_str().to_string(),
                        r.differences.join("; "),
                    ]
                })
                .collect();
            print!(
                "{}",
                table(&["BUILD", "REGION", "AMI", "RESULT", "DIFFERENCES"], &cells)
            );
            for n in &notes {
                println!("manifest: {n}");
            }
            let ok = rows.iter().filter(|r| r.result == Verdict::Ok).count();
            println!("{ok} of {} AMI(s) as expected", rows.len());
        }
    }
    if bad > 0 {
        return Err(Error::Failed(format!(
            "verify found {bad} difference(s) between {} and AWS",
            args.ami_ids.display()
        )));
    }
    Ok(())
}
