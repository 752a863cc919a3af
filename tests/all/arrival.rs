//! The arrival-rate model: iterations due at a rate whatever the server
//! does, a pool that grows to its bound, dropped iterations counted, and
//! latency corrected for coordinated omission.

use crate::harness::{Run, as_f64, as_u64, run_ok};
use crate::server::TestServer;

fn iterations(run: &Run) -> (u64, u64, u64) {
    let iterations = &run.results.as_ref().unwrap()["run"]["iterations"];
    (
        as_u64(&iterations["due"]),
        as_u64(&iterations["started"]),
        as_u64(&iterations["dropped"]),
    )
}

#[test]
fn the_rate_is_held_whatever_the_server_does() {
    let server = TestServer::start();
    let run = run_ok(
        "fetch",
        &server.url(),
        &[
            "--arrival-rate",
            "200",
            "-u",
            "5",
            "--max-users",
            "50",
            "-t",
            "10s",
            "--var",
            "path=/delay/10",
        ],
    );
    let (due, started, dropped) = iterations(&run);
    assert!(
        (1980..=2020).contains(&due),
        "{due} iterations due in 10 s at 200/s"
    );
    assert_eq!((started, dropped), (due, 0));
    assert_eq!(server.count("/delay/10"), started);
    assert!(run.stdout.contains("Iterations: "), "{}", run.stdout);
}

#[test]
fn a_stall_shows_in_the_corrected_latency_and_not_the_raw() {
    let server = TestServer::start();
    // 100/s for 10 s on at most 20 users; the server holds every request
    // for 2 s from 4 s after the first request.
    let run = run_ok(
        "fetch",
        &server.url(),
        &[
            "--arrival-rate",
            "100",
            "-u",
            "20",
            "--max-users",
            "20",
            "-t",
            "10s",
            "--var",
            "path=/stall/4000/2000",
        ],
    );
    let row = run.request("/stall/4000/2000");
    let corrected = as_f64(&row["corrected_latency_ms"]["p90"]);
    let raw = as_f64(&row["latency_ms"]["p90"]);
    assert!(corrected > 1000.0, "corrected p90 {corrected} ms");
    assert!(raw < 100.0, "raw p90 {raw} ms");
    assert!(row["corrected_histogram"].is_string());
    let (due, started, dropped) = iterations(&run);
    assert_eq!(started + dropped, due);
    assert!(run.stdout.contains("p90*"), "{}", run.stdout);
}

#[test]
fn beyond_capacity_the_pool_stays_bounded_and_drops_are_counted() {
    let server = TestServer::start();
    // 20 users at 200 ms each serve 100/s; 200/s are due.
    let run = run_ok(
        "fetch",
        &server.url(),
        &[
            "--arrival-rate",
            "200",
            "-u",
            "5",
            "--max-users",
            "20",
            "--max-queue",
            "10",
            "-t",
            "5s",
            "--var",
            "path=/delay/200",
        ],
    );
    assert!(
        server.most_in_flight() <= 20,
        "{} at once",
        server.most_in_flight()
    );
    assert!(run.task_count("on-start") <= 20);
    let (due, started, dropped) = iterations(&run);
    assert!((990..=1010).contains(&due), "{due} due in 5 s at 200/s");
    assert!(dropped > 300, "only {dropped} dropped");
    assert_eq!(started + dropped, due);
    assert_eq!(server.count("/delay/200"), started);
}

#[test]
fn a_ramping_rate_starts_the_iterations_its_stages_add_up_to() {
    let server = TestServer::start();
    // 0 to 200/s over 4 s (400 iterations), then 200/s for 2 s (400 more).
    let run = run_ok(
        "fetch",
        &server.url(),
        &[
            "--rate-stage",
            "4s:200",
            "--rate-stage",
            "2s:200",
            "-u",
            "5",
            "--var",
            "path=/delay/10",
        ],
    );
    let (due, started, dropped) = iterations(&run);
    assert!(
        (792..=808).contains(&due),
        "{due} iterations due, not about 800"
    );
    assert_eq!((started, dropped), (due, 0));
    assert_eq!(server.count("/delay/10"), started);
    assert_eq!(run.results.as_ref().unwrap()["run"]["run_time_s"], 6.0);
}
