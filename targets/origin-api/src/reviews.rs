//! AI reviews: the review records, their unbounded FIFO queue, and the fixed
//! pool of workers that run them against the rate-limited upstream.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::upstream::Upstream;

const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(4);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Queued,
    Running,
    Done,
    Failed,
}

struct Review {
    owner: u64,
    room_id: u64,
    status: Status,
    calls_done: u32,
    enqueued: Instant,
    started: Option<Instant>,
    error: Option<String>,
}

/// A review as `GET /api/reviews/{id}` shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ReviewView {
    pub id: u64,
    pub room_id: u64,
    pub status: Status,
    pub calls_done: u32,
    pub calls_total: u32,
    pub queued_ms: u64,
    pub error: Option<String>,
}

/// Queue and worker figures as `/_stats` shows them.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ReviewStats {
    pub queued: usize,
    pub running: usize,
    pub workers: usize,
    pub done: u64,
    pub failed: u64,
}

/// What a review job does, fixed at start-up.
#[derive(Debug, Clone, Copy)]
pub struct JobShape {
    pub workers: usize,
    pub calls: u32,
    pub call_time: Duration,
    pub retries: u32,
}

pub struct Reviews {
    shape: JobShape,
    records: Mutex<HashMap<u64, Review>>,
    last_id: AtomicU64,
    sender: mpsc::UnboundedSender<u64>,
    // Workers take turns on the receiver; tokio's mutex is fair, so jobs leave in FIFO order.
    receiver: tokio::sync::Mutex<mpsc::UnboundedReceiver<u64>>,
    queued: AtomicUsize,
    running: AtomicUsize,
    done: AtomicU64,
    failed: AtomicU64,
}

impl Reviews {
    pub fn new(shape: JobShape) -> Self {
        let (sender, receiver) = mpsc::unbounded_channel();
        Self {
            shape,
            records: Mutex::default(),
            last_id: AtomicU64::new(0),
            sender,
            receiver: tokio::sync::Mutex::new(receiver),
            queued: AtomicUsize::new(0),
            running: AtomicUsize::new(0),
            done: AtomicU64::new(0),
            failed: AtomicU64::new(0),
        }
    }

    fn records(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Review>> {
        self.records.lock().expect("review records lock")
    }

    /// Records a queued review of `room_id` and puts it at the back of the queue.
    pub fn enqueue(&self, owner: u64, room_id: u64) -> ReviewView {
        let id = self.last_id.fetch_add(1, Ordering::Relaxed) + 1;
        let review = Review {
            owner,
            room_id,
            status: Status::Queued,
            calls_done: 0,
            enqueued: Instant::now(),
            started: None,
            error: None,
        };
        let view = self.view_of(id, &review);
        let mut records = self.records();
        records.insert(id, review);
        self.queued.fetch_add(1, Ordering::Relaxed);
        drop(records);
        // The receiver lives as long as `self`, so sending cannot fail.
        let _ = self.sender.send(id);
        view
    }

    /// A review, if it exists and belongs to `owner`.
    pub fn view(&self, owner: u64, id: u64) -> Option<ReviewView> {
        let records = self.records();
        let review = records.get(&id).filter(|review| review.owner == owner)?;
        Some(self.view_of(id, review))
    }

    fn view_of(&self, id: u64, review: &Review) -> ReviewView {
        let waited = review.started.unwrap_or_else(Instant::now) - review.enqueued;
        ReviewView {
            id,
            room_id: review.room_id,
            status: review.status,
            calls_done: review.calls_done,
            calls_total: self.shape.calls,
            queued_ms: u64::try_from(waited.as_millis()).unwrap_or(u64::MAX),
            error: review.error.clone(),
        }
    }

    pub fn stats(&self) -> ReviewStats {
        ReviewStats {
            queued: self.queued.load(Ordering::Relaxed),
            running: self.running.load(Ordering::Relaxed),
            workers: self.shape.workers,
            done: self.done.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
        }
    }

    /// Starts exactly `workers` worker tasks; dropping the set stops them.
    pub fn spawn_workers(self: &Arc<Self>, upstream: Arc<Upstream>) -> JoinSet<()> {
        let mut workers = JoinSet::new();
        for _ in 0..self.shape.workers {
            let (reviews, upstream) = (Arc::clone(self), Arc::clone(&upstream));
            workers.spawn(async move { reviews.work(&upstream).await });
        }
        workers
    }

    async fn work(&self, upstream: &Upstream) {
        loop {
            let next = self.receiver.lock().await.recv().await;
            let Some(id) = next else { return };
            // Counters change under the records lock, with the status: whoever
            // reads a review's new status then sees counters that agree with it.
            self.update(id, |review| {
                self.queued.fetch_sub(1, Ordering::Relaxed);
                self.running.fetch_add(1, Ordering::Relaxed);
                review.status = Status::Running;
                review.started = Some(Instant::now());
            });
            let (status, error, finished) = match self.run(id, upstream).await {
                Ok(()) => (Status::Done, None, &self.done),
                Err(why) => (Status::Failed, Some(why), &self.failed),
            };
            self.update(id, |review| {
                finished.fetch_add(1, Ordering::Relaxed);
                self.running.fetch_sub(1, Ordering::Relaxed);
                (review.status, review.error) = (status, error);
            });
        }
    }

    async fn run(&self, id: u64, upstream: &Upstream) -> Result<(), String> {
        for _ in 0..self.shape.calls {
            take_with_retries(upstream, self.shape.retries).await?;
            tokio::time::sleep(self.shape.call_time).await;
            self.update(id, |review| review.calls_done += 1);
        }
        Ok(())
    }

    fn update(&self, id: u64, change: impl FnOnce(&mut Review)) {
        if let Some(review) = self.records().get_mut(&id) {
            change(review);
        }
    }
}

/// Takes one upstream token, backing off on refusals, giving up after `max_retries` retries.
pub async fn take_with_retries(upstream: &Upstream, max_retries: u32) -> Result<(), String> {
    let mut retries = 0;
    loop {
        let Err(wait) = upstream.try_call() else {
            return Ok(());
        };
        if retries == max_retries {
            return Err(format!(
                "upstream rate limit: gave up after {retries} retries"
            ));
        }
        upstream.note_retry();
        tokio::time::sleep(backoff(retries, wait)).await;
        retries += 1;
    }
}

/// Delay before retry number `retry` (from 0): 250 ms doubling up to 4 s, or
/// the bucket's own wait when that is longer, since retrying sooner is futile.
pub fn backoff(retry: u32, bucket_wait: Duration) -> Duration {
    let doubled = FIRST_BACKOFF.saturating_mul(1 << retry.min(16));
    doubled.min(MAX_BACKOFF).max(bucket_wait)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn backoff_doubles_from_250ms_to_a_4s_cap_unless_the_bucket_waits_longer() {
        let delays: Vec<_> = (0..7).map(|retry| backoff(retry, ms(10))).collect();
        let expected = [250, 500, 1000, 2000, 4000, 4000, 4000].map(ms);
        assert_eq!(delays, expected);
        assert_eq!(backoff(40, Duration::ZERO), ms(4000));
        assert_eq!(backoff(0, ms(9000)), ms(9000));
    }

    #[tokio::test(start_paused = true)]
    async fn call_gives_up_after_configured_retries_when_bucket_never_refills() {
        // A frozen clock keeps the bucket empty however long the (virtual) back-off lasts.
        let frozen = Instant::now();
        let upstream = Upstream::with_clock(100.0, 1, Box::new(move || frozen));
        upstream.try_call().unwrap();
        let started = Instant::now();
        let outcome = take_with_retries(&upstream, 3).await;
        assert_eq!(
            outcome,
            Err("upstream rate limit: gave up after 3 retries".into())
        );
        assert_eq!(started.elapsed(), ms(250 + 500 + 1000));
        let stats = upstream.stats();
        assert_eq!((stats.calls, stats.rate_limited, stats.retries), (1, 4, 3));
    }

    #[tokio::test(start_paused = true)]
    async fn call_succeeds_once_the_bucket_refills_during_backoff() {
        let upstream = Upstream::new(1.0, 1);
        upstream.try_call().unwrap();
        let started = Instant::now();
        assert_eq!(take_with_retries(&upstream, 1).await, Ok(()));
        // The bucket's 1 s wait is longer than the first 250 ms back-off, so it wins.
        assert_eq!(started.elapsed(), ms(1000));
        assert_eq!(upstream.stats().retries, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn one_worker_runs_reviews_in_order_while_the_next_waits_in_queue() {
        let shape = JobShape {
            workers: 1,
            calls: 2,
            call_time: ms(100),
            retries: 0,
        };
        let reviews = Arc::new(Reviews::new(shape));
        let _workers = reviews.spawn_workers(Arc::new(Upstream::new(100.0, 10)));
        let first = reviews.enqueue(1, 7);
        let second = reviews.enqueue(1, 7);
        assert_eq!(first.status, Status::Queued);
        tokio::time::sleep(ms(50)).await;
        assert_eq!(reviews.view(1, first.id).unwrap().status, Status::Running);
        let waiting = reviews.view(1, second.id).unwrap();
        assert_eq!((waiting.status, waiting.queued_ms), (Status::Queued, 50));
        let stats = reviews.stats();
        assert_eq!((stats.queued, stats.running), (1, 1));
        tokio::time::sleep(ms(400)).await;
        let finished = reviews.view(1, second.id).unwrap();
        assert_eq!((finished.status, finished.calls_done), (Status::Done, 2));
        assert_eq!(finished.queued_ms, 200);
        assert!(reviews.view(2, first.id).is_none());
        assert_eq!(reviews.stats().done, 2);
    }
}
