//! `throng merge`: results files of one scenario combined into one, as if a
//! single run had recorded everything: counts add up, histograms merge
//! exactly, and rates are over the span from the first start to the last
//! end, so shards that ran side by side add their throughput.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use crate::cli::MergeArgs;
use crate::error::{BadInput, EXIT_OK, EXIT_THRESHOLDS};
use crate::report;
use crate::report::json::ReadResults;
use crate::thresholds::{self, Threshold};

pub fn run(args: MergeArgs) -> anyhow::Result<ExitCode> {
    // The same file twice would count twice; writing over an input would
    // lose it.
    let canonical = |path: &Path| std::fs::canonicalize(path).ok();
    let outputs: Vec<&PathBuf> = [Some(&args.output), args.junit.as_ref()]
        .into_iter()
        .flatten()
        .collect();
    for (i, path) in args.files.iter().enumerate() {
        let same =
            |other: &&PathBuf| canonical(other).is_some() && canonical(other) == canonical(path);
        if args.files[..i].iter().any(|other| same(&other)) {
            let message = format!("`{}` is given twice; each run counts once", path.display());
            return Err(BadInput(message).into());
        }
        if outputs.iter().any(same) {
            let message = format!(
                "`{}` is both an input and an output; write the merge elsewhere",
                path.display()
            );
            return Err(BadInput(message).into());
        }
    }
    for path in &outputs {
        crate::error::check_writable(path)?;
    }
    let mut files = Vec::with_capacity(args.files.len());
    for path in &args.files {
        files.push(report::json::read(path).map_err(BadInput)?);
    }

    let mut merged = files.remove(0);
    let mut end = merged.info.started_at + merged.snapshot.elapsed;
    // When each plan first started, to give its start after the merged
    // run's.
    let mut starts: Vec<(String, SystemTime)> = Vec::new();
    note_starts(&mut starts, &merged);
    let mut hosts_differ = false;
    for (file, path) in files.iter().zip(&args.files[1..]) {
        if file.info.scenario != merged.info.scenario {
            return Err(BadInput(format!(
                "`{}` holds results of scenario `{}`, `{}` of `{}`; merge files of one scenario",
                path.display(),
                file.info.scenario,
                args.files[0].display(),
                merged.info.scenario
            ))
            .into());
        }
        add(&mut merged, file, &mut end);
        note_starts(&mut starts, file);
        hosts_differ |= file.info.host != merged.info.host;
    }
    if hosts_differ {
        merged.info.host = None;
    }
    merged.snapshot.elapsed = end
        .duration_since(merged.info.started_at)
        .unwrap_or(Duration::ZERO);
    for plan in &mut merged.info.plans {
        if let Some((_, start)) = starts.iter().find(|(name, _)| *name == plan.name) {
            plan.start = start
                .duration_since(merged.info.started_at)
                .unwrap_or(Duration::ZERO);
        }
    }
    let names: Vec<String> = args.files.iter().map(|p| p.display().to_string()).collect();
    merged.info.source = format!("merged from {}", names.join(", "));

    let thresholds = judged(&merged, args.thresholds)?;
    let verdicts = thresholds::evaluate(&thresholds, &merged.snapshot);
    out!(
        "{}",
        report::console::summary(&merged.info, &merged.snapshot)
    );
    out!("{}", report::console::thresholds(&verdicts));
    report::json::write(&args.output, &merged.info, &merged.snapshot, &verdicts)?;
    outln!("merged results written to {}", args.output.display());
    if let Some(path) = &args.junit {
        report::junit::write(path, &merged.info, &verdicts)?;
        outln!("JUnit report written to {}", path.display());
    }
    let failed = verdicts.iter().any(|verdict| !verdict.passed);
    Ok(ExitCode::from(if failed {
        EXIT_THRESHOLDS
    } else {
        EXIT_OK
    }))
}

/// Adds one file's figures and run details to `merged`.
fn add(merged: &mut ReadResults, file: &ReadResults, end: &mut SystemTime) {
    merged.snapshot.merge(&file.snapshot);
    let info = &mut merged.info;
    info.users += file.info.users;
    info.spawn_rate += file.info.spawn_rate;
    info.run_time = info.run_time.max(file.info.run_time);
    info.started_at = info.started_at.min(file.info.started_at);
    *end = (*end).max(file.info.started_at + file.snapshot.elapsed);
    for plan in &file.info.plans {
        match info.plans.iter_mut().find(|mine| mine.name == plan.name) {
            Some(mine) => {
                mine.users += plan.users;
                if !mine.load.split("; ").any(|load| load == plan.load) {
                    mine.load = format!("{}; {}", mine.load, plan.load);
                }
            }
            None => info.plans.push(plan.clone()),
        }
    }
    // The merge is only as complete as its least complete part.
    if info.outcome == "completed" {
        info.outcome = file.info.outcome;
    }
    for expression in &file.thresholds {
        if !merged.thresholds.contains(expression) {
            merged.thresholds.push(expression.clone());
        }
    }
}

/// Notes when each of `file`'s plans started, keeping the earliest.
fn note_starts(starts: &mut Vec<(String, SystemTime)>, file: &ReadResults) {
    for plan in &file.info.plans {
        let start = file.info.started_at + plan.start;
        match starts.iter_mut().find(|(name, _)| *name == plan.name) {
            Some((_, known)) => *known = (*known).min(start),
            None => starts.push((plan.name.clone(), start)),
        }
    }
}

/// The files' thresholds and the command line's, each once.
fn judged(merged: &ReadResults, extra: Vec<Threshold>) -> Result<Vec<Threshold>, BadInput> {
    let mut all = Vec::new();
    for expression in &merged.thresholds {
        let threshold = thresholds::parse(expression).map_err(|err| {
            BadInput(format!("threshold `{expression}` in a results file: {err}"))
        })?;
        all.push(threshold);
    }
    for threshold in extra {
        if let Some(plan) = threshold.plan()
            && !merged.snapshot.scenarios.iter().any(|name| name == plan)
        {
            return Err(BadInput(format!(
                "threshold `{}`: the files have no plan `{plan}` (they have {})",
                threshold.expression,
                merged.snapshot.scenarios.join(", ")
            )));
        }
        if !all
            .iter()
            .any(|known| known.expression == threshold.expression)
        {
            all.push(threshold);
        }
    }
    Ok(all)
}
