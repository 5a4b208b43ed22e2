//! The expected differences between kernels (`--expect-differences FILE`):
//! which kernel does what, so that any other difference fails the run.
//!
//! One expectation a line: `CASE-GLOB  KERNELS  CELL  [TEXT...]`, fields
//! separated by white space, `#` starting a comment line.
//!
//! * `CASE-GLOB`: a case name or a glob (as `--case`: `*` also crosses `/`).
//! * `KERNELS`: `*`, or version bounds on the kernel release, joined by
//!   commas: `<6.5`, `>=6.10`, `>=6.5,<6.17`; a bare version (`6.12`) is
//!   that version and every release under it (`6.12.100+deb12-amd64`).
//! * `CELL`: what such a kernel shows: `pass`, `pass[MARK]`, `skip`,
//!   `fail`, `known`.
//! * `TEXT`: the rest of the line, a text the cell's evidence must contain.
//!
//! The first line that matches a (case, kernel) decides that cell.

use anyhow::{anyhow, bail, Context as _};
use globset::{GlobBuilder, GlobMatcher};

use super::model::{Cell, CellStatus};

/// A kernel release's version numbers (`6.12.100+deb12-amd64` gives
/// `[6, 12, 100]`).
pub fn version_of(release: &str) -> Vec<u64> {
    let mut out = Vec::new();
    for part in release.split('.') {
        let digits: String = part.chars().take_while(char::is_ascii_digit).collect();
        match digits.parse() {
            Ok(n) => out.push(n),
            Err(_) => break,
        }
        if digits.len() != part.len() {
            break;
        }
    }
    out
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Lt,
    Le,
    Gt,
    Ge,
    /// The version and every release under it.
    Under,
}

/// Which kernels a line is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Kernels {
    bounds: Vec<(Op, Vec<u64>)>,
}

impl Kernels {
    /// Parses `*` or comma-separated bounds.
    ///
    /// # Errors
    ///
    /// A bound that is not an operator and a dotted version.
    pub fn parse(s: &str) -> anyhow::Result<Kernels> {
        if s == "*" {
            return Ok(Kernels { bounds: Vec::new() });
        }
        let mut bounds = Vec::new();
        for b in s.split(',') {
            let (op, v) = if let Some(v) = b.strip_prefix("<=") {
                (Op::Le, v)
            } else if let Some(v) = b.strip_prefix(">=") {
                (Op::Ge, v)
            } else if let Some(v) = b.strip_prefix('<') {
                (Op::Lt, v)
            } else if let Some(v) = b.strip_prefix('>') {
                (Op::Gt, v)
            } else {
                (Op::Under, b.strip_prefix('=').unwrap_or(b))
            };
            let version = version_of(v);
            if version.is_empty() || version.len() != v.split('.').count() {
                bail!("kernel bound {b:?}: expected a version such as 6.12 after the operator");
            }
            bounds.push((op, version));
        }
        Ok(Kernels { bounds })
    }

    /// Whether the kernel `release` is one of these.
    pub fn matches(&self, release: &str) -> bool {
        let have = version_of(release);
        self.bounds.iter().all(|(op, want)| {
            let n = want.len().max(have.len());
            let pad = |v: &[u64]| {
                (0..n)
                    .map(|i| v.get(i).copied().unwrap_or(0))
                    .collect::<Vec<_>>()
            };
            let (h, w) = (pad(&have), pad(want));
            match op {
                Op::Lt => h < w,
                Op::Le => h <= w,
                Op::Gt => h > w,
                Op::Ge => h >= w,
                Op::Under => have.len() >= want.len() && have[..want.len()] == want[..],
            }
        })
    }
}

/// One line of the file.
#[derive(Clone, Debug)]
pub struct Expectation {
    /// Its line number.
    pub line: usize,
    /// The case glob as written.
    pub case: String,
    glob: GlobMatcher,
    /// Which kernels, as written.
    pub kernels_text: String,
    kernels: Kernels,
    /// The cell's status.
    pub status: CellStatus,
    /// The cell's mark.
    pub mark: Option<String>,
    /// A text the evidence must contain (may be empty).
    pub text: String,
}

impl Expectation {
    /// Whether this line is about `case` on kernel `release`.
    pub fn applies(&self, case: &str, release: &str) -> bool {
        self.glob.is_match(case) && self.kernels.matches(release)
    }

    /// Whether this line is about kernel `release`.
    pub fn about_kernel(&self, release: &str) -> bool {
        self.kernels.matches(release)
    }

    /// Whether `cell` is what the line says.
    pub fn met_by(&self, cell: &Cell) -> bool {
        cell.status == self.status && cell.mark == self.mark && cell.detail.contains(&self.text)
    }

    /// The cell the line expects, as the matrix shows it.
    pub fn label(&self) -> String {
        let c = Cell {
            status: self.status,
            mark: self.mark.clone(),
            detail: String::new(),
        };
        c.label()
    }
}

/// Parses `pass`, `pass[MARK]`, `skip`, `warn`, `fail`, `known`.
fn parse_cell(s: &str) -> anyhow::Result<(CellStatus, Option<String>)> {
    let (word, mark) = match s.split_once('[') {
        Some((w, m)) => {
            let m = m
                .strip_suffix(']')
                .ok_or_else(|| anyhow!("cell {s:?}: unclosed ["))?;
            (w, Some(m.to_string()))
        }
        None => (s, None),
    };
    let status = CellStatus::parse(word)
        .ok_or_else(|| anyhow!("cell {s:?}: expected pass, skip, warn, fail or known"))?;
    Ok((status, mark))
}

/// Parses the expected-differences file.
///
/// # Errors
///
/// A line with fewer than three fields, a malformed glob, kernel bound or
/// cell (with its line number).
pub fn parse(text: &str) -> anyhow::Result<Vec<Expectation>> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = || format!("line {}", i + 1);
        let mut fields = line.split_whitespace();
        let (Some(case), Some(kernels), Some(cell)) = (fields.next(), fields.next(), fields.next())
        else {
            bail!("{}: expected CASE-GLOB KERNELS CELL [TEXT]", at());
        };
        let text = fields.collect::<Vec<_>>().join(" ");
        let glob = GlobBuilder::new(case)
            .literal_separator(false)
            .build()
            .with_context(at)?
            .compile_matcher();
        let (status, mark) = parse_cell(cell).with_context(at)?;
        out.push(Expectation {
            line: i + 1,
            case: case.to_string(),
            glob,
            kernels_text: kernels.to_string(),
            kernels: Kernels::parse(kernels).with_context(at)?,
            status,
            mark,
            text,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(version_of("6.12.100+deb12-amd64"), [6, 12, 100]);
        assert_eq!(version_of("6.1.0-50-amd64"), [6, 1, 0]);
        assert_eq!(version_of("6.18.44-fc-v669"), [6, 18, 44]);
        assert_eq!(version_of("6.10-rc1"), [6, 10]);
        let k = |s: &str| Kernels::parse(s).unwrap();
        assert!(k("<6.5").matches("6.1.0-50-amd64"));
        assert!(!k("<6.5").matches("6.12.100+deb12-amd64"));
        assert!(k(">=6.5,<6.17").matches("6.12.100"));
        assert!(!k(">=6.5,<6.17").matches("6.18.44"));
        assert!(k("6.12").matches("6.12.100+deb12-amd64"));
        assert!(!k("6.1").matches("6.12.100"));
        assert!(k("6.1").matches("6.1.0-50-amd64"));
        assert!(k("*").matches("anything"));
        assert!(k(">6.17").matches("6.18"));
        assert!(k("<=6.16").matches("6.16.0"));
        assert!(Kernels::parse("<six").is_err());
        assert!(Kernels::parse("6.x").is_err());
    }

    #[test]
    fn lines() {
        let text = "# c\n\nkernel/scm-pidfd/*  <6.5  skip  SO_PASSPIDFD is\n\
core/unsupported/*\t6.1\tpass[unsupported]\n";
        let e = parse(text).unwrap();
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].text, "SO_PASSPIDFD is");
        assert!(e[0].applies("kernel/scm-pidfd/stream", "6.1.0-50-amd64"));
        assert!(!e[0].applies("kernel/scm-pidfd/stream", "6.12.1"));
        assert_eq!(e[1].label(), "ok[unsupported]");
        let cell = Cell::from_detail(CellStatus::Pass, "[unsupported] x");
        assert!(e[1].met_by(&cell));
        assert!(!e[0].met_by(&cell));
        assert!(parse("a b").is_err());
        assert!(parse("a * maybe").is_err());
        assert!(parse("a * pass[x").is_err());
        assert!(parse("a[ * pass").is_err());
    }
}
