//! `amipub verify`: check every AMI ami_ids.json lists against AWS and the profile.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::aws::Clients;
use crate::config::{self, Architecture, Config, Vars, Virtualization};
use crate::engine::Permissions;
use crate::error::Error;
use crate::lifecycle::verify::{self, Expected, Row, Verdict};
use crate::matrix::build_name;
use crate::options::{OutputFormat, VerifyOptions};
use crate::output::ami_ids::AmiIds;
use crate::output::manifest::Manifest;

/// Runs `amipub verify`.
pub async fn run(args: &VerifyOptions) -> Result<(), Error> {
    if let Some(channel) = &args.channel {
        return super::verify_channel::run(args, channel).await;
    }
    let config = config::load(&args.config, &args.regions_file).map_err(Error::Config)?;
    if !args.ami_ids.exists() {
        return Err(Error::Usage(vec![format!(
            "{} does not exist; pass the ami_ids.json to verify with --ami-ids",
            args.ami_ids.display()
        )]));
    }
    let (expected, notes) = expected(&config, &args.ami_ids)?;
    let regions: BTreeSet<&str> = expected.iter().map(|e| e.region.as_str()).collect();
    let clients = Clients::connect(&args.aws, regions.iter().copied()).await?;
    let p = config.p();
    let wants = verify::Wants {
        permissions: Permissions {
            groups: p.launch_permissions.groups.clone(),
            accounts: config.accounts.clone(),
        },
        ami: p.ami.clone(),
        backing: p.backing,
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
    let rows = verify::run(&clients, &expected, &p.version, &wants, &profile_names).await;
    let bad = rows.iter().filter(|r| r.result != Verdict::Ok).count() + notes.len();
    match args.format {
        OutputFormat::Json => print_json(&rows, &notes, bad == 0),
        OutputFormat::Table => print!("{}", crate::report::tables::verify(&rows, &notes)),
    }
    if bad > 0 {
        return Err(Error::Failed(format!(
            "verify found {bad} difference(s) between {} and AWS",
            args.ami_ids.display()
        )));
    }
    Ok(())
}

/// What ami_ids.json (at `path`) says should exist, each with the name the profile gives it;
/// and where the manifest beside it disagrees, or an entry cannot be read.
fn expected(
    config: &Config,
    path: &std::path::Path,
) -> Result<(Vec<Expected>, Vec<String>), Error> {
    let ids = AmiIds::load(path)?;
    let manifest = Manifest::load(&Manifest::path_beside(path))?;
    let p = config.p();
    let mut expected = Vec::new();
    let mut notes = Vec::new();
    for (region, entry) in ids.all() {
        let release = entry.release.replace('.', "");
        let Some(virt) = Virtualization::parse(&entry.virtualization) else {
            notes.push(format!(
                "{region} {}: unknown virtualization type \"{}\" (hvm or paravirtual)",
                entry.id, entry.virtualization
            ));
            continue;
        };
        let arch = match entry.architecture.as_deref() {
            None => Architecture::X86_64,
            Some(a) => match Architecture::parse(a) {
                Some(arch) => arch,
                None => {
                    notes.push(format!(
                        "{region} {}: unknown architecture \"{a}\" (x86_64 or arm64)",
                        entry.id
                    ));
                    continue;
                }
            },
        };
        let build = build_name(region, &release, virt, arch);
        let vars = Vars {
            version: &p.version,
            branch: &p.branch,
            region,
            release: &release,
            virt: Some(virt),
            arch: Some(arch),
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
            architecture: Some(arch),
        });
    }
    if expected.is_empty() {
        return Err(Error::Usage(vec![format!(
            "{} lists no AMI to verify",
            path.display()
        )]));
    }
    Ok((expected, notes))
}

fn print_json(rows: &[Row], notes: &[String], ok: bool) {
    #[derive(Serialize)]
    struct Out<'a> {
        schema_version: u32,
        ok: bool,
        results: &'a [Row],
        manifest_differences: &'a [String],
    }
    let out = Out {
        schema_version: 1,
        ok,
        results: rows,
        manifest_differences: notes,
    };
    println!(
        "{}",
        serde_json::to_string_pretty(&out).expect("in-memory JSON")
    );
}
