//! The arrival-rate (open) model: iterations fall due at a rate, constant
//! or ramping through stages, whatever the server does. Each due iteration goes into a bounded queue
//! that idle users take from; when every user is busy, the pool grows up to
//! its maximum, and an iteration that finds the queue full is dropped and
//! counted, never lost silently. Users time the first request of an
//! iteration from when it was due (see [`crate::stats::RequestStats`]).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{Mutex, mpsc};

/// The rate and the bounds of the arrival-rate model.
#[derive(Debug, Clone, PartialEq)]
pub struct Arrival {
    /// Iterations per second at the start, and all along without stages.
    pub rate: f64,
    /// Ramps of the rate: each moves it linearly from the previous rate to
    /// its own over its duration.
    pub stages: Vec<RateStage>,
    /// The most users the pool grows to.
    pub max_users: u32,
    /// The most due iterations waiting for a user.
    pub max_queue: usize,
}

/// Over `duration`, move the rate to `rate` iterations per second.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateStage {
    pub duration: Duration,
    pub rate: f64,
}

impl Arrival {
    /// When iteration `index` (from 0) is due, after the start: when the
    /// iterations due so far, the rate integrated over time, reach `index`.
    /// `None` when the stages end first.
    pub fn due(&self, index: u64) -> Option<Duration> {
        let wanted = index as f64;
        if self.stages.is_empty() {
            return (self.rate > 0.0).then(|| Duration::from_secs_f64(wanted / self.rate));
        }
        let (mut from, mut start, mut before) = (self.rate, 0.0, 0.0);
        for stage in &self.stages {
            let length = stage.duration.as_secs_f64();
            let to = stage.rate;
            let within = (from + to) / 2.0 * length;
            if wanted < before + within {
                // Solve from·x + (to − from)·x²/(2·length) = need for x, in
                // the form that stays exact when the rate is flat.
                let need = wanted - before;
                let slope = (to - from) / length;
                let root = (from * from + 2.0 * slope * need).max(0.0).sqrt();
                let x = if need > 0.0 {
                    2.0 * need / (from + root)
                } else {
                    0.0
                };
                return Some(Duration::from_secs_f64(start + x));
            }
            before += within;
            start += length;
            from = to;
        }
        None
    }

    /// The highest rate of the plan.
    pub fn peak(&self) -> f64 {
        self.stages
            .iter()
            .map(|stage| stage.rate)
            .fold(self.rate, f64::max)
    }
}

/// Parses `DURATION:RATE`, such as `30s:200`.
pub fn parse_stage(text: &str) -> Result<RateStage, String> {
    let (duration, rate) = text.rsplit_once(':').ok_or_else(|| {
        format!(
            "`{text}` is not a rate stage like `30s:200` (a duration, `:`, iterations per second)"
        )
    })?;
    let duration = crate::config::parse_duration(duration)?;
    let rate: f64 = rate
        .trim()
        .parse()
        .ok()
        .filter(|rate: &f64| rate.is_finite() && *rate >= 0.0)
        .ok_or_else(|| format!("`{rate}` in `{text}` is not a rate of 0 or more per second"))?;
    Ok(RateStage { duration, rate })
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

    fn arrival(rate: f64, stages: &[(u64, f64)]) -> Arrival {
        Arrival {
            rate,
            stages: stages
                .iter()
                .map(|&(secs, rate)| RateStage {
                    duration: Duration::from_secs(secs),
                    rate,
                })
                .collect(),
            max_users: 10,
            max_queue: 10,
        }
    }

    fn secs(due: Option<Duration>) -> f64 {
        due.expect("due within the plan").as_secs_f64()
    }

    #[test]
    fn iterations_fall_due_at_the_rate() {
        let arrival = arrival(200.0, &[]);
        assert_eq!(arrival.due(0), Some(Duration::ZERO));
        assert_eq!(arrival.due(200), Some(Duration::from_secs(1)));
        assert_eq!(arrival.due(1), Some(Duration::from_millis(5)));
    }

    #[test]
    fn a_ramping_rate_integrates_over_its_stages() {
        // 0 to 100/s over 10 s (500 iterations), then 100/s for 10 s (1,000).
        let ramp = arrival(0.0, &[(10, 100.0), (10, 100.0)]);
        assert_eq!(ramp.due(0), Some(Duration::ZERO));
        assert!((secs(ramp.due(125)) - 5.0).abs() < 1e-9);
        assert!((secs(ramp.due(500)) - 10.0).abs() < 1e-9);
        assert!((secs(ramp.due(1000)) - 15.0).abs() < 1e-9);
        assert_eq!(ramp.due(1500), None);
        // Down from 100/s to 0 over 10 s: half the iterations in 2.93 s.
        let down = arrival(100.0, &[(10, 0.0)]);
        assert!((secs(down.due(250)) - (10.0 - 50f64.sqrt())).abs() < 1e-9);
        assert_eq!(ramp.peak(), 100.0);
    }

    #[test]
    fn rate_stages_parse_and_say_what_is_wrong() {
        let stage = parse_stage("30s:200").unwrap();
        assert_eq!(
            (stage.duration, stage.rate),
            (Duration::from_secs(30), 200.0)
        );
        assert!(parse_stage("30s").unwrap_err().contains("rate stage"));
        assert!(parse_stage("30s:-1").unwrap_err().contains("0 or more"));
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
