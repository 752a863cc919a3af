//! `throng:scenario/clock`: time since the run started, and a sleep that
//! ends early when the run stops.

use std::time::Duration;

use crate::runtime::VuState;
use crate::runtime::bindings::throng::scenario::clock::Host;
use crate::schedule::Phase;

impl Host for VuState {
    fn now(&mut self) -> u64 {
        self.touch();
        u64::try_from(self.run.started.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    async fn sleep(&mut self, duration_ns: u64) {
        self.touch();
        let mut phase = self.run.phase.clone();
        tokio::select! {
            () = tokio::time::sleep(Duration::from_nanos(duration_ns)) => {}
            _ = phase.wait_for(|phase| *phase != Phase::Running) => {}
        }
        self.touch();
    }
}
