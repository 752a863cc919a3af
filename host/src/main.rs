//! The `throng` binary: parse the command line, set up logging, run the
//! command, print the error chain and pick the exit status.

/// `print!` that survives a closed stdout (`throng run ... | head`): the
/// text is lost, the run and its results files are not.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout(), $($arg)*);
    }};
}

/// `println!` that survives a closed stdout, as [`out!`] does.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

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
use crate::report::{PlanInfo, RunInfo};
use crate::runtime::vu::{Run, RunContext};
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

/// One plan, loaded and described, before the run's engine exists.
struct Loaded {
    config: config::PlanConfig,
    /// Its index in the run's distinct sources.
    source: usize,
    name: String,
    description: scenario::Description,
    /// The tasks it picks from: all of the scenario's, or those chosen.
    tasks: Vec<scenario::Task>,
}

async fn run(args: RunArgs, given: &dyn Fn(&str) -> bool) -> anyhow::Result<ExitCode> {
    let config = RunConfig::from_args(args, given)?;
    // Find an unwritable results file before the run, not after it.
    for path in [&config.json, &config.junit].into_iter().flatten() {
        error::check_writable(path)?;
    }
    let options = EngineOptions {
        max_memory: config.max_memory,
    };

    // Each component is loaded and compiled once, however many plans run
    // it; each plan is described with its own variables.
    let mut sources: Vec<scenario::Source> = Vec::new();
    let mut loaded: Vec<Loaded> = Vec::new();
    let mut footprint = runtime::Footprint::default();
    {
        let engine = runtime::engine(options, None)?;
        let linker = runtime::linker(&engine)?;
        let mut pres = Vec::new();
        for plan in &config.plans {
            // A mistake in one plan of several names the plan.
            let within = |err: scenario::LoadError| match &plan.place {
                Some(place) => anyhow::Error::from(err).context(place.clone()),
                None => err.into(),
            };
            let at = match sources.iter().position(|known| known.path == plan.scenario) {
                Some(at) => at,
                None => {
                    let source = scenario::load(&plan.scenario).map_err(within)?;
                    let component = scenario::compile(&engine, &source).map_err(within)?;
                    let pre =
                        scenario::prepare(&linker, &component, &source.path).map_err(within)?;
                    pres.push(pre);
                    sources.push(source);
                    sources.len() - 1
                }
            };
            let (description, measured) =
                scenario::describe(&pres[at], &sources[at].path, &plan.vars)
                    .await
                    .map_err(within)?;
            footprint.memories = footprint.memories.max(measured.memories);
            footprint.tables = footprint.tables.max(measured.tables);
            footprint.table_elements = footprint.table_elements.max(measured.table_elements);
            let name = plan
                .name
                .clone()
                .unwrap_or_else(|| description.name.clone());
            let tasks = chosen_tasks(&description, &plan.tasks, plan.place.as_deref())?;
            loaded.push(Loaded {
                config: plan.clone(),
                source: at,
                name,
                description,
                tasks,
            });
        }
    }
    let names: Vec<String> = loaded.iter().map(|plan| plan.name.clone()).collect();
    for (i, name) in names.iter().enumerate() {
        if let Some(first) = loaded[..i].iter().find(|plan| plan.name == *name) {
            return Err(BadInput(format!(
                "{} and {} are both named `{name}`; give each its own name (`--plan NAME: \
                 ...`, or `name` in each `[[scenarios]]`)",
                first.config.place.as_deref().unwrap_or("a plan"),
                loaded[i].config.place.as_deref().unwrap_or("another")
            ))
            .into());
        }
    }
    for threshold in &config.thresholds {
        if let Some(plan) = threshold.plan()
            && !names.iter().any(|name| name == plan)
        {
            return Err(BadInput(format!(
                "threshold `{}`: the run has no plan `{plan}` (it has {})",
                threshold.expression,
                names.join(", ")
            ))
            .into());
        }
    }

    let instances = config
        .plans
        .iter()
        .map(|plan| plan.load.instances())
        .fold(0u32, u32::saturating_add);
    for warning in runtime::limits::check(instances) {
        tracing::warn!("{warning}");
    }
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
    let linker = runtime::linker(&engine)?;
    let mut pres = Vec::with_capacity(sources.len());
    for source in &sources {
        let component = scenario::compile(&engine, source)?;
        pres.push(scenario::prepare(&linker, &component, &source.path)?);
    }

    let stats = Arc::new(Stats::new(names.clone()));
    let run = Arc::new(Run::new(
        stats.clone(),
        config.http.clone(),
        config.cpu_budget,
    ));
    let tls = imports::http::tls_config().context("failed to set up TLS")?;
    let mut plans = Vec::with_capacity(loaded.len());
    for (i, plan) in loaded.iter().enumerate() {
        let load = &plan.config.load;
        let schedule = Arc::new(Plan {
            name: plan.name.clone(),
            start: plan.config.start,
            users: load.users,
            spawn_rate: load.spawn_rate,
            run_time: load.run_time,
            tasks: plan.tasks.clone(),
            wait: load.wait.unwrap_or(plan.description.wait),
            stages: load.stages.clone(),
            arrival: load.arrival.clone(),
            iterations: load.iterations,
        });
        let (phase, phase_rx) = watch::channel(Phase::Running);
        let mut context = RunContext::new(run.clone(), i, plan.config.vars.clone(), phase_rx);
        context.corrects_omission = load.arrival.is_some();
        if load.arrival.is_some() {
            // Counted from the start, so a plan the run stopped before it
            // began still shows none due.
            context.stats.count_iterations();
        }
        let users = Arc::new(Users {
            pre: pres[plan.source].clone(),
            run: Arc::new(context),
            picker: Picker::new(schedule.tasks.iter().map(|task| task.weight)),
            tls: tls.clone(),
            shared_left: std::sync::atomic::AtomicU64::new(match schedule.iterations {
                Some(schedule::IterationLimit::Shared(count)) => count,
                _ => 0,
            }),
            queue: schedule
                .arrival
                .as_ref()
                .map(|arrival| schedule::arrival::Queue::new(arrival.max_queue)),
            plan: schedule,
        });
        plans.push((users, phase));
    }
    let host = config.http.host.as_ref().map(ToString::to_string);
    let against = host
        .as_ref()
        .map(|host| format!(", against {host}"))
        .unwrap_or_default();
    if let [(users, _)] = plans.as_slice() {
        let plan = &loaded[0];
        let start = if plan.config.start.is_zero() {
            String::new()
        } else {
            format!(", from {}", humantime::format_duration(plan.config.start))
        };
        outln!(
            "running `{}` {}{}{start}: {}{against}",
            plan.description.name,
            plan.description.version,
            tasks_note(plan),
            load_text(&users.plan)
        );
    } else {
        outln!("running {} plans at once{against}:", plans.len());
        for ((users, _), plan) in plans.iter().zip(&loaded) {
            outln!(
                "  {}: `{}` {}{}, from {}: {}",
                plan.name,
                plan.description.name,
                plan.description.version,
                tasks_note(plan),
                humantime::format_duration(plan.config.start),
                load_text(&users.plan)
            );
        }
    }
    // The run's end, when every plan has one.
    let run_time = loaded
        .iter()
        .map(|plan| Some(plan.config.start + plan.config.load.run_time?))
        .collect::<Option<Vec<Duration>>>()
        .and_then(|ends| ends.into_iter().max());

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
        .then(|| {
            let starts = loaded
                .iter()
                .map(|plan| (plan.name.clone(), plan.config.start))
                .collect();
            tokio::spawn(watch_thresholds(
                run.clone(),
                config.thresholds.clone(),
                starts,
            ))
        });
    let started_at = SystemTime::now();
    let live = tokio::spawn(report::console::live(run.clone(), run_time));
    let history = history.map(|history| tokio::spawn(report::csv::record(run.clone(), history)));
    let outcome = schedule::execute(plans.clone(), run.clone(), config.stop_timeout)
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
    let info = run_info(
        &loaded, &plans, &sources, host, &run, started_at, run_time, &outcome,
    );
    let verdicts = thresholds::evaluate(&config.thresholds, &snapshot);
    out!("{}", report::console::summary(&info, &snapshot));
    out!("{}", report::console::thresholds(&verdicts));
    if let Some(path) = &config.json {
        report::json::write(path, &info, &snapshot, &verdicts)?;
        outln!("results written to {}", path.display());
    }
    if let Some(path) = &config.junit {
        report::junit::write(path, &info, &verdicts)?;
        outln!("JUnit report written to {}", path.display());
    }
    if let Some(prefix) = &config.csv {
        report::csv::write(prefix, &snapshot)?;
        outln!("CSV files written to {}_*.csv", prefix.display());
    }
    // A guest revealed a configuration mistake: the results so far are
    // shown, and the run ends as bad input.
    if let Outcome::Misconfigured(message) = outcome {
        return Err(BadInput(message).into());
    }
    let failed = verdicts.iter().any(|verdict| !verdict.passed);
    if let Outcome::Halted(message) = &outcome {
        outln!("stopped early: {message}");
    }
    Ok(ExitCode::from(match outcome {
        Outcome::Halted(_) => EXIT_THRESHOLDS,
        Outcome::Completed if failed => EXIT_THRESHOLDS,
        Outcome::Completed => EXIT_OK,
        _ => EXIT_INTERRUPTED,
    }))
}

/// The tasks a plan picks from: the scenario's, or the `--tasks` chosen of
/// them, with their weights.
fn chosen_tasks(
    description: &scenario::Description,
    wanted: &[String],
    place: Option<&str>,
) -> Result<Vec<scenario::Task>, BadInput> {
    if wanted.is_empty() {
        return Ok(description.tasks.clone());
    }
    let mut tasks = Vec::with_capacity(wanted.len());
    for name in wanted {
        let Some(task) = description.tasks.iter().find(|task| task.name == *name) else {
            let known: Vec<&str> = description.tasks.iter().map(|t| t.name.as_str()).collect();
            let whose = place.map(|place| format!("{place}: ")).unwrap_or_default();
            return Err(BadInput(format!(
                "{whose}`--tasks`: scenario `{}` has no task `{name}`; its tasks are {}",
                description.name,
                known.join(", ")
            )));
        };
        if !tasks
            .iter()
            .any(|known: &scenario::Task| known.name == *name)
        {
            tasks.push(task.clone());
        }
    }
    Ok(tasks)
}

/// `, tasks a, b` when a plan runs only some of its scenario's tasks.
fn tasks_note(plan: &Loaded) -> String {
    if plan.tasks.len() == plan.description.tasks.len() {
        return String::new();
    }
    let names: Vec<&str> = plan.tasks.iter().map(|task| task.name.as_str()).collect();
    format!(" (tasks {})", names.join(", "))
}

/// A plan's load in words: `50 users at 10/s, for 1m, wait 1s`.
fn load_text(plan: &Plan) -> String {
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
    format!(
        "{load}, {}, wait {}",
        match (plan.run_time, plan.iterations) {
            (Some(t), Some(limit)) => {
                format!(
                    "{} within {}",
                    limit_text(limit),
                    humantime::format_duration(t)
                )
            }
            (Some(t), None) => format!("for {}", humantime::format_duration(t)),
            (None, Some(limit)) => limit_text(limit),
            (None, None) => "until Ctrl-C".to_owned(),
        },
        if plan.arrival.is_some() {
            "none".to_owned()
        } else {
            plan.wait.to_string()
        },
    )
}

/// `3 tasks a user`, `1 task in all`.
fn limit_text(limit: schedule::IterationLimit) -> String {
    let (count, whose) = match limit {
        schedule::IterationLimit::PerUser(count) => (count, "a user"),
        schedule::IterationLimit::Shared(count) => (count, "in all"),
    };
    let tasks = if count == 1 { "task" } else { "tasks" };
    format!("{count} {tasks} {whose}")
}

/// What the reports say of the run besides its figures.
#[allow(clippy::too_many_arguments)]
fn run_info(
    loaded: &[Loaded],
    plans: &[(Arc<Users>, watch::Sender<Phase>)],
    sources: &[scenario::Source],
    host: Option<String>,
    run: &Run,
    started_at: SystemTime,
    run_time: Option<Duration>,
    outcome: &Outcome,
) -> RunInfo {
    let distinct = |field: &dyn Fn(&Loaded) -> String| {
        let mut all: Vec<String> = Vec::new();
        for plan in loaded {
            let value = field(plan);
            if !all.contains(&value) {
                all.push(value);
            }
        }
        all.join(" + ")
    };
    let single = (plans.len() == 1).then(|| &plans[0].0.plan);
    let peak = run.peak_users.load(std::sync::atomic::Ordering::Relaxed);
    RunInfo {
        scenario: distinct(&|plan| plan.description.name.clone()),
        version: distinct(&|plan| plan.description.version.clone()),
        source: sources
            .iter()
            .map(|source| source.path.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
        host,
        // The most at once: the arrival-rate pool may have grown past
        // `--users`.
        users: match single {
            Some(plan) => plan.users.max(peak),
            None => peak,
        },
        spawn_rate: plans.iter().map(|(users, _)| users.plan.spawn_rate).sum(),
        run_time,
        stages: single.map(|plan| plan.stages.clone()).unwrap_or_default(),
        started_at,
        outcome: match outcome {
            Outcome::Completed => "completed",
            Outcome::Interrupted { forced: false } => "interrupted",
            Outcome::Interrupted { forced: true } => "aborted",
            Outcome::Misconfigured(_) => "misconfigured",
            Outcome::Halted(_) => "halted",
        },
        plans: loaded
            .iter()
            .zip(plans)
            .map(|(plan, (users, _))| PlanInfo {
                name: plan.name.clone(),
                source: sources[plan.source].path.display().to_string(),
                tasks: plan.tasks.iter().map(|task| task.name.clone()).collect(),
                start: plan.config.start,
                load: load_text(&users.plan),
                users: users
                    .run
                    .plan_users()
                    .peak
                    .load(std::sync::atomic::Ordering::Relaxed),
            })
            .collect(),
    }
}

/// Judges the thresholds marked `abort` every second, and stops the run
/// when one is crossed.
async fn watch_thresholds(
    run: Arc<Run>,
    thresholds: Vec<thresholds::Threshold>,
    plan_starts: Vec<(String, Duration)>,
) {
    let mut ticker = tokio::time::interval(std::time::Duration::from_secs(1));
    // The first tick is at once; the first judgement a second in.
    ticker.tick().await;
    loop {
        ticker.tick().await;
        let snapshot = run.stats.snapshot();
        if let Some(verdict) =
            thresholds::crossed(&thresholds, &snapshot, snapshot.elapsed, &plan_starts)
        {
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

async fn inspect(args: InspectArgs) -> anyhow::Result<ExitCode> {
    let source = scenario::load(&args.scenario)?;
    let options = EngineOptions {
        max_memory: 64 << 20,
    };
    let (description, footprint, imports) = describe(&source, options, &args.vars).await?;
    let total: u32 = description.tasks.iter().map(|task| task.weight).sum();
    outln!("scenario   {} {}", description.name, description.version);
    if !description.description.is_empty() {
        outln!("           {}", description.description);
    }
    outln!(
        "file       {} ({} bytes)",
        source.wasm.display(),
        source.bytes.len()
    );
    outln!("wait       {}", description.wait);
    for (i, task) in description.tasks.iter().enumerate() {
        let label = if i == 0 { "tasks" } else { "" };
        let share = f64::from(task.weight) * 100.0 / f64::from(total);
        outln!(
            "{label:<10} {} (weight {}, {share:.1}%)",
            task.name,
            task.weight
        );
    }
    for (i, import) in imports.iter().enumerate() {
        let label = if i == 0 { "imports" } else { "" };
        outln!("{label:<10} {import}");
    }
    outln!(
        "footprint  {} memories, {} tables per user",
        footprint.memories,
        footprint.tables
    );
    Ok(ExitCode::from(EXIT_OK))
}
