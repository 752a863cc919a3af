//! HTTP as a browser session: redirects followed (only to allowed hosts) and
//! cookies kept per user.

use crate::harness::{as_u64, run_ok};
use crate::server::TestServer;

#[test]
fn redirects_are_followed_and_counted_once() {
    let server = TestServer::start();
    let run = run_ok(
        "fetch",
        &server.url(),
        &[
            "-u",
            "2",
            "-t",
            "2s",
            "--var",
            "path=/redirect/landing",
            "--var",
            "wait_ms=10",
        ],
    );
    let row = run.request("/redirect/landing");
    let count = as_u64(&row["count"]);
    assert!(count > 10);
    assert_eq!(as_u64(&row["failures"]), 0);
    assert_eq!(count, server.count("/redirect/landing"));
    assert_eq!(
        count,
        server.count("/landing"),
        "each redirect was followed once"
    );
}

#[test]
fn redirects_to_hosts_the_run_does_not_allow_fail() {
    let server = TestServer::start();
    let run = run_ok(
        "fetch",
        &server.url(),
        &[
            "-u",
            "1",
            "-t",
            "1s",
            "--var",
            "path=/away",
            "--var",
            "wait_ms=50",
        ],
    );
    let count = as_u64(&run.request("/away")["count"]);
    assert!(count > 0);
    assert_eq!(count, server.count("/away"));
    assert_eq!(run.errors("/away", "invalid"), count);
    assert!(
        run.stdout
            .contains("redirect to `http://127.0.0.2:9/` is not allowed"),
        "{}",
        run.stdout
    );
}

#[test]
fn cookies_are_kept_for_each_user() {
    let server = TestServer::start();
    let run = run_ok("session", &server.url(), &["-u", "3", "-t", "2s"]);
    assert_eq!(server.count("/login"), 3);
    let visits = as_u64(&run.request("/needs-cookie")["count"]);
    assert!(visits > 10);
    assert_eq!(
        as_u64(&run.request("/needs-cookie")["failures"]),
        0,
        "the cookie came back"
    );
}
