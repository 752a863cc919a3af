//! The arrival-rate (open) model: iterations fall due at a fixed rate
//! whatever the server does. Each due iteration goes into a bounded queue
//! that idle users take from; when every user is busy, the pool grows up to
//! its maximum, and an iteration that finds the queue full is dropped and
//! counted, never lost silently. Users time the first request of an
//! iteration from when it was due (see [`crate::stats::RequestStats`]).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{Mutex, mpsc};

/// The rate and the bounds of the arrival-rate model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Arrival {
    /// Iterations per second.
    pub rate: f64,
    /// The most users the pool grows to.
    pub max_users: u32,
    /// The most due iterations waiting for a user.
    pub max_queue: usize,
}

impl Arrival {
    /// When iteration `index` (from 0) is due, after the start.
    pub fn due(&self, index: u64) -> Duration {
        Duration::from_secs_f64(index as f64 / self.rate)
    }
}

/// Due iterations on their way to users.
#[derive(Debug)]
pub struct Queue {
    sender: mpsc::Sender<Instant>,
    receiver: Mutex<mpsc::Receiver<Instant>>,
    /// Users waiting for an iteration now.
    idle: AtomicUsize,
}

impl Queue {
    pub fn new(capacity: usize) -> Self {
        let (sender, receiver) = mpsc::channel(capacity.max(1));
        Self {
            sender,
            receiver: Mutex::new(receiver),
            idle: AtomicUsize::new(0),
        }
    }

    /// Queues an iteration due at `due`; false when the queue is full.
    pub fn offer(&self, due: Instant) -> bool {
        self.sender.try_send(due).is_ok()
    }

    /// Whether some user is waiting for an iteration.
    pub fn has_idle_user(&self) -> bool {
        self.idle.load(Ordering::Relaxed) > 0
    }

    /// The next due iteration, waiting as an idle user until there is one.
    pub async fn take(&self) -> Option<Instant> {
        self.idle.fetch_add(1, Ordering::Relaxed);
        let _idle = Idle(&self.idle);
        self.receiver.lock().await.recv().await
    }

    /// An iteration already due, without waiting: what an idle user takes
    /// as the run stops, so that one due just before the end still starts.
    pub fn try_take(&self) -> Option<Instant> {
        self.receiver.try_lock().ok()?.try_recv().ok()
    }

    /// Empties the queue at the end; returns how many were still waiting.
    pub async fn drain(&self) -> u64 {
        let mut receiver = self.receiver.lock().await;
        let mut left = 0;
        while receiver.try_recv().is_ok() {
            left += 1;
        }
        left
    }
}

/// Counts a user as idle while it lives, including when its wait is cut.
struct Idle<'a>(&'a AtomicUsize);

impl Drop for Idle<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iterations_fall_due_at_the_rate() {
        let arrival = Arrival {
            rate: 200.0,
            max_users: 10,
            max_queue: 10,
        };
        assert_eq!(arrival.due(0), Duration::ZERO);
        assert_eq!(arrival.due(200), Duration::from_secs(1));
        assert_eq!(arrival.due(1), Duration::from_millis(5));
    }

    #[tokio::test]
    async fn a_full_queue_refuses_and_drains_at_the_end() {
        let queue = Queue::new(2);
        let now = Instant::now();
        assert!(queue.offer(now));
        assert!(queue.offer(now));
        assert!(!queue.offer(now), "a third does not fit");
        assert_eq!(queue.take().await, Some(now));
        assert!(!queue.has_idle_user());
        assert_eq!(queue.drain().await, 1);
    }
}
