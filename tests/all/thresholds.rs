//! Thresholds: judged on what the server really took, shown in the summary
//! and the results, written as JUnit, and a failed one gives exit status 99.

use crate::harness::{fixture, run};
use crate::server::TestServer;

/// Runs `fetch` against `/delay/50` with `thresholds` and a JUnit report;
/// returns the run and the report.
fn run_with(thresholds: &[&str]) -> (crate::harness::Run, String) {
    let server = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("junit.xml");
    let scenario = fixture("fetch");
    let url = server.url();
    let mut args = vec![
        "run",
        scenario.to_str().unwrap(),
        "--host",
        &url,
        "-u",
        "2",
        "-t",
        "2s",
        "--var",
        "path=/delay/50",
        "--junit",
        junit.to_str().unwrap(),
    ];
    for threshold in thresholds {
        args.extend(["--threshold", threshold]);
    }
    let run = run(&args);
    let report = std::fs::read_to_string(&junit).expect("a JUnit report");
    (run, report)
}

#[test]
fn thresholds_that_hold_pass_and_exit_0() {
    let (run, junit) = run_with(&["/delay/50: p95 < 1s", "errors: rate < 1%"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("All 2 thresholds passed."),
        "{}",
        run.stdout
    );
    assert!(
        junit.contains("<testsuites tests=\"2\" failures=\"0\">"),
        "{junit}"
    );
    assert!(
        junit.contains("name=\"/delay/50: p95 &lt; 1s\"/>"),
        "{junit}"
    );
    let results = run.results.as_ref().unwrap();
    assert_eq!(results["thresholds"][1]["expression"], "errors: rate < 1%");
    assert_eq!(results["thresholds"][1]["value"], "0.00%");
    assert_eq!(results["thresholds"][1]["passed"], true);
}

#[test]
fn a_crossed_threshold_fails_the_run_with_99() {
    // Every request takes at least the 50 ms the server waits.
    let (run, junit) = run_with(&["/delay/50: p50 < 10ms", "errors: count < 1"]);
    assert_eq!(run.code, 99, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("1 of 2 thresholds failed."),
        "{}",
        run.stdout
    );
    assert!(
        junit.contains("<testsuites tests=\"2\" failures=\"1\">"),
        "{junit}"
    );
    assert!(junit.contains("is not &lt; 10.0 ms\">"), "{junit}");
    let results = run.results.as_ref().unwrap();
    assert_eq!(results["thresholds"][0]["passed"], false);
    assert_eq!(results["run"]["outcome"], "completed");
}

#[test]
fn an_abort_threshold_stops_the_run_once_crossed() {
    let server = TestServer::start();
    let scenario = fixture("fetch");
    let url = server.url();
    // Every request fails; the run would last 30 s.
    let run = run(&[
        "run",
        scenario.to_str().unwrap(),
        "--host",
        &url,
        "-t",
        "30s",
        "--var",
        "path=/status/503",
        "--var",
        "wait_ms=50",
        "--threshold",
        "errors: rate < 1%, abort after 1s",
    ]);
    assert_eq!(run.code, 99, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("stopped early: threshold `errors: rate < 1%, abort after 1s` crossed"),
        "{}",
        run.stdout
    );
    let results = run.results.as_ref().unwrap();
    assert_eq!(results["run"]["outcome"], "halted");
    let duration = results["run"]["duration_s"].as_f64().unwrap();
    assert!(
        (1.0..5.0).contains(&duration),
        "the run lasted {duration} s"
    );
    assert_eq!(results["thresholds"][0]["passed"], false);
}
