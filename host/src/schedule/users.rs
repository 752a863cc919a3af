//! One virtual user's life in the closed model: start (a fresh instance and
//! `on-start`), then tasks picked by weight with waits between them until
//! the run stops, then `on-stop`. A trap replaces the instance; a failed
//! start is retried after a pause.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::arrival::Queue;
use super::{IterationLimit, Phase, Picker, Plan};
use crate::runtime::bindings::ScenarioPre;
use crate::runtime::vu::{Call, RunContext};
use crate::runtime::{CallOutcome, Vu, VuState};
use crate::stats::ErrorKind;

/// The shortest pause before a user whose start failed tries again.
const RESTART_PAUSE: Duration = Duration::from_secs(1);

/// What every user of a run shares.
pub struct Users {
    pub pre: ScenarioPre<VuState>,
    pub run: Arc<RunContext>,
    pub plan: Arc<Plan>,
    pub picker: Picker,
    pub tls: rustls::ClientConfig,
    /// In the arrival-rate model, where users take due iterations from.
    pub queue: Option<Queue>,
    /// Tasks left to all users with a shared iteration limit.
    pub shared_left: AtomicU64,
}

impl Users {
    /// One user's life. `retire` turning true ends it as the run's stop
    /// does (the task in flight finishes, then `on-stop`) while the others
    /// go on: stages that lower the user count send it.
    pub async fn live(self: Arc<Self>, id: u32, mut retire: watch::Receiver<bool>) {
        let session = match crate::imports::http::Session::new(&self.tls) {
            Ok(session) => session,
            Err(err) => {
                tracing::error!(vu = id, error = %err, "could not build the user's HTTP client");
                return;
            }
        };
        let mut phase = self.run.phase.clone();
        let mut rng = fastrand::Rng::new();
        let mut iteration = 0;
        let mut vu: Option<Vu> = None;
        tracing::debug!(vu = id, "user started");
        let alive = self.run.active_users.fetch_add(1, Ordering::Relaxed) + 1;
        self.run.peak_users.fetch_max(alive, Ordering::Relaxed);
        let plan = self.run.plan_users();
        let alive = plan.alive.fetch_add(1, Ordering::Relaxed) + 1;
        plan.peak.fetch_max(alive, Ordering::Relaxed);

        while *phase.borrow() == Phase::Running && !*retire.borrow() {
            let current = match vu.as_mut() {
                Some(current) => current,
                None => match self.start(id, &session, iteration, &mut phase).await {
                    Some(started) => vu.insert(started),
                    None => {
                        let pause = self.plan.wait.sample(&mut rng).max(RESTART_PAUSE);
                        pause_unless_stopping(pause, &mut phase, &mut retire).await;
                        continue;
                    }
                },
            };

            if !self.may_run_another(iteration) {
                break;
            }
            // In the arrival-rate model a task runs when an iteration falls
            // due, timed from then; in the closed model, after the wait.
            let due = match &self.queue {
                None => None,
                Some(queue) => {
                    let taken = tokio::select! {
                        due = queue.take() => due,
                        _ = phase.wait_for(|phase| *phase != Phase::Running) => queue.try_take(),
                    };
                    let Some(due) = taken else { break };
                    self.run.stats.record_iterations(0, 1, 0);
                    Some(due)
                }
            };
            let task = &self.plan.tasks[self.picker.pick(&mut rng)].name;
            current.state_mut().iteration = iteration;
            current.state_mut().due = due;
            iteration += 1;
            match self.call(current, Call::Task(task), task, &mut phase).await {
                Some(CallOutcome::Trapped { .. }) => vu = None,
                Some(_) => {}
                None => break,
            }
            if self.queue.is_none() {
                let wait = self.plan.wait.sample(&mut rng);
                pause_unless_stopping(wait, &mut phase, &mut retire).await;
            }
        }

        if let Some(mut vu) = vu
            && *phase.borrow() != Phase::Aborting
        {
            self.call(&mut vu, Call::Stop, "on-stop", &mut phase).await;
        }
        self.run.active_users.fetch_sub(1, Ordering::Relaxed);
        self.run.plan_users().alive.fetch_sub(1, Ordering::Relaxed);
        tracing::debug!(vu = id, "user stopped");
    }

    /// Whether the iteration limit, if any, lets a user that has run `done`
    /// tasks run another; a shared limit is taken from as it answers.
    fn may_run_another(&self, done: u64) -> bool {
        match self.plan.iterations {
            None => true,
            Some(IterationLimit::PerUser(limit)) => done < limit,
            Some(IterationLimit::Shared(_)) => self
                .shared_left
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                    left.checked_sub(1)
                })
                .is_ok(),
        }
    }

    /// A fresh instance that has run `on-start`, or `None` when either
    /// failed (the failure is recorded).
    async fn start(
        &self,
        id: u32,
        session: &crate::imports::http::Session,
        iteration: u64,
        phase: &mut watch::Receiver<Phase>,
    ) -> Option<Vu> {
        let started = Instant::now();
        let state = VuState::new(self.run.clone(), session.clone(), id, iteration);
        let mut vu = match Vu::new(&self.pre, state).await {
            Ok(vu) => vu,
            Err(err) => {
                let message = format!("could not instantiate the scenario: {err:#}");
                self.run.stats.record_task(
                    "on-start",
                    started.elapsed(),
                    Some((ErrorKind::Trap, &message)),
                );
                return None;
            }
        };
        match self.call(&mut vu, Call::Start, "on-start", phase).await {
            Some(CallOutcome::Ok) => Some(vu),
            _ => None,
        }
    }

    /// Calls the guest and records the call as a task run. `None` when the
    /// run aborted the call.
    async fn call(
        &self,
        vu: &mut Vu,
        call: Call<'_>,
        name: &str,
        phase: &mut watch::Receiver<Phase>,
    ) -> Option<CallOutcome> {
        let started = Instant::now();
        let outcome = tokio::select! {
            outcome = vu.call(call) => outcome,
            _ = phase.wait_for(|phase| *phase == Phase::Aborting) => {
                let message = "the run stopped before the task ended";
                self.run.stats.record_task(name, started.elapsed(), Some((ErrorKind::Aborted, message)));
                return None;
            }
        };
        let elapsed = started.elapsed();
        let stats = &self.run.stats;
        match &outcome {
            CallOutcome::Ok => stats.record_task(name, elapsed, None),
            CallOutcome::Failed(message) => {
                stats.record_task(name, elapsed, Some((ErrorKind::Task, message)))
            }
            CallOutcome::Trapped { kind, message } => {
                stats.record_task(name, elapsed, Some((*kind, message)))
            }
        }
        Some(outcome)
    }
}

/// Waits, but not past the start of the stop or the user's retirement.
async fn pause_unless_stopping(
    duration: Duration,
    phase: &mut watch::Receiver<Phase>,
    retire: &mut watch::Receiver<bool>,
) {
    if duration.is_zero() {
        return;
    }
    tokio::select! {
        () = tokio::time::sleep(duration) => {}
        _ = phase.wait_for(|phase| *phase != Phase::Running) => {}
        () = retired(retire) => {}
    }
}

/// Completes when the user is asked to retire; never for a user whose
/// sender is gone (the closed model keeps none).
async fn retired(retire: &mut watch::Receiver<bool>) {
    if retire.wait_for(|retire| *retire).await.is_err() {
        std::future::pending::<()>().await;
    }
}
