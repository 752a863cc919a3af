//! The config file (`--config throng.toml`): every `run` flag as a key of
//! the same name, and the plan's stages as tables. A flag given on the
//! command line wins over the file. Paths in the file are relative to the
//! file's folder. Keys are documented, with an example per model, in
//! `docs/config.md`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::PlanDraft;
use crate::cli::{LoadArgs, RunArgs};
use crate::schedule::Stage;
use crate::schedule::arrival::RateStage;

/// The file as written: each key optional, unknown keys refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct FileConfig {
    scenario: Option<PathBuf>,
    host: Option<String>,
    allow_host: Option<Vec<String>>,
    users: Option<u32>,
    spawn_rate: Option<f64>,
    run_time: Option<String>,
    wait_time: Option<String>,
    stop_timeout: Option<String>,
    vars: Option<BTreeMap<String, toml::Value>>,
    json: Option<PathBuf>,
    junit: Option<PathBuf>,
    csv: Option<PathBuf>,
    metrics_addr: Option<String>,
    thresholds: Option<Vec<String>>,
    stages: Option<Vec<StageTable>>,
    iterations: Option<u64>,
    shared_iterations: Option<u64>,
    arrival_rate: Option<f64>,
    rate_stages: Option<Vec<RateStageTable>>,
    max_users: Option<u32>,
    max_queue: Option<usize>,
    timeout: Option<String>,
    max_body_size: Option<String>,
    max_memory: Option<String>,
    cpu_budget: Option<String>,
    tasks: Option<Vec<String>>,
    scenarios: Option<Vec<ScenarioTable>>,
}

/// One `[[scenarios]]` table: a plan of several.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct ScenarioTable {
    name: Option<String>,
    scenario: Option<PathBuf>,
    tasks: Option<Vec<String>>,
    start: Option<String>,
    vars: Option<BTreeMap<String, toml::Value>>,
    users: Option<u32>,
    spawn_rate: Option<f64>,
    run_time: Option<String>,
    wait_time: Option<String>,
    stages: Option<Vec<StageTable>>,
    iterations: Option<u64>,
    shared_iterations: Option<u64>,
    arrival_rate: Option<f64>,
    rate_stages: Option<Vec<RateStageTable>>,
    max_users: Option<u32>,
    max_queue: Option<usize>,
}

/// The load keys, from the top of the file or from a `[[scenarios]]` table.
#[derive(Debug, Default)]
struct LoadKeys {
    users: Option<u32>,
    spawn_rate: Option<f64>,
    run_time: Option<String>,
    wait_time: Option<String>,
    stages: Option<Vec<StageTable>>,
    iterations: Option<u64>,
    shared_iterations: Option<u64>,
    arrival_rate: Option<f64>,
    rate_stages: Option<Vec<RateStageTable>>,
    max_users: Option<u32>,
    max_queue: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StageTable {
    duration: String,
    users: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RateStageTable {
    duration: String,
    rate: f64,
}

/// A plan the file gave: where it is (`[[scenarios]] #2 (`chat`)`), the
/// plan, and which of its load settings it gave (by clap id).
pub type FilePlan = (String, PlanDraft, Vec<&'static str>);

/// Reads `path` and fills in every field of `args` that the command line
/// did not give (`given` says which it gave, by clap id). Returns the ids
/// it filled and the file's `[[scenarios]]`; the error names the file and
/// the key.
pub fn apply(
    path: &Path,
    args: &mut RunArgs,
    given: &dyn Fn(&str) -> bool,
) -> Result<(Vec<&'static str>, Vec<FilePlan>), String> {
    let mut filled = Vec::new();
    let at = |what: String| format!("config file `{}`: {what}", path.display());
    let text = std::fs::read_to_string(path).map_err(|err| at(format!("cannot read it: {err}")))?;
    let file: FileConfig = toml::from_str(&text).map_err(|err| at(err.to_string()))?;
    let folder = path.parent().unwrap_or(Path::new(""));
    let key = |name: &str, err: String| at(format!("`{name}`: {err}"));
    let duration =
        |name: &str, text: &str| crate::config::parse_duration(text).map_err(|err| key(name, err));
    let bytes =
        |name: &str, text: &str| crate::config::parse_bytes(text).map_err(|err| key(name, err));

    // Each key fills the argument of the same name unless the command line
    // gave it.
    macro_rules! fill {
        ($id:literal, $field:ident, $value:expr) => {
            if !given($id) {
                if let Some(value) = $value {
                    args.$field = value;
                    filled.push($id);
                }
            }
        };
    }
    fill!(
        "scenario",
        scenario,
        file.scenario.map(|p| Some(folder.join(p)))
    );
    fill!("host", host, file.host.map(Some));
    fill!("allow_hosts", allow_hosts, file.allow_host);
    fill!("tasks", tasks, file.tasks.clone());
    let top = LoadKeys {
        users: file.users,
        spawn_rate: file.spawn_rate,
        run_time: file.run_time,
        wait_time: file.wait_time,
        stages: file.stages,
        iterations: file.iterations,
        shared_iterations: file.shared_iterations,
        arrival_rate: file.arrival_rate,
        rate_stages: file.rate_stages,
        max_users: file.max_users,
        max_queue: file.max_queue,
    };
    let plans = file.scenarios.unwrap_or_default();
    if !plans.is_empty() && file.tasks.is_some() {
        return Err(at(
            "`tasks` picks the tasks of a run of one plan; with `[[scenarios]]`, give it in \
             each"
                .to_owned(),
        ));
    }
    if !plans.is_empty()
        && let Some(name) = top.one_plan_key()
    {
        return Err(at(format!(
            "`{name}` sets the load of a run of one plan; with `[[scenarios]]`, give it in \
             each (only `run-time` and `wait-time` apply to all)"
        )));
    }
    fill_load(top, &mut args.load, given, &mut filled, &key)?;
    if let Some(text) = &file.stop_timeout {
        fill!(
            "stop_timeout",
            stop_timeout,
            Some(duration("stop-timeout", text)?)
        );
    }
    if let Some(vars) = file.vars {
        // The command line's variables come after the file's, so they win.
        let mut all = vars_of(vars).map_err(|err| key("vars", err))?;
        all.append(&mut args.vars);
        args.vars = all;
    }
    fill!("json", json, file.json.map(|p| Some(folder.join(p))));
    fill!("junit", junit, file.junit.map(|p| Some(folder.join(p))));
    fill!("csv", csv, file.csv.map(|p| Some(folder.join(p))));
    if let Some(text) = &file.metrics_addr {
        let addr = text.parse().map_err(|err| {
            key(
                "metrics-addr",
                format!("`{text}` is not an address like `127.0.0.1:9464` ({err})"),
            )
        })?;
        fill!("metrics_addr", metrics_addr, Some(Some(addr)));
    }
    if let Some(expressions) = file.thresholds {
        let mut thresholds = Vec::with_capacity(expressions.len());
        for expression in expressions {
            let threshold = crate::thresholds::parse(&expression)
                .map_err(|err| key("thresholds", format!("`{expression}`: {err}")))?;
            thresholds.push(threshold);
        }
        // The command line's thresholds are judged as well as the file's.
        thresholds.append(&mut args.thresholds);
        args.thresholds = thresholds;
    }
    if let Some(text) = &file.timeout {
        fill!("timeout", timeout, Some(duration("timeout", text)?));
    }
    if let Some(text) = &file.max_body_size {
        fill!(
            "max_body_size",
            max_body_size,
            Some(bytes("max-body-size", text)?)
        );
    }
    if let Some(text) = &file.max_memory {
        fill!("max_memory", max_memory, Some(bytes("max-memory", text)?));
    }
    if let Some(text) = &file.cpu_budget {
        fill!(
            "cpu_budget",
            cpu_budget,
            Some(duration("cpu-budget", text)?)
        );
    }

    let mut drafts = Vec::with_capacity(plans.len());
    for (i, table) in plans.into_iter().enumerate() {
        let place = match &table.name {
            Some(name) => format!("[[scenarios]] #{} (`{name}`)", i + 1),
            None => format!("[[scenarios]] #{}", i + 1),
        };
        let key = |name: &str, err: String| at(format!("{place}: `{name}`: {err}"));
        let mut load = crate::cli::PlanArgs::defaults().load;
        let mut chosen = Vec::new();
        let keys = LoadKeys {
            users: table.users,
            spawn_rate: table.spawn_rate,
            run_time: table.run_time,
            wait_time: table.wait_time,
            stages: table.stages,
            iterations: table.iterations,
            shared_iterations: table.shared_iterations,
            arrival_rate: table.arrival_rate,
            rate_stages: table.rate_stages,
            max_users: table.max_users,
            max_queue: table.max_queue,
        };
        fill_load(keys, &mut load, &|_| false, &mut chosen, &key)?;
        let start = match &table.start {
            Some(text) => {
                Some(crate::config::parse_duration(text).map_err(|err| key("start", err))?)
            }
            None => None,
        };
        let vars = match table.vars {
            Some(vars) => vars_of(vars).map_err(|err| key("vars", err))?,
            None => Vec::new(),
        };
        let draft = PlanDraft {
            name: table.name,
            scenario: table.scenario.map(|p| folder.join(p)),
            tasks: table.tasks.unwrap_or_default(),
            start,
            vars,
            load,
        };
        drafts.push((at(place), draft, chosen));
    }
    Ok((filled, drafts))
}

impl LoadKeys {
    /// A key that only a run of one plan may set at the top of the file.
    fn one_plan_key(&self) -> Option<&'static str> {
        [
            (self.users.is_some(), "users"),
            (self.spawn_rate.is_some(), "spawn-rate"),
            (self.stages.is_some(), "stages"),
            (self.iterations.is_some(), "iterations"),
            (self.shared_iterations.is_some(), "shared-iterations"),
            (self.arrival_rate.is_some(), "arrival-rate"),
            (self.rate_stages.is_some(), "rate-stages"),
            (self.max_users.is_some(), "max-users"),
            (self.max_queue.is_some(), "max-queue"),
        ]
        .into_iter()
        .find_map(|(set, name)| set.then_some(name))
    }
}

/// Fills the load arguments `given` does not name from `keys`, and notes
/// each id it fills.
fn fill_load(
    keys: LoadKeys,
    load: &mut LoadArgs,
    given: &dyn Fn(&str) -> bool,
    filled: &mut Vec<&'static str>,
    key: &dyn Fn(&str, String) -> String,
) -> Result<(), String> {
    let duration =
        |name: &str, text: &str| crate::config::parse_duration(text).map_err(|err| key(name, err));
    macro_rules! fill {
        ($id:literal, $field:ident, $value:expr) => {
            if !given($id) {
                if let Some(value) = $value {
                    load.$field = value;
                    filled.push($id);
                }
            }
        };
    }
    fill!("users", users, keys.users);
    fill!("spawn_rate", spawn_rate, keys.spawn_rate.map(Some));
    if let Some(text) = &keys.run_time {
        fill!(
            "run_time",
            run_time,
            Some(Some(duration("run-time", text)?))
        );
    }
    if let Some(text) = &keys.wait_time {
        let wait = crate::config::parse_wait(text).map_err(|err| key("wait-time", err))?;
        fill!("wait_time", wait_time, Some(Some(wait)));
    }
    if let Some(tables) = keys.stages {
        let mut stages = Vec::with_capacity(tables.len());
        for table in tables {
            let duration = duration("stages", &table.duration)?;
            stages.push(Stage {
                duration,
                users: table.users,
            });
        }
        fill!("stages", stages, Some(stages));
    }
    fill!("iterations", iterations, keys.iterations.map(Some));
    fill!(
        "shared_iterations",
        shared_iterations,
        keys.shared_iterations.map(Some)
    );
    fill!("arrival_rate", arrival_rate, keys.arrival_rate.map(Some));
    if let Some(tables) = keys.rate_stages {
        let mut stages = Vec::with_capacity(tables.len());
        for table in tables {
            if !(table.rate.is_finite() && table.rate >= 0.0) {
                let rate = table.rate;
                return Err(key(
                    "rate-stages",
                    format!("`{rate}` is not a rate of 0 or more"),
                ));
            }
            let duration = duration("rate-stages", &table.duration)?;
            stages.push(RateStage {
                duration,
                rate: table.rate,
            });
        }
        fill!("rate_stages", rate_stages, Some(stages));
    }
    fill!("max_users", max_users, keys.max_users.map(Some));
    fill!("max_queue", max_queue, keys.max_queue.map(Some));
    Ok(())
}

/// The `[vars]` table as text values.
fn vars_of(vars: BTreeMap<String, toml::Value>) -> Result<Vec<(String, String)>, String> {
    vars.into_iter()
        .map(|(name, value)| {
            let text = match value {
                toml::Value::String(text) => text,
                toml::Value::Integer(number) => number.to_string(),
                toml::Value::Float(number) => number.to_string(),
                toml::Value::Boolean(flag) => flag.to_string(),
                _ => return Err(format!("`{name}` is not a string or number")),
            };
            Ok((name, text))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;
    use crate::cli::{Cli, Command};

    fn run_args(line: &[&str]) -> RunArgs {
        match Cli::try_parse_from(line).unwrap().command {
            Command::Run(args) => *args,
            _ => unreachable!("a run command line"),
        }
    }

    fn write(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("throng.toml");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[test]
    fn every_example_in_the_docs_applies() {
        let docs = include_str!("../../../docs/config.md");
        let examples: Vec<&str> = docs
            .split("```toml\n")
            .skip(1)
            .map(|rest| rest.split("```").next().unwrap())
            .collect();
        assert_eq!(examples.len(), 5);
        for example in examples {
            let (_dir, path) = write(example);
            let mut args = run_args(&["throng", "run", "--config", "x.toml"]);
            apply(&path, &mut args, &|_| false).unwrap_or_else(|err| panic!("{err}\n{example}"));
            assert!(args.scenario.unwrap().ends_with("scenarios/origin-chat"));
        }
    }

    #[test]
    fn the_file_fills_what_the_command_line_left() {
        let (dir, path) = write(
            "scenario = \"a.wasm\"\nusers = 7\nrun-time = \"1m\"\n\
             thresholds = [\"errors: rate < 1%\"]\n[vars]\nroom = \"main\"\nweight = 3\n",
        );
        let mut args = run_args(&[
            "throng",
            "run",
            "--config",
            "x",
            "-t",
            "5s",
            "--var",
            "room=side",
            "--threshold",
            "requests: count > 1",
        ]);
        let (filled, _) = apply(&path, &mut args, &|id| id == "run_time").unwrap();
        assert_eq!(args.scenario, Some(dir.path().join("a.wasm")));
        assert_eq!(args.load.users, 7);
        assert_eq!(args.load.run_time, Some(std::time::Duration::from_secs(5)));
        assert_eq!(
            args.vars.last(),
            Some(&("room".to_owned(), "side".to_owned()))
        );
        assert!(args.vars.contains(&("weight".to_owned(), "3".to_owned())));
        assert_eq!(args.thresholds.len(), 2);
        assert!(filled.contains(&"users") && !filled.contains(&"run_time"));
    }

    #[test]
    fn mistakes_name_the_file_and_the_key() {
        let mut args = run_args(&["throng", "run", "--config", "x"]);
        let (_dir, path) = write("users = 2\nspawn_rat = 3\n");
        let err = apply(&path, &mut args, &|_| false).unwrap_err();
        assert!(
            err.contains("throng.toml`: TOML parse error at line 2"),
            "{err}"
        );
        assert!(err.contains("unknown field `spawn_rat`"), "{err}");
        let (_dir, path) = write("[[stages]]\nduration = \"-5s\"\nusers = 3\n");
        let err = apply(&path, &mut args, &|_| false).unwrap_err();
        assert!(err.contains("`stages`: `-5s` is not a duration"), "{err}");
    }
}
