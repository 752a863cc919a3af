//! The only place that configures wasmtime: the engine (epoch interruption,
//! the pooling allocator with copy-on-write memory images), the linker with
//! every import, and the per-user instance in [`vu`].

pub mod limits;
mod output;
pub mod vu;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use wasmtime::component::{HasSelf, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

pub use vu::{CallOutcome, Vu, VuState};

/// The bindings generated from `wit/`. Only the imports that wait on the
/// network or the clock are async on the host.
pub mod bindings {
    wasmtime::component::bindgen!({
        world: "scenario",
        path: "../wit",
        imports: {
            "throng:scenario/http.send": async,
            "throng:scenario/http.open": async,
            "throng:scenario/http.[method]body-stream.next-chunk": async,
            "throng:scenario/http.[method]body-stream.cancel": async,
            "throng:scenario/ws.connect": async,
            "throng:scenario/ws.[method]socket.send": async,
            "throng:scenario/ws.[method]socket.receive": async,
            "throng:scenario/ws.[method]socket.close": async,
            "throng:scenario/clock.sleep": async,
        },
        with: {
            "throng:scenario/http.body-stream": crate::imports::stream::BodyStream,
            "throng:scenario/ws.socket": crate::imports::ws::Socket,
        },
        exports: { default: async },
    });
}

/// How often the epoch advances: the longest a guest computes before it
/// yields to the other users.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// What a component needs per instance, measured when it is described, so
/// that the pool holds exactly as many slots as the run's users need.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Footprint {
    pub memories: u32,
    pub tables: u32,
    /// The largest initial table, in elements.
    pub table_elements: usize,
}

/// The pool to size for a run.
#[derive(Debug, Clone, Copy)]
pub struct PoolSize {
    /// Instances alive at once: one per user.
    pub instances: u32,
    pub footprint: Footprint,
}

/// Settings that change compiled code, so they must be the same for the
/// engine that compiles and the one that runs.
#[derive(Debug, Clone, Copy)]
pub struct EngineOptions {
    /// The most linear memory one instance may use, in bytes.
    pub max_memory: u64,
}

/// Core instances one component may hold. Rust guests use 3, Python and
/// JavaScript about 20; the pool only counts them, so a generous bound costs
/// nothing.
const CORE_INSTANCES_PER_COMPONENT: u32 = 64;

/// Builds an engine; with a pool for a run, without one to compile and
/// describe.
pub fn engine(options: EngineOptions, pool: Option<PoolSize>) -> anyhow::Result<Engine> {
    let mut config = Config::new();
    config.epoch_interruption(true);
    config.memory_init_cow(true);
    // A reservation the size of the limit keeps the pool's address space
    // proportional to the users; bounds checks are then explicit, which
    // costs little next to the network work a scenario does.
    config.memory_reservation(options.max_memory);
    config.memory_guard_size(64 << 10);
    config.memory_reservation_for_growth(0);

    if let Some(pool) = pool {
        // One spare slot per kind for the instance that replaces a trapped
        // one while the old store is still being dropped.
        let instances = pool.instances.saturating_add(16);
        let memories = pool.footprint.memories.max(1);
        let tables = pool.footprint.tables.max(1);
        let mut pooling = PoolingAllocationConfig::new();
        pooling
            .total_component_instances(instances)
            .total_core_instances(instances.saturating_mul(CORE_INSTANCES_PER_COMPONENT))
            .max_core_instances_per_component(CORE_INSTANCES_PER_COMPONENT)
            .total_memories(instances.saturating_mul(memories))
            .max_memories_per_component(memories)
            .max_memories_per_module(memories)
            .total_tables(instances.saturating_mul(tables))
            .max_tables_per_component(tables)
            .max_tables_per_module(tables)
            .table_elements(pool.footprint.table_elements.max(10_000))
            .max_memory_size(usize::try_from(options.max_memory).unwrap_or(usize::MAX))
            .total_stacks(instances);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling));
    }

    let engine = Engine::new(&config)
        .map_err(anyhow::Error::from)
        .context("failed to configure wasmtime")?;
    start_epoch_ticker(&engine);
    Ok(engine)
}

/// Advances the engine's epoch every tick until the engine is dropped.
fn start_epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("throng-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .expect("spawning a thread at start-up");
}

/// A linker with WASI (no files, sockets or environment are granted) and
/// throng's own imports.
pub fn linker(engine: &Engine) -> anyhow::Result<Arc<Linker<VuState>>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)
        .map_err(anyhow::Error::from)
        .context("failed to link WASI")?;
    bindings::Scenario::add_to_linker::<VuState, HasSelf<VuState>>(&mut linker, |state| state)
        .map_err(anyhow::Error::from)
        .context("failed to link throng's imports")?;
    Ok(Arc::new(linker))
}
