//! Picking the next task by weight, and the wait between tasks.

use std::fmt;
use std::time::Duration;

use serde::{Serialize, Serializer};

/// How long a user waits after each task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitTime {
    None,
    Constant(Duration),
    /// Uniformly random between the bounds, both included.
    Between(Duration, Duration),
}

impl WaitTime {
    pub fn sample(self, rng: &mut fastrand::Rng) -> Duration {
        match self {
            WaitTime::None => Duration::ZERO,
            WaitTime::Constant(wait) => wait,
            WaitTime::Between(low, high) => {
                let span = u64::try_from((high - low).as_micros()).unwrap_or(u64::MAX);
                low + Duration::from_micros(rng.u64(0..=span))
            }
        }
    }
}

impl fmt::Display for WaitTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |d: &Duration| humantime::format_duration(*d).to_string();
        match self {
            WaitTime::None => f.write_str("none"),
            WaitTime::Constant(wait) => f.write_str(&show(wait)),
            WaitTime::Between(low, high) => write!(f, "{}..{}", show(low), show(high)),
        }
    }
}

impl Serialize for WaitTime {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Picks task indices with probability proportional to their weights.
#[derive(Debug, Clone)]
pub struct Picker {
    /// Running totals of the weights, one per task.
    cumulative: Vec<u64>,
}

impl Picker {
    /// `weights` must be non-empty and each at least 1 (the description is
    /// validated before a picker is made).
    pub fn new(weights: impl IntoIterator<Item = u32>) -> Self {
        let mut total = 0;
        let cumulative = weights
            .into_iter()
            .map(|weight| {
                total += u64::from(weight);
                total
            })
            .collect();
        Self { cumulative }
    }

    pub fn pick(&self, rng: &mut fastrand::Rng) -> usize {
        let total = *self
            .cumulative
            .last()
            .expect("a scenario has at least one task");
        let ticket = rng.u64(0..total);
        self.cumulative.partition_point(|&bound| bound <= ticket)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_follow_the_weights() {
        let picker = Picker::new([5, 2, 1]);
        let mut rng = fastrand::Rng::with_seed(7);
        let mut counts = [0u32; 3];
        for _ in 0..80_000 {
            counts[picker.pick(&mut rng)] += 1;
        }
        let share = |i: usize| f64::from(counts[i]) / 80_000.0;
        assert!((share(0) - 0.625).abs() < 0.01, "{counts:?}");
        assert!((share(1) - 0.25).abs() < 0.01, "{counts:?}");
        assert!((share(2) - 0.125).abs() < 0.01, "{counts:?}");
    }

    #[test]
    fn a_single_task_is_always_picked() {
        let picker = Picker::new([3]);
        let mut rng = fastrand::Rng::with_seed(1);
        assert!((0..100).all(|_| picker.pick(&mut rng) == 0));
    }

    #[test]
    fn waits_stay_within_their_bounds() {
        let mut rng = fastrand::Rng::with_seed(3);
        let wait = WaitTime::Between(Duration::from_millis(100), Duration::from_millis(300));
        for _ in 0..1000 {
            let sample = wait.sample(&mut rng);
            assert!(sample >= Duration::from_millis(100) && sample <= Duration::from_millis(300));
        }
        assert_eq!(WaitTime::None.sample(&mut rng), Duration::ZERO);
        assert_eq!(wait.to_string(), "100ms..300ms");
    }
}
