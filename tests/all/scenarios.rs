//! Loading scenarios: crate folders are built with cargo, compiled code is
//! cached, `inspect` shows the description and the imports.

use crate::harness::{fixture, fixtures_dir, throng};

#[test]
fn inspect_shows_tasks_weights_and_imports() {
    let scenario = fixture("mix");
    let output = throng()
        .args(["inspect", scenario.to_str().unwrap()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("scenario   mix 0.1.0"), "{stdout}");
    assert!(stdout.contains("five (weight 5, 62.5%)"), "{stdout}");
    assert!(stdout.contains("throng:scenario/http@0.1.1"), "{stdout}");
}

#[test]
fn a_crate_folder_is_built_with_cargo() {
    fixture("fetch");
    let output = throng()
        .args(["inspect"])
        .arg(fixtures_dir().join("fetch"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("building scenario crate"),
        "the user is told cargo runs:\n{stderr}"
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("scenario   fetch"));
}

#[test]
fn compiled_code_is_cached_per_component() {
    let scenario = fixture("misdescribed");
    let cache = tempfile::tempdir().unwrap();
    let inspect = || {
        let output = throng()
            .env("THRONG_CACHE_DIR", cache.path())
            .env("THRONG_LOG", "debug")
            .args(["inspect", scenario.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(output.status.success());
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let first = inspect();
    assert!(first.contains("compiling scenario"), "{first}");
    let second = inspect();
    assert!(
        !second.contains("compiling scenario"),
        "compiled again:\n{second}"
    );
    assert!(
        second.contains("loaded compiled scenario from cache"),
        "{second}"
    );
}

#[test]
fn errors_name_the_crate_folder_the_user_gave() {
    fixture("misdescribed");
    let folder = fixtures_dir().join("misdescribed");
    let output = throng()
        .args(["inspect", "--var", "flaw=no-tasks"])
        .arg(&folder)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    let expected = format!(
        "scenario `{}` describes itself wrongly: it has no tasks",
        folder.display()
    );
    assert!(stderr.contains(&expected), "{stderr}");
}

#[test]
fn a_guest_of_the_first_contract_still_runs() {
    let server = crate::server::TestServer::start();
    let scenario = fixture("contract-0-1-0");
    let inspect = throng()
        .args(["inspect", scenario.to_str().unwrap()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&inspect.stdout);
    assert!(stdout.contains("throng:scenario/http@0.1.0"), "{stdout}");
    let run = crate::harness::run_component_ok(&scenario, &server.url(), &["-u", "2", "-t", "1s"]);
    let count = crate::harness::as_u64(&run.request("/")["count"]);
    assert!(count > 10, "{}", run.stdout);
    assert_eq!(count, server.count("/"));
}
