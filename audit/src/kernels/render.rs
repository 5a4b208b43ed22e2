//! The matrix in every report format: a table (differences highlighted on a
//! terminal), Markdown, JSON (which `--from-json` reads back) and JUnit XML.

use std::fmt::Write as _;
use std::time::Duration;

use anstyle::{AnsiColor, Style};
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
use serde::{Deserialize, Serialize};

use super::evaluate::{Matrix, Row, Verdict};
use super::model::{CellStatus, Column};
use crate::output::Format;

/// The matrix as text in `format`.
///
/// # Errors
///
/// The JSON or XML serialiser failed.
pub fn render(format: Format, m: &Matrix) -> anyhow::Result<String> {
    Ok(match format {
        Format::Table => table(m),
        Format::Markdown => markdown(m),
        Format::Json => json(m)?,
        Format::Junit => junit(m)?,
    })
}

/// One cell's text: its label, `*` for an expected difference, `!` for an
/// unexpected one, `-` where the kernel did not run the case.
fn cell_text(row: &Row, i: usize) -> String {
    let Some(c) = &row.cells[i] else {
        return "-".into();
    };
    match &row.verdicts[i] {
        Verdict::Fine => c.label(),
        Verdict::Expected(_) => format!("{}*", c.label()),
        Verdict::Unexpected(_) => format!("{}!", c.label()),
    }
}

fn summary(m: &Matrix) -> String {
    let differ = m.rows.iter().filter(|r| r.differs).count();
    format!(
        "{} cases on {} kernels: {differ} differ between kernels; {} unexpected (differences no expectation explains, failures, failed guests, out-of-date expectations)",
        m.rows.len(),
        m.columns.len(),
        m.unexpected()
    )
}

fn column_line(c: &Column) -> String {
    let state = match &c.failure {
        Some(f) => format!("FAILED: {}", f.reason),
        None => format!("{} cases", c.cells.len()),
    };
    format!(
        "{}: Linux {} ({}), {:.1} s, {state}",
        c.label, c.release, c.source, c.seconds
    )
}

/// Per-kernel evidence of the rows that differ or fail somewhere.
fn differences(m: &Matrix) -> Vec<(String, Vec<String>)> {
    m.rows
        .iter()
        .filter(|r| {
            r.differs
                || r.cells
                    .iter()
                    .flatten()
                    .any(|c| c.status == CellStatus::Fail)
        })
        .map(|r| {
            let lines = m
                .columns
                .iter()
                .enumerate()
                .map(|(i, col)| {
                    let how = match &r.verdicts[i] {
                        Verdict::Fine => String::new(),
                        Verdict::Expected(l) => format!(" (expected, line {l})"),
                        Verdict::Unexpected(_) => " (UNEXPECTED)".into(),
                    };
                    let detail = r.cells[i].as_ref().map_or("not run", |c| c.detail.as_str());
                    format!("{}: {}{how}: {detail}", col.label, cell_text(r, i))
                })
                .collect();
            (r.name.clone(), lines)
        })
        .collect()
}

fn problems(m: &Matrix) -> Vec<String> {
    let mut out: Vec<String> = m
        .rows
        .iter()
        .flat_map(|r| {
            r.verdicts.iter().filter_map(move |v| match v {
                Verdict::Unexpected(why) => Some(format!("{}: {why}", r.name)),
                _ => None,
            })
        })
        .collect();
    out.extend(m.problems.iter().cloned());
    out
}

fn table(m: &Matrix) -> String {
    let bad = AnsiColor::Red.on_default().bold();
    let expected = AnsiColor::Cyan.on_default();
    let differ = AnsiColor::Yellow.on_default().bold();
    let mut out = String::from("inflight-audit kernels — the kernel battery, the crates matrix and inflight's tests on each kernel\n\n");
    for c in &m.columns {
        let _ = writeln!(out, "  {}", column_line(c));
    }
    let w = m
        .rows
        .iter()
        .map(|r| r.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    let cw: Vec<usize> = m
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let cells = m.rows.iter().map(|r| cell_text(r, i).len());
            cells.max().unwrap_or(0).max(c.label.len())
        })
        .collect();
    let _ = write!(out, "\n{:<w$}", "CASE");
    for (c, cw) in m.columns.iter().zip(&cw) {
        let _ = write!(out, "  {:<cw$}", c.label);
    }
    out.push('\n');
    for r in &m.rows {
        let name = format!("{:<w$}", r.name);
        let style = if r.differs { differ } else { Style::new() };
        let _ = write!(out, "{style}{name}{style:#}");
        for (i, cw) in cw.iter().enumerate() {
            let text = format!("{:<cw$}", cell_text(r, i));
            let s = match (&r.verdicts[i], r.cells[i].as_ref().map(|c| c.status)) {
                (Verdict::Unexpected(_), _) => bad,
                (Verdict::Expected(_), _) => expected,
                (_, Some(CellStatus::Skip)) => AnsiColor::Yellow.on_default(),
                (_, Some(CellStatus::Warn)) => AnsiColor::BrightYellow.on_default().bold(),
                _ => Style::new(),
            };
            let _ = write!(out, "  {s}{text}{s:#}");
        }
        out.push('\n');
    }
    let _ = writeln!(out, "\n(* an expected difference, ! unexpected, - not run)");
    let diffs = differences(m);
    if !diffs.is_empty() {
        let _ = writeln!(out, "\nDifferences and failures:");
        for (name, lines) in diffs {
            let _ = writeln!(out, "{differ}{name}{differ:#}");
            for l in lines {
                let _ = writeln!(out, "    {l}");
            }
        }
    }
    failures(&mut out, m, "");
    let probs = problems(m);
    if !probs.is_empty() {
        let _ = writeln!(out, "\n{bad}Unexpected:{bad:#}");
        for p in probs {
            let _ = writeln!(out, "  {p}");
        }
    }
    let _ = writeln!(out, "\n{}", summary(m));
    out
}

/// The console tails of failed columns.
fn failures(out: &mut String, m: &Matrix, fence: &str) {
    for c in &m.columns {
        if let Some(f) = &c.failure {
            let _ = writeln!(out, "\n{}: {} — console tail:\n{fence}", c.label, f.reason);
            for l in &f.console_tail {
                let _ = writeln!(out, "    {l}");
            }
            if !fence.is_empty() {
                let _ = writeln!(out, "{fence}");
            }
        }
    }
}

/// Escapes text for a Markdown table cell.
fn md(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn markdown(m: &Matrix) -> String {
    let mut out = String::from("### Kernels\n\n");
    for c in &m.columns {
        let _ = writeln!(out, "- {}", md(&column_line(c)));
    }
    let _ = writeln!(out, "\n{}", summary(m));
    let diffs = differences(m);
    if !diffs.is_empty() {
        let _ = writeln!(out, "\n### Differences and failures\n");
        for (name, lines) in diffs {
            let _ = writeln!(out, "- `{name}`");
            for l in lines {
                let _ = writeln!(out, "  - {}", md(&l));
            }
        }
    }
    let probs = problems(m);
    if !probs.is_empty() {
        let _ = writeln!(out, "\n### Unexpected\n");
        for p in probs {
            let _ = writeln!(out, "- {}", md(&p));
        }
    }
    failures(&mut out, m, "```");
    let _ = writeln!(out, "\n### Matrix\n\n`*` an expected difference (`audit/expected-differences.txt`), `!` unexpected, `-` not run; rows that differ are in bold.\n");
    let head: Vec<String> = m.columns.iter().map(|c| md(&c.label)).collect();
    let _ = writeln!(out, "| case | {} |", head.join(" | "));
    let _ = writeln!(out, "|---|{}", "---|".repeat(m.columns.len()));
    for r in &m.rows {
        let name = if r.differs {
            format!("**`{}`**", r.name)
        } else {
            format!("`{}`", r.name)
        };
        let cells: Vec<String> = (0..m.columns.len()).map(|i| md(&cell_text(r, i))).collect();
        let _ = writeln!(out, "| {name} | {} |", cells.join(" | "));
    }
    out
}

/// The JSON report: the raw columns (read back by `--from-json`) and the
/// judged rows.
#[derive(Serialize, Deserialize)]
pub struct JsonReport {
    /// `inflight-audit`.
    pub tool: String,
    /// `kernels`.
    pub command: String,
    /// Every kernel's cells.
    pub columns: Vec<Column>,
    /// The judged matrix (ignored when read back).
    #[serde(default)]
    pub rows: Vec<JsonRow>,
    /// Run-level problems.
    #[serde(default)]
    pub problems: Vec<String>,
    /// How many things fail the run.
    #[serde(default)]
    pub unexpected: usize,
}

/// One judged row.
#[derive(Serialize, Deserialize)]
pub struct JsonRow {
    name: String,
    differs: bool,
    cells: Vec<JsonCell>,
}

#[derive(Serialize, Deserialize)]
struct JsonCell {
    column: String,
    cell: Option<String>,
    #[serde(flatten)]
    verdict: serde_json::Value,
}

fn json(m: &Matrix) -> anyhow::Result<String> {
    let rows = m
        .rows
        .iter()
        .map(|r| {
            let cells = m
                .columns
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    Ok(JsonCell {
                        column: c.label.clone(),
                        cell: r.cells[i].as_ref().map(|c| c.label()),
                        verdict: serde_json::to_value(&r.verdicts[i])?,
                    })
                })
                .collect::<anyhow::Result<_>>()?;
            Ok(JsonRow {
                name: r.name.clone(),
                differs: r.differs,
                cells,
            })
        })
        .collect::<anyhow::Result<_>>()?;
    let report = JsonReport {
        tool: "inflight-audit".into(),
        command: "kernels".into(),
        columns: m.columns.clone(),
        rows,
        problems: m.problems.clone(),
        unexpected: m.unexpected(),
    };
    let mut text = serde_json::to_string_pretty(&report)?;
    text.push('\n');
    Ok(text)
}

fn junit(m: &Matrix) -> anyhow::Result<String> {
    let mut report = Report::new("inflight-audit kernels");
    for (i, col) in m.columns.iter().enumerate() {
        let mut suite = TestSuite::new(format!("kernels/{}", col.label));
        for r in &m.rows {
            let status = match (&r.verdicts[i], &r.cells[i]) {
                (Verdict::Unexpected(why), _) => {
                    let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                    s.set_message(why.as_str()).set_type("kernels");
                    s
                }
                (_, None) => continue,
                (_, Some(c)) if matches!(c.status, CellStatus::Skip | CellStatus::Known) => {
                    let mut s = TestCaseStatus::skipped();
                    s.set_message(c.detail.as_str());
                    s
                }
                _ => TestCaseStatus::success(),
            };
            let mut case = TestCase::new(r.name.as_str(), status);
            case.set_classname(format!("kernels/{}", col.label));
            // A warning passes, with its evidence (as in the audits' JUnit).
            if let Some(c) = r.cells[i].as_ref().filter(|c| c.status == CellStatus::Warn) {
                case.set_system_out(format!("WARN: {}", c.detail));
            }
            suite.add_test_case(case);
        }
        if let Some(f) = &col.failure {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
            s.set_message(f.reason.as_str())
                .set_description(f.console_tail.join("\n"));
            suite.add_test_case(TestCase::new("guest", s));
        }
        suite.set_time(Duration::from_secs_f64(col.seconds));
        report.add_test_suite(suite);
    }
    let mut run = TestSuite::new("kernels/run");
    for p in &m.problems {
        let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
        s.set_message(p.as_str());
        run.add_test_case(TestCase::new("expectations", s));
    }
    report.add_test_suite(run);
    let mut text = report.to_string()?;
    text.push('\n');
    Ok(text)
}
