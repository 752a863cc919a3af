//! `throng:scenario/context`: the user's id and iteration, and the run's
//! `--var` values.

use crate::runtime::VuState;
use crate::runtime::bindings::throng::scenario::context::Host;

impl Host for VuState {
    fn user_id(&mut self) -> u32 {
        self.touch();
        self.user_id
    }

    fn iteration(&mut self) -> u64 {
        self.touch();
        self.iteration
    }

    fn var(&mut self, key: String) -> Option<String> {
        self.touch();
        // The last `--var` given for a key wins, as with repeated flags
        // elsewhere.
        self.run
            .vars
            .iter()
            .rev()
            .find(|(k, _)| *k == key)
            .map(|(_, value)| value.clone())
    }

    fn vars(&mut self) -> Vec<(String, String)> {
        self.touch();
        self.run.vars.clone()
    }
}
