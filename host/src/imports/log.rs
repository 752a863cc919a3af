//! `throng:scenario/log`: the guest's messages in the run's log, with the
//! user's id.

use crate::runtime::VuState;
use crate::runtime::bindings::throng::scenario::log::{Host, Level};

impl Host for VuState {
    fn log(&mut self, level: Level, message: String) {
        self.touch();
        let vu = self.user_id;
        match level {
            Level::Trace => tracing::trace!(vu, "{message}"),
            Level::Debug => tracing::debug!(vu, "{message}"),
            Level::Info => tracing::info!(vu, "{message}"),
            Level::Warn => tracing::warn!(vu, "{message}"),
            Level::Error => tracing::error!(vu, "{message}"),
        }
    }
}
