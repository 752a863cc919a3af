//! `throng:scenario/clock`: time since the run started, and a sleep.

use std::time::Duration;

use crate::runtime::VuState;
use crate::runtime::bindings::throng::scenario::clock::Host;

impl Host for VuState {
    fn now(&mut self) -> u64 {
        self.touch();
        u64::try_from(self.run.started.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Sleeps the whole duration, even while the run stops: a task that
    /// polls with sleeps in between would otherwise poll flat out while it
    /// finishes. The stop timeout still bounds it; past that the run drops
    /// the call.
    async fn sleep(&mut self, duration_ns: u64) {
        self.touch();
        tokio::time::sleep(Duration::from_nanos(duration_ns)).await;
        self.touch();
    }
}
