//! The closed model against the test server: counts, weights, latency.

use crate::harness::{as_f64, as_u64, run_ok};
use crate::server::TestServer;

#[test]
fn counts_match_what_the_server_received() {
    let server = TestServer::start();
    let run = run_ok(
        "fetch",
        &server.url(),
        &["-u", "20", "-r", "20", "-t", "10s", "--var", "wait_ms=50"],
    );
    let row = run.request("/");
    let reported = as_u64(&row["count"]);
    assert!(
        reported > 1000,
        "20 users for 10 s sent only {reported} requests"
    );
    assert_eq!(
        reported,
        server.count("/"),
        "throng and the server disagree"
    );
    assert_eq!(as_u64(&row["failures"]), 0);
    assert_eq!(run.results.as_ref().unwrap()["schema_version"], 1);
}

#[test]
fn tasks_are_picked_by_weight() {
    let server = TestServer::start();
    let run = run_ok("mix", &server.url(), &["-u", "4", "-t", "4s"]);
    let counts = [
        run.task_count("five"),
        run.task_count("two"),
        run.task_count("one"),
    ];
    let total: u64 = counts.iter().sum();
    assert!(total >= 2000, "only {total} tasks ran: {counts:?}");
    for (count, expected) in counts.iter().zip([0.625, 0.25, 0.125]) {
        let share = *count as f64 / total as f64;
        assert!(
            (share - expected).abs() <= 0.03,
            "share {share:.3} is not within 3 points of {expected}: {counts:?}"
        );
    }
    assert_eq!(run.task_count("five"), server.count("/five"));
}

#[test]
fn latency_matches_the_delay_the_server_injected() {
    let server = TestServer::start();
    let run = run_ok(
        "fetch",
        &server.url(),
        &[
            "-u",
            "5",
            "-t",
            "5s",
            "--var",
            "path=/delay/100",
            "--var",
            "name=delayed",
        ],
    );
    let latency = &run.request("delayed")["latency_ms"];
    let (min, p50) = (as_f64(&latency["min"]), as_f64(&latency["p50"]));
    assert!(
        min >= 100.0,
        "a sample of {min} ms is below the server's 100 ms delay"
    );
    assert!(
        (100.0..=110.0).contains(&p50),
        "p50 {p50} ms is not within 100-110 ms"
    );
    assert!(as_u64(&run.request("delayed")["count"]) >= 100);
}

#[test]
fn sleeps_last_their_whole_duration_while_the_run_stops() {
    let server = TestServer::start();
    // One task of 8 requests 200 ms apart, begun at once and still running
    // when the run time ends after 1 s: it finishes at its own pace.
    let run = run_ok(
        "fetch",
        &server.url(),
        &["-t", "1s", "--var", "polls=8", "--var", "poll_ms=200"],
    );
    assert_eq!(server.count("/"), 8);
    assert_eq!(run.task_count("fetch"), 1);
    let took = as_f64(&run.task("fetch")["duration_ms"]["max"]);
    assert!(
        took >= 1400.0,
        "the task took {took} ms; its sleeps were cut short"
    );
}

#[test]
fn names_past_the_limit_are_folded_into_one_row() {
    let server = TestServer::start();
    let run = run_ok(
        "fetch",
        &server.url(),
        &["-u", "4", "-t", "3s", "--var", "unique=1"],
    );
    let rows = run.rows("requests");
    let total: u64 = rows.iter().map(|row| as_u64(&row["count"])).sum();
    assert!(
        total > 1500,
        "only {total} requests: too few to pass the limit"
    );
    assert_eq!(rows.len(), 1001, "1,000 names and one row for the rest");
    let other = as_u64(&run.request("(other names)")["count"]);
    assert_eq!(other, total - 1000);
    assert_eq!(total, server.count("/"));
    assert!(
        run.stderr.contains("too many distinct names"),
        "{}",
        run.stderr
    );
}

#[test]
fn the_user_count_follows_the_stages() {
    let server = TestServer::start();
    let stages = ["--stage", "5s:20", "--stage", "5s:20", "--stage", "5s:0"];
    let mut args = vec!["--var", "path=/delay/100"];
    args.extend(stages);
    let run = run_ok("fetch", &server.url(), &args);

    // The live line, every 2 s: `[00:04] users   16 | ...`.
    let plan = |secs: f64| -> f64 {
        match secs {
            s if s < 5.0 => 4.0 * s,
            s if s < 10.0 => 20.0,
            s if s < 15.0 => 20.0 - 4.0 * (s - 10.0),
            _ => 0.0,
        }
    };
    let mut seen = 0;
    for line in run.stdout.lines().filter(|line| line.starts_with('[')) {
        let secs: f64 =
            line[1..3].parse::<f64>().unwrap() * 60.0 + line[4..6].parse::<f64>().unwrap();
        if secs >= 15.0 {
            continue;
        }
        let users: f64 = line.split_whitespace().nth(2).unwrap().parse().unwrap();
        let (low, high) = (
            plan(secs - 1.0).min(plan(secs + 1.0)),
            plan(secs - 1.0).max(plan(secs + 1.0)),
        );
        let (low, high) = (low.min(plan(secs)).floor(), high.max(plan(secs)).ceil());
        assert!(
            users >= low && users <= high,
            "at {secs} s {users} users, not within a second of the plan ({low}..{high}):\n{}",
            run.stdout
        );
        seen += 1;
    }
    assert!(seen >= 6, "too few live lines:\n{}", run.stdout);
    let started = run.task_count("on-start");
    assert!(started >= 20, "{started} users started");
    assert_eq!(
        run.task_count("on-stop"),
        started,
        "every user lowered stops cleanly"
    );
    let results = run.results.as_ref().unwrap();
    assert_eq!(results["run"]["stages"][0]["users"], 20);
    assert_eq!(results["run"]["users"], 20);
}

#[test]
fn a_config_file_sets_the_run_and_flags_win_over_it() {
    let server = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("throng.toml");
    let scenario = crate::harness::fixture("fetch");
    std::fs::write(
        &config,
        format!(
            "scenario = {:?}\nhost = {:?}\nusers = 3\nrun-time = \"1m\"\n\
             thresholds = [\"errors: rate < 1%\"]\n[vars]\npath = \"/delay/20\"\n",
            scenario.to_str().unwrap(),
            server.url()
        ),
    )
    .unwrap();
    let run = crate::harness::run(&["run", "--config", config.to_str().unwrap(), "-t", "2s"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let results = run.results.as_ref().unwrap();
    assert_eq!(results["run"]["users"], 3);
    assert_eq!(results["run"]["run_time_s"], 2.0);
    assert_eq!(results["thresholds"][0]["passed"], true);
    assert_eq!(
        as_u64(&run.request("/delay/20")["count"]),
        server.count("/delay/20")
    );
}

#[test]
fn csv_files_follow_locusts_layout() {
    let server = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("run");
    let run = run_ok(
        "failures",
        &server.url(),
        &[
            "-u",
            "2",
            "-t",
            "3s",
            "--csv",
            prefix.to_str().unwrap(),
            "--var",
            &format!("closed_port={}", crate::harness::closed_port()),
        ],
    );
    let read =
        |name: &str| std::fs::read_to_string(dir.path().join(format!("run_{name}.csv"))).unwrap();

    let stats = read("stats");
    let mut lines = stats.lines();
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("Type,Name,Request Count,Failure Count,Median Response Time,")
    );
    let aggregated = stats.lines().last().unwrap();
    assert!(aggregated.starts_with(",Aggregated,"), "{stats}");
    let total: u64 = aggregated.split(',').nth(2).unwrap().parse().unwrap();
    assert_eq!(
        total,
        as_u64(&run.results.as_ref().unwrap()["total"]["count"])
    );

    let failures = read("failures");
    assert!(
        failures.starts_with("Method,Name,Error,Occurrences,Scenario\n"),
        "{failures}"
    );
    assert!(
        failures.contains("GET,/status/503,status-5xx: status 503 Service Unavailable"),
        "{failures}"
    );
    // Every row ends with the plan it came from; the aggregate with none.
    assert!(
        stats.lines().next().unwrap().ends_with(",100%,Scenario"),
        "{stats}"
    );
    assert!(
        stats.lines().nth(1).unwrap().ends_with(",failures"),
        "{stats}"
    );
    assert!(aggregated.ends_with(','), "{stats}");

    let history = read("stats_history");
    let rows: Vec<&str> = history.lines().skip(1).collect();
    assert!(rows.len() >= 2, "{history}");
    let counts: Vec<u64> = rows
        .iter()
        .map(|row| row.split(',').nth(17).unwrap().parse().unwrap())
        .collect();
    assert!(
        counts.windows(2).all(|pair| pair[0] <= pair[1]),
        "{history}"
    );
    assert!(*counts.last().unwrap() <= total);
}

/// `GET path` on `port` of 127.0.0.1; the whole answer.
fn get(port: u16, path: &str) -> String {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n").unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

#[test]
fn prometheus_scrapes_the_live_counts() {
    let server = TestServer::start();
    let port = crate::harness::closed_port();
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("results.json");
    let scenario = crate::harness::fixture("fetch");
    let child = crate::harness::throng()
        .args(["run", scenario.to_str().unwrap(), "--host", &server.url()])
        .args(["-u", "2", "-t", "4s", "--var", "path=/delay/20"])
        .args(["--metrics-addr", &format!("127.0.0.1:{port}"), "--json"])
        .arg(&json)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(2500));

    let answer = get(port, "/metrics");
    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
    let value = |prefix: &str| -> u64 {
        let line = answer
            .lines()
            .find(|line| line.starts_with(prefix))
            .unwrap_or_else(|| panic!("no `{prefix}` in\n{answer}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    let labels = r#"scenario="fetch",name="/delay/20",method="GET""#;
    let requests = value(&format!("throng_requests_total{{{labels}}} "));
    assert!(requests > 20, "{answer}");
    let everything = value(&format!(
        "throng_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} "
    ));
    let under_10ms = value(&format!(
        "throng_request_duration_seconds_bucket{{{labels},le=\"0.01\"}} "
    ));
    assert!(
        everything <= requests && everything + 2 >= requests,
        "{answer}"
    );
    assert_eq!(under_10ms, 0, "every request waited 20 ms:\n{answer}");
    assert_eq!(value("throng_users{scenario=\"fetch\"} "), 2);
    assert!(get(port, "/").starts_with("HTTP/1.1 404"));

    let run = crate::harness::finish(child.wait_with_output().unwrap(), &json);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(as_u64(&run.request("/delay/20")["count"]) >= requests);
}

#[test]
fn iteration_limits_end_the_run_when_the_tasks_are_done() {
    let server = TestServer::start();
    let per_user = run_ok(
        "fetch",
        &server.url(),
        &["-u", "4", "--iterations", "5", "-t", "1m"],
    );
    assert_eq!(per_user.task_count("fetch"), 20);
    assert_eq!(per_user.task_count("on-stop"), 4);
    let duration = per_user.results.as_ref().unwrap()["run"]["duration_s"]
        .as_f64()
        .unwrap();
    assert!(duration < 10.0, "the run went on for {duration} s");

    let shared = run_ok(
        "fetch",
        &server.url(),
        &["-u", "4", "--shared-iterations", "30"],
    );
    assert_eq!(shared.task_count("fetch"), 30);
    assert_eq!(server.count("/"), 50);
}
