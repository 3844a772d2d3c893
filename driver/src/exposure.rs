//! The Portal's handles on a running gateway: changing what is exposed (an input to
//! the core) and reading the core's views, each under the gateway's lock.

use sluice_core::{ExposureChange, Gateway, Input};

use crate::Runtime;

impl Runtime {
    /// Exposes or stops exposing a topic or pattern. Subscriptions to a topic that
    /// stops being exposed end with `not_exposed`.
    pub fn change_exposure(&self, change: ExposureChange) {
        self.input(Input::Exposure(change));
    }

    /// Runs `read` on the core, for views that are not counters (topics, subjects).
    /// The gateway is locked meanwhile: keep it short and bounded.
    pub fn inspect<R>(&self, read: impl FnOnce(&Gateway) -> R) -> R {
        read(&self.lock().gateway)
    }
}
