//! Picking the next task by weight, and the wait between tasks.

use std::fmt;
use std::sync::{Mutex, PoisonError};
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

/// Picks task indices by weight, drawing from one shuffled deck that all the
/// users of a run share.
///
/// The deck holds each task as many times as its weight; a draw takes a
/// random card, and an empty deck is dealt again. Each pick is random, as it
/// would be with independent draws, but the run's mix never strays from the
/// weights by more than one deck: after 100 tasks of a 5:2:1 scenario the
/// shares are within 5 points, where independent draws would stray by that
/// much one time in three.
#[derive(Debug)]
pub struct Picker {
    /// A full deck, dealt again when the one in play is empty.
    full: Deck,
    deck: Mutex<Deck>,
}

#[derive(Debug, Clone)]
struct Deck {
    /// Cards left per task.
    left: Vec<u32>,
    /// Their sum.
    total: u64,
}

impl Picker {
    /// `weights` must be non-empty and each at least 1 (the description is
    /// validated before a picker is made).
    pub fn new(weights: impl IntoIterator<Item = u32>) -> Self {
        let weights: Vec<u32> = weights.into_iter().collect();
        assert!(
            weights.iter().any(|&weight| weight > 0),
            "a scenario has at least one task with a weight"
        );
        let full = Deck {
            total: weights.iter().map(|&weight| u64::from(weight)).sum(),
            left: weights,
        };
        Self {
            deck: Mutex::new(full.clone()),
            full,
        }
    }

    pub fn pick(&self, rng: &mut fastrand::Rng) -> usize {
        let mut deck = self.deck.lock().unwrap_or_else(PoisonError::into_inner);
        if deck.total == 0 {
            deck.clone_from(&self.full);
        }
        let mut ticket = rng.u64(0..deck.total);
        let index = deck
            .left
            .iter()
            .position(|&left| {
                let hit = ticket < u64::from(left);
                ticket = ticket.saturating_sub(u64::from(left));
                hit
            })
            .expect("the ticket falls on a card that is left");
        deck.left[index] -= 1;
        deck.total -= 1;
        index
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
    fn every_deck_deals_the_weights_exactly() {
        let picker = Picker::new([5, 2, 1]);
        let mut rng = fastrand::Rng::with_seed(11);
        for _ in 0..50 {
            let mut counts = [0u32; 3];
            for _ in 0..8 {
                counts[picker.pick(&mut rng)] += 1;
            }
            assert_eq!(counts, [5, 2, 1]);
        }
    }

    #[test]
    fn draws_within_a_deck_come_in_random_order() {
        let picker = Picker::new([1, 1]);
        let mut rng = fastrand::Rng::with_seed(5);
        let firsts: Vec<usize> = (0..200)
            .map(|_| {
                let first = picker.pick(&mut rng);
                picker.pick(&mut rng);
                first
            })
            .collect();
        let zeros = firsts.iter().filter(|&&first| first == 0).count();
        assert!(
            (60..=140).contains(&zeros),
            "task 0 came first {zeros} times of 200"
        );
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
