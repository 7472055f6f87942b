//! `amipub plan`: print the selected builds.

use crate::cli::{OutputFormat, SelectionArgs};
use crate::error::Error;
use crate::plan::Plan;

/// Prints the plan for `args` in `format`.
pub fn run(args: &SelectionArgs, format: OutputFormat) -> Result<(), Error> {
    let (config, selected) = super::load_and_select(args)?;
    let plan = Plan::new(&config, &selected, None);
    match format {
        OutputFormat::Table => print!("{}", plan.to_table()),
        OutputFormat::Json => println!("{}", plan.to_json()),
    }
    Ok(())
}
