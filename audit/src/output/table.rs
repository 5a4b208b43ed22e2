//! The text table, with the `crates` matrix, styled by status.

use std::fmt::Write as _;

use anstyle::{AnsiColor, Style};

use super::matrix::Matrix;
use super::{header, program_line, totals_line, Meta};
use crate::runner::{CaseReport, Status};

/// The style of a status.
fn style(status: Status) -> Style {
    match status {
        Status::Pass => AnsiColor::Green.on_default(),
        Status::Fail => AnsiColor::Red.on_default().bold(),
        Status::Skip => AnsiColor::Yellow.on_default(),
        Status::Warn => AnsiColor::BrightYellow.on_default().bold(),
        Status::Known => AnsiColor::Magenta.on_default(),
    }
}

fn paint(text: &str, status: Option<Status>) -> String {
    match status {
        Some(st) => {
            let s = style(st);
            format!("{s}{text}{s:#}")
        }
        None => text.to_string(),
    }
}

/// The table: header, one line per case, the matrix, the totals.
pub fn render(meta: &Meta<'_>, reports: &[CaseReport]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", header(meta));
    if let Some(p) = &meta.program {
        let _ = writeln!(out, "{}", program_line(p));
    }
    out.push('\n');
    let width = reports
        .iter()
        .map(|r| r.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    let _ = writeln!(out, "{:<6} {:<width$}  EVIDENCE", "STATUS", "CASE");
    for r in reports {
        let label = paint(&format!("{:<6}", r.status.label()), Some(r.status));
        let _ = writeln!(out, "{label} {:<width$}  {}", r.name, r.detail);
    }
    if let Some(m) = Matrix::of(reports) {
        let _ = writeln!(out, "\n{}", matrix(&m));
    }
    let _ = writeln!(out, "\n{}", totals_line(reports));
    out
}

fn matrix(m: &Matrix<'_>) -> String {
    let cw = m.rows.iter().map(|r| r.0.len()).max().unwrap_or(4).max(4);
    let mut out = String::from("Matrix (ok / FAIL / skip / known):\n");
    let _ = write!(out, "{:<cw$}", "case");
    for c in &m.columns {
        let _ = write!(out, " {c:>9}");
    }
    out.push('\n');
    for (case, cells) in &m.rows {
        let _ = write!(out, "{case:<cw$}");
        for &st in cells {
            out.push_str(&paint(&format!(" {:>9}", Matrix::cell(st)), st));
        }
        out.push('\n');
    }
    out
}
