//! What a publish checks before it launches anything: the script can be read, the outputs
//! can be written, and AWS agrees (preflight).

use crate::aws::Clients;
use crate::config::Config;
use crate::engine::{self, Preflight};
use crate::error::Error;
use crate::matrix::Build;
use crate::options::RunOptions;
use crate::output::ami_ids::AmiIds;
use crate::output::check_writable;
use crate::output::manifest::Manifest;

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

/// Connects to every region of `builds` and runs the preflight checks there.
pub async fn preflight(
    run: &RunOptions,
    config: &Config,
    builds: &[Build],
) -> Result<(Clients, Preflight), Error> {
    let registry_region = config.p().registry.as_ref().map(|r| r.region.as_str());
    let regions = builds
        .iter()
        .map(|b| b.region.as_str())
        .chain(registry_region);
    let clients = Clients::connect(&run.aws, regions).await?;
    let mut preflight = engine::preflight::run(
        &clients,
        builds,
        &config.p().version,
        run.force,
        engine::url_lifetime(&config.p().timeouts),
    )
    .await;
    if let Some(reg) = crate::registry::Registry::of(config, &clients) {
        let (problems, notes) = crate::registry::record::preflight(&reg, &config.p().version).await;
        preflight.problems.extend(problems);
        preflight.notes.extend(notes);
    }
    Ok((clients, preflight))
}
