//! The [`Scenario`] trait and the glue that serves the component's exports
//! from one user's state.

use std::any::Any;
use std::cell::RefCell;
use std::time::Duration;

use crate::bindings;

/// The behaviour of one virtual user. The value is the user's state, kept
/// between tasks.
pub trait Scenario: Sized + 'static {
    /// The scenario's name, tasks with weights, and wait time. Called once
    /// per instance; it must not send requests.
    fn describe() -> Describe<Self>;

    /// Starts a user and returns its state: sign up, sign in, create what it
    /// needs. An error is counted and the user tries again later.
    fn on_start() -> crate::Result<Self>;

    /// Stops the user when the run ends. Does nothing unless overridden.
    fn on_stop(&mut self) -> crate::Result<()> {
        Ok(())
    }
}

/// A task: a method of the scenario's state.
pub type TaskFn<S> = fn(&mut S) -> crate::Result<()>;

/// How long a user waits after each task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// No wait: the next task starts at once.
    None,
    /// Always the same time.
    Constant(Duration),
    /// A uniformly random time between the two bounds.
    Between(Duration, Duration),
}

impl Wait {
    /// A uniformly random wait between `low` and `high`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let wait = throng_sdk::Wait::between(Duration::from_secs(1), Duration::from_secs(3));
    /// ```
    pub fn between(low: Duration, high: Duration) -> Self {
        Wait::Between(low, high)
    }

    fn to_wit(self) -> bindings::WaitTime {
        let ms = |duration: Duration| u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
        match self {
            Wait::None => bindings::WaitTime::None,
            Wait::Constant(duration) => bindings::WaitTime::Constant(ms(duration)),
            Wait::Between(low, high) => bindings::WaitTime::Between((ms(low), ms(high))),
        }
    }
}

/// What a scenario tells throng about itself: built with chained calls in
/// [`Scenario::describe`].
#[must_use]
pub struct Describe<S> {
    name: String,
    version: String,
    description: String,
    wait: Wait,
    tasks: Vec<(String, u32, TaskFn<S>)>,
}

impl<S: Scenario> Describe<S> {
    /// A scenario called `name`, version `0.1.0`, with no wait and no tasks
    /// yet.
    ///
    /// ```
    /// # struct Visitor;
    /// # impl throng_sdk::Scenario for Visitor {
    /// #     fn describe() -> throng_sdk::Describe<Self> { throng_sdk::Describe::new("visitor") }
    /// #     fn on_start() -> throng_sdk::Result<Self> { Ok(Visitor) }
    /// # }
    /// let describe = throng_sdk::Describe::<Visitor>::new("visitor").version("1.2.0");
    /// ```
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            version: "0.1.0".to_owned(),
            description: String::new(),
            wait: Wait::None,
            tasks: Vec::new(),
        }
    }

    /// Sets the scenario's version.
    pub fn version(mut self, version: &str) -> Self {
        self.version = version.to_owned();
        self
    }

    /// Sets the one or two sentences `throng inspect` shows.
    pub fn description(mut self, description: &str) -> Self {
        self.description = description.to_owned();
        self
    }

    /// Sets the wait after each task; the run's `--wait-time` overrides it.
    pub fn wait(mut self, wait: Wait) -> Self {
        self.wait = wait;
        self
    }

    /// Adds a task picked `weight` times as often as a task of weight 1.
    pub fn task(mut self, name: &str, weight: u32, run: TaskFn<S>) -> Self {
        self.tasks.push((name.to_owned(), weight, run));
        self
    }

    fn to_wit(&self) -> bindings::Description {
        bindings::Description {
            name: self.name.clone(),
            version: self.version.clone(),
            description: self.description.clone(),
            tasks: self
                .tasks
                .iter()
                .map(|(name, weight, _)| bindings::Task {
                    name: name.clone(),
                    weight: *weight,
                })
                .collect(),
            wait: self.wait.to_wit(),
        }
    }
}

/// One instance serves one user, so its state lives in one slot. The slot is
/// typed `Any` because the exports are generic over the scenario type.
struct User<S> {
    tasks: Vec<(String, TaskFn<S>)>,
    state: Option<S>,
}

thread_local! {
    static USER: RefCell<Option<Box<dyn Any>>> = const { RefCell::new(None) };
}

fn with_user<S: Scenario, T>(body: impl FnOnce(&mut User<S>) -> T) -> T {
    USER.with(|slot| {
        let mut slot = slot.borrow_mut();
        let user = slot.get_or_insert_with(|| {
            let tasks = S::describe()
                .tasks
                .into_iter()
                .map(|(name, _, run)| (name, run))
                .collect();
            Box::new(User::<S> { tasks, state: None })
        });
        let user = user
            .downcast_mut::<User<S>>()
            .expect("one scenario type per component");
        body(user)
    })
}

#[doc(hidden)]
pub fn describe<S: Scenario>() -> bindings::Description {
    S::describe().to_wit()
}

#[doc(hidden)]
pub fn on_start<S: Scenario>() -> Result<(), String> {
    let state = S::on_start().map_err(|err| err.to_string())?;
    with_user::<S, _>(|user| user.state = Some(state));
    Ok(())
}

#[doc(hidden)]
pub fn run_task<S: Scenario>(name: &str) -> Result<(), String> {
    // The task runs outside the borrow of the slot, so that a task may call
    // back into anything in this crate without a double borrow.
    let (run, mut state) = with_user::<S, _>(|user| {
        let run = user
            .tasks
            .iter()
            .find(|(task, _)| task == name)
            .map(|(_, run)| *run);
        (run, user.state.take())
    });
    let Some(run) = run else {
        return Err(format!("no task named `{name}`"));
    };
    let Some(state_ref) = state.as_mut() else {
        return Err("the user has not started".to_owned());
    };
    let result = run(state_ref).map_err(|err| err.to_string());
    with_user::<S, _>(|user| user.state = state);
    result
}

#[doc(hidden)]
pub fn on_stop<S: Scenario>() -> Result<(), String> {
    let state = with_user::<S, _>(|user| user.state.take());
    match state {
        Some(mut state) => state.on_stop().map_err(|err| err.to_string()),
        None => Ok(()),
    }
}
