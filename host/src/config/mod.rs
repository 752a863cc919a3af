//! Flags, the config file and the scenario's defaults, validated into a
//! [`RunConfig`] before anything starts. Every error names the flag, or the
//! file and key, it is about.

mod file;

use std::path::PathBuf;
use std::time::Duration;

use url::Url;

use crate::cli::{LoadArgs, RunArgs};
use crate::schedule::WaitTime;
use crate::schedule::{Arrival, IterationLimit, stages};

/// A mistake in the flags. The run does not start; exit status 2.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("`--host {0}` is not an http:// or https:// URL with a host name{1}")]
    BadHost(String, String),
    #[error("`--users` must be at least 1")]
    NoUsers,
    #[error("`--stage` must add up to more than no time and want at least one user")]
    EmptyStages,
    #[error("`--arrival-rate {0}` must be a positive number of iterations per second")]
    BadArrivalRate(f64),
    #[error("`--max-users {0}` must be at least `--users` ({1})")]
    MaxUsersBelowUsers(u32, u32),
    #[error("`--max-queue` must be at least 1")]
    NoQueue,
    #[error("`--rate-stage` must last more than no time and reach a rate above 0")]
    NoRate,
    #[error("`--max-users` and `--max-queue` need `--arrival-rate` or `--rate-stage`")]
    NeedsArrival,
    #[error("`--iterations` and `--shared-iterations` must be at least 1")]
    NoIterations,
    #[error("{0}")]
    File(String),
    #[error("no scenario: give one, or `scenario` in the config file")]
    NoScenario,
    #[error("{0} cannot be combined with {1}; they are two ways of setting the load")]
    Conflict(&'static str, &'static str),
    #[error("`--spawn-rate {0}` must be a positive number of users per second")]
    BadSpawnRate(f64),
    #[error("`--run-time` must be longer than zero")]
    NoRunTime,
    #[error("`--allow-host {0}` must be a host name, optionally with `:port`")]
    BadAllowHost(String),
    #[error("`--max-memory` must be between 1MiB and 4GiB")]
    BadMaxMemory,
    #[error("`--timeout` and `--cpu-budget` must be longer than zero")]
    ZeroLimit,
    #[error("{0}")]
    Plan(String),
}

/// Where requests may go and how long they may take.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// The base URL relative URLs are joined to.
    pub host: Option<Url>,
    /// More hosts requests may reach, as `name` or `name:port`.
    pub allowed_hosts: Vec<String>,
    pub timeout: Duration,
    pub max_body: u64,
}

impl HttpConfig {
    /// Whether a request may go to `url`: the `--host`, or an
    /// `--allow-host`.
    pub fn allows(&self, url: &Url) -> bool {
        let host = url.host_str().unwrap_or_default();
        let port = url.port_or_known_default();
        if let Some(base) = &self.host
            && base.host_str() == Some(host)
            && base.port_or_known_default() == port
        {
            return true;
        }
        self.allowed_hosts
            .iter()
            .any(|entry| match entry.rsplit_once(':') {
                Some((name, entry_port)) if entry_port.parse::<u16>().is_ok() => {
                    name.eq_ignore_ascii_case(host) && entry_port.parse::<u16>().ok() == port
                }
                _ => entry.eq_ignore_ascii_case(host),
            })
    }
}

/// Everything a run needs from the command line, validated.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// What runs: one plan, or several (`--plan`, `[[scenarios]]`).
    pub plans: Vec<PlanConfig>,
    pub http: HttpConfig,
    pub stop_timeout: Duration,
    pub json: Option<PathBuf>,
    pub thresholds: Vec<crate::thresholds::Threshold>,
    pub junit: Option<PathBuf>,
    pub csv: Option<PathBuf>,
    pub metrics_addr: Option<std::net::SocketAddr>,
    pub cpu_budget: Duration,
    pub max_memory: u64,
}

/// One plan of a run: a component, the tasks it picks from, its load and
/// when it starts.
#[derive(Debug, Clone)]
pub struct PlanConfig {
    /// The name its rows carry; `None`: the scenario's own name.
    pub name: Option<String>,
    /// Where it was given (`` `--plan a: -u 2` ``, or the config file's
    /// table), for messages; `None` for a run of one plan.
    pub place: Option<String>,
    pub scenario: PathBuf,
    /// Only these tasks; empty: all of them.
    pub tasks: Vec<String>,
    /// After the run's start.
    pub start: Duration,
    /// The run's variables, then the plan's own.
    pub vars: Vec<(String, String)>,
    pub load: Load,
}

/// One plan's load model, validated.
#[derive(Debug, Clone)]
pub struct Load {
    /// With stages, the most users at once.
    pub users: u32,
    pub spawn_rate: f64,
    pub stages: Vec<crate::schedule::Stage>,
    pub arrival: Option<Arrival>,
    pub iterations: Option<IterationLimit>,
    pub run_time: Option<Duration>,
    /// Overrides the scenario's wait time when given.
    pub wait: Option<WaitTime>,
}

impl Load {
    /// Instances the pool holds for this load. With stages, users lowered
    /// by one stage finish their task while the next may raise the count
    /// again: room for a tenth more (at least 10) covers them.
    pub fn instances(&self) -> u32 {
        if let Some(arrival) = &self.arrival {
            arrival.max_users
        } else if self.stages.is_empty() {
            self.users
        } else {
            self.users.saturating_add((self.users / 10).max(10))
        }
    }
}

/// The load flags, as clap ids: with plans, each sets its own.
const LOAD_IDS: [&str; 11] = [
    "users",
    "spawn_rate",
    "stages",
    "iterations",
    "shared_iterations",
    "arrival_rate",
    "rate_stages",
    "max_users",
    "max_queue",
    "run_time",
    "wait_time",
];

impl RunConfig {
    /// `given` says which arguments the command line gave (by clap id):
    /// the config file fills in the others.
    pub fn from_args(mut args: RunArgs, given: &dyn Fn(&str) -> bool) -> Result<Self, ConfigError> {
        let (filled, file_plans) = match args.config.clone() {
            Some(path) => file::apply(&path, &mut args, given).map_err(ConfigError::File)?,
            None => (Vec::new(), Vec::new()),
        };
        let chosen = |id: &str| given(id) || filled.contains(&id);
        let host = args.host.as_deref().map(parse_host).transpose()?;

        // The run time and the wait apply to every plan that sets neither;
        // the other load flags make a run of one plan.
        let load_given: Vec<&str> = LOAD_IDS
            .into_iter()
            .chain(["tasks"])
            .filter(|id| given(id) && !matches!(*id, "run_time" | "wait_time"))
            .collect();
        let from_flags = !args.plans.is_empty();
        let plans = if from_flags {
            if !file_plans.is_empty() {
                outln!(
                    "`--plan` replaces the config file's {} scenarios",
                    file_plans.len()
                );
            }
            if let Some(id) = load_given.first() {
                return Err(ConfigError::Plan(format!(
                    "{} applies to a run of one plan; with `--plan`, give it inside each",
                    flag(id)
                )));
            }
            let mut plans = Vec::with_capacity(args.plans.len());
            for text in &args.plans {
                plans.push(plan_from_flag(text, &args, &chosen)?);
            }
            plans
        } else if !file_plans.is_empty() && load_given.is_empty() {
            let mut plans = Vec::with_capacity(file_plans.len());
            for (place, mut plan, mut filled) in file_plans {
                inherit(&mut plan.load, &mut filled, &args.load, &chosen);
                let chosen = |id: &str| filled.contains(&id);
                let mut plan = plan_config(plan, &args, &chosen, true)
                    .map_err(|err| ConfigError::Plan(format!("{place}: {err}")))?;
                plan.place = Some(place);
                plans.push(plan);
            }
            plans
        } else {
            if !file_plans.is_empty() {
                let flags: Vec<&str> = load_given.iter().map(|id| flag(id)).collect();
                outln!(
                    "{} on the command line replace the config file's {} scenarios with one plan",
                    flags.join(", "),
                    file_plans.len()
                );
            }
            vec![PlanConfig {
                name: None,
                place: None,
                scenario: args.scenario.ok_or(ConfigError::NoScenario)?,
                tasks: args.tasks,
                start: Duration::ZERO,
                vars: args.vars,
                load: load(args.load, &chosen)?,
            }]
        };
        for entry in &args.allow_hosts {
            if entry.is_empty() || entry.contains('/') || entry.contains(char::is_whitespace) {
                return Err(ConfigError::BadAllowHost(entry.clone()));
            }
        }
        if !((1 << 20)..=(4 << 30)).contains(&args.max_memory) {
            return Err(ConfigError::BadMaxMemory);
        }
        if args.timeout.is_zero() || args.cpu_budget.is_zero() {
            return Err(ConfigError::ZeroLimit);
        }

        Ok(Self {
            plans,
            http: HttpConfig {
                host,
                allowed_hosts: args.allow_hosts,
                timeout: args.timeout,
                max_body: args.max_body_size,
            },
            stop_timeout: args.stop_timeout,
            json: args.json,
            thresholds: args.thresholds,
            junit: args.junit,
            csv: args.csv,
            metrics_addr: args.metrics_addr,
            cpu_budget: args.cpu_budget,
            max_memory: args.max_memory,
        })
    }
}

/// Parses `--plan 'NAME: FLAGS'`; the run's `--run-time` and `--wait-time`
/// apply to a plan that sets neither and can use them.
fn plan_from_flag(
    text: &str,
    run: &RunArgs,
    run_given: &dyn Fn(&str) -> bool,
) -> Result<PlanConfig, ConfigError> {
    use clap::{CommandFactory as _, FromArgMatches as _};
    let bad = |what: String| ConfigError::Plan(format!("`--plan {text}`: {what}"));
    let (name, flags) = text
        .split_once(':')
        .ok_or_else(|| bad("expected `NAME: FLAGS`, such as `chat: --users 5`".to_owned()))?;
    let name = name.trim();
    check_plan_name(name).map_err(&bad)?;
    let words = shlex::split(flags).ok_or_else(|| bad("a quote is not closed".to_owned()))?;
    let matches = crate::cli::PlanArgs::command()
        .try_get_matches_from(words)
        .map_err(|err| bad(first_line(&err.render().to_string())))?;
    let mut plan =
        crate::cli::PlanArgs::from_arg_matches(&matches).map_err(|err| bad(err.to_string()))?;
    let given = |id: &str| matches.value_source(id) == Some(clap::parser::ValueSource::CommandLine);
    let mut chosen: Vec<&str> = LOAD_IDS.into_iter().filter(|id| given(id)).collect();
    inherit(&mut plan.load, &mut chosen, &run.load, &|id| run_given(id));
    let plan = PlanDraft {
        name: Some(name.to_owned()),
        scenario: plan.scenario,
        tasks: plan.tasks,
        start: plan.start,
        vars: plan.vars,
        load: plan.load,
    };
    let mut plan =
        plan_config(plan, run, &|id| chosen.contains(&id), false).map_err(|err| match err {
            ConfigError::Plan(message) => bad(message),
            other => bad(other.to_string()),
        })?;
    plan.place = Some(format!("`--plan {text}`"));
    Ok(plan)
}

/// Gives a plan the run-wide run time and wait, where it sets neither and
/// its model can use them.
pub(crate) fn inherit(
    load: &mut LoadArgs,
    chosen: &mut Vec<&'static str>,
    run: &LoadArgs,
    run_chosen: &dyn Fn(&str) -> bool,
) {
    let ramps = chosen.contains(&"stages") || chosen.contains(&"rate_stages");
    if run_chosen("run_time") && !chosen.contains(&"run_time") && !ramps {
        load.run_time = run.run_time;
        chosen.push("run_time");
    }
    let open = chosen.contains(&"arrival_rate") || chosen.contains(&"rate_stages");
    if run_chosen("wait_time") && !chosen.contains(&"wait_time") && !open {
        load.wait_time = run.wait_time;
        chosen.push("wait_time");
    }
}

/// A plan before validation, from a flag or the config file.
#[derive(Debug)]
pub(crate) struct PlanDraft {
    pub name: Option<String>,
    /// `None`: the run's scenario.
    pub scenario: Option<PathBuf>,
    pub tasks: Vec<String>,
    pub start: Option<Duration>,
    pub vars: Vec<(String, String)>,
    pub load: LoadArgs,
}

/// Validates one plan of several.
fn plan_config(
    plan: PlanDraft,
    run: &RunArgs,
    chosen: &dyn Fn(&str) -> bool,
    from_file: bool,
) -> Result<PlanConfig, ConfigError> {
    if let Some(name) = &plan.name {
        check_plan_name(name).map_err(ConfigError::Plan)?;
    }
    let scenario = plan
        .scenario
        .or_else(|| run.scenario.clone())
        .ok_or_else(|| {
            ConfigError::Plan(if from_file {
                "no `scenario` in it or at the top of the file".to_owned()
            } else {
                "no component: give one in the plan or to `throng run`".to_owned()
            })
        })?;
    let mut vars = run.vars.clone();
    vars.extend(plan.vars);
    Ok(PlanConfig {
        name: plan.name,
        place: None,
        scenario,
        tasks: plan.tasks,
        start: plan.start.unwrap_or_default(),
        vars,
        load: load(plan.load, chosen)?,
    })
}

/// A plan's name goes into labels, thresholds and CSV cells: ASCII
/// letters, digits, `_`, `-` and `.` only.
fn check_plan_name(name: &str) -> Result<(), String> {
    let fits = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
    if name.is_empty() || !name.chars().all(fits) {
        return Err(format!(
            "`{name}` is not a plan name: use ASCII letters, digits, `_`, `-` and `.`"
        ));
    }
    Ok(())
}

fn first_line(text: &str) -> String {
    text.lines()
        .next()
        .unwrap_or_default()
        .trim_start_matches("error: ")
        .to_owned()
}

/// Validates one plan's load; `chosen` says which of its settings were
/// given (by clap id), so that two ways of setting the load are refused.
fn load(args: LoadArgs, chosen: &dyn Fn(&str) -> bool) -> Result<Load, ConfigError> {
    // The command line refuses these pairs itself; a file can bring one
    // half of a pair and a flag the other.
    for (one, other) in [
        ("stages", "users"),
        ("stages", "spawn_rate"),
        ("stages", "run_time"),
        ("stages", "arrival_rate"),
        ("stages", "rate_stages"),
        ("rate_stages", "run_time"),
        ("arrival_rate", "spawn_rate"),
        ("rate_stages", "spawn_rate"),
        ("arrival_rate", "wait_time"),
        ("rate_stages", "wait_time"),
        ("iterations", "shared_iterations"),
        ("iterations", "stages"),
        ("iterations", "arrival_rate"),
        ("iterations", "rate_stages"),
        ("shared_iterations", "stages"),
        ("shared_iterations", "arrival_rate"),
        ("shared_iterations", "rate_stages"),
    ] {
        if chosen(one) && chosen(other) {
            return Err(ConfigError::Conflict(flag(one), flag(other)));
        }
    }
    let (users, run_time) = if args.stages.is_empty() {
        (args.users, args.run_time)
    } else {
        let total = stages::total(&args.stages);
        if total.is_zero() || stages::peak(&args.stages) == 0 {
            return Err(ConfigError::EmptyStages);
        }
        (stages::peak(&args.stages), Some(total))
    };
    if users == 0 {
        return Err(ConfigError::NoUsers);
    }
    let arrival = if args.arrival_rate.is_none() && args.rate_stages.is_empty() {
        if args.max_users.is_some() || args.max_queue.is_some() {
            return Err(ConfigError::NeedsArrival);
        }
        None
    } else {
        // With rate stages the rate starts at `--arrival-rate`, or at 0.
        let rate = args.arrival_rate.unwrap_or(0.0);
        // A ramp may start from 0; a constant rate must be above it.
        let usable =
            rate.is_finite() && (rate > 0.0 || (rate == 0.0 && !args.rate_stages.is_empty()));
        if args.arrival_rate.is_some() && !usable {
            return Err(ConfigError::BadArrivalRate(rate));
        }
        let arrival = Arrival {
            rate,
            stages: args.rate_stages,
            max_users: args.max_users.unwrap_or(users.max(100)),
            max_queue: 0,
        };
        if arrival.peak() <= 0.0 {
            return Err(ConfigError::NoRate);
        }
        if stages_total(&arrival.stages).is_some_and(|total| total.is_zero()) {
            return Err(ConfigError::NoRate);
        }
        if arrival.max_users < users {
            return Err(ConfigError::MaxUsersBelowUsers(arrival.max_users, users));
        }
        let max_queue = args
            .max_queue
            .unwrap_or((arrival.peak() * 10.0).ceil() as usize);
        if max_queue == 0 {
            return Err(ConfigError::NoQueue);
        }
        Some(Arrival {
            max_queue,
            ..arrival
        })
    };
    let run_time = match &arrival {
        Some(arrival) if !arrival.stages.is_empty() => Some(
            arrival
                .stages
                .iter()
                .map(|stage| stage.duration)
                .sum::<Duration>(),
        ),
        _ => run_time,
    };
    let spawn_rate = args.spawn_rate.unwrap_or(f64::from(users));
    if !(spawn_rate.is_finite() && spawn_rate > 0.0) {
        return Err(ConfigError::BadSpawnRate(spawn_rate));
    }
    if run_time == Some(Duration::ZERO) {
        return Err(ConfigError::NoRunTime);
    }
    Ok(Load {
        users,
        spawn_rate,
        stages: args.stages,
        arrival,
        iterations: match (args.iterations, args.shared_iterations) {
            (Some(0), _) | (_, Some(0)) => return Err(ConfigError::NoIterations),
            (Some(count), _) => Some(IterationLimit::PerUser(count)),
            (None, Some(count)) => Some(IterationLimit::Shared(count)),
            (None, None) => None,
        },
        run_time,
        wait: args.wait_time,
    })
}

/// The rate stages' total time, if there are any.
fn stages_total(stages: &[crate::schedule::arrival::RateStage]) -> Option<Duration> {
    (!stages.is_empty()).then(|| stages.iter().map(|stage| stage.duration).sum())
}

/// The flag of a clap id, for messages.
fn flag(id: &str) -> &'static str {
    match id {
        "stages" => "`--stage` (`stages`)",
        "users" => "`--users`",
        "spawn_rate" => "`--spawn-rate`",
        "run_time" => "`--run-time`",
        "arrival_rate" => "`--arrival-rate`",
        "rate_stages" => "`--rate-stage` (`rate-stages`)",
        "wait_time" => "`--wait-time`",
        "iterations" => "`--iterations`",
        "shared_iterations" => "`--shared-iterations`",
        "max_users" => "`--max-users`",
        "max_queue" => "`--max-queue`",
        "tasks" => "`--tasks`",
        _ => "a setting",
    }
}

fn parse_host(text: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(text)
        .map_err(|err| ConfigError::BadHost(text.to_owned(), format!(" ({err})")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(ConfigError::BadHost(text.to_owned(), String::new()));
    }
    Ok(url)
}

/// Parses `500ms`, `30s`, `5m`, `1h30m`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim())
        .map_err(|err| format!("`{text}` is not a duration like `500ms`, `30s` or `1m30s` ({err})"))
}

/// Parses `1024`, `512KiB`, `10MiB`, `1GiB` (also `KB`, `MB`, `GB` as powers
/// of 1000).
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let bad = || format!("`{text}` is not a size like `512KiB` or `10MiB`");
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let number: u64 = number.parse().map_err(|_| bad())?;
    let scale: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kib" | "k" => 1 << 10,
        "mib" | "m" => 1 << 20,
        "gib" | "g" => 1 << 30,
        "kb" => 1000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        _ => return Err(bad()),
    };
    number.checked_mul(scale).ok_or_else(bad)
}

/// Parses `key=value`; the value may contain `=`.
pub fn parse_var(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("`{text}` is not `key=value`")),
    }
}

/// Parses `none`, a constant `2s`, or a uniform range `1s..3s`.
pub fn parse_wait(text: &str) -> Result<WaitTime, String> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("none") || text == "0" {
        return Ok(WaitTime::None);
    }
    match text.split_once("..") {
        Some((low, high)) => {
            let (low, high) = (parse_duration(low)?, parse_duration(high)?);
            if low > high {
                return Err(format!("`{text}`: the lower bound is above the upper one"));
            }
            Ok(WaitTime::Between(low, high))
        }
        None => Ok(WaitTime::Constant(parse_duration(text)?)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_and_decimal_units() {
        assert_eq!(parse_bytes("10MiB"), Ok(10 << 20));
        assert_eq!(parse_bytes("512KiB"), Ok(512 << 10));
        assert_eq!(parse_bytes("2kb"), Ok(2000));
        assert_eq!(parse_bytes("77"), Ok(77));
        assert!(parse_bytes("ten").is_err());
        assert!(parse_bytes("5 parsecs").is_err());
    }

    #[test]
    fn waits_parse_as_none_constant_or_range() {
        assert_eq!(parse_wait("none"), Ok(WaitTime::None));
        assert_eq!(
            parse_wait("2s"),
            Ok(WaitTime::Constant(Duration::from_secs(2)))
        );
        assert_eq!(
            parse_wait("1s..3s"),
            Ok(WaitTime::Between(
                Duration::from_secs(1),
                Duration::from_secs(3)
            ))
        );
        assert!(parse_wait("3s..1s").is_err());
    }

    #[test]
    fn vars_split_at_the_first_equals_sign() {
        assert_eq!(parse_var("token=a=b"), Ok(("token".into(), "a=b".into())));
        assert!(parse_var("=x").is_err());
        assert!(parse_var("novalue").is_err());
    }

    #[test]
    fn hosts_must_be_http_urls_with_a_host() {
        assert!(parse_host("http://127.0.0.1:8080").is_ok());
        assert!(parse_host("127.0.0.1:8080").is_err());
        assert!(parse_host("ftp://example.com").is_err());
        assert!(parse_host("http://").is_err());
        let port = parse_host("http://127.0.0.1:183300")
            .unwrap_err()
            .to_string();
        assert_eq!(
            port,
            "`--host http://127.0.0.1:183300` is not an http:// or https:// URL with a host name \
             (invalid port number)"
        );
    }

    fn run_config(line: &[&str]) -> Result<RunConfig, ConfigError> {
        use clap::{CommandFactory as _, FromArgMatches as _};
        let matches = crate::cli::Cli::command()
            .try_get_matches_from(line)
            .unwrap();
        let cli = crate::cli::Cli::from_arg_matches(&matches).unwrap();
        let crate::cli::Command::Run(args) = cli.command else {
            unreachable!("a run command line")
        };
        let run = matches.subcommand_matches("run").unwrap();
        let given = |id: &str| run.value_source(id) == Some(clap::parser::ValueSource::CommandLine);
        RunConfig::from_args(*args, &given)
    }

    #[test]
    fn the_docs_example_of_several_scenarios_gives_three_plans() {
        let docs = include_str!("../../../docs/config.md");
        let example = docs
            .split("```toml\n")
            .last()
            .and_then(|rest| rest.split("```").next())
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plans.toml");
        std::fs::write(&path, example).unwrap();
        let config = run_config(&["throng", "run", "--config", path.to_str().unwrap()]).unwrap();
        let minutes = |m: u64| Some(Duration::from_secs(m * 60));
        let plans: Vec<(&str, &[String], Duration, Option<Duration>)> = config
            .plans
            .iter()
            .map(|plan| {
                (
                    plan.name.as_deref().unwrap(),
                    plan.tasks.as_slice(),
                    plan.start,
                    plan.load.run_time,
                )
            })
            .collect();
        assert_eq!(plans[0].0, "browsers");
        assert_eq!(plans[0].3, minutes(5), "the file's run time applies");
        assert_eq!(plans[1].1, ["send_chat_message".to_owned()]);
        assert_eq!(plans[1].2, Duration::from_secs(30));
        assert_eq!(plans[1].3, minutes(4), "a plan's own run time wins");
        assert!(config.plans[1].load.arrival.is_some());
        assert_eq!(
            config.plans[2].load.iterations,
            Some(IterationLimit::PerUser(3))
        );
        assert!(
            config.plans[2]
                .vars
                .contains(&("review_weight".to_owned(), "1".to_owned()))
        );
        assert!(
            config
                .plans
                .iter()
                .all(|plan| plan.scenario.ends_with("scenarios/origin-chat"))
        );
        assert_eq!(config.thresholds[0].plan(), Some("chatters"));
    }

    #[test]
    fn plans_from_flags_take_the_run_time_they_can_use() {
        let config = run_config(&[
            "throng",
            "run",
            "a.wasm",
            "-t",
            "1m",
            "--wait-time",
            "2s",
            "--plan",
            "ramp: --stage 10s:5",
            "--plan",
            "open: --arrival-rate 3 b.wasm --start 5s",
        ])
        .unwrap();
        let (ramp, open) = (&config.plans[0], &config.plans[1]);
        assert_eq!(ramp.load.run_time, Some(Duration::from_secs(10)));
        assert_eq!(
            ramp.load.wait,
            Some(WaitTime::Constant(Duration::from_secs(2)))
        );
        assert_eq!(open.load.run_time, Some(Duration::from_secs(60)));
        assert_eq!(open.load.wait, None, "an arrival rate has no wait");
        assert_eq!(open.scenario, PathBuf::from("b.wasm"));
        assert_eq!(ramp.scenario, PathBuf::from("a.wasm"));
        let err = run_config(&["throng", "run", "a.wasm", "--plan", "x: --stage 1s:1 -u 3"])
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("`--plan x: --stage 1s:1 -u 3`: "), "{err}");
    }

    #[test]
    fn the_command_lines_run_time_keeps_the_files_plans() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plans.toml");
        std::fs::write(
            &path,
            "scenario = \"a.wasm\"\nrun-time = \"1m\"\n\
             [[scenarios]]\nname = \"x\"\nusers = 2\n\
             [[scenarios]]\nname = \"y\"\nusers = 1\nrun-time = \"5m\"\n",
        )
        .unwrap();
        let path = path.to_str().unwrap();
        let config = run_config(&["throng", "run", "--config", path, "-t", "10s"]).unwrap();
        let times: Vec<Option<Duration>> =
            config.plans.iter().map(|plan| plan.load.run_time).collect();
        let secs = |s| Some(Duration::from_secs(s));
        assert_eq!(times, [secs(10), secs(300)], "a plan's own run time wins");

        // The file's run time reaches plans given as flags too.
        let config = run_config(&["throng", "run", "--config", path, "--plan", "z: -u 1"]).unwrap();
        assert_eq!(config.plans.len(), 1);
        assert_eq!(config.plans[0].load.run_time, secs(60));

        // Other load flags make a run of one plan.
        let config = run_config(&["throng", "run", "--config", path, "-u", "3"]).unwrap();
        assert_eq!(config.plans.len(), 1);
        assert_eq!(config.plans[0].name, None);
    }

    #[test]
    fn a_plan_splits_its_flags_as_a_shell_does() {
        let config = run_config(&[
            "throng",
            "run",
            "a.wasm",
            "--plan",
            "a: -u 1 --var 'greeting=hello there' --start=2s",
        ])
        .unwrap();
        let plan = &config.plans[0];
        assert!(
            plan.vars
                .contains(&("greeting".to_owned(), "hello there".to_owned()))
        );
        assert_eq!(
            plan.place.as_deref(),
            Some("`--plan a: -u 1 --var 'greeting=hello there' --start=2s`")
        );
        let err = run_config(&["throng", "run", "a.wasm", "--plan", "a: --start -3s"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("`-3s` is not a duration"), "{err}");
        let err = run_config(&["throng", "run", "a.wasm", "--plan", "a: --var 'x=y"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("a quote is not closed"), "{err}");
        // Every plan names its component: no SCENARIO is needed.
        let config = run_config(&["throng", "run", "--plan", "a: b.wasm -u 1"]).unwrap();
        assert_eq!(config.plans[0].scenario, PathBuf::from("b.wasm"));
    }

    #[test]
    fn allowed_hosts_match_name_and_optional_port() {
        let http = HttpConfig {
            host: Some(Url::parse("http://127.0.0.1:8080/").unwrap()),
            allowed_hosts: vec!["localhost".into(), "api.test:9000".into()],
            timeout: Duration::from_secs(1),
            max_body: 1,
        };
        let allows = |url: &str| http.allows(&Url::parse(url).unwrap());
        assert!(allows("http://127.0.0.1:8080/x"));
        assert!(!allows("http://127.0.0.1:8081/x"));
        assert!(allows("http://localhost:1234/"));
        assert!(allows("http://api.test:9000/"));
        assert!(!allows("http://api.test:9001/"));
        assert!(!allows("http://169.254.169.254/"));
    }
}
