//! One virtual user's instance: a `Store<VuState>` with its own limits and
//! CPU budget, and the calls into the guest's exports. A call that traps
//! poisons the instance; the caller replaces it with a fresh one.

use std::collections::HashSet;
use std::sync::atomic::AtomicU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use wasmtime::component::ResourceTable;
use wasmtime::{ResourceLimiter, Store, UpdateDeadline};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use super::bindings::{Scenario, ScenarioPre};
use super::output::GuestOutput;
use super::{EPOCH_TICK, Footprint};
use crate::config::HttpConfig;
use crate::schedule::Phase;
use crate::stats::{ErrorKind, Recorder, Stats};

/// What every user of a run shares, whatever its plan.
pub struct Run {
    pub stats: Arc<Stats>,
    pub http: HttpConfig,
    /// The first mistake in the run's configuration a guest revealed (a
    /// relative URL without `--host`): the run stops and exits with status 2.
    pub fatal: watch::Sender<Option<String>>,
    /// Why the run should stop early though nothing is wrong with it (a
    /// threshold marked `abort` was crossed): it stops gracefully.
    pub halt: watch::Sender<Option<String>>,
    /// Set once the whole run is stopping, for the live line.
    pub stopping: std::sync::atomic::AtomicBool,
    /// The longest a guest may compute without calling the host.
    pub cpu_budget: Duration,
    pub started: Instant,
    /// Users alive now, for the live line.
    pub active_users: AtomicU32,
    /// The most users alive at once, for the summary.
    pub peak_users: AtomicU32,
    /// Each plan's users, in the plans' order.
    pub plan_users: Vec<PlanUsers>,
    /// The tasks reading streamed bodies, which count their streams when
    /// they end.
    pub readers: crate::imports::stream::Readers,
    /// Trap messages already logged with their backtrace.
    logged_traps: Mutex<HashSet<String>>,
    /// Lines of guest output already logged.
    logged_output: Mutex<HashSet<String>>,
}

/// What the users of one plan share: where they record, their variables,
/// their plan's phase, and (through `Deref`) the whole run's [`Run`].
pub struct RunContext {
    pub run: Arc<Run>,
    /// Records under this plan's name.
    pub stats: Recorder,
    pub vars: Vec<(String, String)>,
    /// This plan's phase: plans stop at their own times.
    pub phase: watch::Receiver<Phase>,
    /// The arrival-rate model: requests are also timed from when their
    /// iteration was due (coordinated omission corrected).
    pub corrects_omission: bool,
    /// This plan's index in the run.
    pub plan: usize,
}

/// One plan's users alive now, and the most at once.
#[derive(Debug, Default)]
pub struct PlanUsers {
    pub alive: AtomicU32,
    pub peak: AtomicU32,
}

impl std::ops::Deref for RunContext {
    type Target = Run;

    fn deref(&self) -> &Run {
        &self.run
    }
}

/// Remembers up to 1,000 distinct texts; past that, everything counts as
/// seen, so a guest cannot grow the set without bound.
fn first_time(seen: &Mutex<HashSet<String>>, text: &str) -> bool {
    let mut seen = seen.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    !seen.contains(text) && seen.len() < 1000 && seen.insert(text.to_owned())
}

impl Run {
    pub fn new(stats: Arc<Stats>, http: HttpConfig, cpu_budget: Duration) -> Self {
        Self {
            stats: stats.clone(),
            http,
            fatal: watch::Sender::new(None),
            halt: watch::Sender::new(None),
            stopping: Default::default(),
            cpu_budget,
            started: Instant::now(),
            active_users: AtomicU32::new(0),
            peak_users: AtomicU32::new(0),
            plan_users: stats.plans().iter().map(|_| PlanUsers::default()).collect(),
            readers: Default::default(),
            logged_traps: Mutex::new(HashSet::new()),
            logged_output: Mutex::new(HashSet::new()),
        }
    }

    /// Stops the run because of a configuration mistake found while running.
    pub fn fail_run(&self, message: String) {
        self.fatal.send_if_modified(|fatal| {
            let first = fatal.is_none();
            if first {
                *fatal = Some(message);
            }
            first
        });
    }

    /// True the first time a trap message is seen.
    fn first_trap(&self, message: &str) -> bool {
        first_time(&self.logged_traps, message)
    }

    /// True the first time the guests write this line.
    pub(crate) fn first_output(&self, line: &str) -> bool {
        first_time(&self.logged_output, line)
    }
}

impl RunContext {
    /// The context of plan `plan` (its index in the run's statistics).
    pub fn new(
        run: Arc<Run>,
        plan: usize,
        vars: Vec<(String, String)>,
        phase: watch::Receiver<Phase>,
    ) -> Self {
        Self {
            stats: run.stats.recorder(plan),
            run,
            vars,
            phase,
            corrects_omission: false,
            plan,
        }
    }

    /// This plan's user counts.
    pub fn plan_users(&self) -> &PlanUsers {
        &self.run.plan_users[self.plan]
    }
}

/// The data of one user's store: what the imports need.
pub struct VuState {
    wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) run: Arc<RunContext>,
    pub(crate) http: crate::imports::http::Session,
    pub(crate) user_id: u32,
    pub(crate) iteration: u64,
    /// In the arrival-rate model, when the iteration under way was due,
    /// until its first request takes it.
    pub(crate) due: Option<Instant>,
    /// Epoch ticks the guest has run since it last called the host.
    spin_ticks: u32,
    /// When the guest last called (or returned from) the host: the start of
    /// its current stretch of computing.
    computing_since: Instant,
    stderr_tail: Arc<Mutex<String>>,
    /// Set while describing: counts the memories and tables instantiation
    /// creates.
    footprint: Option<Footprint>,
}

impl VuState {
    pub fn new(
        run: Arc<RunContext>,
        http: crate::imports::http::Session,
        user_id: u32,
        iteration: u64,
    ) -> Self {
        let stderr_tail = Arc::new(Mutex::new(String::new()));
        let wasi = WasiCtxBuilder::new()
            .stdout(GuestOutput::new(
                run.clone(),
                user_id,
                "stdout",
                Arc::new(Mutex::new(String::new())),
            ))
            .stderr(GuestOutput::new(
                run.clone(),
                user_id,
                "stderr",
                stderr_tail.clone(),
            ))
            .build();
        Self {
            wasi,
            table: ResourceTable::new(),
            run,
            http,
            user_id,
            iteration,
            due: None,
            spin_ticks: 0,
            computing_since: Instant::now(),
            stderr_tail,
            footprint: None,
        }
    }

    /// Makes the store count the memories and tables its instance creates.
    pub fn measure_footprint(&mut self) {
        self.footprint = Some(Footprint::default());
    }

    pub fn footprint(&self) -> Option<Footprint> {
        self.footprint
    }

    /// Every import calls this: the guest is not spinning.
    pub(crate) fn touch(&mut self) {
        self.spin_ticks = 0;
        self.computing_since = Instant::now();
    }
}

/// Only installed while measuring: allows everything, counts creations.
impl ResourceLimiter for VuState {
    fn memory_growing(
        &mut self,
        current: usize,
        _desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if let Some(footprint) = self.footprint.as_mut()
            && current == 0
        {
            footprint.memories += 1;
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if let Some(footprint) = self.footprint.as_mut()
            && current == 0
        {
            footprint.tables += 1;
            footprint.table_elements = footprint.table_elements.max(desired);
        }
        Ok(true)
    }
}

impl WasiView for VuState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// The guest computed for longer than its budget since it last called the
/// host (wall time, so a throttled spinner fails on time too).
#[derive(Debug, thiserror::Error)]
#[error("computed for more than {budget:?} without calling the host")]
struct CpuBudgetExceeded {
    budget: Duration,
}

/// Which export to call.
#[derive(Debug, Clone, Copy)]
pub enum Call<'a> {
    Start,
    Task(&'a str),
    Stop,
}

/// How a call into the guest ended.
#[derive(Debug, Clone, PartialEq)]
pub enum CallOutcome {
    Ok,
    /// The guest returned an error; the instance is still good.
    Failed(String),
    /// The guest trapped or ran out of budget; the instance must be
    /// replaced.
    Trapped {
        kind: ErrorKind,
        message: String,
    },
}

/// One user's live instance.
pub struct Vu {
    store: Store<VuState>,
    guest: Scenario,
}

impl Vu {
    /// Instantiates the scenario for one user.
    pub async fn new(pre: &ScenarioPre<VuState>, state: VuState) -> wasmtime::Result<Self> {
        let mut store = Store::new(pre.engine(), state);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|mut ctx| {
            let state = ctx.data_mut();
            state.spin_ticks += 1;
            if state.computing_since.elapsed() > state.run.cpu_budget {
                return Err(wasmtime::Error::new(CpuBudgetExceeded {
                    budget: state.run.cpu_budget,
                }));
            }
            Ok(yield_after_ticks(state.spin_ticks))
        });
        if store.data().footprint.is_some() {
            store.limiter(|state| state);
        }
        let guest = pre.instantiate_async(&mut store).await?;
        Ok(Self { store, guest })
    }

    pub fn state_mut(&mut self) -> &mut VuState {
        self.store.data_mut()
    }

    /// Calls `describe`. A trap comes back as its message, with what the
    /// guest wrote to stderr (a panic's text), not its wasm backtrace.
    pub async fn describe(&mut self) -> Result<super::bindings::Description, String> {
        self.store.data_mut().touch();
        self.store.set_epoch_deadline(1);
        let result = self.guest.call_describe(&mut self.store).await;
        result.map_err(|error| self.trap_message(&error))
    }

    pub async fn call(&mut self, call: Call<'_>) -> CallOutcome {
        self.store.data_mut().touch();
        self.store
            .data()
            .stderr_tail
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clear();
        self.store.set_epoch_deadline(1);
        let result = match call {
            Call::Start => self.guest.call_on_start(&mut self.store).await,
            Call::Task(name) => self.guest.call_run_task(&mut self.store, name).await,
            Call::Stop => self.guest.call_on_stop(&mut self.store).await,
        };
        match result {
            Ok(Ok(())) => CallOutcome::Ok,
            Ok(Err(message)) => CallOutcome::Failed(message),
            Err(error) => self.trapped(call, &error),
        }
    }

    fn trapped(&mut self, call: Call<'_>, error: &wasmtime::Error) -> CallOutcome {
        let state = self.store.data();
        if let Some(budget) = error.downcast_ref::<CpuBudgetExceeded>() {
            return CallOutcome::Trapped {
                kind: ErrorKind::CpuBudget,
                message: budget.to_string(),
            };
        }
        let message = self.trap_message(error);
        if state.run.first_trap(&message) {
            let backtrace = error
                .downcast_ref::<wasmtime::WasmBacktrace>()
                .map_or_else(|| "(none)".to_owned(), ToString::to_string);
            tracing::warn!(vu = state.user_id, call = ?call, trap = %message, "guest trapped; {backtrace}");
        }
        CallOutcome::Trapped {
            kind: ErrorKind::Trap,
            message,
        }
    }

    /// A trap in a line: its kind, then what the guest wrote to stderr
    /// during the call (a panic's text).
    fn trap_message(&self, error: &wasmtime::Error) -> String {
        let trap = error
            .downcast_ref::<wasmtime::Trap>()
            .map(ToString::to_string);
        let tail = self
            .store
            .data()
            .stderr_tail
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        let message = trap.unwrap_or_else(|| first_line(&error.to_string()));
        if tail.is_empty() {
            message
        } else {
            format!("{message}; the guest wrote: {tail}")
        }
    }
}

/// How a guest that has computed through `ticks` epoch ticks without calling
/// the host gives way. The first time it simply yields, which is fair to a
/// guest that parses a large body. A guest that keeps computing runs one
/// tick in every eleven (it sleeps ten between them), so that a runaway
/// guest takes about a tenth of a core while it uses up its budget, and the
/// users that behave keep their pace.
fn yield_after_ticks(ticks: u32) -> UpdateDeadline {
    if ticks <= 1 {
        return UpdateDeadline::Yield(1);
    }
    UpdateDeadline::YieldCustom(1, Box::pin(tokio::time::sleep(EPOCH_TICK * 10)))
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_guest_first_yields_then_sleeps_longer_each_tick() {
        assert!(matches!(yield_after_ticks(1), UpdateDeadline::Yield(1)));
        assert!(matches!(
            yield_after_ticks(2),
            UpdateDeadline::YieldCustom(1, _)
        ));
    }
}
