//! The knobs of every simulated bottleneck: [`Config`], its defaults, and the
//! command-line flags of the `origin-api` binary that map onto it.

use std::fmt;
use std::time::Duration;

use clap::Parser;

/// How slow and how narrow each simulated part of the Origin stack is.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Time a chat reply spends in retrieval (a vector query holding a database connection).
    pub retrieval_delay: Duration,
    /// Number of `token` events in a streamed chat reply.
    pub reply_tokens: u32,
    /// Gap between two streamed tokens.
    pub token_interval: Duration,
    /// Size of the fixed review worker pool.
    pub workers: usize,
    /// Upstream LLM calls one review makes.
    pub review_calls: u32,
    /// Duration of one upstream LLM call made by a review.
    pub llm_call_time: Duration,
    /// Refill rate of the upstream token bucket, in calls per second.
    pub llm_rate: f64,
    /// Capacity of the upstream token bucket.
    pub llm_burst: u32,
    /// Retries on one upstream call before a review gives up.
    pub review_retries: u32,
    /// Number of database connections.
    pub db_pool: usize,
    /// How long a request waits for a free database connection before a 503.
    pub db_acquire_timeout: Duration,
    /// How long a request holds its connection for its queries.
    pub db_query_time: Duration,
    /// Replies after which the server closes a chat WebSocket (code 4000); 0 never does.
    pub ws_close_after: u32,
}

impl Default for Config {
    // The single place the defaults live; the binary's flags read them from here.
    fn default() -> Self {
        Self {
            retrieval_delay: Duration::from_millis(300),
            reply_tokens: 20,
            token_interval: Duration::from_millis(30),
            workers: 4,
            review_calls: 3,
            llm_call_time: Duration::from_millis(500),
            llm_rate: 10.0,
            llm_burst: 20,
            review_retries: 5,
            db_pool: 10,
            db_acquire_timeout: Duration::from_millis(200),
            db_query_time: Duration::from_millis(5),
            ws_close_after: 0,
        }
    }
}

impl Config {
    /// Rejects values that would make a bottleneck meaningless or the server unable to run.
    pub fn validate(&self) -> Result<(), String> {
        if self.workers == 0 {
            return Err("workers must be at least 1".into());
        }
        if self.db_pool == 0 {
            return Err("db_pool must be at least 1".into());
        }
        if self.llm_burst == 0 {
            return Err("llm_burst must be at least 1".into());
        }
        if !(self.llm_rate.is_finite() && self.llm_rate > 0.0) {
            return Err(format!(
                "llm_rate must be a positive number, got {}",
                self.llm_rate
            ));
        }
        Ok(())
    }
}

impl fmt::Display for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = humantime::format_duration;
        write!(
            f,
            "retrieval-delay={} reply-tokens={} token-interval={} workers={} review-calls={} \
             llm-call-time={} llm-rate={} llm-burst={} review-retries={} db-pool={} \
             db-acquire-timeout={} db-query-time={} ws-close-after={}",
            d(self.retrieval_delay),
            self.reply_tokens,
            d(self.token_interval),
            self.workers,
            self.review_calls,
            d(self.llm_call_time),
            self.llm_rate,
            self.llm_burst,
            self.review_retries,
            self.db_pool,
            d(self.db_acquire_timeout),
            d(self.db_query_time),
            self.ws_close_after,
        )
    }
}

fn default_duration(pick: fn(&Config) -> Duration) -> humantime::Duration {
    pick(&Config::default()).into()
}

/// Command-line flags of the `origin-api` binary; each one sets a [`Config`] field.
#[derive(Debug, Parser)]
#[command(
    name = "origin-api",
    about = "Stand-in of the Origin chat API with simulated bottlenecks, for load tests on loopback"
)]
pub struct Args {
    /// TCP port to listen on, on 127.0.0.1 only; 0 picks a free port.
    #[arg(long, default_value_t = 8080)]
    pub port: u16,

    /// Retrieval time of a chat reply; models the vector query, which holds a database connection.
    #[arg(long, value_name = "DURATION", default_value_t = default_duration(|c| c.retrieval_delay))]
    pub retrieval_delay: humantime::Duration,

    /// Tokens streamed per chat reply; models the length of the LLM's answer.
    #[arg(long, value_name = "N", default_value_t = Config::default().reply_tokens)]
    pub reply_tokens: u32,

    /// Gap between streamed tokens; models the LLM's generation speed.
    #[arg(long, value_name = "DURATION", default_value_t = default_duration(|c| c.token_interval))]
    pub token_interval: humantime::Duration,

    /// Review worker pool size; models the fixed background job capacity (queueing beyond it).
    #[arg(long, value_name = "N", default_value_t = Config::default().workers, value_parser = at_least_one)]
    pub workers: usize,

    /// Upstream LLM calls per review; models how much upstream work a review costs.
    #[arg(long, value_name = "N", default_value_t = Config::default().review_calls)]
    pub review_calls: u32,

    /// Duration of one upstream LLM call made by a review; models provider latency.
    #[arg(long, value_name = "DURATION", default_value_t = default_duration(|c| c.llm_call_time))]
    pub llm_call_time: humantime::Duration,

    /// Retries on one upstream call before a review fails; models the job's give-up policy.
    #[arg(long, value_name = "N", default_value_t = Config::default().review_retries)]
    pub review_retries: u32,

    /// Upstream calls per second (token bucket refill, fractional allowed); models the provider's rate limit.
    #[arg(long, value_name = "PER_SEC", default_value_t = Config::default().llm_rate, value_parser = positive_rate)]
    pub llm_rate: f64,

    /// Token bucket capacity; models the provider's allowed burst.
    #[arg(long, value_name = "N", default_value_t = Config::default().llm_burst,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub llm_burst: u32,

    /// Database connections; models the connection pool every /api request and chat socket message needs.
    #[arg(long, value_name = "N", default_value_t = Config::default().db_pool, value_parser = at_least_one)]
    pub db_pool: usize,

    /// Wait for a free database connection before answering 503; models pool exhaustion.
    #[arg(long, value_name = "DURATION", default_value_t = default_duration(|c| c.db_acquire_timeout))]
    pub db_acquire_timeout: humantime::Duration,

    /// Time a request holds its connection for its queries; models query latency.
    #[arg(long, value_name = "DURATION", default_value_t = default_duration(|c| c.db_query_time))]
    pub db_query_time: humantime::Duration,

    /// Replies after which the server closes a chat WebSocket, with close code 4000 and reason
    /// "message limit" (0: never); models a server that ends long sessions, so that a load tester
    /// sees server-initiated closes.
    #[arg(long, value_name = "N", default_value_t = Config::default().ws_close_after)]
    pub ws_close_after: u32,
}

impl From<Args> for Config {
    fn from(args: Args) -> Self {
        Self {
            retrieval_delay: args.retrieval_delay.into(),
            reply_tokens: args.reply_tokens,
            token_interval: args.token_interval.into(),
            workers: args.workers,
            review_calls: args.review_calls,
            llm_call_time: args.llm_call_time.into(),
            llm_rate: args.llm_rate,
            llm_burst: args.llm_burst,
            review_retries: args.review_retries,
            db_pool: args.db_pool,
            db_acquire_timeout: args.db_acquire_timeout.into(),
            db_query_time: args.db_query_time.into(),
            ws_close_after: args.ws_close_after,
        }
    }
}

fn at_least_one(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

fn positive_rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate > 0.0 => Ok(rate),
        Ok(_) => Err("must be a positive number of calls per second".into()),
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::error::ErrorKind;

    fn parse(args: &[&str]) -> Result<Args, clap::Error> {
        Args::try_parse_from(std::iter::once("origin-api").chain(args.iter().copied()))
    }

    #[test]
    fn flag_defaults_equal_config_default() {
        let args = parse(&[]).unwrap();
        assert_eq!(args.port, 8080);
        assert_eq!(Config::from(args), Config::default());
    }

    #[test]
    fn durations_fractional_rates_and_counts_parse() {
        let args = parse(&[
            "--retrieval-delay",
            "1s",
            "--llm-rate",
            "0.5",
            "--port",
            "0",
            "--ws-close-after",
            "2",
        ])
        .unwrap();
        let config = Config::from(args);
        assert_eq!(config.retrieval_delay, Duration::from_secs(1));
        assert_eq!(config.llm_rate, 0.5);
        assert_eq!(config.ws_close_after, 2);
    }

    #[test]
    fn bad_values_are_rejected_naming_the_flag() {
        for (flag, value) in [
            ("--workers", "0"),
            ("--db-pool", "0"),
            ("--llm-rate", "0"),
            ("--llm-rate", "-1"),
            ("--llm-burst", "0"),
            ("--token-interval", "soon"),
        ] {
            // The `=` form keeps "-1" a value rather than an unknown flag.
            let err = parse(&[&format!("{flag}={value}")]).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::ValueValidation, "{flag} {value}");
            assert_eq!(err.exit_code(), 2);
            assert!(err.to_string().contains(flag), "{err}");
        }
    }

    #[test]
    fn validate_rejects_zero_capacities() {
        let config = Config {
            workers: 0,
            ..Config::default()
        };
        assert!(config.validate().is_err());
        assert!(Config::default().validate().is_ok());
    }
}
