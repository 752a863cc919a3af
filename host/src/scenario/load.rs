//! Finds a scenario's component: reads a `.wasm` file, or builds a crate
//! folder for wasm32-wasip2 with cargo, and checks that what it got is a
//! component.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::LoadError;

/// A component's bytes and where they came from.
#[derive(Debug, Clone)]
pub struct Source {
    /// What the user gave: a `.wasm` file or a crate folder. Messages name
    /// this.
    pub path: PathBuf,
    /// The `.wasm` file read: the one given, or the one cargo built.
    pub wasm: PathBuf,
    pub bytes: Vec<u8>,
}

/// Loads the component at `path`: a `.wasm` file or a crate folder.
pub fn load(path: &Path) -> Result<Source, LoadError> {
    if !path.exists() {
        return Err(LoadError::NotFound(path.to_owned()));
    }
    let wasm = if path.is_dir() {
        build_crate(path)?
    } else {
        path.to_owned()
    };
    let bytes = std::fs::read(&wasm).map_err(|source| LoadError::Read {
        path: wasm.clone(),
        source,
    })?;
    check_component(&wasm, &bytes)?;
    Ok(Source {
        path: path.to_owned(),
        wasm,
        bytes,
    })
}

/// Tells a component from a core module by the header's version and layer
/// fields.
fn check_component(path: &Path, bytes: &[u8]) -> Result<(), LoadError> {
    const MAGIC: &[u8] = b"\0asm";
    const CORE: &[u8] = &[1, 0, 0, 0];
    const COMPONENT_LAYER: &[u8] = &[1, 0];
    if bytes.len() < 8 || &bytes[..4] != MAGIC {
        return Err(LoadError::NotWasm(path.to_owned()));
    }
    if &bytes[4..8] == CORE {
        return Err(LoadError::CoreModule(path.to_owned()));
    }
    if &bytes[6..8] != COMPONENT_LAYER {
        return Err(LoadError::NotWasm(path.to_owned()));
    }
    Ok(())
}

/// Builds a scenario crate with cargo and returns the component it made.
fn build_crate(dir: &Path) -> Result<PathBuf, LoadError> {
    let manifest = dir.join("Cargo.toml");
    if !manifest.is_file() {
        return Err(LoadError::NotACrate(dir.to_owned()));
    }
    let build_error = |message: String| LoadError::Build {
        dir: dir.to_owned(),
        message,
    };
    eprintln!(
        "building scenario crate `{}` for wasm32-wasip2 with cargo",
        dir.display()
    );

    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut child = Command::new(cargo)
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--message-format",
            "json-render-diagnostics",
        ])
        .arg("--manifest-path")
        .arg(&manifest)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|err| build_error(format!("could not start cargo ({err}); is Rust installed?")))?;

    let stdout = child.stdout.take().expect("stdout is piped");
    let mut artifact = None;
    for line in std::io::BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        if let Some(path) = wasm_artifact(&line) {
            artifact = Some(path);
        }
    }
    let status = child.wait().map_err(|err| build_error(err.to_string()))?;
    if !status.success() {
        return Err(build_error(
            "cargo failed (see its output above); if it says the target is missing, run \
             `rustup target add wasm32-wasip2`"
                .to_owned(),
        ));
    }
    artifact.ok_or_else(|| {
        build_error("cargo built no `.wasm` file: is the crate's type `cdylib`?".to_owned())
    })
}

/// The `.wasm` file named by one line of cargo's JSON messages, if any.
fn wasm_artifact(line: &str) -> Option<PathBuf> {
    let message: serde_json::Value = serde_json::from_str(line).ok()?;
    if message.get("reason")?.as_str()? != "compiler-artifact" {
        return None;
    }
    let filenames = message.get("filenames")?.as_array()?;
    filenames
        .iter()
        .filter_map(|name| name.as_str())
        .find(|name| name.ends_with(".wasm"))
        .map(PathBuf::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_tell_components_from_core_modules() {
        let path = Path::new("x.wasm");
        assert!(check_component(path, b"\0asm\x0d\0\x01\0rest").is_ok());
        assert!(matches!(
            check_component(path, b"\0asm\x01\0\0\0rest"),
            Err(LoadError::CoreModule(_))
        ));
        assert!(matches!(
            check_component(path, b"hello world"),
            Err(LoadError::NotWasm(_))
        ));
        assert!(matches!(
            check_component(path, b"\0as"),
            Err(LoadError::NotWasm(_))
        ));
    }

    #[test]
    fn cargo_messages_name_the_wasm_artifact() {
        let line = r#"{"reason":"compiler-artifact","filenames":["/t/hello.d","/t/hello.wasm"]}"#;
        assert_eq!(wasm_artifact(line), Some(PathBuf::from("/t/hello.wasm")));
        assert_eq!(
            wasm_artifact(r#"{"reason":"build-finished","success":true}"#),
            None
        );
        assert_eq!(wasm_artifact("not json"), None);
    }
}
