//! `amipub plan`: print the selected builds.

use crate::error::Error;
use crate::options::{OutputFormat, PlanOptions};
use crate::plan::Plan;

/// Prints the plan `opts` ask for.
pub fn run(opts: &PlanOptions) -> Result<(), Error> {
    let (config, selected) = super::load_and_select(&opts.selection)?;
    let plan = Plan::new(&config, &selected, None);
    match opts.format {
        OutputFormat::Table => print!("{}", plan.to_table()),
        OutputFormat::Json => println!("{}", plan.to_json()),
    }
    Ok(())
}
