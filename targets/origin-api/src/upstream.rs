//! The upstream LLM provider's rate limit: one token bucket shared by chat
//! replies and review jobs, plus the counters `/_stats` reports about it.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

// Float refills land a hair short of a whole token after waiting exactly the
// advertised time; this slack keeps "wait, then take" from being refused.
const WHOLE_TOKEN: f64 = 1.0 - 1e-9;

/// A token bucket as a pure function of the instants it is shown, so tests
/// can drive it without sleeping.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: f64,
    capacity: f64,
    tokens: f64,
    updated: Instant,
}

impl TokenBucket {
    /// A full bucket refilling `rate` tokens per second up to `capacity`.
    pub fn new(rate: f64, capacity: u32, now: Instant) -> Self {
        let capacity = f64::from(capacity);
        Self {
            rate,
            capacity,
            tokens: capacity,
            updated: now,
        }
    }

    /// Takes one token, or says how long until one is available.
    pub fn try_take(&mut self, now: Instant) -> Result<(), Duration> {
        self.refill(now);
        if self.tokens >= WHOLE_TOKEN {
            self.tokens = (self.tokens - 1.0).max(0.0);
            return Ok(());
        }
        // Rounded up to the nanosecond so that waiting it really does refill a token.
        let nanos = ((1.0 - self.tokens) / self.rate * 1e9).ceil();
        if nanos >= u64::MAX as f64 {
            // A vanishing rate would overflow a Duration; "practically never" is the honest answer.
            return Err(Duration::MAX);
        }
        Err(Duration::from_nanos(nanos as u64))
    }

    /// Tokens available at `now`, fractional.
    #[cfg(test)]
    pub fn available(&mut self, now: Instant) -> f64 {
        self.refill(now);
        self.tokens
    }

    fn refill(&mut self, now: Instant) {
        // Instants from before the last update (racing callers) add nothing rather than going back.
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.capacity);
        self.updated = self.updated.max(now);
    }
}

/// `Retry-After` value for a wait: whole seconds, rounded up, at least 1.
pub fn retry_after_secs(wait: Duration) -> u64 {
    let secs = wait
        .as_secs()
        .saturating_add(u64::from(wait.subsec_nanos() > 0));
    secs.max(1)
}

type Clock = Box<dyn Fn() -> Instant + Send + Sync>;

/// The shared upstream provider: its bucket, its clock and its counters.
pub struct Upstream {
    bucket: Mutex<TokenBucket>,
    clock: Clock,
    rate: f64,
    burst: u32,
    calls: AtomicU64,
    rate_limited: AtomicU64,
    retries: AtomicU64,
}

/// Upstream counters as `/_stats` shows them.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct UpstreamStats {
    pub calls: u64,
    pub rate_limited: u64,
    pub retries: u64,
    pub rate: f64,
    pub burst: u32,
}

impl Upstream {
    /// An upstream on tokio's clock (which tests may pause).
    pub fn new(rate: f64, burst: u32) -> Self {
        Self::with_clock(rate, burst, Box::new(Instant::now))
    }

    /// An upstream reading time from `clock`, so a test can freeze or step it.
    pub fn with_clock(rate: f64, burst: u32, clock: Clock) -> Self {
        let now = clock();
        Self {
            bucket: Mutex::new(TokenBucket::new(rate, burst, now)),
            clock,
            rate,
            burst,
            calls: AtomicU64::new(0),
            rate_limited: AtomicU64::new(0),
            retries: AtomicU64::new(0),
        }
    }

    /// Asks for one upstream call; a refusal carries the wait until a token is available.
    pub fn try_call(&self) -> Result<(), Duration> {
        let now = (self.clock)();
        let taken = self.bucket.lock().expect("bucket lock").try_take(now);
        let counter = match taken {
            Ok(()) => &self.calls,
            Err(_) => &self.rate_limited,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        taken
    }

    /// Records that a review retried after a refusal.
    pub fn note_retry(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
    }

    pub fn stats(&self) -> UpstreamStats {
        UpstreamStats {
            calls: self.calls.load(Ordering::Relaxed),
            rate_limited: self.rate_limited.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            rate: self.rate,
            burst: self.burst,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn bucket_starts_full_and_refuses_when_drained() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(2.0, 3, t0);
        for _ in 0..3 {
            assert_eq!(bucket.try_take(t0), Ok(()));
        }
        assert_eq!(bucket.try_take(t0), Err(ms(500)));
    }

    #[test]
    fn refused_wait_is_exactly_enough_to_take_a_token() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(3.0, 1, t0);
        bucket.try_take(t0).unwrap();
        let wait = bucket.try_take(t0 + ms(100)).unwrap_err();
        assert!(wait > ms(233) && wait < ms(234), "{wait:?}");
        assert_eq!(bucket.try_take(t0 + ms(100) + wait), Ok(()));
    }

    #[test]
    fn refill_is_capped_at_capacity() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(10.0, 2, t0);
        bucket.try_take(t0).unwrap();
        bucket.try_take(t0).unwrap();
        let later = t0 + Duration::from_secs(60);
        assert_eq!(bucket.available(later), 2.0);
        bucket.try_take(later).unwrap();
        bucket.try_take(later).unwrap();
        assert!(bucket.try_take(later).is_err());
    }

    #[test]
    fn fractional_rate_refills_slowly() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(0.5, 1, t0);
        bucket.try_take(t0).unwrap();
        assert_eq!(bucket.try_take(t0 + ms(1000)), Err(ms(1000)));
        assert_eq!(bucket.try_take(t0 + ms(2000)), Ok(()));
    }

    #[test]
    fn earlier_instant_after_later_one_does_not_refill_twice() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(1.0, 1, t0);
        bucket.try_take(t0).unwrap();
        bucket.try_take(t0 + ms(1000)).unwrap();
        assert!(bucket.try_take(t0 + ms(500)).is_err());
    }

    #[test]
    fn vanishing_rate_waits_practically_forever() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(1e-300, 1, t0);
        bucket.try_take(t0).unwrap();
        assert_eq!(bucket.try_take(t0), Err(Duration::MAX));
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds_at_least_one() {
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(ms(10)), 1);
        assert_eq!(retry_after_secs(ms(1000)), 1);
        assert_eq!(retry_after_secs(ms(1001)), 2);
        assert_eq!(retry_after_secs(Duration::from_secs(100)), 100);
        assert_eq!(retry_after_secs(Duration::MAX), u64::MAX);
    }

    #[test]
    fn upstream_counts_calls_and_refusals_on_its_clock() {
        let t0 = Instant::now();
        let upstream = Upstream::with_clock(1.0, 1, Box::new(move || t0));
        assert!(upstream.try_call().is_ok());
        assert!(upstream.try_call().is_err());
        upstream.note_retry();
        let stats = upstream.stats();
        assert_eq!((stats.calls, stats.rate_limited, stats.retries), (1, 1, 1));
        assert_eq!((stats.rate, stats.burst), (1.0, 1));
    }
}
