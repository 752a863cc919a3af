//! The `throng` binary: parse the command line, set up logging, run the
//! command, print the error chain and pick the exit status.

mod cli;
mod config;
mod error;
mod imports;
mod merge;
mod report;
mod runtime;
mod scenario;
mod schedule;
mod stats;
mod telemetry;
mod thresholds;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use clap::parser::ValueSource;
use clap::{CommandFactory as _, FromArgMatches as _};
use tokio::sync::watch;

use crate::cli::{Cli, Command, InspectArgs, RunArgs};
use crate::config::RunConfig;
use crate::error::{BadInput, EXIT_INTERRUPTED, EXIT_OK, EXIT_THRESHOLDS};
use crate::report::RunInfo;
use crate::runtime::vu::RunContext;
use crate::runtime::{EngineOptions, PoolSize};
use crate::schedule::{Outcome, Phase, Picker, Plan, Users};
use crate::stats::Stats;

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|err| err.exit());
    // Which `run` flags the command line gave, so a config file fills the rest.
    let given = |id: &str| {
        matches
            .subcommand_matches("run")
            .and_then(|run| run.value_source(id))
            == Some(ValueSource::CommandLine)
    };
    telemetry::init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: failed to start the async runtime: {err}");
            return ExitCode::from(error::EXIT_ERROR);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Run(args) => run(*args, &given).await,
            Command::Inspect(args) => inspect(args).await,
            Command::Merge(args) => merge::run(args),
        }
    });
    // Users cut at an abort may still hold the runtime; do not wait for them.
    runtime.shutdown_background();
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err}");
            for cause in err.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            error::exit_code(&err)
        }
    }
}

/// Compiles the scenario with an engine without a pool, describes it and
/// measures what one instance needs.
async fn describe(
    source: &scenario::Source,
    options: EngineOptions,
    vars: &[(String, String)],
) -> anyhow::Result<(scenario::Description, runtime::Footprint, Vec<String>)> {
    let engine = runtime::engine(options, None)?;
    let component = scenario::compile(&engine, source)?;
    let imports = component
        .component_type()
        .imports(&engine)
        .map(|(name, _)| name.to_owned())
        .collect();
    let linker = runtime::linker(&engine)?;
    let pre = scenario::prepare(&linker, &component, &source.path)?;
    let (description, footprint) = scenario::describe(&pre, &source.path, vars).await?;
    Ok((description, footprint, imports))
}

async fn run(args: RunArgs, given: &dyn Fn(&str) -> bool) -> anyhow::Result<ExitCode> {
    let config = RunConfig::from_args(args, given)?;
    // Find an unwritable results file before the run, not after it.
    for path in [&config.json, &config.junit].into_iter().flatten() {
        error::check_writable(path)?;
    }
    let source = scenario::load(&config.scenario)?;
    let options = EngineOptions {
        max_memory: config.max_memory,
    };
    let (description, footprint, _) = describe(&source, options, &config.vars).await?;
    for warning in runtime::limits::check(pool_instances(&config)) {
        tracing::warn!("{warning}");
    }

    let instances = pool_instances(&config);
    let engine = runtime::engine(
        options,
        Some(PoolSize {
            instances,
            footprint,
        }),
    )
    .map_err(|err| {
        // Nearly always the reservation for that many users failing.
        BadInput(format!(
            "cannot set up {instances} users' instances ({err:#}); lower the user count \
             (`--users`, `--stage`, `--max-users`) or `--max-memory`"
        ))
    })?;
    let component = scenario::compile(&engine, &source)?;
    let linker = runtime::linker(&engine)?;
    let pre = scenario::prepare(&linker, &component, &source.path)?;
    let plan = Arc::new(Plan {
        users: config.users,
        spawn_rate: config.spawn_rate,
        run_time: config.run_time,
        stop_timeout: config.stop_timeout,
        tasks: description.tasks.clone(),
        wait: config.wait.unwrap_or(description.wait),
        stages: config.stages.clone(),
        arrival: config.arrival.clone(),
        iterations: config.iterations,
    });

    let stats = Arc::new(Stats::new());
    let (phase, phase_rx) = watch::channel(Phase::Running);
    let mut context = RunContext::new(
        stats.clone(),
        config.http.clone(),
        config.vars.clone(),
        phase_rx,
        config.cpu_budget,
    );
    context.corrects_omission = config.arrival.is_some();
    let run = Arc::new(context);
    let users = Arc::new(Users {
        pre,
        run: run.clone(),
        plan: plan.clone(),
        picker: Picker::new(plan.tasks.iter().map(|task| task.weight)),
        tls: imports::http::tls_config().context("failed to set up TLS")?,
        shared_left: std::sync::atomic::AtomicU64::new(match plan.iterations {
            Some(schedule::IterationLimit::Shared(count)) => count,
            _ => 0,
        }),
        queue: plan
            .arrival
            .as_ref()
            .map(|arrival| schedule::arrival::Queue::new(arrival.max_queue)),
    });
    let host = config.http.host.as_ref().map(ToString::to_string);
    let load = if let Some(arrival) = &plan.arrival {
        let rates: Vec<String> = arrival
            .stages
            .iter()
            .map(|stage| {
                format!(
                    " {}:{}",
                    humantime::format_duration(stage.duration),
                    stage.rate
                )
            })
            .collect();
        format!(
            "{}/s arrival rate{} on {} growing to {}",
            arrival.rate,
            rates.concat(),
            report::console::users(plan.users),
            arrival.max_users
        )
    } else if plan.stages.is_empty() {
        format!(
            "{} at {}/s",
            report::console::users(plan.users),
            plan.spawn_rate
        )
    } else {
        let stages: Vec<String> = plan.stages.iter().map(ToString::to_string).collect();
        format!("stages {}", stages.join(" "))
    };
    println!(
        "running `{}` {}: {load}, {}, wait {}{}",
        description.name,
        description.version,
        match (plan.run_time, plan.iterations) {
            (Some(t), _) => format!("for {}", humantime::format_duration(t)),
            (None, Some(schedule::IterationLimit::PerUser(n))) => format!("{n} tasks a user"),
            (None, Some(schedule::IterationLimit::Shared(n))) => format!("{n} tasks in all"),
            (None, None) => "until Ctrl-C".to_owned(),
        },
        if plan.arrival.is_some() {
            "none".to_owned()
        } else {
            plan.wait.to_string()
        },
        host.as_ref()
            .map(|host| format!(", against {host}"))
            .unwrap_or_default(),
    );

    let history = match &config.csv {
        Some(prefix) => Some(
            report::csv::History::create(prefix)
                .map_err(|err| BadInput(format!("cannot write the CSV history: {err:#}")))?,
        ),
        None => None,
    };
    let metrics = match config.metrics_addr {
        Some(addr) => {
            let listener = report::prometheus::bind(addr).await.map_err(|err| {
                BadInput(format!(
                    "cannot serve metrics on `--metrics-addr {addr}`: {err}"
                ))
            })?;
            Some(tokio::spawn(report::prometheus::serve(
                listener,
                run.clone(),
            )))
        }
        None => None,
    };
    let watcher = config
        .thresholds
        .iter()
        .any(|threshold| threshold.abort_after.is_some())
        .then(|| tokio::spawn(watch_thresholds(run.clone(), config.thresholds.clone())));
    let started_at = SystemTime::now();
    let live = tokio::spawn(report::console::live(run.clone(), plan.run_time));
    let history = history.map(|history| tokio::spawn(report::csv::record(run.clone(), history)));
    let outcome = schedule::execute(users, phase)
        .await
        .context("failed to watch for Ctrl-C")?;
    live.abort();
    for task in [history, metrics, watcher].into_iter().flatten() {
        task.abort();
    }
    report::console::end_live();
    // Streams the stop cut are counted by their readers as they notice.
    run.readers.settle(Duration::from_secs(2)).await;

    let snapshot = stats.snapshot();
    let info = RunInfo {
        scenario: description.name.clone(),
        version: description.version.clone(),
        source: source.path.display().to_string(),
        host,
        // The most at once: the arrival-rate pool may have grown past
        // `--users`.
        users: plan
            .users
            .max(run.peak_users.load(std::sync::atomic::Ordering::Relaxed)),
        spawn_rate: plan.spawn_rate,
        run_time: plan.run_time,
        stages: plan.stages.clone(),
        started_at,
        outcome: match outcome {
            Outcome::Completed => "completed",
            Outcome::Interrupted { forced: false } => "interrupted",
            Outcome::Interrupted { forced: true } => "aborted",
            Outcome::Misconfigured(_) => "misconfigured",
            Outcome::Halted(_) => "halted",
        },
    };
    let verdicts = thresholds::evaluate(&config.thresholds, &snapshot);
    print!("{}", report::console::summary(&info, &snapshot));
    print!("{}", report::console::thresholds(&verdicts));
    if let Some(path) = &config.json {
        report::json::write(path, &info, &snapshot, &verdicts)?;
        println!("results written to {}", path.display());
    }
    if let Some(path) = &config.junit {
        report::junit::write(path, &info, &verdicts)?;
        println!("JUnit report written to {}", path.display());
    }
    if let Some(prefix) = &config.csv {
        report::csv::write(prefix, &snapshot)?;
        println!("CSV files written to {}_*.csv", prefix.display());
    }
    // A guest revealed a configuration mistake: the results so far are
    // shown, and the run ends as bad input.
    if let Outcome::Misconfigured(message) = outcome {
        return Err(BadInput(message).into());
    }
    let failed = verdicts.iter().any(|verdict| !verdict.passed);
    if let Outcome::Halted(message) = &outcome {
        println!("stopped early: {message}");
    }
    Ok(ExitCode::from(match outcome {
        Outcome::Halted(_) => EXIT_THRESHOLDS,
        Outcome::Completed if failed => EXIT_THRESHOLDS,
        Outcome::Completed => EXIT_OK,
        _ => EXIT_INTERRUPTED,
    }))
}

/// Judges the thresholds marked `abort` every second, and stops the run
/// when one is crossed.
async fn watch_thresholds(run: Arc<RunContext>, thresholds: Vec<thresholds::Threshold>) {
    let mut ticker = tokio::time::interval(std::time::Duration::from_secs(1));
    // The first tick is at once; the first judgement a second in.
    ticker.tick().await;
    loop {
        ticker.tick().await;
        let snapshot = run.stats.snapshot();
        if let Some(verdict) = thresholds::crossed(&thresholds, &snapshot, snapshot.elapsed) {
            let value = verdict.value.unwrap_or_default();
            let message = format!(
                "threshold `{}` crossed at {:.0} s ({value})",
                verdict.expression,
                snapshot.elapsed.as_secs_f64()
            );
            tracing::warn!(threshold = %verdict.expression, %value, "threshold crossed; stopping the run");
            run.halt.send_replace(Some(message));
            return;
        }
    }
}

/// Instances the pool holds. With stages, users lowered by one stage finish
/// their task while the next may raise the count again: room for a tenth
/// more (at least 10) covers them.
fn pool_instances(config: &RunConfig) -> u32 {
    if let Some(arrival) = &config.arrival {
        arrival.max_users
    } else if config.stages.is_empty() {
        config.users
    } else {
        config.users.saturating_add((config.users / 10).max(10))
    }
}

async fn inspect(args: InspectArgs) -> anyhow::Result<ExitCode> {
    let source = scenario::load(&args.scenario)?;
    let options = EngineOptions {
        max_memory: 64 << 20,
    };
    let (description, footprint, imports) = describe(&source, options, &args.vars).await?;
    let total: u32 = description.tasks.iter().map(|task| task.weight).sum();
    println!("scenario   {} {}", description.name, description.version);
    if !description.description.is_empty() {
        println!("           {}", description.description);
    }
    println!(
        "file       {} ({} bytes)",
        source.wasm.display(),
        source.bytes.len()
    );
    println!("wait       {}", description.wait);
    for (i, task) in description.tasks.iter().enumerate() {
        let label = if i == 0 { "tasks" } else { "" };
        let share = f64::from(task.weight) * 100.0 / f64::from(total);
        println!(
            "{label:<10} {} (weight {}, {share:.1}%)",
            task.name, task.weight
        );
    }
    for (i, import) in imports.iter().enumerate() {
        let label = if i == 0 { "imports" } else { "" };
        println!("{label:<10} {import}");
    }
    println!(
        "footprint  {} memories, {} tables per user",
        footprint.memories, footprint.tables
    );
    Ok(ExitCode::from(EXIT_OK))
}
