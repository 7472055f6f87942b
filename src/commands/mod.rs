//! One module per subcommand; each wires config, matrix, plan, engine and reporters together.

pub mod cleanup;
pub mod plan;
pub mod prompt;
pub mod publish;
pub mod release;
pub mod verify;

use crate::cli::SelectionArgs;
use crate::config::{self, Config};
use crate::error::Error;
use crate::matrix::{self, Selected};

/// Loads the configuration the flags name and applies their selection.
pub fn load_and_select(args: &SelectionArgs) -> Result<(Config, Selected), Error> {
    let config = config::load(&args.config, &args.regions_file).map_err(Error::Config)?;
    let selected = matrix::select(&config, &args.selection())?;
    Ok((config, selected))
}
