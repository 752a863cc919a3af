//! Workload models. The closed model: a fixed number of users started at a
//! spawn rate, or a user count that follows stages, each user running tasks
//! picked by weight with a wait between them. The open model ([`arrival`]):
//! iterations due at a rate, taken up by a pool of users. A run holds one
//! or more plans, each with its model, tasks and start; each plan runs
//! until its run time ends, its iterations are done or the run is
//! interrupted, then stops gracefully within the stop timeout.

pub mod arrival;
mod pick;
pub mod stages;
mod users;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::sleep_until;

pub use arrival::Arrival;
pub use pick::{Picker, WaitTime};
pub use stages::Stage;
pub use users::Users;

use crate::runtime::vu::Run;
use crate::scenario::Task;

/// How often the user count is brought to what the stages want.
const RAMP_TICK: Duration = Duration::from_millis(50);

/// Where the run is. Users watch it: `Stopping` ends waits and sleeps and
/// lets tasks in flight finish; `Aborting` cuts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    Running,
    Stopping,
    Aborting,
}

/// What one plan of a run runs.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The name its rows carry.
    pub name: String,
    /// When it starts, after the run's start.
    pub start: Duration,
    /// With stages, the most users at once.
    pub users: u32,
    /// Users started per second.
    pub spawn_rate: f64,
    /// `None`: until interrupted.
    pub run_time: Option<Duration>,
    pub tasks: Vec<Task>,
    pub wait: WaitTime,
    /// When not empty, the user count follows these instead of `users`
    /// and `spawn_rate`, and the run time is their sum.
    pub stages: Vec<Stage>,
    /// The arrival-rate model instead of the closed one: `users` are started
    /// at once and the pool grows to `max_users`; there is no wait.
    pub arrival: Option<Arrival>,
    /// In the closed model, a number of tasks after which users stop; the
    /// run ends when all have (or at the run time, if sooner).
    pub iterations: Option<IterationLimit>,
}

/// How many tasks the users of the closed model run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IterationLimit {
    /// Each user runs this many.
    PerUser(u64),
    /// All users together run this many, each taking the next as it can.
    Shared(u64),
}

impl Plan {
    /// When user `index` starts, after the run's start.
    fn spawn_offset(&self, index: u32) -> Duration {
        Duration::from_secs_f64(f64::from(index) / self.spawn_rate)
    }
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The run time ended.
    Completed,
    /// Ctrl-C or SIGTERM; `forced` when a second one cut the stop short.
    Interrupted { forced: bool },
    /// A guest revealed a configuration mistake; the message says which.
    Misconfigured(String),
    /// A threshold marked `abort` was crossed; the message says which.
    Halted(String),
}

/// SIGINT (Ctrl-C) and SIGTERM, as one stream.
struct Signals {
    interrupt: Signal,
    terminate: Signal,
}

impl Signals {
    fn new() -> std::io::Result<Self> {
        Ok(Self {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    async fn recv(&mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}

/// Starts user number `spawned` and counts it. The sender retires the user;
/// dropping it lets the user run to the end of the run.
fn spawn_user(
    running: &mut JoinSet<()>,
    users: &Arc<Users>,
    spawned: &mut u32,
) -> watch::Sender<bool> {
    let (retire, retired) = watch::channel(false);
    running.spawn(users.clone().live(*spawned, retired));
    *spawned += 1;
    retire
}

/// What the run asks of its plans.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// Go on to the end of the plan.
    No,
    /// Stop now, letting tasks in flight finish within the stop timeout.
    Graceful,
    /// Stop now and cut tasks in flight.
    Abort,
}

/// Asks every plan to stop, `how`: a graceful stop never softens an abort.
fn ask_stop(run: &Run, stop: &watch::Sender<Stop>, how: Stop) {
    run.stopping.store(true, Ordering::Relaxed);
    stop.send_if_modified(|now| {
        let harder = how == Stop::Abort || *now == Stop::No;
        if harder {
            *now = how;
        }
        harder
    });
}

/// Runs every plan to its end (each starting at its offset), then stops
/// them; Ctrl-C, a guest's configuration mistake or a crossed threshold
/// stop them all. Returns how the run ended.
pub async fn execute(
    plans: Vec<(Arc<Users>, watch::Sender<Phase>)>,
    run: Arc<Run>,
    stop_timeout: Duration,
) -> std::io::Result<Outcome> {
    let mut signals = Signals::new()?;
    let mut fatal = run.fatal.subscribe();
    let mut halt = run.halt.subscribe();
    let (stop, stopped) = watch::channel(Stop::No);
    let started = Instant::now();
    let mut drivers = JoinSet::new();
    for (users, phase) in plans {
        drivers.spawn(drive(users, phase, stopped.clone(), started, stop_timeout));
    }
    let mut outcome = None;
    let mut forced = false;
    loop {
        tokio::select! {
            joined = drivers.join_next() => if joined.is_none() { break },
            () = signals.recv() => {
                if outcome.is_none() {
                    outcome = Some(Outcome::Interrupted { forced: false });
                    ask_stop(&run, &stop, Stop::Graceful);
                } else if *stop.borrow() != Stop::Abort {
                    tracing::warn!("interrupted again; cutting tasks in flight");
                    forced = true;
                    ask_stop(&run, &stop, Stop::Abort);
                }
            }
            Ok(message) = fatal.wait_for(Option::is_some), if outcome.is_none() => {
                outcome = Some(Outcome::Misconfigured(message.clone().unwrap_or_default()));
                ask_stop(&run, &stop, Stop::Abort);
            }
            Ok(message) = halt.wait_for(Option::is_some), if outcome.is_none() => {
                outcome = Some(Outcome::Halted(message.clone().unwrap_or_default()));
                ask_stop(&run, &stop, Stop::Graceful);
            }
        }
    }
    Ok(match outcome {
        None => Outcome::Completed,
        Some(Outcome::Interrupted { .. }) => Outcome::Interrupted { forced },
        Some(other) => other,
    })
}

/// One plan: waits for its start, runs its users to its end (or the run's
/// stop), then stops them within the stop timeout.
async fn drive(
    users: Arc<Users>,
    phase: watch::Sender<Phase>,
    mut stop: watch::Receiver<Stop>,
    run_started: Instant,
    stop_timeout: Duration,
) {
    let plan = users.plan.clone();
    tokio::select! {
        () = sleep_until((run_started + plan.start).into()) => {}
        _ = stop.wait_for(|stop| *stop != Stop::No) => {
            phase.send_replace(Phase::Aborting);
            return;
        }
    }
    let started = Instant::now();
    let deadline = plan.run_time.map(|run_time| started + run_time);
    let far = started + Duration::from_secs(100 * 365 * 24 * 3600);
    let mut running = JoinSet::new();
    let mut spawned = 0;
    // Users that may be asked to stop before the plan does (stages), the
    // latest started last.
    let mut retirable: Vec<watch::Sender<bool>> = Vec::new();
    let mut ramp = tokio::time::interval(RAMP_TICK);
    let mut arrivals: u64 = 0;

    loop {
        let next_spawn = (plan.stages.is_empty() && spawned < plan.users)
            .then(|| started + plan.spawn_offset(spawned));
        // Iterations fall due until the run time ends, not at its end.
        let next_due = plan
            .arrival
            .as_ref()
            .and_then(|arrival| arrival.due(arrivals))
            .map(|due| started + due)
            .filter(|due| deadline.is_none_or(|deadline| *due < deadline));
        tokio::select! {
            () = sleep_until(next_spawn.unwrap_or(far).into()), if next_spawn.is_some() => {
                spawn_user(&mut running, &users, &mut spawned);
            }
            _ = ramp.tick(), if !plan.stages.is_empty() => {
                // Reap the users that retired.
                while running.try_join_next().is_some() {}
                let wanted = stages::users_at(&plan.stages, started.elapsed()) as usize;
                retirable.retain(|retire| !retire.is_closed());
                while retirable.len() < wanted {
                    retirable.push(spawn_user(&mut running, &users, &mut spawned));
                }
                while retirable.len() > wanted {
                    let retire = retirable.pop().expect("more users than wanted");
                    retire.send_replace(true);
                }
            }
            () = sleep_until(next_due.unwrap_or(far).into()), if next_due.is_some() => {
                let (arrival, queue) = match (&plan.arrival, &users.queue) {
                    (Some(arrival), Some(queue)) => (arrival, queue),
                    _ => unreachable!("the arrival-rate model has a queue"),
                };
                arrivals += 1;
                // Every user busy: grow the pool, up to its maximum.
                if !queue.has_idle_user() && spawned < arrival.max_users {
                    spawn_user(&mut running, &users, &mut spawned);
                }
                let offered = queue.offer(next_due.expect("an arrival was due"));
                users.run.stats.record_iterations(1, 0, u64::from(!offered));
            }
            () = sleep_until(deadline.unwrap_or(far).into()) => break,
            _ = stop.wait_for(|stop| *stop != Stop::No) => break,
            // With an iteration limit, users stop on their own; the plan
            // ends with the last of them.
            Some(_) = running.join_next(), if plan.iterations.is_some() && !running.is_empty() => {
                if running.is_empty() && spawned >= plan.users {
                    break;
                }
            }
        }
    }

    let abort_now = *stop.borrow() == Stop::Abort;
    phase.send_replace(if abort_now {
        Phase::Aborting
    } else {
        Phase::Stopping
    });
    while running.try_join_next().is_some() {}
    tracing::info!(plan = %plan.name, users = running.len(), "stopping");
    let grace = tokio::time::sleep(stop_timeout);
    tokio::pin!(grace);
    loop {
        tokio::select! {
            joined = running.join_next() => if joined.is_none() { break },
            () = &mut grace, if *phase.borrow() == Phase::Stopping => {
                tracing::warn!(
                    plan = %plan.name,
                    users = running.len(),
                    "stop timeout reached; cutting tasks in flight"
                );
                phase.send_replace(Phase::Aborting);
            }
            _ = stop.wait_for(|stop| *stop == Stop::Abort), if *phase.borrow() == Phase::Stopping => {
                phase.send_replace(Phase::Aborting);
            }
        }
    }
    // Iterations still queued never started: dropped, not lost.
    if let Some(queue) = &users.queue {
        let left = queue.drain().await;
        users.run.stats.record_iterations(0, 0, left);
    }
}
