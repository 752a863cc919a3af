//! Scenarios: load a component from a `.wasm` file or build it from a crate
//! folder ([`load()`]), compile it with a cache ([`compile()`]), and ask it what
//! it is ([`describe()`]).

mod compile;
mod describe;
mod load;

use std::path::PathBuf;

pub use compile::compile;
pub use describe::{Description, Task, describe, prepare};
pub use load::{Source, load};

/// Why a scenario cannot run. Every variant is a mistake in what the user
/// gave: exit status 2, nothing is sent.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("scenario `{}` does not exist", .0.display())]
    NotFound(PathBuf),
    #[error("failed to read scenario `{}`", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("scenario `{}` is not a WebAssembly file", .0.display())]
    NotWasm(PathBuf),
    #[error(
        "scenario `{}` is a core WebAssembly module, not a component: build it for \
         `wasm32-wasip2`, or wrap it with `wasm-tools component new`",
        .0.display()
    )]
    CoreModule(PathBuf),
    #[error("folder `{}` has no Cargo.toml: give a `.wasm` component or a scenario crate", .0.display())]
    NotACrate(PathBuf),
    #[error("failed to build scenario crate `{}`: {message}", .dir.display())]
    Build { dir: PathBuf, message: String },
    #[error("failed to compile scenario `{}`", .path.display())]
    Compile {
        path: PathBuf,
        #[source]
        source: anyhow::Error,
    },
    #[error("scenario `{}` does not implement the world `throng:scenario/scenario@0.1.x`: {detail}", .path.display())]
    WrongWorld { path: PathBuf, detail: String },
    #[error("scenario `{}` failed to describe itself: {detail}", .path.display())]
    Describe { path: PathBuf, detail: String },
    #[error("scenario `{}` describes itself wrongly: {detail}", .path.display())]
    BadDescription { path: PathBuf, detail: String },
}
