//! `amipub publish`: preflight, run the builds, write the outputs.

use crate::cli::PublishArgs;
use crate::error::Error;
use crate::plan::Plan;

/// Runs `amipub publish`.
pub async fn run(args: PublishArgs) -> Result<(), Error> {
    let (config, selected) = super::load_and_select(&args.selection)?;
    let plan = Plan::new(&config, &selected, None);
    print!("{}", plan.to_table());
    if args.dry_run {
        return Ok(());
    }
    Err(Error::Failed("publishing is not built yet".into()))
}
