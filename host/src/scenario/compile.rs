//! Compiles a component, keeping the compiled code in a cache keyed by the
//! component's digest and the engine's configuration, so that the second
//! start of the same scenario does not compile again.

use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::time::Instant;

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use super::{LoadError, Source};

/// The cache folder: `$THRONG_CACHE_DIR`, else `$XDG_CACHE_HOME/throng`, else
/// `~/.cache/throng`.
fn cache_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("THRONG_CACHE_DIR") {
        return Some(PathBuf::from(dir));
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))?;
    Some(base.join("throng"))
}

/// The cache file for this component under this engine.
fn cache_file(engine: &Engine, bytes: &[u8]) -> Option<PathBuf> {
    let digest = Sha256::digest(bytes);
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    env!("CARGO_PKG_VERSION").hash(&mut hasher);
    let digest: String = digest
        .iter()
        .take(16)
        .map(|byte| format!("{byte:02x}"))
        .collect();
    Some(
        cache_dir()?
            .join("compiled")
            .join(format!("{digest}-{:016x}.cwasm", hasher.finish())),
    )
}

/// Compiles the component, or loads it from the cache.
pub fn compile(engine: &Engine, source: &Source) -> Result<Component, LoadError> {
    let cached = cache_file(engine, &source.bytes);
    if let Some(file) = cached.as_ref().filter(|file| file.is_file()) {
        // SAFETY: the file was written by `Engine::precompile_component` in
        // this cache, under a name that carries the engine's compatibility
        // hash; wasmtime still checks its header before using it.
        match unsafe { Component::deserialize_file(engine, file) } {
            Ok(component) => {
                tracing::debug!(file = %file.display(), "loaded compiled scenario from cache");
                return Ok(component);
            }
            Err(err) => {
                tracing::warn!(file = %file.display(), error = %err, "ignoring unusable cache entry")
            }
        }
    }

    let started = Instant::now();
    tracing::info!(file = %source.wasm.display(), "compiling scenario (not in the cache yet)");
    let compile_error = |err: wasmtime::Error| LoadError::Compile {
        path: source.path.clone(),
        source: anyhow::Error::msg(format!("{err:?}")),
    };
    let compiled = engine
        .precompile_component(&source.bytes)
        .map_err(compile_error)?;
    tracing::debug!(ms = started.elapsed().as_millis() as u64, "compiled");
    if let Some(file) = cached {
        store(&file, &compiled);
    }
    // SAFETY: the bytes come from `precompile_component` on this engine.
    unsafe { Component::deserialize(engine, &compiled) }.map_err(compile_error)
}

/// Writes a cache entry atomically; a failure only costs the next start a
/// compile.
fn store(file: &std::path::Path, compiled: &[u8]) {
    let write = || -> std::io::Result<()> {
        let dir = file.parent().expect("cache files live in a folder");
        std::fs::create_dir_all(dir)?;
        let partial = file.with_extension(format!("partial-{}", std::process::id()));
        std::fs::write(&partial, compiled)?;
        std::fs::rename(&partial, file)
    };
    if let Err(err) = write() {
        tracing::warn!(file = %file.display(), error = %err, "could not write the compile cache");
    }
}
