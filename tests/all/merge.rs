//! `throng merge`: results of runs combined exactly, as one run that
//! recorded everything would show them.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::harness::{as_u64, fixture, throng};
use crate::server::TestServer;

/// Runs fixture `name` against `server` for 2 s with 2 users and writes its
/// results to `json`.
fn results(name: &str, server: &TestServer, json: &Path) {
    let scenario = fixture(name);
    let status = throng()
        .args(["run", scenario.to_str().unwrap(), "--host", &server.url()])
        .args(["-u", "2", "-t", "2s", "--var", "path=/delay/20"])
        .args(["--threshold", "errors: rate < 1%", "--json"])
        .arg(json)
        .output()
        .unwrap();
    assert_eq!(status.status.code(), Some(0), "{status:?}");
}

fn merge(files: &[&Path], output: &Path) -> std::process::Output {
    throng()
        .arg("merge")
        .args(files)
        .arg("-o")
        .arg(output)
        .output()
        .unwrap()
}

fn read(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn two_runs(dir: &Path) -> (PathBuf, PathBuf) {
    let server = TestServer::start();
    let (a, b) = (dir.join("a.json"), dir.join("b.json"));
    std::thread::scope(|scope| {
        scope.spawn(|| results("fetch", &server, &a));
        scope.spawn(|| results("fetch", &server, &b));
    });
    (a, b)
}

#[test]
fn merged_runs_add_up_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two_runs(dir.path());
    let merged = dir.path().join("merged.json");
    let output = merge(&[&a, &b], &merged);
    assert_eq!(output.status.code(), Some(0), "{output:?}");

    let (a, b, merged) = (read(&a), read(&b), read(&merged));
    let row = |results: &Value| results["requests"][0].clone();
    let count = |results: &Value| as_u64(&row(results)["count"]);
    assert_eq!(count(&merged), count(&a) + count(&b));
    let task = |results: &Value| as_u64(&results["tasks"][0]["count"]);
    assert_eq!(task(&merged), task(&a) + task(&b));
    assert_eq!(merged["run"]["users"], 4);

    let latency = |results: &Value, stat: &str| row(results)["latency_ms"][stat].as_f64().unwrap();
    let max = latency(&a, "max").max(latency(&b, "max"));
    assert_eq!(latency(&merged, "max"), max);
    let (low, high) = (latency(&a, "p50"), latency(&b, "p50"));
    let p50 = latency(&merged, "p50");
    assert!(
        p50 >= low.min(high) && p50 <= low.max(high),
        "{p50} is not between {low} and {high}"
    );
    assert_eq!(merged["thresholds"][0]["expression"], "errors: rate < 1%");
    assert_eq!(merged["thresholds"][0]["passed"], true);
}

#[test]
fn one_file_merged_gives_back_its_own_figures() {
    let dir = tempfile::tempdir().unwrap();
    let (a, _) = two_runs(dir.path());
    let merged = dir.path().join("merged.json");
    assert_eq!(merge(&[&a], &merged).status.code(), Some(0));
    let (a, merged) = (read(&a), read(&merged));
    for key in ["requests", "total", "tasks", "checks", "counters", "errors"] {
        let strip = |value: &Value| {
            let mut value = value.clone();
            for row in value.as_array_mut().into_iter().flatten() {
                row.as_object_mut().unwrap().remove("rps");
            }
            if let Some(row) = value.as_object_mut() {
                row.remove("rps");
            }
            value
        };
        assert_eq!(strip(&merged[key]), strip(&a[key]), "{key} differs");
    }
}

#[test]
fn files_of_other_scenarios_or_not_results_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start();
    let (fetch, mix) = (dir.path().join("fetch.json"), dir.path().join("mix.json"));
    results("fetch", &server, &fetch);
    results("mix", &server, &mix);
    let merged = dir.path().join("merged.json");

    let output = merge(&[&fetch, &mix], &merged);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("mix.json` holds results of scenario `mix`"),
        "{stderr}"
    );

    // A threshold on a plan the files do not hold.
    let output = throng()
        .args([
            "merge",
            fetch.to_str().unwrap(),
            "-o",
            merged.to_str().unwrap(),
        ])
        .args(["--threshold", "/{scenario=zz}: count > 0"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("the files have no plan `zz` (they have fetch)"),
        "{stderr}"
    );

    let bogus = dir.path().join("bogus.json");
    std::fs::write(&bogus, "{\"hello\": 1}").unwrap();
    let output = merge(&[&fetch, &bogus], &merged);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("bogus.json`: not a throng results file"),
        "{stderr}"
    );
}

#[test]
fn a_refused_merge_leaves_every_file_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two_runs(dir.path());
    let before = std::fs::read(&a).unwrap();

    // Over an input, or the same file twice: refused, nothing written.
    for (files, message) in [
        (
            vec![a.as_path(), b.as_path()],
            "is both an input and an output",
        ),
        (vec![b.as_path(), b.as_path()], "is given twice"),
    ] {
        let output = merge(&files, &a);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(message), "{stderr}");
        assert_eq!(std::fs::read(&a).unwrap(), before, "an input was changed");
    }

    // A refused run does not empty an earlier results file either.
    let output = throng()
        .args(["run", "no-such-scenario.wasm", "--json"])
        .arg(&a)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        std::fs::read(&a).unwrap(),
        before,
        "the results file was emptied"
    );
}
