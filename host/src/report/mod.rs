//! What a run shows and writes: the live line while it runs, the summary at
//! the end ([`console`]), the results file ([`json`]), Locust-style CSV
//! files ([`csv`]) and the thresholds as JUnit XML ([`junit`]). Reports read snapshots of the statistics and the
//! thresholds' verdicts only.

pub mod console;
pub mod csv;
pub mod json;
pub mod junit;
pub mod prometheus;

/// What the reports say about the run besides its statistics.
#[derive(Debug, Clone)]
pub struct RunInfo {
    pub scenario: String,
    pub version: String,
    pub source: String,
    pub host: Option<String>,
    pub users: u32,
    pub spawn_rate: f64,
    pub run_time: Option<std::time::Duration>,
    /// The stages the user count followed, if any.
    pub stages: Vec<crate::schedule::Stage>,
    pub started_at: std::time::SystemTime,
    /// `completed`, `interrupted` or `aborted`.
    pub outcome: &'static str,
    /// The plans the run held, in order: one unless the config file gave
    /// several `[[scenarios]]`.
    pub plans: Vec<PlanInfo>,
}

/// One plan of a run: its name (the `scenario` its rows carry), what it
/// ran and how.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanInfo {
    pub name: String,
    /// The component's file.
    pub source: String,
    /// The tasks it picked from.
    pub tasks: Vec<String>,
    /// When it started, after the run's start.
    pub start: std::time::Duration,
    /// Its load model, as the run's first line says it.
    pub load: String,
    /// The most of its users alive at once.
    pub users: u32,
}
