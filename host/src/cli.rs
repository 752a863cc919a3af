//! The command line, as clap types only; [`crate::config`] turns it into a
//! validated run configuration.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::config::{parse_bytes, parse_duration, parse_var, parse_wait};
use crate::schedule::WaitTime;

/// Load testing with scenarios compiled to WebAssembly components.
///
/// Exit status: 0 when the run completed; 99 when it completed but failed a
/// `--threshold`; 2 when the configuration or the scenario is wrong
/// (nothing is sent); 130 when the run was interrupted (Ctrl-C or SIGTERM;
/// results are still printed and written); 1 on any other error.
#[derive(Debug, Parser)]
#[command(name = "throng", version, about, long_about, args_override_self = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a scenario as virtual users against a target.
    Run(Box<RunArgs>),
    /// Show what a scenario describes and what it imports.
    Inspect(InspectArgs),
    /// Combine results files of one scenario (`--json` of runs cut across
    /// machines or repeated) into one, exactly: counts add up and
    /// histograms merge.
    Merge(MergeArgs),
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Results files written by `throng run --json`.
    #[arg(required = true, value_name = "RESULTS")]
    pub files: Vec<PathBuf>,

    /// Where to write the merged results.
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: PathBuf,

    /// A threshold to judge on the merged figures, besides those the files
    /// carry; repeat for more.
    #[arg(long = "threshold", value_parser = crate::thresholds::parse, value_name = "THRESHOLD")]
    pub thresholds: Vec<crate::thresholds::Threshold>,

    /// Write the thresholds as a JUnit XML report.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
}

/// One plan's load: how many users, how they start, and for how long.
#[derive(Debug, Clone, Args)]
pub struct LoadArgs {
    /// How many virtual users to run at once.
    #[arg(short = 'u', long, default_value_t = 1)]
    pub users: u32,

    /// Users started per second [default: all users in the first second].
    #[arg(short = 'r', long, value_name = "PER_SECOND")]
    pub spawn_rate: Option<f64>,

    /// Ramp the user count through stages instead of `--users`: each
    /// `DURATION:USERS` moves linearly from the previous count (0 at first)
    /// to USERS over DURATION; the run time is their sum. Repeat in order:
    /// `--stage 1m:50 --stage 5m:50 --stage 1m:0`.
    #[arg(long = "stage", value_parser = crate::schedule::stages::parse, value_name = "DURATION:USERS",
          conflicts_with_all = ["users", "spawn_rate", "run_time"])]
    pub stages: Vec<crate::schedule::Stage>,

    /// Each user runs this many tasks, then stops; the run ends when all
    /// have (or at `--run-time`, if sooner).
    #[arg(long, value_name = "N", conflicts_with_all = ["shared_iterations", "stages", "arrival_rate", "rate_stages"])]
    pub iterations: Option<u64>,

    /// All users together run this many tasks, each taking the next as it
    /// can; the run ends when they are done (or at `--run-time`).
    #[arg(long, value_name = "N", conflicts_with_all = ["stages", "arrival_rate", "rate_stages"])]
    pub shared_iterations: Option<u64>,

    /// The arrival-rate model: start this many iterations (tasks) per
    /// second whatever the server does, on `--users` users started at once
    /// and more as needed up to `--max-users`. Latencies are also timed
    /// from when each iteration was due (coordinated omission corrected).
    #[arg(long, value_name = "PER_SECOND", conflicts_with_all = ["stages", "spawn_rate", "wait_time"])]
    pub arrival_rate: Option<f64>,

    /// Ramp the arrival rate through stages: each `DURATION:RATE` moves it
    /// linearly from the previous rate (`--arrival-rate`, or 0) to RATE
    /// over DURATION; the run time is their sum. Repeat in order.
    #[arg(long = "rate-stage", value_parser = crate::schedule::arrival::parse_stage,
          value_name = "DURATION:RATE", conflicts_with_all = ["stages", "spawn_rate", "wait_time", "run_time"])]
    pub rate_stages: Vec<crate::schedule::arrival::RateStage>,

    /// With `--arrival-rate`: the most users the pool grows to [default:
    /// 100, or `--users` if more].
    #[arg(long, value_name = "N")]
    pub max_users: Option<u32>,

    /// With `--arrival-rate`: the most due iterations that wait for a busy
    /// pool; one that finds the queue full is dropped and counted
    /// [default: ten seconds' worth].
    #[arg(long, value_name = "N")]
    pub max_queue: Option<usize>,

    /// How long to run, from the first user's start: `30s`, `5m`, `1h30m`
    /// [default: until Ctrl-C].
    #[arg(short = 't', long, value_parser = parse_duration, value_name = "DURATION")]
    pub run_time: Option<Duration>,

    /// The wait after each task: `none`, a constant `2s`, or a uniform
    /// range `1s..3s` [default: the scenario's].
    #[arg(long, value_parser = parse_wait, value_name = "WAIT")]
    pub wait_time: Option<WaitTime>,
}

/// The flags of one `--plan`, after its name.
#[derive(Debug, Parser)]
#[command(name = "--plan", no_binary_name = true, disable_help_flag = true)]
pub struct PlanArgs {
    /// Another component than the run's.
    pub scenario: Option<PathBuf>,

    #[command(flatten)]
    pub load: LoadArgs,

    #[arg(long, value_delimiter = ',', value_name = "TASK,...")]
    pub tasks: Vec<String>,

    /// When the plan starts, after the run's start.
    #[arg(long, value_parser = parse_duration, value_name = "DURATION", allow_hyphen_values = true)]
    pub start: Option<Duration>,

    #[arg(long = "var", value_parser = parse_var, value_name = "KEY=VALUE")]
    pub vars: Vec<(String, String)>,
}

impl PlanArgs {
    /// Every flag at its default.
    pub fn defaults() -> Self {
        Self::try_parse_from(std::iter::empty::<String>()).expect("a plan needs no flag")
    }
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// A `.wasm` component, or a scenario crate folder to build first.
    pub scenario: PathBuf,

    /// A variable the scenario may read while describing itself.
    #[arg(long = "var", value_parser = parse_var, value_name = "KEY=VALUE")]
    pub vars: Vec<(String, String)>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// A `.wasm` component, or a scenario crate folder, which throng builds
    /// for wasm32-wasip2 with cargo [default: the config file's `scenario`].
    #[arg(required_unless_present_any = ["config", "plans"])]
    pub scenario: Option<PathBuf>,

    /// A TOML file with any of these flags as keys (`spawn-rate = 5`), and
    /// stages and `[[scenarios]]` as tables; flags given here win over it.
    /// See docs/config.md.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// The target's base URL; relative URLs in the scenario are joined to
    /// it, and its host is the one requests may go to.
    #[arg(short = 'H', long, value_name = "URL")]
    pub host: Option<String>,

    /// Another host requests may go to, as `name` or `name:port`; repeat
    /// for more.
    #[arg(long = "allow-host", value_name = "HOST")]
    pub allow_hosts: Vec<String>,

    #[command(flatten)]
    pub load: LoadArgs,

    /// Run only these of the scenario's tasks, keeping their weights:
    /// `--tasks browse,search`.
    #[arg(long, value_delimiter = ',', value_name = "TASK,...")]
    pub tasks: Vec<String>,

    /// Run several plans at once, each with its own load, tasks and start:
    /// `--plan 'chat: --arrival-rate 20 --tasks send_chat_message --start
    /// 30s'`. The text is a name, `:`, then flags as a shell splits them:
    /// `--users`, `--spawn-rate`, `--stage`, `--iterations`,
    /// `--shared-iterations`, `--arrival-rate`, `--rate-stage`,
    /// `--max-users`, `--max-queue`, `--run-time`, `--wait-time`,
    /// `--tasks`, `--start`, `--var`, and optionally another component's
    /// path. Every row of the results is tagged with its plan's name.
    /// `--run-time` and `--wait-time` given outside apply to every plan
    /// that sets neither. Repeat for more; replaces the config file's
    /// `[[scenarios]]`.
    #[arg(long = "plan", value_name = "NAME: FLAGS")]
    pub plans: Vec<String>,

    /// How long tasks in flight at the end may take to finish; then they
    /// are cut, and their requests counted as `aborted`.
    #[arg(long, value_parser = parse_duration, default_value = "10s", value_name = "DURATION")]
    pub stop_timeout: Duration,

    /// A variable the scenario reads with `context::var`; repeat for more.
    #[arg(long = "var", value_parser = parse_var, value_name = "KEY=VALUE")]
    pub vars: Vec<(String, String)>,

    /// Write the complete results, histograms included, to this JSON file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,

    /// A pass criterion judged at the end, `NAME: STAT OP VALUE`, such as
    /// `checkout: p95 < 500ms`, `errors: rate < 1%`, `requests: rate >
    /// 100/s` or, for a stream's first event, `chat: ttft p95 < 500ms`
    /// (also `itl`, `ttfb`, `first-chunk`, `chunk-gap`, `headers`,
    /// `connect`); with several plans, `NAME{scenario=PLAN}` judges one
    /// plan's rows. Repeat for more. A failed one makes the exit status 99. With
    /// `, abort` (or `, abort after 30s`) it is also judged every second,
    /// and crossing it stops the run.
    #[arg(long = "threshold", value_parser = crate::thresholds::parse, value_name = "THRESHOLD")]
    pub thresholds: Vec<crate::thresholds::Threshold>,

    /// Write the thresholds as a JUnit XML report, a test case each.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,

    /// Serve the live counters and histograms for Prometheus at
    /// `http://ADDR/metrics` while the run goes, such as `127.0.0.1:9464`.
    #[arg(long, value_name = "ADDR")]
    pub metrics_addr: Option<std::net::SocketAddr>,

    /// Write Locust-style CSV files: PREFIX_stats.csv, PREFIX_failures.csv
    /// (each with a last `Scenario` column) and PREFIX_stats_history.csv (a
    /// row a second, as the run goes).
    #[arg(long, value_name = "PREFIX")]
    pub csv: Option<PathBuf>,

    /// The longest one request may take, unless the scenario sets its own.
    #[arg(long, value_parser = parse_duration, default_value = "60s", value_name = "DURATION")]
    pub timeout: Duration,

    /// The largest response body a request may read: `10MiB`, `512KiB`.
    #[arg(long, value_parser = parse_bytes, default_value = "10MiB", value_name = "SIZE")]
    pub max_body_size: u64,

    /// The most linear memory one user's instance may use.
    #[arg(long, value_parser = parse_bytes, default_value = "64MiB", value_name = "SIZE")]
    pub max_memory: u64,

    /// The longest a guest may compute without calling the host before its
    /// task fails with kind `cpu-budget`.
    #[arg(long, value_parser = parse_duration, default_value = "1s", value_name = "DURATION")]
    pub cpu_budget: Duration,
}
