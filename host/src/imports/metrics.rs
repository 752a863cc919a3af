//! `throng:scenario/metrics`: the scenario's checks, trends and counters,
//! recorded beside the request statistics.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::runtime::VuState;
use crate::runtime::bindings::throng::scenario::metrics::Host;

/// A dropped trend value is warned about once per run, not per sample.
static WARNED_TREND: AtomicBool = AtomicBool::new(false);

impl Host for VuState {
    fn check(&mut self, name: String, passed: bool) {
        self.touch();
        self.run.stats.record_check(&name, passed);
    }

    fn trend(&mut self, name: String, value: f64) {
        self.touch();
        if !self.run.stats.record_trend(&name, value) && !WARNED_TREND.swap(true, Ordering::Relaxed)
        {
            tracing::warn!(trend = %name, value, "trend value dropped: it must be finite and not negative");
        }
    }

    fn counter(&mut self, name: String, delta: u64) {
        self.touch();
        self.run.stats.record_counter(&name, delta);
    }
}
