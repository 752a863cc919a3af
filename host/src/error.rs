//! Errors that cross modules, and the exit statuses they map to.

use std::process::ExitCode;

use crate::config::ConfigError;
use crate::scenario::LoadError;

/// The run completed, whatever its failures.
pub const EXIT_OK: u8 = 0;
/// Something went wrong that is not the user's input: a file could not be
/// written, wasmtime could not start.
pub const EXIT_ERROR: u8 = 1;
/// The configuration or the scenario is wrong; nothing was sent.
pub const EXIT_BAD_INPUT: u8 = 2;
/// The run completed but failed a `--threshold` (k6 uses the same code).
pub const EXIT_THRESHOLDS: u8 = 99;
/// Ctrl-C or SIGTERM ended the run; its results were still printed.
pub const EXIT_INTERRUPTED: u8 = 130;

/// A mistake in the user's input found while running (a relative URL without
/// `--host`).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadInput(pub String);

/// Finds an output file that cannot be written before a run or merge, and
/// touches nothing: an existing file is opened to append (not emptied), a
/// new one is created and removed again.
pub fn check_writable(path: &std::path::Path) -> Result<(), BadInput> {
    let unwritable = |err: std::io::Error| {
        BadInput(format!(
            "cannot write results to `{}`: {err}",
            path.display()
        ))
    };
    if path.exists() {
        std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(unwritable)?;
    } else {
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(unwritable)?;
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}

/// The exit status for an error: 2 when the user's input is at fault.
pub fn exit_code(err: &anyhow::Error) -> ExitCode {
    let bad_input = err.chain().any(|cause| {
        cause.is::<ConfigError>() || cause.is::<LoadError>() || cause.is::<BadInput>()
    });
    ExitCode::from(if bad_input {
        EXIT_BAD_INPUT
    } else {
        EXIT_ERROR
    })
}
