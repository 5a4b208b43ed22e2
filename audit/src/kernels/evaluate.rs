//! The matrix (case x kernel) and its verdicts: which rows differ, which
//! differences the expectations explain, and what fails the run.
//!
//! * A cell an expectation matches must show what the line says.
//! * A failed cell that no line expects fails the run, and so does a failed
//!   column (a guest that hung, panicked or stopped early).
//! * In a row whose cells differ (status or mark; a case missing from a
//!   kernel counts as different), every cell no line matches must be a
//!   plain pass: any other difference is unexpected.
//! * A line about a kernel of the run that matches none of its cases is
//!   out of date, which fails the run too.

use serde::Serialize;

use super::expect::Expectation;
use super::model::{Cell, Column};

/// How one cell was judged.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", content = "why", rename_all = "kebab-case")]
pub enum Verdict {
    /// Nothing to explain.
    Fine,
    /// An expectation (its line number) explains it.
    Expected(usize),
    /// It fails the run; the reason.
    Unexpected(String),
}

/// One case across the kernels.
#[derive(Clone, Debug)]
pub struct Row {
    /// The case name.
    pub name: String,
    /// One cell per column (`None`: that kernel did not run the case).
    pub cells: Vec<Option<Cell>>,
    /// One verdict per column.
    pub verdicts: Vec<Verdict>,
    /// The cells are not all the same.
    pub differs: bool,
}

/// The judged matrix.
#[derive(Clone, Debug)]
pub struct Matrix {
    /// The kernels, in order.
    pub columns: Vec<Column>,
    /// Every case any kernel ran, in first-seen order.
    pub rows: Vec<Row>,
    /// Run-level problems: failed columns, out-of-date expectations.
    pub problems: Vec<String>,
}

impl Matrix {
    /// How many cells fail the run, plus the run-level problems.
    pub fn unexpected(&self) -> usize {
        let cells = self
            .rows
            .iter()
            .flat_map(|r| &r.verdicts)
            .filter(|v| matches!(v, Verdict::Unexpected(_)))
            .count();
        cells + self.problems.len()
    }
}

/// Every case name, in the order the columns first show them.
fn names(columns: &[Column], keep: &dyn Fn(&str) -> bool) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for c in columns {
        for (n, _) in &c.cells {
            if keep(n) && seen.insert(n.clone()) {
                out.push(n.clone());
            }
        }
    }
    out
}

fn differs(cells: &[Option<Cell>]) -> bool {
    let first = &cells[0];
    cells.iter().any(|c| match (c, first) {
        (Some(a), Some(b)) => !a.same_as(b),
        (None, None) => false,
        _ => true,
    })
}

/// The verdict of one cell.
fn judge(
    name: &str,
    column: &Column,
    cell: Option<&Cell>,
    row_differs: bool,
    expect: &[Expectation],
    used: &mut [bool],
) -> Verdict {
    let Some(cell) = cell else {
        // Missing: a failed column or step says why, once.
        return Verdict::Fine;
    };
    if let Some(i) = expect.iter().position(|e| e.applies(name, &column.release)) {
        used[i] = true;
        let e = &expect[i];
        return if e.met_by(cell) {
            Verdict::Expected(e.line)
        } else {
            let text = if e.text.is_empty() {
                String::new()
            } else {
                format!(" mentioning {:?}", e.text)
            };
            Verdict::Unexpected(format!(
                "line {} expects {}{text} on {}, the kernel showed {}: {}",
                e.line,
                e.label(),
                column.label,
                cell.label(),
                cell.detail
            ))
        };
    }
    let plain_pass = cell.status == super::model::CellStatus::Pass && cell.mark.is_none();
    if cell.status == super::model::CellStatus::Fail {
        Verdict::Unexpected(format!("failed on {}: {}", column.label, cell.detail))
    } else if row_differs && !plain_pass {
        Verdict::Unexpected(format!(
            "{} on {} differs from the other kernels and no expectation explains it: {}",
            cell.label(),
            column.label,
            cell.detail
        ))
    } else {
        Verdict::Fine
    }
}

/// The cases a matrix shows: all, or those `--case` selects (then no
/// expectation is called out of date).
pub struct Filter<'a> {
    /// Whether a case is shown.
    pub keep: &'a dyn Fn(&str) -> bool,
    /// Some cases are left out.
    pub partial: bool,
}

/// Whether `column` ran the step a case glob belongs to (`kernel/...` to
/// `run/kernel`, `core/creds/...` to `run/core/creds`): a line about a
/// step that did not run (inflight's tests left out) is not out of date.
fn ran_step_of(column: &Column, case: &str) -> bool {
    column.cells.iter().any(|(n, _)| {
        n.strip_prefix("run/")
            .is_some_and(|step| case.starts_with(&format!("{step}/")))
    })
}

/// Builds and judges the matrix of `columns`.
pub fn evaluate(columns: Vec<Column>, expect: &[Expectation], filter: &Filter<'_>) -> Matrix {
    let keep = filter.keep;
    let mut used = vec![false; expect.len()];
    let mut rows = Vec::new();
    for name in names(&columns, keep) {
        let cells: Vec<Option<Cell>> = columns.iter().map(|c| c.cell(&name).cloned()).collect();
        let d = differs(&cells);
        let verdicts = columns
            .iter()
            .zip(&cells)
            .map(|(col, cell)| judge(&name, col, cell.as_ref(), d, expect, &mut used))
            .collect();
        rows.push(Row {
            name,
            cells,
            verdicts,
            differs: d,
        });
    }
    let mut problems = Vec::new();
    for c in &columns {
        if let Some(f) = &c.failure {
            problems.push(format!("{} ({}): {}", c.label, c.source, f.reason));
        }
    }
    for (e, used) in expect.iter().zip(&used) {
        let about_run = columns
            .iter()
            .any(|c| e.about_kernel(&c.release) && ran_step_of(c, &e.case));
        let complete = columns.iter().all(|c| c.failure.is_none()) && !filter.partial;
        if about_run && complete && !used {
            problems.push(format!(
                "expectation line {} ({} {} {}) matches no case of the kernels it names: out of date",
                e.line,
                e.case,
                e.kernels_text,
                e.label()
            ));
        }
    }
    Matrix {
        columns,
        rows,
        problems,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::expect::parse;
    use crate::kernels::model::CellStatus;

    fn column(label: &str, release: &str, cells: &[(&str, CellStatus, &str)]) -> Column {
        Column {
            label: label.into(),
            release: release.into(),
            source: "test".into(),
            seconds: 1.0,
            failure: None,
            cells: cells
                .iter()
                .map(|(n, s, d)| (n.to_string(), Cell::from_detail(*s, d)))
                .collect(),
        }
    }

    #[test]
    fn differences_need_expectations() {
        use CellStatus::*;
        let old = column(
            "old",
            "6.1.0",
            &[
                ("run/x", Pass, "ok"),
                ("a", Pass, "x"),
                ("b", Skip, "no SO_X"),
                ("c", Pass, "[v1] y"),
                ("d", Skip, "z"),
            ],
        );
        let new = column(
            "new",
            "6.18.1",
            &[
                ("run/x", Pass, "ok"),
                ("a", Pass, "x"),
                ("b", Pass, "x"),
                ("c", Pass, "[v2] y"),
                ("d", Skip, "z"),
            ],
        );
        let all = Filter {
            keep: &|_: &str| true,
            partial: false,
        };
        let bare = evaluate(vec![old.clone(), new.clone()], &[], &all);
        assert_eq!(bare.rows.iter().filter(|r| r.differs).count(), 2);
        // b's skip, and both marks of c, are unexpected; d is the same everywhere.
        assert_eq!(bare.unexpected(), 3);
        let e = parse("b <6.5 skip SO_X\nc 6.1 pass[v1]\nc >=6.17 pass[v2]\n").unwrap();
        let judged = evaluate(vec![old.clone(), new.clone()], &e, &all);
        assert_eq!(judged.unexpected(), 0, "{:?}", judged.rows);
        assert_eq!(judged.rows[2].verdicts[0], Verdict::Expected(1));
        // A line that says otherwise, and a stale line.
        // A line about a step that ran (x) but names no case is out of
        // date; one about a step that did not run (y) is not.
        let e = parse("b <6.5 skip SO_Y\nx/gone * pass\ny/any * pass\n").unwrap();
        let judged = evaluate(vec![old, new], &e, &all);
        let why: Vec<String> = judged
            .rows
            .iter()
            .flat_map(|r| &r.verdicts)
            .filter_map(|v| match v {
                Verdict::Unexpected(w) => Some(w.clone()),
                _ => None,
            })
            .collect();
        assert!(
            why[0].contains("line 1 expects skip mentioning \"SO_Y\""),
            "{why:?}"
        );
        assert!(
            judged.problems[0].contains("line 2"),
            "{:?}",
            judged.problems
        );
    }

    #[test]
    fn failures_and_broken_columns() {
        use CellStatus::*;
        let a = column("a", "6.1", &[("x", Fail, "boom")]);
        let mut b = column("b", "6.12", &[]);
        b.failure = Some(crate::kernels::model::ColumnFailure {
            reason: "timed out".into(),
            console_tail: vec![],
        });
        let all = Filter {
            keep: &|_: &str| true,
            partial: false,
        };
        let m = evaluate(vec![a, b], &[], &all);
        assert_eq!(m.unexpected(), 2);
        assert!(m.rows[0].differs);
        assert_eq!(m.rows[0].verdicts[1], Verdict::Fine);
    }

    #[test]
    fn warnings_pass_but_differ() {
        use CellStatus::*;
        let a = column("a", "6.1", &[("w", Warn, "odd"), ("v", Warn, "odd")]);
        let b = column("b", "6.12", &[("w", Warn, "odd"), ("v", Pass, "fine")]);
        let all = Filter {
            keep: &|_: &str| true,
            partial: false,
        };
        let m = evaluate(vec![a.clone(), b.clone()], &[], &all);
        // The same warning everywhere passes; one only on 6.1 is a
        // difference nothing explains.
        assert_eq!(m.rows[0].verdicts, [Verdict::Fine, Verdict::Fine]);
        assert!(matches!(m.rows[1].verdicts[0], Verdict::Unexpected(_)));
        assert_eq!(m.unexpected(), 1);
        let e = parse("v 6.1 warn odd\n").unwrap();
        assert_eq!(evaluate(vec![a, b], &e, &all).unexpected(), 0);
    }
}
