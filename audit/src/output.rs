//! Rendering reports: table (coloured on a terminal), JSON, JUnit XML,
//! Markdown.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::runner::{summary, CaseReport, Status};

/// Output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A plain (or coloured) table.
    Table,
    /// One JSON document.
    Json,
    /// JUnit XML, one test suite per group.
    Junit,
    /// A Markdown table.
    Markdown,
}

/// What the report is about.
pub struct Meta<'a> {
    /// The command that ran (`kernel`, `crates`, `peer`, `default`).
    pub command: &'a str,
    /// What was audited (the peer command line, or a description).
    pub subject: String,
}

/// Renders `reports` in `format`.
pub fn render(format: Format, meta: &Meta<'_>, reports: &[CaseReport], colour: bool) -> String {
    match format {
        Format::Table => table(meta, reports, colour),
        Format::Json => json(meta, reports),
        Format::Junit => junit(meta, reports),
        Format::Markdown => markdown(meta, reports),
    }
}

fn header(meta: &Meta<'_>) -> String {
    format!(
        "inflight-audit {} — {} — Linux {} ({})",
        meta.command,
        meta.subject,
        crate::sys::kernel_release(),
        std::env::consts::ARCH
    )
}

fn totals(reports: &[CaseReport]) -> String {
    let s = summary(reports);
    let get = |st| s.get(&st).copied().unwrap_or(0);
    let mut t = format!(
        "{} cases: {} passed, {} failed, {} skipped",
        reports.len(),
        get(Status::Pass),
        get(Status::Fail),
        get(Status::Skip)
    );
    if get(Status::Known) > 0 {
        let _ = write!(t, ", {} known findings (--expect)", get(Status::Known));
    }
    t
}

fn paint(s: &str, status: Status, colour: bool) -> String {
    if !colour {
        return s.to_string();
    }
    let code = match status {
        Status::Pass => "32",
        Status::Fail => "1;31",
        Status::Skip => "33",
        Status::Known => "35",
    };
    format!("\x1b[{code}m{s}\x1b[0m")
}

/// Splits `crates/<impl>/<case...>` names.
fn crate_cell(name: &str) -> Option<(&str, &str)> {
    let rest = name.strip_prefix("crates/")?;
    rest.split_once('/')
}

fn table(meta: &Meta<'_>, reports: &[CaseReport], colour: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}\n", header(meta));
    let width = reports
        .iter()
        .map(|r| r.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    let _ = writeln!(out, "{:<6} {:<width$}  EVIDENCE", "STATUS", "CASE");
    for r in reports {
        let label = paint(&format!("{:<6}", r.status.label()), r.status, colour);
        let _ = writeln!(out, "{label} {:<width$}  {}", r.name, r.detail);
    }
    if let Some(m) = matrix(reports, colour) {
        let _ = writeln!(out, "\n{m}");
    }
    let _ = writeln!(out, "\n{}", totals(reports));
    out
}

/// The `crates` matrix: one row per case, one column per implementation.
fn matrix(reports: &[CaseReport], colour: bool) -> Option<String> {
    let mut impls: Vec<&str> = Vec::new();
    let mut rows: BTreeMap<&str, BTreeMap<&str, Status>> = BTreeMap::new();
    let mut order: Vec<&str> = Vec::new();
    for r in reports {
        let Some((imp, case)) = crate_cell(&r.name) else {
            continue;
        };
        if !impls.contains(&imp) {
            impls.push(imp);
        }
        if !order.contains(&case) {
            order.push(case);
        }
        rows.entry(case).or_default().insert(imp, r.status);
    }
    if impls.is_empty() {
        return None;
    }
    let cw = order.iter().map(|c| c.len()).max().unwrap_or(4).max(4);
    let mut out = String::from("Matrix (ok / FAIL / skip / known):\n");
    let _ = write!(out, "{:<cw$}", "case");
    for i in &impls {
        let _ = write!(out, " {:>9}", i);
    }
    out.push('\n');
    for case in order {
        let _ = write!(out, "{case:<cw$}");
        for i in &impls {
            let cell = match rows[case].get(i) {
                None => ("-", None),
                Some(Status::Pass) => ("ok", Some(Status::Pass)),
                Some(Status::Fail) => ("FAIL", Some(Status::Fail)),
                Some(Status::Skip) => ("skip", Some(Status::Skip)),
                Some(Status::Known) => ("known", Some(Status::Known)),
            };
            let text = format!(" {:>9}", cell.0);
            match cell.1 {
                Some(st) => out.push_str(&paint(&text, st, colour)),
                None => out.push_str(&text),
            }
        }
        out.push('\n');
    }
    Some(out)
}

fn json(meta: &Meta<'_>, reports: &[CaseReport]) -> String {
    let s = summary(reports);
    let cases: Vec<serde_json::Value> = reports
        .iter()
        .map(|r| {
            serde_json::json!({
                "name": r.name,
                "status": r.status.name(),
                "detail": r.detail,
                "duration_ms": r.duration.as_secs_f64() * 1000.0,
            })
        })
        .collect();
    let v = serde_json::json!({
        "tool": "inflight-audit",
        "command": meta.command,
        "subject": meta.subject,
        "kernel": crate::sys::kernel_release(),
        "arch": std::env::consts::ARCH,
        "summary": {
            "total": reports.len(),
            "pass": s.get(&Status::Pass).copied().unwrap_or(0),
            "fail": s.get(&Status::Fail).copied().unwrap_or(0),
            "skipped": s.get(&Status::Skip).copied().unwrap_or(0),
            "known": s.get(&Status::Known).copied().unwrap_or(0),
        },
        "cases": cases,
    });
    let mut text = serde_json::to_string_pretty(&v).unwrap_or_default();
    text.push('\n');
    text
}

/// Escapes text for XML attributes and character data; characters XML 1.0
/// cannot carry are replaced.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

fn junit(meta: &Meta<'_>, reports: &[CaseReport]) -> String {
    // One suite per first two name components (kernel/x, peer/stream, crates/nix).
    let mut suites: Vec<(String, Vec<&CaseReport>)> = Vec::new();
    for r in reports {
        let mut parts = r.name.splitn(3, '/');
        let suite = match (parts.next(), parts.next(), parts.next()) {
            (Some(a), Some(b), Some(_)) => format!("{a}/{b}"),
            (Some(a), _, _) => a.to_string(),
            _ => "audit".into(),
        };
        match suites.iter_mut().find(|(s, _)| *s == suite) {
            Some((_, v)) => v.push(r),
            None => suites.push((suite, vec![r])),
        }
    }
    let s = summary(reports);
    let total_time: f64 = reports.iter().map(|r| r.duration.as_secs_f64()).sum();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"{}\" tests=\"{}\" failures=\"{}\" skipped=\"{}\" time=\"{:.3}\">",
        xml_escape(&header(meta)),
        reports.len(),
        s.get(&Status::Fail).copied().unwrap_or(0),
        s.get(&Status::Skip).copied().unwrap_or(0) + s.get(&Status::Known).copied().unwrap_or(0),
        total_time
    );
    for (suite, cases) in &suites {
        let fails = cases.iter().filter(|c| c.status == Status::Fail).count();
        let skips = cases
            .iter()
            .filter(|c| matches!(c.status, Status::Skip | Status::Known))
            .count();
        let time: f64 = cases.iter().map(|r| r.duration.as_secs_f64()).sum();
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{fails}\" errors=\"0\" skipped=\"{skips}\" time=\"{time:.3}\">",
            xml_escape(suite),
            cases.len()
        );
        for c in cases {
            let _ = write!(
                out,
                "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\"",
                xml_escape(suite),
                xml_escape(&c.name),
                c.duration.as_secs_f64()
            );
            let detail = xml_escape(&c.detail);
            match c.status {
                Status::Pass => {
                    let _ = writeln!(
                        out,
                        ">\n      <system-out>{detail}</system-out>\n    </testcase>"
                    );
                }
                Status::Fail => {
                    let _ = writeln!(
                        out,
                        ">\n      <failure message=\"{detail}\" type=\"audit\">{detail}</failure>\n    </testcase>"
                    );
                }
                Status::Skip => {
                    let _ = writeln!(
                        out,
                        ">\n      <skipped message=\"{detail}\"/>\n    </testcase>"
                    );
                }
                Status::Known => {
                    let _ = writeln!(
                        out,
                        ">\n      <skipped message=\"known finding: {detail}\"/>\n    </testcase>"
                    );
                }
            }
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn markdown(meta: &Meta<'_>, reports: &[CaseReport]) -> String {
    let mut out = format!(
        "### {}\n\n| Status | Case | Evidence |\n|---|---|---|\n",
        md_cell(&header(meta))
    );
    for r in reports {
        let _ = writeln!(
            out,
            "| {} | `{}` | {} |",
            r.status.label(),
            md_cell(&r.name),
            md_cell(&r.detail)
        );
    }
    if let Some(m) = matrix(reports, false) {
        let mut lines = m.lines().skip(1);
        if let Some(head) = lines.next() {
            let cols: Vec<&str> = head.split_whitespace().collect();
            let _ = writeln!(out, "\n| {} |", cols.join(" | "));
            let _ = writeln!(out, "|{}", "---|".repeat(cols.len()));
            for l in lines {
                let cells: Vec<&str> = l.split_whitespace().collect();
                let _ = writeln!(out, "| {} |", cells.join(" | "));
            }
        }
    }
    let _ = writeln!(out, "\n{}", totals(reports));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_escaping() {
        assert_eq!(
            xml_escape("a<b>&\"c'\u{1}"),
            "a&lt;b&gt;&amp;&quot;c&apos;\u{FFFD}"
        );
    }
}
