//! What one kernel showed: a column of cells, one per case, and how the
//! column ended (a guest that hung or panicked is a failed column).

use serde::{Deserialize, Serialize};

/// The status of one cell (the auditor's statuses, and libtest's mapped
/// onto them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CellStatus {
    /// Passed.
    #[serde(rename = "pass")]
    Pass,
    /// Failed.
    #[serde(rename = "fail")]
    Fail,
    /// Skipped, with the reason.
    #[serde(rename = "skipped")]
    Skip,
    /// A warning: passes, with something worth a look in the evidence.
    #[serde(rename = "warn")]
    Warn,
    /// A known finding of the `--expect` file.
    #[serde(rename = "known")]
    Known,
}

impl CellStatus {
    /// The status named in an audit JSON report or an expectation.
    pub fn parse(s: &str) -> Option<CellStatus> {
        Some(match s {
            "pass" => CellStatus::Pass,
            "fail" => CellStatus::Fail,
            "skipped" | "skip" => CellStatus::Skip,
            "warn" => CellStatus::Warn,
            "known" => CellStatus::Known,
            _ => return None,
        })
    }

    /// The word the matrix shows.
    pub fn word(self) -> &'static str {
        match self {
            CellStatus::Pass => "ok",
            CellStatus::Fail => "FAIL",
            CellStatus::Skip => "skip",
            CellStatus::Warn => "warn",
            CellStatus::Known => "known",
        }
    }
}

/// What one case did on one kernel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cell {
    /// The verdict.
    pub status: CellStatus,
    /// Which of several legitimate behaviours the case saw (the `[word]`
    /// its evidence starts with; for inflight's tests, `unsupported` when
    /// the typed `Unsupported` path was taken).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mark: Option<String>,
    /// The evidence or the reason.
    pub detail: String,
}

impl Cell {
    /// A cell whose mark is read from the evidence: `[word] rest`.
    pub fn from_detail(status: CellStatus, detail: &str) -> Cell {
        Cell {
            status,
            mark: mark_of(detail).map(str::to_string),
            detail: detail.to_string(),
        }
    }

    /// The cell as the matrix shows it: `ok`, `ok[unsupported]`, `skip`...
    pub fn label(&self) -> String {
        match &self.mark {
            Some(m) => format!("{}[{m}]", self.status.word()),
            None => self.status.word().to_string(),
        }
    }

    /// The same status and mark (the evidence may differ: pids, times).
    pub fn same_as(&self, other: &Cell) -> bool {
        self.status == other.status && self.mark == other.mark
    }
}

/// The behaviour mark at the start of a case's evidence: `[word] ...`
/// (a word of letters, digits and `-`).
pub fn mark_of(detail: &str) -> Option<&str> {
    let rest = detail.strip_prefix('[')?;
    let end = rest.find(']')?;
    let word = &rest[..end];
    let ok = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    ok.then_some(word)
}

/// Why a column has no (or only some) results.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnFailure {
    /// What went wrong: timed out, kernel panic, stopped early.
    pub reason: String,
    /// The last lines of the guest's console.
    pub console_tail: Vec<String>,
}

/// Everything one kernel showed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Column {
    /// The name the table shows (`host`, `6.1`, a file name).
    pub label: String,
    /// The kernel release (`uname -r` in the guest).
    pub release: String,
    /// Where the kernel came from (the host, or the image's file name).
    pub source: String,
    /// Wall time of the whole column (boot included), in seconds.
    pub seconds: f64,
    /// Set when the guest hung, panicked or stopped early.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<ColumnFailure>,
    /// Every case's cell, in run order.
    pub cells: Vec<(String, Cell)>,
}

impl Column {
    /// The cell of case `name`, if this kernel ran it.
    pub fn cell(&self, name: &str) -> Option<&Cell> {
        self.cells.iter().find(|(n, _)| n == name).map(|(_, c)| c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks() {
        assert_eq!(
            mark_of("[errno-payload] SCM_PIDFD -22"),
            Some("errno-payload")
        );
        assert_eq!(mark_of("[a b] x"), None);
        assert_eq!(mark_of("no mark [x]"), None);
        assert_eq!(mark_of("[] x"), None);
        let c = Cell::from_detail(CellStatus::Pass, "[unsupported] path");
        assert_eq!(c.label(), "ok[unsupported]");
        let plain = Cell::from_detail(CellStatus::Pass, "fine");
        assert!(!c.same_as(&plain));
        assert_eq!(plain.label(), "ok");
        assert_eq!(CellStatus::parse("skipped"), Some(CellStatus::Skip));
        assert_eq!(CellStatus::parse("warn"), Some(CellStatus::Warn));
        assert_eq!(CellStatus::Warn.word(), "warn");
        assert_eq!(CellStatus::parse("bogus"), None);
    }
}
