//! After publishing: checking what was published (`verify`) and removing what runs left
//! (`cleanup`). Both find amipub's resources by its tags.

pub mod ami_settings;
pub mod cleanup;
pub mod verify;
