//! Test-only parts of the core, compiled only with the `testing` feature: the
//! deliberate bugs the simulator switches on to prove its checker can fail, the
//! decoded-frame input ([`crate::Input::ClientFrame`]), and a harness that drives a
//! [`crate::Gateway`] the way the driver does. The `sluice` binary never has them.

mod harness;
mod injected_bug;

pub use harness::{describe, epoch, record, Harness};
pub use injected_bug::{InjectedBug, UnknownInjectedBug};
