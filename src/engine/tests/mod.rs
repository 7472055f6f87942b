//! The engine without an emulator: the SDK's mocks answer each call as a test says, and paused
//! time makes hours pass at once. These reach what no emulator can: an image pending and then
//! failed, one that never becomes available, a poll throttled, each step failing in turn, a
//! region that stops answering.

mod images;
pub(super) mod kit;
mod preflight;
mod steps;
