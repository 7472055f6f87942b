//! amipub: publish machine images (AMIs) to every AWS region at once.
//!
//! Data flows one way: [`config`] -> [`matrix`] -> [`plan`] -> preflight -> engine -> events
//! -> reporters and writers. Each subcommand in [`commands`] wires these together.

pub mod aws;
pub mod cli;
pub mod commands;
pub mod config;
pub mod engine;
pub mod error;
pub mod events;
pub mod lifecycle;
pub mod matrix;
pub mod options;
pub mod output;
pub mod plan;
pub mod registry;
pub mod release;
pub mod report;
pub mod runs;
pub mod sources;
