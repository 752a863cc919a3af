//! Ctrl-C stops the run gracefully and still prints and writes the results.

use std::process::Stdio;
use std::time::Duration;

use crate::harness::{as_u64, finish, fixture, throng};
use crate::server::TestServer;

#[test]
fn ctrl_c_still_prints_and_writes_the_results() {
    let server = TestServer::start();
    let scenario = fixture("fetch");
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("results.json");
    let child = throng()
        .args([
            "run",
            scenario.to_str().unwrap(),
            "--host",
            &server.url(),
            "-u",
            "5",
            "--var",
            "wait_ms=20",
        ])
        .arg("--json")
        .arg(&json)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(3));
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let run = finish(child.wait_with_output().unwrap(), &json);

    assert_eq!(run.code, 130, "stderr:\n{}", run.stderr);
    assert!(run.stdout.contains("interrupted"), "{}", run.stdout);
    assert!(
        run.stdout.contains("Request"),
        "the summary is printed:\n{}",
        run.stdout
    );
    let count = as_u64(&run.request("/")["count"]);
    assert!(count > 0);
    assert_eq!(count, server.count("/"));
    assert_eq!(
        run.results.as_ref().unwrap()["run"]["outcome"],
        "interrupted"
    );
}

#[test]
fn a_closed_stdout_loses_the_summary_but_not_the_results() {
    let server = TestServer::start();
    let scenario = fixture("fetch");
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("results.json");
    let mut child = throng()
        .args(["run", scenario.to_str().unwrap(), "--host", &server.url()])
        .args(["-u", "2", "-t", "2s", "--var", "wait_ms=20", "--json"])
        .arg(&json)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // As `throng run ... | head -1` does once it has its line.
    drop(child.stdout.take());
    let run = finish(child.wait_with_output().unwrap(), &json);
    assert_eq!(run.code, 0, "stderr:\n{}", run.stderr);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    assert_eq!(as_u64(&run.request("/")["count"]), server.count("/"));
}
