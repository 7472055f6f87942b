//! What a publish checks before it launches anything: the script can be read, the outputs
//! can be written, and AWS agrees (preflight).

use crate::aws::Clients;
use crate::config::Config;
use crate::engine::{self, Preflight};
use crate::error::Error;
use std::collections::{BTreeMap, BTreeSet};

use crate::matrix::{Build, Selected};
use crate::options::RunOptions;
use crate::output::ami_ids::AmiIds;
use crate::output::check_writable;
use crate::output::manifest::Manifest;
use crate::report::Style;

/// The largest provisioning script staged: it is uploaded for every build.
const MAX_SCRIPT_BYTES: u64 = 64 << 20;

/// The provisioning script's bytes.
pub fn script(config: &Config) -> Result<Vec<u8>, Error> {
    crate::config::yaml::read_bounded(&config.script, MAX_SCRIPT_BYTES)
        .map(String::into_bytes)
        .map_err(|e| Error::io(&config.script, e))
}

/// Reads the outputs now, so that a damaged or unwritable file stops the run before anything
/// is launched (they are read again, and merged, at every write).
pub fn outputs(ami_ids: &std::path::Path) -> Result<(), Error> {
    let manifest = Manifest::path_beside(ami_ids);
    let unwritable: Vec<String> = [(ami_ids, "--output"), (manifest.as_path(), "the manifest")]
        .into_iter()
        .filter_map(|(p, what)| check_writable(p, what).err())
        .collect();
    if !unwritable.is_empty() {
        return Err(Error::Usage(unwritable));
    }
    AmiIds::load(ami_ids)?;
    Manifest::load(&manifest)?;
    Ok(())
}

/// Connects to every region of `selected`, leaves out the regions the account has not
/// enabled (with `--skip-disabled-regions`; refused otherwise), and runs the preflight checks:
/// AWS's answers for every build, public sharing for a public profile, the registry.
pub async fn preflight(
    run: &RunOptions,
    config: &Config,
    selected: &Selected,
) -> Result<(Clients, Preflight, Selected), Error> {
    let clients = connect(&run.aws, config, selected).await?;
    if run.style != Style::Machine {
        // A region that does not answer takes the SDK's retries (half a minute) to give up:
        // say what is going on meanwhile, and where.
        let regions: BTreeSet<&str> = selected.builds.iter().map(|b| b.region.as_str()).collect();
        let at = clients
            .endpoint()
            .map(|u| format!(" at {u}"))
            .unwrap_or_default();
        run.tell(&format!(
            "preflight: checking {} region(s){at}...\n",
            regions.len()
        ));
    }
    let (selected, skipped) = enabled_only(&clients, selected, run.skip_disabled_regions).await?;
    let builds = &selected.builds;
    let mut preflight = engine::preflight::run(
        &clients,
        builds,
        (&config.p().version, run.force),
        engine::url_lifetime(&config.p().timeouts),
        &config.p().ami,
    )
    .await;
    if !skipped.is_empty() {
        preflight.notes.push(format!(
            "  skipped, not enabled for this account: {}",
            skipped.join(", ")
        ));
    }
    public_sharing(config, &clients, builds, &mut preflight).await;
    if let Some(reg) = crate::registry::Registry::of(config, &clients) {
        let (problems, notes) = crate::registry::record::preflight(&reg, &config.p().version).await;
        preflight.problems.extend(problems);
        preflight.notes.extend(notes);
    }
    Ok((clients, preflight, selected))
}

/// Clients of every region of `selected`, and of the profile's registry.
pub async fn connect(
    aws: &crate::aws::AwsSettings,
    config: &Config,
    selected: &Selected,
) -> Result<Clients, Error> {
    let registry_region = config.p().registry.as_ref().map(|r| r.region.as_str());
    let regions = selected
        .builds
        .iter()
        .map(|b| b.region.as_str())
        .chain(registry_region);
    Clients::connect(aws, regions).await
}

/// For a public profile: AWS blocking public sharing in a region, and the public AMI quota.
pub async fn public_sharing(
    config: &Config,
    clients: &Clients,
    builds: &[Build],
    preflight: &mut Preflight,
) {
    if !config
        .p()
        .launch_permissions
        .groups
        .iter()
        .any(|g| g == "all")
    {
        return;
    }
    let quota = config
        .p()
        .public_ami_quota
        .unwrap_or(engine::public::DEFAULT_PUBLIC_AMI_QUOTA);
    let mut by_region: BTreeMap<&str, Vec<&Build>> = BTreeMap::new();
    for b in builds {
        by_region.entry(b.region.as_str()).or_default().push(b);
    }
    let problems =
        engine::public::public_problems(clients, &by_region, &preflight.published, quota).await;
    preflight.problems.extend(problems);
}

/// `selected` without the builds of regions the account has not enabled, and those regions;
/// refused (nothing launched) unless `skip`.
pub async fn enabled_only(
    clients: &Clients,
    selected: &Selected,
    skip: bool,
) -> Result<(Selected, Vec<String>), Error> {
    let regions: BTreeSet<String> = selected.builds.iter().map(|b| b.region.clone()).collect();
    // When EC2 cannot be asked at all, each region's own checks say so, region by region.
    let off = engine::public::regions_not_enabled(clients, &regions)
        .await
        .unwrap_or_default();
    if off.is_empty() {
        return Ok((selected.clone(), off));
    }
    if !skip {
        return Err(Error::Preflight(
            off.iter()
                .map(|r| format!(
                    "{r} is not enabled for this account: enable it (console: Account, AWS Regions; or `aws account enable-region --region-name {r}`), leave it out with --region/--except, or pass --skip-disabled-regions"
                ))
                .collect(),
        ));
    }
    let mut kept = selected.clone();
    kept.builds.retain(|b| !off.contains(&b.region));
    if let Some(home) = &selected.home_region
        && off.contains(home)
    {
        return Err(Error::Preflight(vec![format!(
            "the home region {home} is not enabled for this account, and copy mode builds there: enable it, or choose another with --home-region"
        )]));
    }
    if kept.builds.is_empty() {
        return Err(Error::Preflight(vec![format!(
            "no selected region is enabled for this account ({})",
            off.join(", ")
        )]));
    }
    Ok((kept, off))
}
