//! Failures grouped by where they happened (a request or task name), their
//! kind and their message, with counts.

use std::collections::HashMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Distinct (name, kind, message) groups kept before new messages are folded
/// into one row per name and kind, so a message that embeds an id cannot
/// grow memory without bound.
const MAX_GROUPS: usize = 1000;

/// Longest message kept, in bytes; longer ones are cut.
const MAX_MESSAGE: usize = 300;

/// What kind of failure a row counts. The names are part of the results
/// schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorKind {
    /// The request could not be built or was aimed at a host the run does
    /// not allow.
    Invalid,
    Dns,
    Connect,
    Tls,
    Timeout,
    Reset,
    BodyTooLarge,
    /// A transport failure of no other kind.
    Transport,
    /// The request was in flight when the run's stop timeout ran out.
    Aborted,
    /// A streamed body went longer than its chunk timeout without a chunk,
    /// or outlasted its whole timeout.
    StreamTimeout,
    /// The server closed or reset the connection before a streamed body
    /// ended.
    StreamCut,
    /// The server closed a WebSocket with a code other than 1000, or the
    /// connection ended without a close frame.
    WsClosed,
    #[serde(rename = "status-4xx")]
    Status4xx,
    #[serde(rename = "status-429")]
    Status429,
    #[serde(rename = "status-5xx")]
    Status5xx,
    /// The guest trapped: a panic, an out-of-bounds access, a limit hit.
    Trap,
    /// The guest computed past its CPU budget without calling the host.
    CpuBudget,
    /// A task, `on-start` or `on-stop` returned an error.
    Task,
    /// A check failed.
    Check,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Invalid => "invalid",
            ErrorKind::Dns => "dns",
            ErrorKind::Connect => "connect",
            ErrorKind::Tls => "tls",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Reset => "reset",
            ErrorKind::BodyTooLarge => "body-too-large",
            ErrorKind::Transport => "transport",
            ErrorKind::Aborted => "aborted",
            ErrorKind::StreamTimeout => "stream-timeout",
            ErrorKind::StreamCut => "stream-cut",
            ErrorKind::WsClosed => "ws-closed",
            ErrorKind::Status4xx => "status-4xx",
            ErrorKind::Status429 => "status-429",
            ErrorKind::Status5xx => "status-5xx",
            ErrorKind::Trap => "trap",
            ErrorKind::CpuBudget => "cpu-budget",
            ErrorKind::Task => "task",
            ErrorKind::Check => "check",
        }
    }

    /// The kind a response status of 400 and up counts as.
    pub fn of_status(status: u16) -> ErrorKind {
        match status {
            429 => ErrorKind::Status429,
            500.. => ErrorKind::Status5xx,
            _ => ErrorKind::Status4xx,
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Group {
    /// The request's method; `None` for tasks and checks.
    method: Option<String>,
    name: String,
    kind: ErrorKind,
    message: String,
}

/// One row of the failures table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorRow {
    /// The plan the failure happened in; results written before plans had
    /// names leave it out, and it is then the results' scenario.
    #[serde(default)]
    pub scenario: String,
    /// The request's method; `None` (JSON `null`) for tasks and checks.
    pub method: Option<String>,
    pub name: String,
    pub kind: ErrorKind,
    pub message: String,
    pub count: u64,
}

#[derive(Debug, Default)]
pub struct ErrorTable {
    groups: HashMap<Group, u64>,
}

impl ErrorTable {
    /// Counts one failure of request `method name`, or of task or check
    /// `name` when `method` is `None`.
    pub fn record(&mut self, method: Option<&str>, name: &str, kind: ErrorKind, message: &str) {
        let mut group = Group {
            method: method.map(str::to_owned),
            name: name.to_owned(),
            kind,
            message: cut(message),
        };
        if let Some(count) = self.groups.get_mut(&group) {
            *count += 1;
            return;
        }
        if self.groups.len() >= MAX_GROUPS {
            group.message = "(other messages; too many distinct ones to list)".to_owned();
        }
        *self.groups.entry(group).or_default() += 1;
    }

    /// The rows, most frequent first, tagged with the plan's name.
    pub fn rows(&self, scenario: &str) -> Vec<ErrorRow> {
        let mut rows: Vec<ErrorRow> = self
            .groups
            .iter()
            .map(|(group, count)| ErrorRow {
                scenario: scenario.to_owned(),
                method: group.method.clone(),
                name: group.name.clone(),
                kind: group.kind,
                message: group.message.clone(),
                count: *count,
            })
            .collect();
        sort_rows(&mut rows);
        rows
    }
}

/// Most frequent first, then by plan, name, method, kind and message.
pub fn sort_rows(rows: &mut [ErrorRow]) {
    rows.sort_by(|a, b| {
        b.count.cmp(&a.count).then_with(|| {
            (&a.scenario, &a.name, &a.method, a.kind, &a.message).cmp(&(
                &b.scenario,
                &b.name,
                &b.method,
                b.kind,
                &b.message,
            ))
        })
    });
}

fn cut(message: &str) -> String {
    let message = message.trim();
    if message.len() <= MAX_MESSAGE {
        return message.to_owned();
    }
    let mut end = MAX_MESSAGE;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &message[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_failure_is_counted_in_one_row() {
        let mut table = ErrorTable::default();
        table.record(Some("GET"), "/a", ErrorKind::Status5xx, "status 503");
        table.record(Some("GET"), "/a", ErrorKind::Status5xx, "status 503");
        table.record(Some("POST"), "/a", ErrorKind::Status5xx, "status 503");
        table.record(Some("GET"), "/a", ErrorKind::Status429, "status 429");
        let rows = table.rows("s");
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].count, 2);
        assert_eq!(rows[0].method.as_deref(), Some("GET"));
        assert_eq!(rows[0].kind, ErrorKind::Status5xx);
    }

    #[test]
    fn distinct_messages_past_the_limit_fold_into_one_row() {
        let mut table = ErrorTable::default();
        for i in 0..MAX_GROUPS + 50 {
            table.record(None, "/a", ErrorKind::Task, &format!("user {i} failed"));
        }
        let rows = table.rows("s");
        assert_eq!(rows.len(), MAX_GROUPS + 1);
        assert_eq!(rows[0].count, 50);
    }

    #[test]
    fn status_kinds() {
        assert_eq!(ErrorKind::of_status(404), ErrorKind::Status4xx);
        assert_eq!(ErrorKind::of_status(429), ErrorKind::Status429);
        assert_eq!(ErrorKind::of_status(503), ErrorKind::Status5xx);
    }
}
