//! Thresholds: pass or fail criteria on a run's results, given as
//! `--threshold 'NAME: STAT OP VALUE'` and judged on the final snapshot. A
//! run that fails one exits with [`crate::error::EXIT_THRESHOLDS`], which CI
//! tells apart from a crash.
//!
//! `NAME` is `requests` (all requests), `errors` (failed requests), or the
//! name of a request, task, trend or check, looked up in that order. `STAT`
//! is a percentile (`p50`, `p95`, `p99.9`, also k6's `p(95)`), `min`,
//! `max`, `mean` (or `avg`), `count` or `rate`. `VALUE` carries its unit: a
//! duration (`500ms`, `2s`) or a bare number of milliseconds for times, `1%`
//! for a share of failures (or of passes, for a check), `100/s` for a rate
//! per second, a bare number for counts and trends.
//!
//! Before the statistic, a request figure other than the latency may be
//! named: `connect`, `headers`, `ttfb` (the first body byte),
//! `first-chunk`, `chunk-gap`, `ttft` or `first-event` (the first event of
//! a stream), `itl` or `event-gap` (between events): `'chat: ttft p95 <
//! 500ms'`.
//!
//! `NAME{scenario=PLAN}` judges only the rows of one of the run's plans
//! (the config file's `[[scenarios]]`); without it, the rows of every plan
//! under the name count together.
//!
//! A threshold that ends in `, abort` is also judged every second while the
//! run goes, and crossing it stops the run (gracefully, as the end of the
//! run time does); `, abort after 30s` waits that long before judging, so
//! that a cold start does not stop the run.

use std::fmt;

use crate::stats::{RequestStats, Samples, Snapshot, TaskStats};

/// One parsed `--threshold`.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    /// As the user wrote it, trimmed.
    pub expression: String,
    metric: Metric,
    /// Only the rows of this plan, when given as `NAME{scenario=PLAN}`.
    plan: Option<String>,
    /// A request figure other than the latency, for request names.
    figure: Option<Figure>,
    stat: Stat,
    op: Op,
    limit: Limit,
    /// Judged during the run too, from this long after its start; crossing
    /// it stops the run.
    pub abort_after: Option<std::time::Duration>,
}

#[derive(Debug, Clone, PartialEq)]
enum Metric {
    Requests,
    Errors,
    /// Arrival-rate iterations dropped: a count, or a share of those due.
    Dropped,
    Named(String),
}

/// The request histograms besides the latency a threshold can judge.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Figure {
    Connect,
    Headers,
    FirstByte,
    FirstChunk,
    ChunkGap,
    FirstEvent,
    EventGap,
}

impl Figure {
    fn parse(text: &str) -> Result<Figure, String> {
        Ok(match text {
            "connect" => Figure::Connect,
            "headers" => Figure::Headers,
            "ttfb" => Figure::FirstByte,
            "first-chunk" => Figure::FirstChunk,
            "chunk-gap" => Figure::ChunkGap,
            "ttft" | "first-event" => Figure::FirstEvent,
            "itl" | "event-gap" => Figure::EventGap,
            _ => {
                return Err(format!(
                    "`{text}` is not a request figure: use connect, headers, ttfb, \
                     first-chunk, chunk-gap, ttft (first-event) or itl (event-gap)"
                ));
            }
        })
    }

    fn samples(self, stats: &RequestStats) -> Option<&Samples> {
        let stream = stats.stream.as_deref();
        match self {
            Figure::Connect => Some(&stats.connect),
            Figure::Headers => Some(&stats.headers),
            Figure::FirstByte => Some(&stats.first_byte),
            Figure::FirstChunk => stream.map(|stream| &stream.first_chunk),
            Figure::ChunkGap => stream.map(|stream| &stream.chunk_gaps),
            Figure::FirstEvent => stream.map(|stream| &stream.first_event),
            Figure::EventGap => stream.map(|stream| &stream.event_gaps),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Stat {
    /// 0 to 100.
    Percentile(f64),
    Min,
    Max,
    Mean,
    Count,
    Rate,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Limit {
    Millis(f64),
    Number(f64),
    Percent(f64),
    PerSecond(f64),
}

/// How a threshold fared.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub expression: String,
    /// The figure it was judged on, with its unit; `None` without data.
    pub value: Option<String>,
    pub passed: bool,
    /// Why it failed, in words (for JUnit).
    pub reason: Option<String>,
}

/// Parses `NAME: STAT OP VALUE`; the error says what is wrong with it.
pub fn parse(text: &str) -> Result<Threshold, String> {
    let expression = text.trim().to_owned();
    let (criterion, abort_after) = match expression.rsplit_once(',') {
        None => (expression.as_str(), None),
        Some((criterion, option)) => (criterion, Some(parse_abort(option.trim())?)),
    };
    let (name, condition) = criterion
        .rsplit_once(':')
        .ok_or("expected `NAME: STAT OP VALUE`, such as `checkout: p95 < 500ms`")?;
    let (name, plan) = parse_plan(name.trim())?;
    if name.is_empty() {
        return Err("the name before `:` is empty".to_owned());
    }
    let at = condition
        .find(['<', '>'])
        .ok_or("expected a comparison: `<`, `<=`, `>` or `>=`")?;
    let (stat, rest) = condition.split_at(at);
    let (op, value) = match rest.strip_prefix("<=").or_else(|| rest.strip_prefix(">=")) {
        Some(value) if rest.starts_with('<') => (Op::LessOrEqual, value),
        Some(value) => (Op::GreaterOrEqual, value),
        None if rest.starts_with('<') => (Op::Less, &rest[1..]),
        None => (Op::Greater, &rest[1..]),
    };
    let (figure, stat) = match stat.trim().split_once(char::is_whitespace) {
        Some((figure, stat)) => (Some(Figure::parse(figure)?), stat.trim()),
        None => (None, stat.trim()),
    };
    let stat = parse_stat(stat)?;
    let limit = parse_limit(value.trim())?;
    let metric = match name {
        "requests" => Metric::Requests,
        "errors" => Metric::Errors,
        "dropped" => Metric::Dropped,
        _ => Metric::Named(name.to_owned()),
    };
    if figure.is_some() {
        if matches!(metric, Metric::Errors | Metric::Dropped) {
            return Err("`errors` and `dropped` have no request figures".into());
        }
        if matches!(stat, Stat::Count | Stat::Rate) {
            return Err("a request figure is a time: judge a percentile, min, max or mean".into());
        }
    }
    check_units(&metric, stat, limit)?;
    Ok(Threshold {
        expression,
        metric,
        plan,
        figure,
        stat,
        op,
        limit,
        abort_after,
    })
}

/// Splits `NAME{scenario=PLAN}` into the name and the plan.
fn parse_plan(name: &str) -> Result<(&str, Option<String>), String> {
    let Some((bare, rest)) = name.split_once('{') else {
        return Ok((name, None));
    };
    let inner = rest
        .strip_suffix('}')
        .ok_or("expected `NAME{scenario=PLAN}`, with the `}` last before `:`")?;
    let plan = match inner.split_once('=') {
        Some((key, value)) if key.trim() == "scenario" => value.trim().trim_matches('"'),
        _ => {
            return Err(format!(
                "`{{{inner}}}`: only `{{scenario=PLAN}}` selects rows"
            ));
        }
    };
    if plan.is_empty() {
        return Err("`{scenario=}` names no plan".to_owned());
    }
    Ok((bare.trim(), Some(plan.to_owned())))
}

/// `abort` or `abort after 30s`, after the criterion's comma.
fn parse_abort(option: &str) -> Result<std::time::Duration, String> {
    match option.strip_prefix("abort") {
        Some("") => Ok(std::time::Duration::ZERO),
        Some(rest) => match rest.trim().strip_prefix("after") {
            Some(grace) => crate::config::parse_duration(grace.trim()),
            None => Err(format!("`{option}` is not `abort` or `abort after 30s`")),
        },
        None => Err(format!("`{option}` is not `abort` or `abort after 30s`")),
    }
}

/// The first threshold marked `abort` that the run has crossed, judged
/// `elapsed` into it: the one that should stop it. The grace of a threshold
/// on one plan counts from that plan's start (`plan_starts`, by name).
pub fn crossed(
    thresholds: &[Threshold],
    snapshot: &Snapshot,
    elapsed: std::time::Duration,
    plan_starts: &[(String, std::time::Duration)],
) -> Option<Verdict> {
    let start = |threshold: &Threshold| {
        plan_starts
            .iter()
            .find(|(name, _)| Some(name.as_str()) == threshold.plan())
            .map_or(std::time::Duration::ZERO, |(_, start)| *start)
    };
    let due: Vec<Threshold> = thresholds
        .iter()
        .filter(|threshold| {
            threshold
                .abort_after
                .is_some_and(|grace| elapsed >= start(threshold) + grace)
        })
        .cloned()
        .collect();
    evaluate(&due, snapshot)
        .into_iter()
        .find(|verdict| !verdict.passed && verdict.value.is_some())
}

fn parse_stat(text: &str) -> Result<Stat, String> {
    let percentile = text
        .strip_prefix("p(")
        .and_then(|rest| rest.strip_suffix(')'))
        .or_else(|| text.strip_prefix('p'));
    if let Some(number) = percentile {
        return match number.parse::<f64>() {
            Ok(p) if (0.0..=100.0).contains(&p) => Ok(Stat::Percentile(p)),
            _ => Err(format!("`{text}` is not a percentile from p0 to p100")),
        };
    }
    match text {
        "min" => Ok(Stat::Min),
        "max" => Ok(Stat::Max),
        "mean" | "avg" => Ok(Stat::Mean),
        "count" => Ok(Stat::Count),
        "rate" => Ok(Stat::Rate),
        _ => Err(format!(
            "`{text}` is not a statistic: use p95 (any percentile), min, max, mean, count or rate"
        )),
    }
}

fn parse_limit(text: &str) -> Result<Limit, String> {
    let number = |digits: &str| {
        digits
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|value| value.is_finite())
            .ok_or_else(|| format!("`{text}` is not a number"))
    };
    if let Some(digits) = text.strip_suffix('%') {
        return number(digits).map(Limit::Percent);
    }
    if let Some(digits) = text.strip_suffix("/s") {
        return number(digits).map(Limit::PerSecond);
    }
    if text.ends_with(|c: char| c.is_ascii_alphabetic()) {
        return humantime::parse_duration(text)
            .map(|duration| Limit::Millis(duration.as_secs_f64() * 1000.0))
            .map_err(|err| format!("`{text}` is not a duration like `500ms` or `2s` ({err})"));
    }
    number(text).map(Limit::Number)
}

/// Rejects what can never be judged, such as `errors: p95 < 1s`.
fn check_units(metric: &Metric, stat: Stat, limit: Limit) -> Result<(), String> {
    let timed = matches!(
        stat,
        Stat::Percentile(_) | Stat::Min | Stat::Max | Stat::Mean
    );
    match (metric, stat, limit) {
        (_, _, Limit::Percent(share)) if !(0.0..=100.0).contains(&share) => {
            Err(format!("a share is from 0% to 100%, not {share}%"))
        }
        (Metric::Errors | Metric::Dropped, _, _) if timed => {
            Err("`errors` and `dropped` have a count and a rate, no times".into())
        }
        (Metric::Errors | Metric::Dropped, Stat::Rate, Limit::Percent(_)) => Ok(()),
        (Metric::Errors | Metric::Dropped, Stat::Rate, _) => {
            Err("the rate of `errors` or `dropped` is a share, like `1%`".into())
        }
        (_, Stat::Rate, Limit::PerSecond(_) | Limit::Percent(_)) => Ok(()),
        (_, Stat::Rate, _) => Err("a rate is a share like `1%` or a pace like `100/s`".into()),
        (_, Stat::Count, Limit::Number(_)) => Ok(()),
        (_, Stat::Count, _) => Err("a count is a bare number".into()),
        (_, _, Limit::Millis(_) | Limit::Number(_)) => Ok(()),
        (_, _, _) => Err("a time is a duration like `500ms`, or a number".into()),
    }
}

/// Judges every threshold on the run's final figures.
pub fn evaluate(thresholds: &[Threshold], snapshot: &Snapshot) -> Vec<Verdict> {
    thresholds
        .iter()
        .map(|threshold| {
            let expression = threshold.expression.clone();
            let value = match observe(threshold, snapshot) {
                Ok(value) => value,
                Err(reason) => {
                    return Verdict {
                        expression,
                        value: None,
                        passed: false,
                        reason: Some(reason),
                    };
                }
            };
            let limit = threshold.limit.value();
            let passed = match threshold.op {
                Op::Less => value < limit,
                Op::LessOrEqual => value <= limit,
                Op::Greater => value > limit,
                Op::GreaterOrEqual => value >= limit,
            };
            let shown = threshold.limit.show(value);
            Verdict {
                reason: (!passed).then(|| {
                    let limit = threshold.limit.show(limit);
                    format!("{shown} is not {} {limit}", threshold.op)
                }),
                value: Some(shown),
                expression,
                passed,
            }
        })
        .collect()
}

impl Threshold {
    /// The plan it judges alone, if it names one.
    pub fn plan(&self) -> Option<&str> {
        self.plan.as_deref()
    }

    fn name(&self) -> &str {
        match &self.metric {
            Metric::Requests => "requests",
            Metric::Errors => "errors",
            Metric::Dropped => "dropped",
            Metric::Named(name) => name,
        }
    }
}

/// The figure `threshold` is about, in the unit of its limit, or why there
/// is none: nothing recorded under the name, or a statistic that does not
/// apply to what the name is.
fn observe(threshold: &Threshold, snapshot: &Snapshot) -> Result<f64, String> {
    let only;
    let snapshot = match &threshold.plan {
        None => snapshot,
        Some(plan) => {
            if !snapshot.scenarios.contains(plan) {
                return Err(format!("the run had no plan `{plan}`"));
            }
            only = of_plan(snapshot, plan);
            &only
        }
    };
    observe_rows(threshold, snapshot).map_err(|reason| match &threshold.plan {
        Some(plan) => format!("{reason} in plan `{plan}`"),
        None => reason,
    })
}

/// [`observe`], on the rows already chosen.
fn observe_rows(threshold: &Threshold, snapshot: &Snapshot) -> Result<f64, String> {
    let per_second = |count: u64| snapshot.rate(count);
    let share = |part: u64, whole: u64| part as f64 * 100.0 / whole as f64;
    let stat = threshold.stat;
    let name = threshold.name();
    let misfit = |what: &str, has: &str| {
        Err(format!(
            "`{name}` is {what}, which has {has}; `{}` does not apply",
            stat_name(stat)
        ))
    };
    if let Some(figure) = threshold.figure {
        let rows: Vec<&RequestStats> = snapshot
            .requests
            .iter()
            .filter(
                |row| !matches!(&threshold.metric, Metric::Named(wanted) if *wanted != row.name),
            )
            .map(|row| &row.stats)
            .collect();
        let found = (!rows.is_empty()).then(|| crate::stats::combine(rows));
        let Some(stats) = found else {
            return Err(format!("the run recorded no request named `{name}`"));
        };
        return figure
            .samples(&stats)
            .and_then(|samples| timed(samples, stat))
            .ok_or_else(|| format!("no `{name}` request recorded this figure"));
    }
    match &threshold.metric {
        Metric::Requests => requests(&snapshot.total(), stat, threshold.limit, &per_second)
            .ok_or_else(|| "no request was timed".to_owned()),
        Metric::Errors => {
            let total = snapshot.total();
            match stat {
                Stat::Count => Ok(total.failures as f64),
                _ if total.count == 0 => Err("no request was sent".to_owned()),
                _ => Ok(share(total.failures, total.count)),
            }
        }
        Metric::Dropped => {
            let Some(iterations) = snapshot.iterations_total() else {
                return Err(
                    "`dropped` counts arrival-rate iterations; this run had none".to_owned(),
                );
            };
            match stat {
                Stat::Count => Ok(iterations.dropped as f64),
                _ if iterations.due == 0 => Err("no iteration fell due".to_owned()),
                _ => Ok(share(iterations.dropped, iterations.due)),
            }
        }
        Metric::Named(name) => {
            let rows: Vec<&RequestStats> = snapshot
                .requests
                .iter()
                .filter(|row| row.name == *name)
                .map(|row| &row.stats)
                .collect();
            if !rows.is_empty() {
                let stats = crate::stats::combine(rows);
                return requests(&stats, stat, threshold.limit, &per_second)
                    .ok_or_else(|| format!("no `{name}` request was timed"));
            }
            let tasks = named(&snapshot.tasks, name, |all: &mut TaskStats, one| {
                all.count += one.count;
                all.failures += one.failures;
                all.duration.add(&one.duration);
            });
            if let Some(task) = tasks {
                return match (stat, threshold.limit) {
                    (Stat::Count, _) => Ok(task.count as f64),
                    (Stat::Rate, Limit::Percent(_)) => Ok(share(task.failures, task.count)),
                    (Stat::Rate, _) => Ok(per_second(task.count)),
                    _ => {
                        timed(&task.duration, stat).ok_or_else(|| format!("no `{name}` task ended"))
                    }
                };
            }
            if let Some(samples) = named(&snapshot.trends, name, |all: &mut Samples, one| {
                all.add(one)
            }) {
                return match (stat, threshold.limit) {
                    (Stat::Count, _) => Ok(samples.len() as f64),
                    (Stat::Rate, Limit::PerSecond(_)) => Ok(per_second(samples.len())),
                    (Stat::Rate, _) => misfit("a trend", "values, a count and a pace (`/s`)"),
                    _ => timed(&samples, stat).ok_or_else(|| format!("trend `{name}` is empty")),
                };
            }
            let checks = named(
                &snapshot.checks,
                name,
                |all: &mut crate::stats::CheckRow, one| {
                    all.passes += one.passes;
                    all.failures += one.failures;
                },
            );
            if let Some(check) = checks {
                let runs = check.passes + check.failures;
                return match (stat, threshold.limit) {
                    (Stat::Count, _) => Ok(runs as f64),
                    (Stat::Rate, Limit::Percent(_)) => Ok(share(check.passes, runs)),
                    _ => misfit("a check", "a count and a share of passes (`%`)"),
                };
            }
            if let Some(value) = named(&snapshot.counters, name, |all: &mut u64, one| {
                *all = all.saturating_add(*one)
            }) {
                return match (stat, threshold.limit) {
                    (Stat::Count, _) => Ok(value as f64),
                    (Stat::Rate, Limit::PerSecond(_)) => Ok(per_second(value)),
                    _ => misfit("a counter", "a count and a pace (`/s`)"),
                };
            }
            Err(format!("the run recorded nothing named `{name}`"))
        }
    }
}

/// The rows named `name`, of every plan, added up; `None` when there are
/// none.
fn named<T: Default>(
    rows: &[crate::stats::Row<T>],
    name: &str,
    add: impl Fn(&mut T, &T),
) -> Option<T> {
    let mut found = None;
    for row in rows.iter().filter(|row| row.name == name) {
        add(found.get_or_insert_with(T::default), &row.value);
    }
    found
}

/// The rows of one plan only.
fn of_plan(snapshot: &Snapshot, plan: &str) -> Snapshot {
    fn keep<T: Clone>(rows: &[crate::stats::Row<T>], plan: &str) -> Vec<crate::stats::Row<T>> {
        rows.iter()
            .filter(|row| row.scenario == plan)
            .cloned()
            .collect()
    }
    Snapshot {
        elapsed: snapshot.elapsed,
        scenarios: vec![plan.to_owned()],
        requests: snapshot
            .requests
            .iter()
            .filter(|row| row.scenario == plan)
            .cloned()
            .collect(),
        tasks: keep(&snapshot.tasks, plan),
        trends: keep(&snapshot.trends, plan),
        checks: keep(&snapshot.checks, plan),
        counters: keep(&snapshot.counters, plan),
        errors: Vec::new(),
        iterations: snapshot
            .iterations
            .iter()
            .filter(|(name, _)| name == plan)
            .cloned()
            .collect(),
    }
}

fn stat_name(stat: Stat) -> String {
    match stat {
        Stat::Percentile(p) => format!("p{p}"),
        Stat::Min => "min".into(),
        Stat::Max => "max".into(),
        Stat::Mean => "mean".into(),
        Stat::Count => "count".into(),
        Stat::Rate => "rate".into(),
    }
}

fn requests(
    stats: &RequestStats,
    stat: Stat,
    limit: Limit,
    per_second: &dyn Fn(u64) -> f64,
) -> Option<f64> {
    match (stat, limit) {
        (Stat::Count, _) => Some(stats.count as f64),
        (Stat::Rate, Limit::Percent(_)) if stats.count == 0 => Some(0.0),
        (Stat::Rate, Limit::Percent(_)) => Some(stats.failures as f64 * 100.0 / stats.count as f64),
        (Stat::Rate, _) => Some(per_second(stats.count)),
        _ => timed(stats.timed(), stat),
    }
}

/// A time statistic in milliseconds (samples are microseconds; trends keep
/// thousandths of their unit, so the same division gives their unit).
fn timed(samples: &Samples, stat: Stat) -> Option<f64> {
    let summary = samples.summary_if_any()?;
    Some(match stat {
        Stat::Percentile(p) => samples.quantile(p / 100.0),
        Stat::Min => summary.min,
        Stat::Max => summary.max,
        _ => summary.mean,
    })
}

impl Limit {
    fn value(self) -> f64 {
        match self {
            Limit::Millis(v) | Limit::Number(v) | Limit::Percent(v) | Limit::PerSecond(v) => v,
        }
    }

    /// `value`, in this limit's unit, for people.
    fn show(self, value: f64) -> String {
        match self {
            Limit::Millis(_) => format!("{value:.1} ms"),
            Limit::Number(_) => format!("{}", (value * 1000.0).round() / 1000.0),
            Limit::Percent(_) => format!("{value:.2}%"),
            Limit::PerSecond(_) => format!("{value:.1}/s"),
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Op::Less => "<",
            Op::LessOrEqual => "<=",
            Op::Greater => ">",
            Op::GreaterOrEqual => ">=",
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::stats::{ErrorKind, Exchange, Recorder, StreamEnd, StreamMark};

    fn snapshot() -> Snapshot {
        let stats = Recorder::single("s");
        for ms in [10, 20, 30, 40, 500] {
            let failure = (ms == 500).then_some((ErrorKind::Status5xx, "status 503"));
            stats.record_request(
                "/api/rooms/:id",
                "GET",
                &Exchange {
                    elapsed: Some(Duration::from_millis(ms)),
                    ..Exchange::default()
                },
                failure,
            );
        }
        stats.record_task("checkout", Duration::from_millis(700), None);
        stats.record_trend("review_completion", 2500.0);
        stats.record_check("reply arrived", true);
        stats.record_check("reply arrived", false);
        stats.snapshot()
    }

    fn judge(text: &str) -> Verdict {
        let threshold = parse(text).unwrap_or_else(|err| panic!("{text}: {err}"));
        evaluate(&[threshold], &snapshot()).remove(0)
    }

    #[test]
    fn names_may_hold_colons_and_stats_take_both_spellings() {
        let threshold = parse("/api/rooms/:id: p(95)<=1s").unwrap();
        assert_eq!(threshold.metric, Metric::Named("/api/rooms/:id".into()));
        assert_eq!(threshold.stat, Stat::Percentile(95.0));
        assert_eq!(threshold.op, Op::LessOrEqual);
        assert_eq!(threshold.limit, Limit::Millis(1000.0));
        assert_eq!(parse("x: p99.9 > 2").unwrap().stat, Stat::Percentile(99.9));
    }

    #[test]
    fn each_kind_of_metric_is_judged_in_its_unit() {
        assert!(judge("/api/rooms/:id: p50 < 50ms").passed);
        let slow = judge("/api/rooms/:id: max < 100ms");
        assert!(!slow.passed);
        // The histogram keeps three significant digits: 500 ms reads 500.2.
        assert_eq!(slow.reason.as_deref(), Some("500.2 ms is not < 100.0 ms"));
        assert_eq!(judge("errors: rate < 1%").value.as_deref(), Some("20.00%"));
        assert!(judge("errors: count <= 1").passed);
        assert!(judge("requests: count >= 5").passed);
        assert!(judge("checkout: p95 < 1s").passed);
        assert!(judge("review_completion: p99 < 3000").passed);
        assert!(!judge("reply arrived: rate > 99%").passed);
        assert!(judge("/api/rooms/:id: rate < 25%").passed);
    }

    #[test]
    fn abort_thresholds_are_judged_once_their_grace_is_over() {
        let threshold = parse("errors: rate < 1%, abort after 2s").unwrap();
        assert_eq!(threshold.abort_after, Some(Duration::from_secs(2)));
        assert_eq!(
            parse("errors: rate < 1%, abort").unwrap().abort_after,
            Some(Duration::ZERO)
        );
        assert!(
            parse("errors: rate < 1%, stop")
                .unwrap_err()
                .contains("abort after")
        );
        let snapshot = snapshot();
        let thresholds = [threshold, parse("errors: count < 1").unwrap()];
        assert_eq!(
            crossed(&thresholds, &snapshot, Duration::from_secs(1), &[]),
            None
        );
        let verdict = crossed(&thresholds, &snapshot, Duration::from_secs(2), &[]).unwrap();
        assert_eq!(verdict.expression, "errors: rate < 1%, abort after 2s");
    }

    #[test]
    fn a_statistic_that_does_not_fit_the_name_fails_saying_why() {
        let check = judge("reply arrived: p95 < 1s");
        assert!(!check.passed);
        assert_eq!(
            check.reason.as_deref(),
            Some(
                "`reply arrived` is a check, which has a count and a share of passes (`%`); `p95` does not apply"
            )
        );
        assert!(!judge("review_completion: rate > 50%").passed);
        assert!(judge("reply arrived: count >= 2").passed);
        assert!(
            parse("errors: rate < 101%")
                .unwrap_err()
                .contains("0% to 100%")
        );
    }

    #[test]
    fn shares_of_nothing_fail_rather_than_pass() {
        let empty = Recorder::single("s").snapshot();
        let verdicts = evaluate(
            &[
                parse("errors: rate < 1%").unwrap(),
                parse("dropped: count < 1").unwrap(),
            ],
            &empty,
        );
        assert_eq!(verdicts[0].reason.as_deref(), Some("no request was sent"));
        assert!(
            !verdicts[1].passed,
            "a closed-model run has no iterations to drop"
        );
    }

    #[test]
    fn dropped_iterations_and_counters_can_be_judged() {
        let stats = Recorder::single("s");
        stats.record_iterations(100, 90, 10);
        stats.record_counter("tokens", 40);
        let snapshot = stats.snapshot();
        let judge = |text: &str| evaluate(&[parse(text).unwrap()], &snapshot).remove(0);
        assert_eq!(judge("dropped: rate < 1%").value.as_deref(), Some("10.00%"));
        assert!(!judge("dropped: count < 1").passed);
        assert!(judge("tokens: count >= 40").passed);
    }

    #[test]
    fn a_name_the_run_never_recorded_fails() {
        let verdict = judge("nowhere: p95 < 1s");
        assert!(!verdict.passed);
        assert_eq!(verdict.value, None);
        assert_eq!(
            verdict.reason.as_deref(),
            Some("the run recorded nothing named `nowhere`")
        );
    }

    #[test]
    fn malformed_thresholds_say_what_is_wrong() {
        let error = |text: &str| parse(text).unwrap_err();
        assert!(error("p95 < 500ms").contains("NAME: STAT OP VALUE"));
        assert!(error("checkout: p95 = 500ms").contains("comparison"));
        assert!(error("checkout: p101 < 1s").contains("percentile"));
        assert!(error("checkout: median < 1s").contains("not a statistic"));
        assert!(error("checkout: p95 < 5 parsecs").contains("duration"));
        assert!(error("errors: p95 < 1s").contains("no times"));
        assert!(error("errors: rate < 0.01").contains("share"));
        assert!(error("checkout: count < 1%").contains("bare number"));
        assert!(error(": p95 < 1s").contains("empty"));
        assert!(error("chat: ttfx p95 < 1s").contains("not a request figure"));
        assert!(error("chat: ttft count < 5").contains("is a time"));
        assert!(error("errors: ttfb p95 < 1s").contains("no request figures"));
    }

    #[test]
    fn stream_figures_are_judged_on_their_own_histograms() {
        let stats = Recorder::single("s");
        for first in [200, 250, 300] {
            let first = Duration::from_millis(first);
            stats.record_stream("chat", "POST", StreamMark::Event, true, first);
            stats.record_stream(
                "chat",
                "POST",
                StreamMark::Event,
                false,
                Duration::from_millis(30),
            );
            let exchange = Exchange {
                elapsed: Some(Duration::from_millis(900)),
                first_byte: Some(first),
                stream: Some(StreamEnd::Completed),
                ..Exchange::default()
            };
            stats.record_request("chat", "POST", &exchange, None);
        }
        let snapshot = stats.snapshot();
        let judge = |text: &str| evaluate(&[parse(text).unwrap()], &snapshot).remove(0);
        let ttft = judge("chat: ttft p50 < 260ms");
        assert!(ttft.passed, "{ttft:?}");
        assert!(
            ttft.value.as_deref().unwrap().starts_with("250."),
            "{ttft:?}"
        );
        assert!(!judge("chat: first-event max < 260ms").passed);
        assert!(judge("chat: itl p99 < 31ms").passed);
        assert!(
            judge("chat: p50 > 800ms").passed,
            "the latency is to the last byte"
        );
        stats.record_request(
            "other",
            "GET",
            &Exchange {
                elapsed: Some(Duration::from_millis(5)),
                first_byte: Some(Duration::from_secs(5)),
                ..Exchange::default()
            },
            None,
        );
        let snapshot = stats.snapshot();
        let judge = |text: &str| evaluate(&[parse(text).unwrap()], &snapshot).remove(0);
        assert!(
            judge("chat: ttfb max < 301ms").passed,
            "only the named rows count"
        );
        assert!(
            !judge("requests: ttfb max < 301ms").passed,
            "all rows count"
        );
        assert_eq!(judge("nowhere: ttfb p95 < 1s").value, None);
        let unstreamed = evaluate(&[parse("other: chunk-gap p95 < 1s").unwrap()], &snapshot);
        assert_eq!(unstreamed[0].value, None, "no chunks were recorded");
        assert!(!unstreamed[0].passed);
    }

    #[test]
    fn a_threshold_on_one_plan_judges_its_rows_and_waits_for_its_start() {
        let stats = std::sync::Arc::new(crate::stats::Stats::new(vec!["a".into(), "b".into()]));
        let exchange = |ms| Exchange {
            elapsed: Some(Duration::from_millis(ms)),
            ..Exchange::default()
        };
        stats
            .recorder(0)
            .record_request("/x", "GET", &exchange(10), None);
        stats
            .recorder(1)
            .record_request("/x", "GET", &exchange(900), None);
        let snapshot = stats.snapshot();
        let judged = |text: &str| evaluate(&[parse(text).unwrap()], &snapshot).remove(0);
        assert!(judged("/x{scenario=a}: p95 < 100ms").passed);
        assert!(!judged("/x{scenario=b}: p95 < 100ms").passed);
        assert!(
            !judged("/x: max < 100ms").passed,
            "a bare name judges every plan"
        );
        let missing = judged("/y{scenario=a}: count > 0");
        assert_eq!(
            missing.reason.as_deref(),
            Some("the run recorded nothing named `/y` in plan `a`")
        );

        let floor = [parse("/x{scenario=b}: count > 100, abort after 1s").unwrap()];
        let starts = [("b".to_owned(), Duration::from_secs(5))];
        assert_eq!(
            crossed(&floor, &snapshot, Duration::from_secs(3), &starts),
            None
        );
        assert!(crossed(&floor, &snapshot, Duration::from_secs(6), &starts).is_some());
    }
}
