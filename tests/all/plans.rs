//! Several plans in one run: each with its own model, tasks and start, and
//! every row of the results tagged with the plan it came from.

use std::time::Duration;

use serde_json::Value;

use crate::harness::{as_f64, as_u64, fixture, run};
use crate::server::TestServer;

/// The request row `name` of plan `scenario`.
fn row<'a>(rows: &'a [Value], scenario: &str, name: &str) -> &'a Value {
    rows.iter()
        .find(|row| row["scenario"] == scenario && row["name"] == name)
        .unwrap_or_else(|| panic!("no row `{name}` of `{scenario}` in {rows:#?}"))
}

#[test]
fn plans_of_a_config_file_run_their_own_models_and_tag_their_rows() {
    let server = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("plans.toml");
    std::fs::write(
        &config,
        format!(
            "scenario = {:?}\nhost = {:?}\n\n\
             [[scenarios]]\nname = \"steady\"\ntasks = [\"five\"]\nusers = 3\n\
             wait-time = \"20ms\"\nrun-time = \"5s\"\n\n\
             [[scenarios]]\nname = \"burst\"\ntasks = [\"one\"]\narrival-rate = 50\n\
             max-users = 10\nstart = \"2s\"\nrun-time = \"3s\"\n",
            fixture("mix").to_str().unwrap(),
            server.url()
        ),
    )
    .unwrap();
    let run = run(&["run", "--config", config.to_str().unwrap()]);
    assert_eq!(
        run.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );

    // Each plan ran only its task, and its row says so.
    let requests = run.rows("requests");
    assert_eq!(requests.len(), 2, "{requests:#?}");
    let steady = row(requests, "steady", "/five");
    let burst = row(requests, "burst", "/one");
    assert_eq!(as_u64(&steady["count"]), server.count("/five"));
    assert_eq!(as_u64(&burst["count"]), server.count("/one"));
    assert_eq!(server.count("/two"), 0);
    assert!(server.count("/five") > 100, "steady sent too few");
    let tasks = run.rows("tasks");
    assert_eq!(row(tasks, "steady", "five")["scenario"], "steady");
    assert_eq!(row(tasks, "burst", "one")["scenario"], "burst");

    // The arrival-rate plan held its rate over its own run time.
    let results = run.results.as_ref().unwrap();
    let plans = results["scenarios"].as_array().unwrap();
    assert_eq!(plans.len(), 2);
    assert_eq!(plans[1]["name"], "burst");
    assert_eq!(as_f64(&plans[1]["start_s"]), 2.0);
    let iterations = &plans[1]["iterations"];
    let due = as_u64(&iterations["due"]);
    assert!(
        (148..=152).contains(&due),
        "50/s for 3 s made {due} iterations due"
    );
    assert_eq!(
        as_u64(&iterations["started"]) + as_u64(&iterations["dropped"]),
        due
    );
    assert!(plans[0]["iterations"].is_null());

    // The second plan started two seconds after the first.
    let first = server.first_seen("/five").unwrap();
    let second = server.first_seen("/one").unwrap();
    let offset = second.saturating_duration_since(first);
    assert!(
        (Duration::from_millis(1800)..=Duration::from_millis(3000)).contains(&offset),
        "the burst plan began {offset:?} after the steady one"
    );
    assert!(run.stdout.contains("steady · /five"), "{}", run.stdout);
}

#[test]
fn plans_from_flags_keep_their_latencies_and_thresholds_apart() {
    let server = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("junit.xml");
    let fetch = fixture("fetch");
    let run = run(&[
        "run",
        fetch.to_str().unwrap(),
        "--host",
        &server.url(),
        "-t",
        "3s",
        "--plan",
        "slow: -u 2 --var path=/delay/200 --var name=req",
        "--plan",
        "fast: -u 2 --var path=/delay/20 --var name=req --var wait_ms=50",
        "--threshold",
        "req{scenario=fast}: p95 < 150ms",
        "--threshold",
        "req{scenario=slow}: p95 < 150ms",
        "--junit",
        junit.to_str().unwrap(),
    ]);
    assert_eq!(
        run.code, 99,
        "stdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );

    let requests = run.rows("requests");
    let slow = row(requests, "slow", "req");
    let fast = row(requests, "fast", "req");
    assert!(as_f64(&slow["latency_ms"]["min"]) >= 200.0);
    assert!(as_f64(&fast["latency_ms"]["p50"]) < 150.0);
    assert_eq!(
        as_u64(&slow["count"]) + as_u64(&fast["count"]),
        server.count("/delay/200") + server.count("/delay/20")
    );
    assert_eq!(as_u64(&slow["count"]), server.count("/delay/200"));

    let thresholds = run.rows("thresholds");
    assert_eq!(thresholds[0]["passed"], true, "{thresholds:#?}");
    assert_eq!(thresholds[1]["passed"], false, "{thresholds:#?}");
    let report = std::fs::read_to_string(&junit).unwrap();
    assert_eq!(report.matches("<testcase").count(), 2, "{report}");
    assert_eq!(report.matches("<failure").count(), 1, "{report}");
}

#[test]
fn tasks_flag_runs_only_the_tasks_named() {
    let server = TestServer::start();
    let mix = fixture("mix");
    let run = run(&[
        "run",
        mix.to_str().unwrap(),
        "--host",
        &server.url(),
        "-u",
        "2",
        "-t",
        "2s",
        "--wait-time",
        "5ms",
        "--tasks",
        "two,one",
    ]);
    assert_eq!(run.code, 0, "stderr:\n{}", run.stderr);
    assert_eq!(server.count("/five"), 0);
    let (two, one) = (server.count("/two"), server.count("/one"));
    assert!(one > 20, "only {one} runs of `one`");
    let share = two as f64 / (two + one) as f64;
    assert!(
        (0.6..=0.73).contains(&share),
        "`two` ran {two} times and `one` {one}: the 2:1 weights were not kept"
    );
    assert_eq!(run.task_count("two"), two);
}

/// A mistake in the plans: exit status 2, a message naming it, nothing
/// sent.
fn refused(server: &TestServer, args: &[&str], message: &str) {
    let output = crate::harness::throng().args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "stderr:\n{stderr}");
    assert!(stderr.contains(message), "`{message}` not in:\n{stderr}");
    assert_eq!(server.total(), 0, "a refused run sent requests");
}

#[test]
fn mistakes_in_plans_are_refused_before_anything_is_sent() {
    let server = TestServer::start();
    let mix = fixture("mix");
    let mix = mix.to_str().unwrap();
    let url = server.url();
    let base = ["run", mix, "--host", url.as_str(), "-t", "1s"];
    let with = |extra: &[&'static str]| {
        let mut args: Vec<&str> = base.to_vec();
        args.extend_from_slice(extra);
        args
    };
    refused(
        &server,
        &with(&["--plan", "a: --users 2 --bogus 3"]),
        "`--plan a: --users 2 --bogus 3`: unexpected argument '--bogus'",
    );
    refused(
        &server,
        &with(&["--plan", "a: --tasks nine"]),
        "`--plan a: --tasks nine`: `--tasks`: scenario `mix` has no task `nine`; its tasks are five, two, one",
    );
    refused(
        &server,
        &with(&["--plan", "a: -u 1", "--plan", "a: -u 2"]),
        "`--plan a: -u 1` and `--plan a: -u 2` are both named `a`",
    );
    refused(
        &server,
        &with(&[
            "--plan",
            "a: -u 1",
            "--threshold",
            "five{scenario=b}: p95 < 1s",
        ]),
        "threshold `five{scenario=b}: p95 < 1s`: the run has no plan `b` (it has a)",
    );
    refused(
        &server,
        &with(&["--users", "3", "--plan", "a: -u 1"]),
        "`--users` applies to a run of one plan; with `--plan`, give it inside each",
    );
    refused(
        &server,
        &with(&["--plan", "a b: -u 1"]),
        "`a b` is not a plan name",
    );

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("plans.toml");
    let file_refused = |text: &str, message: &str| {
        std::fs::write(&config, text).unwrap();
        let config = config.to_str().unwrap();
        refused(
            &server,
            &["run", mix, "--host", url.as_str(), "--config", config],
            message,
        );
    };
    file_refused(
        "users = 4\n[[scenarios]]\nname = \"x\"\nusers = 1\n",
        "plans.toml`: `users` sets the load of a run of one plan; with `[[scenarios]]`, give it in each",
    );
    file_refused(
        "[[scenarios]]\nname = \"x\"\nusers = 1\nstart = \"soon\"\n",
        "[[scenarios]] #1 (`x`): `start`: `soon` is not a duration",
    );
    file_refused(
        "[[scenarios]]\nname = \"x\"\nusers = 1\n[[scenarios]]\nname = \"y\"\n\
         stages = [{ duration = \"2s\", users = 2 }]\nusers = 3\n",
        "[[scenarios]] #2 (`y`): `--stage` (`stages`) cannot be combined with `--users`",
    );
    file_refused(
        "[[scenarios]]\nname = \"x\"\nuser = 1\n",
        "unknown field `user`",
    );
    file_refused(
        "tasks = [\"five\"]\n[[scenarios]]\nname = \"x\"\n",
        "`tasks` picks the tasks of a run of one plan; with `[[scenarios]]`, give it in each",
    );
    file_refused(
        "[[scenarios]]\nname = \"x\"\ntasks = [\"nine\"]\n",
        "[[scenarios]] #1 (`x`): `--tasks`: scenario `mix` has no task `nine`",
    );
}
