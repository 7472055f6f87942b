//! The pieces of `amipub release` that are not publishing: git, versions and tags, the profile
//! edit and the CHANGELOG entry. `commands/release.rs` runs the checklist with them.

pub mod changelog;
pub mod git;
pub mod profile_edit;
pub mod version;
