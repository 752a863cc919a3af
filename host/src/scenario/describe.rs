//! Checks that a component implements the scenario world, and asks it what
//! it is: name, tasks with weights, wait time. Describing runs the guest
//! once, which also measures the memories and tables one instance needs.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use wasmtime::component::{Component, Linker};

use super::LoadError;
use crate::config::HttpConfig;
use crate::runtime::bindings::{self, ScenarioPre};
use crate::runtime::vu::{Run, RunContext};
use crate::runtime::{Footprint, Vu, VuState};
use crate::schedule::{Phase, WaitTime};
use crate::stats::Stats;

/// One weighted behaviour of the scenario.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Task {
    pub name: String,
    pub weight: u32,
}

/// What the scenario says about itself, validated.
#[derive(Debug, Clone, Serialize)]
pub struct Description {
    pub name: String,
    pub version: String,
    pub description: String,
    pub tasks: Vec<Task>,
    pub wait: WaitTime,
}

/// Links the component against throng's imports and checks its exports.
pub fn prepare(
    linker: &Linker<VuState>,
    component: &Component,
    path: &Path,
) -> Result<ScenarioPre<VuState>, LoadError> {
    let wrong_world = |err: wasmtime::Error| LoadError::WrongWorld {
        path: path.to_owned(),
        detail: chain(&err),
    };
    let instance_pre = linker.instantiate_pre(component).map_err(wrong_world)?;
    ScenarioPre::new(instance_pre).map_err(wrong_world)
}

/// Instantiates the scenario once and calls its `describe`.
///
/// The run's variables are visible, so that a scenario may shape its tasks
/// or weights by them.
pub async fn describe(
    pre: &ScenarioPre<VuState>,
    path: &Path,
    vars: &[(String, String)],
) -> Result<(Description, Footprint), LoadError> {
    let failed = |detail: String| LoadError::Describe {
        path: path.to_owned(),
        detail,
    };
    let tls = crate::imports::http::tls_config().map_err(|err| failed(err.to_string()))?;
    let session =
        crate::imports::http::Session::new(&tls).map_err(|err| failed(err.to_string()))?;
    let (_phase, phase_rx) = tokio::sync::watch::channel(Phase::Running);
    let http = HttpConfig {
        host: None,
        allowed_hosts: Vec::new(),
        timeout: Duration::from_secs(1),
        max_body: 0,
    };
    let stats = Arc::new(Stats::new(vec![String::new()]));
    let run = Arc::new(Run::new(stats, http, Duration::from_secs(10)));
    let run = Arc::new(RunContext::new(run, 0, vars.to_vec(), phase_rx));

    let mut state = VuState::new(run, session, 0, 0);
    state.measure_footprint();
    let mut vu = Vu::new(pre, state)
        .await
        .map_err(|err| failed(chain(&err)))?;
    let raw = vu.describe().await.map_err(failed)?;
    let footprint = vu.state_mut().footprint().unwrap_or_default();
    let description = validate(raw).map_err(|detail| LoadError::BadDescription {
        path: path.to_owned(),
        detail,
    })?;
    Ok((description, footprint))
}

fn validate(raw: bindings::Description) -> Result<Description, String> {
    if raw.tasks.is_empty() {
        return Err("it has no tasks".to_owned());
    }
    let mut tasks: Vec<Task> = Vec::with_capacity(raw.tasks.len());
    for task in raw.tasks {
        if task.name.trim().is_empty() {
            return Err("a task has an empty name".to_owned());
        }
        if task.weight == 0 {
            return Err(format!(
                "task `{}` has a weight of 0; weights start at 1",
                task.name
            ));
        }
        if tasks.iter().any(|seen| seen.name == task.name) {
            return Err(format!("two tasks are named `{}`", task.name));
        }
        tasks.push(Task {
            name: task.name,
            weight: task.weight,
        });
    }
    let wait = match raw.wait {
        bindings::WaitTime::None => WaitTime::None,
        bindings::WaitTime::Constant(ms) => WaitTime::Constant(Duration::from_millis(ms)),
        bindings::WaitTime::Between((low, high)) if low <= high => {
            WaitTime::Between(Duration::from_millis(low), Duration::from_millis(high))
        }
        bindings::WaitTime::Between((low, high)) => {
            return Err(format!(
                "its wait time runs from {low} ms down to {high} ms"
            ));
        }
    };
    Ok(Description {
        name: raw.name,
        version: raw.version,
        description: raw.description,
        tasks,
        wait,
    })
}

/// The error and its causes on one line.
fn chain(err: &wasmtime::Error) -> String {
    format!("{err:#}").replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(tasks: &[(&str, u32)]) -> bindings::Description {
        bindings::Description {
            name: "t".into(),
            version: "0.1.0".into(),
            description: String::new(),
            tasks: tasks
                .iter()
                .map(|(name, weight)| bindings::Task {
                    name: (*name).into(),
                    weight: *weight,
                })
                .collect(),
            wait: bindings::WaitTime::None,
        }
    }

    #[test]
    fn a_scenario_needs_tasks_with_positive_weights_and_unique_names() {
        assert!(validate(raw(&[("a", 1)])).is_ok());
        assert!(validate(raw(&[])).unwrap_err().contains("no tasks"));
        assert!(
            validate(raw(&[("a", 0)]))
                .unwrap_err()
                .contains("weight of 0")
        );
        assert!(
            validate(raw(&[("a", 1), ("a", 2)]))
                .unwrap_err()
                .contains("two tasks")
        );
        assert!(
            validate(raw(&[(" ", 1)]))
                .unwrap_err()
                .contains("empty name")
        );
    }
}
