//! What every test needs: the fixture scenarios (built once per test run),
//! the `throng` binary with a private compile cache, and the results of a
//! run read back from its JSON file.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use serde_json::Value;

/// Where the fixtures and the cache live: beside the test binary's own
/// build output, so repeated runs reuse them.
fn work_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("target dir")
        .to_owned()
}

fn wasm_target_dir() -> PathBuf {
    work_dir().join("wasm")
}

/// The component of fixture crate `name`, built for wasm32-wasip2.
pub fn fixture(name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| build_components(&fixtures_dir()));
    component(name)
}

/// The component of example scenario `name` (the `scenarios` folder).
pub fn example(name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| build_components(&repo_dir().join("scenarios")));
    component(name)
}

fn build_components(workspace: &Path) {
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--manifest-path",
        ])
        .arg(workspace.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(wasm_target_dir())
        .status()
        .expect("run cargo to build scenarios");
    assert!(
        status.success(),
        "building `{}` failed",
        workspace.display()
    );
}

fn component(name: &str) -> PathBuf {
    wasm_target_dir()
        .join("wasm32-wasip2/release")
        .join(format!("{}.wasm", name.replace('-', "_")))
}

pub fn repo_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the host crate sits in the repository")
        .to_owned()
}

pub fn fixtures_dir() -> PathBuf {
    repo_dir().join("tests/fixtures")
}

/// `throng` with the shared test cache and the wasm target dir, so that a
/// crate folder builds where the fixtures did.
pub fn throng() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_throng"));
    command
        .env("THRONG_CACHE_DIR", work_dir().join("throng-cache"))
        .env("CARGO_TARGET_DIR", wasm_target_dir())
        .env_remove("THRONG_LOG")
        .stdin(Stdio::null());
    command
}

/// What a finished `throng` process left.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub results: Option<Value>,
}

impl Run {
    /// The row of request `name` in the results.
    pub fn request(&self, name: &str) -> &Value {
        self.rows("requests")
            .iter()
            .find(|row| row["name"] == name)
            .unwrap_or_else(|| panic!("no request `{name}` in the results:\n{}", self.stdout))
    }

    /// The row of task `name` in the results.
    pub fn task(&self, name: &str) -> &Value {
        self.rows("tasks")
            .iter()
            .find(|row| row["name"] == name)
            .unwrap_or_else(|| panic!("no task `{name}` in the results:\n{}", self.stdout))
    }

    /// The run count of task `name`, 0 when it never ran.
    pub fn task_count(&self, name: &str) -> u64 {
        self.rows("tasks")
            .iter()
            .find(|row| row["name"] == name)
            .map_or(0, |row| row["count"].as_u64().unwrap())
    }

    /// The row of trend `name` in the results.
    pub fn trend(&self, name: &str) -> &Value {
        self.rows("trends")
            .iter()
            .find(|row| row["name"] == name)
            .unwrap_or_else(|| panic!("no trend `{name}` in the results:\n{}", self.stdout))
    }

    /// How many failures of `kind` under `name` the results count.
    pub fn errors(&self, name: &str, kind: &str) -> u64 {
        self.rows("errors")
            .iter()
            .filter(|row| row["name"] == name && row["kind"] == kind)
            .map(|row| row["count"].as_u64().unwrap())
            .sum()
    }

    pub fn rows(&self, key: &str) -> &Vec<Value> {
        let results = self
            .results
            .as_ref()
            .unwrap_or_else(|| panic!("no results file; stderr:\n{}", self.stderr));
        results[key]
            .as_array()
            .unwrap_or_else(|| panic!("results have no `{key}` list"))
    }
}

/// Runs `throng` with `args` and `--json`, waits, and reads the results.
pub fn run(args: &[&str]) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("results.json");
    let output = throng()
        .args(args)
        .arg("--json")
        .arg(&json)
        .output()
        .expect("start throng");
    finish(output, &json)
}

/// Runs fixture `name` against `host` with `args`, and checks that the run
/// completed.
pub fn run_ok(name: &str, host: &str, args: &[&str]) -> Run {
    run_component_ok(&fixture(name), host, args)
}

/// Runs `scenario` against `host` with `args`, and checks that the run
/// completed.
pub fn run_component_ok(scenario: &Path, host: &str, args: &[&str]) -> Run {
    let mut all = vec!["run", scenario.to_str().unwrap(), "--host", host];
    all.extend_from_slice(args);
    let run = run(&all);
    assert_eq!(run.code, 0, "stderr:\n{}", run.stderr);
    run
}

pub fn finish(output: std::process::Output, json: &Path) -> Run {
    let results = std::fs::read_to_string(json)
        .ok()
        .map(|text| serde_json::from_str(&text).expect("results are JSON"));
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        results,
    }
}

pub fn as_u64(value: &Value) -> u64 {
    value
        .as_u64()
        .unwrap_or_else(|| panic!("{value} is not a count"))
}

pub fn as_f64(value: &Value) -> f64 {
    value
        .as_f64()
        .unwrap_or_else(|| panic!("{value} is not a number"))
}

/// A loopback port that nothing listens on (bound, then released).
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}
