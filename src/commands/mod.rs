//! One module per subcommand; each wires config, matrix, plan, engine and reporters together.

pub mod cleanup;
pub mod plan;
pub mod prompt;
pub mod publish;
pub mod registry;
pub mod release;
pub mod runs;
pub mod sources;
pub mod verify;
mod verify_channel;

use crate::config::{self, Config};
use crate::error::Error;
use crate::matrix::{self, Selected};
use crate::options::ConfigSelection;

/// Loads the configuration `sel` names and applies its selection.
pub fn load_and_select(sel: &ConfigSelection) -> Result<(Config, Selected), Error> {
    let config = config::load(&sel.config, &sel.regions_file).map_err(Error::Config)?;
    let selected = matrix::select(&config, &sel.builds)?;
    Ok((config, selected))
}
