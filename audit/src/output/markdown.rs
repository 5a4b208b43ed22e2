//! The Markdown report: the cases table and the `crates` matrix.

use std::fmt::Write as _;

use super::matrix::Matrix;
use super::{header, program_line, totals_line, Meta};
use crate::runner::CaseReport;

/// Escapes text for a table cell.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// One table row of `cells`.
fn row<S: AsRef<str>>(cells: impl IntoIterator<Item = S>) -> String {
    let cells: Vec<String> = cells.into_iter().map(|c| cell(c.as_ref())).collect();
    format!("| {} |", cells.join(" | "))
}

/// The Markdown report.
pub fn render(meta: &Meta<'_>, reports: &[CaseReport]) -> String {
    let mut out = format!("### {}\n\n", cell(&header(meta)));
    if let Some(p) = &meta.program {
        let _ = writeln!(out, "{}\n", program_line(p));
    }
    let _ = writeln!(
        out,
        "{}\n|---|---|---|",
        row(["Status", "Case", "Evidence"])
    );
    for r in reports {
        let name = format!("`{}`", r.name);
        let _ = writeln!(out, "{}", row([r.status.label(), &name, &r.detail]));
    }
    if let Some(m) = Matrix::of(reports) {
        let head = std::iter::once("case").chain(m.columns.iter().copied());
        let _ = writeln!(out, "\n{}", row(head));
        let _ = writeln!(out, "|{}", "---|".repeat(m.columns.len() + 1));
        for (case, cells) in &m.rows {
            let text = cells.iter().map(|&st| Matrix::cell(st));
            let _ = writeln!(out, "{}", row(std::iter::once(*case).chain(text)));
        }
    }
    let _ = writeln!(out, "\n{}", totals_line(reports));
    out
}
