//! Guests that trap while starting or spin forever fail their own work, not
//! the run: the users that behave keep their throughput.

use crate::harness::{Run, run_ok};
use crate::server::TestServer;

fn work_per_user(vars: &[&str], behaving: u64) -> (Run, f64) {
    let server = TestServer::start();
    let mut args = vec!["-u", "8", "-t", "5s", "--cpu-budget", "200ms"];
    for var in vars {
        args.extend(["--var", var]);
    }
    let run = run_ok("unruly", &server.url(), &args);
    let work = run.task_count("work") - run.errors("work", "cpu-budget");
    (run, work as f64 / behaving as f64)
}

#[test]
fn misbehaving_guests_fail_their_tasks_and_others_keep_their_pace() {
    let (_, baseline) = work_per_user(&[], 8);
    let (run, unruly) = work_per_user(&["trap_start_below=2", "spin_below=4"], 4);

    eprintln!("tasks per behaving user: {baseline:.1} alone, {unruly:.1} beside misbehaving users");
    assert!(
        run.errors("on-start", "trap") > 0,
        "traps in on-start are counted"
    );
    assert!(
        run.stdout.contains("cannot start"),
        "the panic message is shown:\n{}",
        run.stdout
    );
    let spins = run.errors("work", "cpu-budget");
    assert!(
        spins >= 2,
        "spinning tasks fail on their CPU budget ({spins})"
    );
    // The budget is wall time since the guest last called the host: a
    // spinner, throttled while it spins, still fails after about 200 ms.
    let longest = crate::harness::as_f64(&run.task("work")["duration_ms"]["max"]);
    assert!(
        longest < 1000.0,
        "a spinning task ran {longest} ms on a 200 ms budget"
    );
    assert!(
        unruly >= 0.8 * baseline,
        "behaving users slowed from {baseline:.1} to {unruly:.1} tasks each"
    );
}

#[test]
fn a_run_where_no_user_starts_says_so() {
    let server = TestServer::start();
    let run = run_ok(
        "unruly",
        &server.url(),
        &["-u", "1", "-t", "2s", "--var", "trap_start_below=1"],
    );
    assert!(run.task_count("on-start") >= 1);
    assert_eq!(run.task_count("work"), 0);
    assert!(
        run.stdout.contains("No user got past on-start: all ")
            && run.stdout.contains(" starts failed, so no task ran."),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("· 1 user ·"), "{}", run.stdout);
}
