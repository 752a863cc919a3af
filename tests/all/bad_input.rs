//! Bad input: a clear message naming the file or flag, exit status 2, and
//! nothing sent to the target.

use crate::harness::{fixture, throng};
use crate::server::TestServer;

/// Runs throng against a fresh server and checks the refusal.
fn refused(args: &[&str], message: &str) {
    let server = TestServer::start();
    let url = server.url();
    let mut command = throng();
    command.args(args);
    if !args.contains(&"--no-host") {
        command.args(["--host", &url]);
    }
    let output = command.args(["-t", "2s"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(2),
        "{args:?} should exit 2; stderr:\n{stderr}"
    );
    assert!(
        stderr.contains(message),
        "{args:?}: stderr does not say `{message}`:\n{stderr}"
    );
    assert_eq!(server.total(), 0, "{args:?} sent requests");
}

#[test]
fn a_file_that_is_not_wasm() {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), "hello").unwrap();
    let path = file.path().to_str().unwrap();
    refused(
        &["run", path],
        &format!("scenario `{path}` is not a WebAssembly file"),
    );
}

#[test]
fn a_core_module() {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), b"\0asm\x01\0\0\0").unwrap();
    refused(
        &["run", file.path().to_str().unwrap()],
        "is a core WebAssembly module, not a component",
    );
}

#[test]
fn a_missing_file() {
    refused(
        &["run", "/nonexistent/scenario.wasm"],
        "scenario `/nonexistent/scenario.wasm` does not exist",
    );
}

#[test]
fn a_component_of_another_world() {
    let scenario = fixture("other-world");
    refused(
        &["run", scenario.to_str().unwrap()],
        "does not implement the world `throng:scenario/scenario@0.1.x`",
    );
}

#[test]
fn a_scenario_without_tasks() {
    let scenario = fixture("misdescribed");
    refused(
        &["run", scenario.to_str().unwrap(), "--var", "flaw=no-tasks"],
        "it has no tasks",
    );
}

#[test]
fn a_task_of_weight_zero() {
    let scenario = fixture("misdescribed");
    refused(
        &[
            "run",
            scenario.to_str().unwrap(),
            "--var",
            "flaw=zero-weight",
        ],
        "task `b` has a weight of 0",
    );
}

#[test]
fn a_scenario_that_panics_while_describing_itself() {
    let scenario = fixture("misdescribed");
    let path = scenario.to_str().unwrap();
    refused(
        &["run", path, "--var", "flaw=panic"],
        "failed to describe itself: wasm trap: wasm `unreachable` instruction executed; \
         the guest wrote: thread",
    );
    refused(
        &["run", path, "--var", "flaw=panic"],
        "variable `flaw` cannot be used here",
    );
}

#[test]
fn a_threshold_that_does_not_parse() {
    let scenario = fixture("fetch");
    let path = scenario.to_str().unwrap();
    refused(
        &["run", path, "--threshold", "p95 < 500ms"],
        "invalid value 'p95 < 500ms' for '--threshold <THRESHOLD>': expected `NAME: STAT OP VALUE`",
    );
    refused(
        &["run", path, "--threshold", "errors: rate < 0.01"],
        "the rate of `errors` or `dropped` is a share, like `1%`",
    );
}

#[test]
fn a_stage_with_a_negative_duration() {
    let scenario = fixture("fetch");
    refused(
        &["run", scenario.to_str().unwrap(), "--stage=-5s:10"],
        "invalid value '-5s:10' for '--stage <DURATION:USERS>': `-5s` is not a duration",
    );
}

#[test]
fn an_arrival_rate_of_zero() {
    let scenario = fixture("fetch");
    refused(
        &["run", scenario.to_str().unwrap(), "--arrival-rate", "0"],
        "`--arrival-rate 0` must be a positive number of iterations per second",
    );
    refused(
        &["run", scenario.to_str().unwrap(), "--max-users", "10"],
        "`--max-users` and `--max-queue` need `--arrival-rate` or `--rate-stage`",
    );
}

#[test]
fn a_config_key_that_does_not_exist() {
    let scenario = fixture("fetch");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("throng.toml");
    std::fs::write(&config, "users = 2\nspawn_rat = 3\n").unwrap();
    refused(
        &[
            "run",
            scenario.to_str().unwrap(),
            "--config",
            config.to_str().unwrap(),
        ],
        "throng.toml`: TOML parse error at line 2, column 1",
    );
    refused(
        &[
            "run",
            scenario.to_str().unwrap(),
            "--config",
            config.to_str().unwrap(),
        ],
        "unknown field `spawn_rat`, expected one of",
    );
}

#[test]
fn a_relative_url_without_host() {
    let scenario = fixture("fetch");
    let output = throng()
        .args(["run", scenario.to_str().unwrap(), "-t", "2s"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "stderr:\n{stderr}");
    assert!(
        stderr.contains("request `GET /` uses a relative URL, but the run has no `--host`"),
        "{stderr}"
    );
    // Found while running: what ran so far is still summarised.
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("misconfigured"), "{stdout}");
}

#[test]
fn a_malformed_host() {
    let scenario = fixture("fetch");
    let output = throng()
        .args([
            "run",
            scenario.to_str().unwrap(),
            "--host",
            "127.0.0.1:8080",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "stderr:\n{stderr}");
    assert!(
        stderr.contains("`--host 127.0.0.1:8080` is not an http:// or https:// URL"),
        "{stderr}"
    );
}

#[test]
fn unknown_flags_and_bad_values() {
    let scenario = fixture("fetch");
    let path = scenario.to_str().unwrap();
    refused(&["run", path, "--bogus"], "unexpected argument '--bogus'");
    refused(
        &["run", path, "--users", "0"],
        "`--users` must be at least 1",
    );
    refused(&["run", path, "--run-time", "soon"], "is not a duration");
    refused(
        &["run", path, "--wait-time", "3s..1s"],
        "lower bound is above the upper one",
    );
    refused(&["run", path, "--var", "novalue"], "is not `key=value`");
}

#[test]
fn an_unwritable_results_file() {
    refused(
        &[
            "run",
            fixture("fetch").to_str().unwrap(),
            "--json",
            "/nonexistent/dir/results.json",
        ],
        "cannot write results to `/nonexistent/dir/results.json`",
    );
}
