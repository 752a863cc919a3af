//! The JUnit XML report (`--junit`): one test case per threshold, so CI
//! systems list them beside other tests. A failed threshold is a test case
//! with a `<failure>` saying why.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context as _;

use super::RunInfo;
use crate::thresholds::Verdict;

pub fn write(path: &Path, info: &RunInfo, verdicts: &[Verdict]) -> anyhow::Result<()> {
    std::fs::write(path, render(info, verdicts))
        .with_context(|| format!("failed to write the JUnit report to `{}`", path.display()))
}

pub fn render(info: &RunInfo, verdicts: &[Verdict]) -> String {
    let failures = verdicts.iter().filter(|verdict| !verdict.passed).count();
    let suite = escape(&format!("throng thresholds: {}", info.scenario));
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        xml,
        "<testsuites tests=\"{}\" failures=\"{failures}\">",
        verdicts.len()
    );
    let _ = writeln!(
        xml,
        "  <testsuite name=\"{suite}\" tests=\"{}\" failures=\"{failures}\">",
        verdicts.len()
    );
    for verdict in verdicts {
        let name = escape(&verdict.expression);
        let _ = write!(
            xml,
            "    <testcase classname=\"throng.thresholds\" name=\"{name}\""
        );
        match &verdict.reason {
            None => xml.push_str("/>\n"),
            Some(reason) => {
                let reason = escape(reason);
                let _ = writeln!(
                    xml,
                    ">\n      <failure message=\"{reason}\">{reason}</failure>"
                );
                xml.push_str("    </testcase>\n");
            }
        }
    }
    xml.push_str("  </testsuite>\n</testsuites>\n");
    xml
}

/// Text safe inside an XML attribute or element.
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            // XML 1.0 cannot hold other control characters at all.
            c if c.is_control() && !matches!(c, '\n' | '\t') => escaped.push(' '),
            c => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;

    #[test]
    fn each_threshold_is_a_test_case_and_failures_say_why() {
        let info = RunInfo {
            scenario: "shop".into(),
            version: "1.0.0".into(),
            source: "shop.wasm".into(),
            host: None,
            users: 1,
            spawn_rate: 1.0,
            run_time: Some(Duration::from_secs(1)),
            stages: Vec::new(),
            started_at: SystemTime::UNIX_EPOCH,
            outcome: "completed",
            plans: Vec::new(),
        };
        let verdicts = [
            Verdict {
                expression: "errors: rate < 1%".into(),
                value: Some("0.00%".into()),
                passed: true,
                reason: None,
            },
            Verdict {
                expression: "checkout: p95 < 500ms".into(),
                value: Some("912.0 ms".into()),
                passed: false,
                reason: Some("912.0 ms is not < 500.0 ms".into()),
            },
        ];
        let xml = render(&info, &verdicts);
        assert!(
            xml.contains("<testsuites tests=\"2\" failures=\"1\">"),
            "{xml}"
        );
        assert!(xml.contains("name=\"errors: rate &lt; 1%\"/>"), "{xml}");
        assert!(
            xml.contains("<failure message=\"912.0 ms is not &lt; 500.0 ms\">"),
            "{xml}"
        );
    }
}
