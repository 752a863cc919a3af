//! The `origin-api` binary as scripts use it: the announce line, the knobs on
//! stderr, graceful exit on SIGTERM with a final report, and flag errors with
//! clap's exit status.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const BINARY: &str = env!("CARGO_BIN_EXE_origin-api");

fn spawn(args: &[&str]) -> Child {
    Command::new(BINARY)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits at most `limit` for `child` to exit, killing it (by its own handle) if it hangs.
fn wait_exit(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("origin-api did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn announces_its_address_serves_and_exits_zero_on_sigterm() {
    let mut child = spawn(&["--port", "0", "--workers", "2", "--retrieval-delay", "10ms"]);
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let address = line
        .trim_end()
        .strip_prefix("origin-api listening on http://127.0.0.1:")
        .unwrap_or_else(|| panic!("unexpected announce line {line:?}"));
    let port: u16 = address.parse().unwrap();
    assert_ne!(port, 0);

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let stats = runtime.block_on(async {
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let url = format!("http://127.0.0.1:{port}/_stats");
        client.get(url).send().await.unwrap().text().await.unwrap()
    });
    let stats: serde_json::Value = serde_json::from_str(&stats).unwrap();
    assert_eq!(stats["reviews"]["workers"], 2);

    let terminated = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(terminated.success());
    let status = wait_exit(&mut child, Duration::from_secs(5));
    assert_eq!(status.code(), Some(0));
    let stderr = stderr_of(&mut child);
    assert!(stderr.contains("workers=2"), "{stderr}");
    assert!(stderr.contains("retrieval-delay=10ms"), "{stderr}");
    // On exit it says what it saw: here the one /_stats request, which is not counted.
    let (_, report) = stderr
        .split_once("origin-api saw:\n")
        .expect("a final report");
    assert!(
        report.contains("0 done, 0 failed, 0 still queued, 0 running on 2 workers"),
        "{report}"
    );
    assert!(!report.contains("/api/"), "{report}");
}

#[test]
fn bad_flag_values_exit_2_naming_the_flag() {
    for (flag, value) in [
        ("--workers", "0"),
        ("--llm-rate", "0"),
        ("--db-acquire-timeout", "later"),
    ] {
        let mut child = spawn(&[flag, value]);
        let status = wait_exit(&mut child, Duration::from_secs(5));
        assert_eq!(status.code(), Some(2), "{flag} {value}");
        let stderr = stderr_of(&mut child);
        assert!(stderr.contains(flag), "{stderr}");
    }
}

#[test]
fn help_documents_each_flag_with_its_default() {
    let output = Command::new(BINARY).arg("--help").output().unwrap();
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    for expected in [
        "--port",
        "[default: 8080]",
        "--retrieval-delay",
        "[default: 300ms]",
        "--llm-rate",
        "[default: 10]",
        "--db-acquire-timeout",
        "[default: 200ms]",
        "--ws-close-after",
        "code 4000",
    ] {
        assert!(help.contains(expected), "{expected} missing in\n{help}");
    }
}

/// Everything an exited child wrote to stderr.
fn stderr_of(child: &mut Child) -> String {
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr is piped")
        .read_to_string(&mut stderr)
        .unwrap();
    stderr
}
