//! The `crates` matrix: one row per case, one column per implementation.

use crate::runner::{CaseReport, Status};

/// The matrix of the `crates/<implementation>/<case>` reports.
pub struct Matrix<'a> {
    /// Implementation names, in report order.
    pub columns: Vec<&'a str>,
    /// Case names, in report order, each with one cell per column.
    pub rows: Vec<(&'a str, Vec<Option<Status>>)>,
}

/// Splits `crates/<implementation>/<case...>` names.
fn split(name: &str) -> Option<(&str, &str)> {
    name.strip_prefix("crates/")?.split_once('/')
}

impl<'a> Matrix<'a> {
    /// The matrix of `reports`, `None` when none is a `crates` case.
    pub fn of(reports: &'a [CaseReport]) -> Option<Matrix<'a>> {
        let mut columns: Vec<&str> = Vec::new();
        let mut cells: Vec<(&str, &str, Status)> = Vec::new();
        let mut order: Vec<&str> = Vec::new();
        for r in reports {
            let Some((imp, case)) = split(&r.name) else {
                continue;
            };
            if !columns.contains(&imp) {
                columns.push(imp);
            }
            if !order.contains(&case) {
                order.push(case);
            }
            cells.push((case, imp, r.status));
        }
        if columns.is_empty() {
            return None;
        }
        let rows = order
            .into_iter()
            .map(|case| {
                let row = columns
                    .iter()
                    .map(|imp| {
                        cells
                            .iter()
                            .find(|(c, i, _)| *c == case && i == imp)
                            .map(|&(_, _, st)| st)
                    })
                    .collect();
                (case, row)
            })
            .collect();
        Some(Matrix { columns, rows })
    }

    /// The text of one cell.
    pub fn cell(status: Option<Status>) -> &'static str {
        match status {
            None => "-",
            Some(Status::Pass) => "ok",
            Some(Status::Fail) => "FAIL",
            Some(Status::Skip) => "skip",
            Some(Status::Warn) => "warn",
            Some(Status::Known) => "known",
        }
    }
}
