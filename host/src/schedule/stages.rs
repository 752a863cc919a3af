//! Stages of the closed model: a list of (duration, target users), each
//! ramping the user count linearly from the previous target (0 at the start)
//! to its own over its duration, as k6's ramping users and Locust's load
//! shapes do.

use std::fmt;
use std::time::Duration;

/// One stage: over `duration`, move to `users`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stage {
    pub duration: Duration,
    pub users: u32,
}

/// The users the stages want at `elapsed` since the start: the linear ramp
/// rounded down, so a user starts when the ramp reaches it. Past the last
/// stage, its target.
pub fn users_at(stages: &[Stage], elapsed: Duration) -> u32 {
    let mut from = 0u32;
    let mut start = Duration::ZERO;
    for stage in stages {
        let end = start + stage.duration;
        if elapsed < end {
            let done = (elapsed - start).as_secs_f64() / stage.duration.as_secs_f64();
            let users = f64::from(from) + (f64::from(stage.users) - f64::from(from)) * done;
            // A hair over, so that 19.999999 from float error counts as 20.
            return (users + 1e-9).floor().max(0.0) as u32;
        }
        from = stage.users;
        start = end;
    }
    from
}

/// The whole plan's length.
pub fn total(stages: &[Stage]) -> Duration {
    stages.iter().map(|stage| stage.duration).sum()
}

/// The most users any stage wants.
pub fn peak(stages: &[Stage]) -> u32 {
    stages.iter().map(|stage| stage.users).max().unwrap_or(0)
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}",
            humantime::format_duration(self.duration),
            self.users
        )
    }
}

/// Parses `DURATION:USERS`, such as `30s:50`.
pub fn parse(text: &str) -> Result<Stage, String> {
    let (duration, users) = text
        .rsplit_once(':')
        .ok_or_else(|| format!("`{text}` is not a stage like `30s:50` (a duration, `:`, users)"))?;
    let duration = crate::config::parse_duration(duration)?;
    let users = users
        .trim()
        .parse()
        .map_err(|_| format!("`{users}` in `{text}` is not a whole number of users"))?;
    Ok(Stage { duration, users })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(secs: u64, users: u32) -> Stage {
        Stage {
            duration: Duration::from_secs(secs),
            users,
        }
    }

    #[test]
    fn users_ramp_up_hold_and_ramp_down() {
        let stages = [stage(5, 20), stage(5, 20), stage(5, 0)];
        let at = |secs: f64| users_at(&stages, Duration::from_secs_f64(secs));
        assert_eq!(at(0.0), 0);
        assert_eq!(at(0.25), 1);
        assert_eq!(at(2.5), 10);
        assert_eq!(at(5.0), 20);
        assert_eq!(at(7.0), 20);
        assert_eq!(at(12.5), 10);
        assert_eq!(at(14.99), 0);
        assert_eq!(at(15.0), 0);
        assert_eq!(total(&stages), Duration::from_secs(15));
        assert_eq!(peak(&stages), 20);
    }

    #[test]
    fn a_stage_of_no_time_jumps() {
        let stages = [stage(0, 10), stage(10, 10)];
        assert_eq!(users_at(&stages, Duration::ZERO), 10);
    }

    #[test]
    fn stages_parse_and_say_what_is_wrong() {
        assert_eq!(parse("30s:50"), Ok(stage(30, 50)));
        assert_eq!(parse("1m30s: 5"), Ok(stage(90, 5)));
        assert!(parse("30s").unwrap_err().contains("not a stage"));
        assert!(parse("-5s:10").unwrap_err().contains("not a duration"));
        assert!(parse("5s:-1").unwrap_err().contains("whole number"));
    }
}
