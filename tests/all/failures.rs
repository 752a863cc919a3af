//! Each kind of failure lands in its own row, with the count the server (or
//! the task counts) says it should have.

use crate::harness::{as_u64, closed_port, run_ok};
use crate::server::TestServer;

#[test]
fn failures_are_grouped_by_kind() {
    let server = TestServer::start();
    let closed_port = format!("closed_port={}", closed_port());
    let run = run_ok(
        "failures",
        &server.url(),
        &[
            "--allow-host",
            "127.0.0.1",
            "-u",
            "4",
            "-t",
            "4s",
            "--var",
            &closed_port,
        ],
    );

    let refused = run.task_count("refused");
    assert!(refused > 0);
    assert_eq!(run.errors("refused", "connect"), refused);

    let timeouts = run.task_count("timeout");
    assert!(timeouts > 0);
    assert_eq!(run.errors("/delay/2000", "timeout"), timeouts);

    assert_eq!(
        run.errors("/status/429", "status-429"),
        server.count("/status/429")
    );
    assert_eq!(
        run.errors("/status/429", "status-429"),
        run.task_count("limited")
    );
    assert_eq!(
        run.errors("/status/503", "status-5xx"),
        server.count("/status/503")
    );
    assert_eq!(
        as_u64(&run.request("/status/404")["failures"]),
        0,
        "an expected 404 is no failure"
    );

    let traps = run.task_count("trap");
    assert!(traps > 0);
    assert_eq!(run.errors("trap", "trap"), traps);
    assert!(
        run.stdout.contains("deliberate trap"),
        "the trap's message names the panic:\n{}",
        run.stdout
    );
    // Each trap replaces the instance, and the new one starts again.
    assert_eq!(run.task_count("on-start"), 4 + traps);

    assert_eq!(
        run.errors("deliberately false", "check"),
        run.task_count("check")
    );
    assert_eq!(run.errors("error", "task"), run.task_count("error"));
}
