//! Cases, running them (progress, watchdog, panics), and the result model.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::io::{IsTerminal, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The verdict of one case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Status {
    /// Behaved as required.
    Pass,
    /// Did not; the detail says what was observed.
    Fail,
    /// Could not be checked here; the detail says why.
    Skip,
    /// Failed, and the `--expect` file lists it as a known finding.
    Known,
}

impl Status {
    /// Lower-case name, as in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Skip => "skipped",
            Status::Known => "known",
        }
    }

    /// Upper-case label, as in the table.
    pub fn label(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::Skip => "SKIP",
            Status::Known => "KNOWN",
        }
    }
}

/// What a case returns: a verdict and the one-line evidence.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The verdict.
    pub status: Status,
    /// The evidence or the reason.
    pub detail: String,
}

impl Outcome {
    /// A pass with its evidence.
    pub fn pass(detail: impl Into<String>) -> Self {
        Outcome {
            status: Status::Pass,
            detail: detail.into(),
        }
    }

    /// A failure with what was observed.
    pub fn fail(detail: impl Into<String>) -> Self {
        Outcome {
            status: Status::Fail,
            detail: detail.into(),
        }
    }

    /// A skip with its reason.
    pub fn skip(detail: impl Into<String>) -> Self {
        Outcome {
            status: Status::Skip,
            detail: detail.into(),
        }
    }
}

/// The body of a case: `Err(text)` is a failure with that text.
pub type CaseResult = Result<Outcome, String>;

/// Turns any displayable error into a case failure with context.
pub trait Context<T> {
    /// `Err(e)` becomes `Err("what: e")`.
    fn ctx(self, what: &str) -> Result<T, String>;
}

impl<T, E: Display> Context<T> for Result<T, E> {
    fn ctx(self, what: &str) -> Result<T, String> {
        self.map_err(|e| format!("{what}: {e}"))
    }
}

/// Fails the case with a formatted message unless the condition holds.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($arg:tt)+) => {
        if !$cond {
            return Err(format!($($arg)+));
        }
    };
}

/// Settings every case can read.
#[derive(Clone, Debug)]
pub struct Settings {
    /// How long one exchange or wait may take.
    pub timeout: Duration,
}

type Body = Box<dyn FnOnce(&Settings) -> CaseResult>;

/// One named case.
pub struct Case {
    /// Its full name (`kernel/...`, `crates/...`, `peer/...`).
    pub name: String,
    body: Body,
}

impl Case {
    /// A case named `name` running `body`.
    pub fn new(
        name: impl Into<String>,
        body: impl FnOnce(&Settings) -> CaseResult + 'static,
    ) -> Self {
        Case {
            name: name.into(),
            body: Box::new(body),
        }
    }
}

/// The result of one case.
#[derive(Clone, Debug)]
pub struct CaseReport {
    /// The case name.
    pub name: String,
    /// The verdict.
    pub status: Status,
    /// Evidence or reason.
    pub detail: String,
    /// How long it took.
    pub duration: Duration,
}

/// `*` (any run, `/` included) and `?` (one character) glob match.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

/// Whether `name` is selected by the `--case` globs (all when empty). A glob
/// without a wildcard also selects everything under it (`kernel` selects
/// `kernel/...`).
pub fn selected(globs: &[String], name: &str) -> bool {
    globs.is_empty()
        || globs.iter().any(|g| {
            glob_match(g, name) || (!g.contains(['*', '?']) && name.starts_with(&format!("{g}/")))
        })
}

/// Known findings from an `--expect` file: case name to the substring its
/// detail must contain (empty: any failure).
pub type Expectations = BTreeMap<String, String>;

/// Reads an `--expect` file: one case name per line, optionally followed by
/// a tab and a substring the failure's detail must contain; `#` comments.
///
/// # Errors
///
/// The file cannot be read.
pub fn read_expectations(path: &str) -> Result<Expectations, String> {
    let text = std::fs::read_to_string(path).ctx(&format!("reading {path}"))?;
    let mut out = Expectations::new();
    for line in text.lines() {
        let line = line.trim_end();
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let (name, needle) = line.split_once('\t').unwrap_or((line, ""));
        out.insert(name.trim().to_string(), needle.trim().to_string());
    }
    Ok(out)
}

/// Runs `cases` in order, one at a time on this thread, with a progress bar
/// on a terminal and a watchdog that ends the process if one case outlives
/// its time by far (so the auditor never hangs).
pub fn run(cases: Vec<Case>, settings: &Settings, expect: &Expectations) -> Vec<CaseReport> {
    let total = cases.len();
    let progress = std::io::stderr().is_terminal();
    let started = Arc::new(AtomicU64::new(0));
    let current = Arc::new(Mutex::new(String::new()));
    let epoch = Instant::now();
    {
        let started = Arc::clone(&started);
        let current = Arc::clone(&current);
        // Generous: a case may make several waits of `timeout` each.
        let limit = settings.timeout * 6 + Duration::from_secs(30);
        std::thread::Builder::new()
            .name("watchdog".into())
            .spawn(move || loop {
                std::thread::sleep(Duration::from_millis(200));
                let s = started.load(Ordering::Relaxed);
                if s != 0 && epoch.elapsed().saturating_sub(Duration::from_millis(s)) > limit {
                    let name = current.lock().map(|c| c.clone()).unwrap_or_default();
                    eprintln!(
                        "\ninflight-audit: case {name} still running after {limit:?}: aborting (the auditor must not hang)"
                    );
                    std::process::exit(2);
                }
            })
            .expect("spawning the watchdog thread");
    }
    let mut out = Vec::with_capacity(total);
    for (i, case) in cases.into_iter().enumerate() {
        if progress {
            draw_progress(i, total, &case.name);
        }
        if let Ok(mut c) = current.lock() {
            c.clone_from(&case.name);
        }
        started.store(epoch.elapsed().as_millis().max(1) as u64, Ordering::Relaxed);
        let t0 = Instant::now();
        let body = case.body;
        let result = catch_unwind(AssertUnwindSafe(|| body(settings)));
        started.store(0, Ordering::Relaxed);
        let outcome = match result {
            Ok(Ok(o)) => o,
            Ok(Err(text)) => Outcome::fail(text),
            Err(panic) => {
                let msg = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "unknown panic".into());
                Outcome::fail(format!("auditor panicked: {msg}"))
            }
        };
        let mut status = outcome.status;
        let mut detail = outcome.detail;
        if let Some(needle) = expect.get(&case.name) {
            match status {
                Status::Fail if detail.contains(needle.as_str()) => status = Status::Known,
                Status::Fail => {
                    detail = format!(
                        "{detail} [the --expect file expects a failure mentioning {needle:?}]"
                    )
                }
                Status::Pass => {
                    status = Status::Fail;
                    detail = format!(
                        "listed as a known finding in the --expect file but passed now ({detail}): update the file"
                    );
                }
                _ => {}
            }
        }
        out.push(CaseReport {
            name: case.name,
            status,
            detail,
            duration: t0.elapsed(),
        });
    }
    if progress {
        eprint!("\r\x1b[2K");
        let _ = std::io::stderr().flush();
    }
    out
}

fn draw_progress(done: usize, total: usize, name: &str) {
    const WIDTH: usize = 30;
    let filled = (done * WIDTH).checked_div(total).unwrap_or(WIDTH);
    let mut shown: String = name.chars().take(50).collect();
    if name.chars().count() > 50 {
        shown.push('…');
    }
    eprint!(
        "\r\x1b[2K[{}{}] {done}/{total} {shown}",
        "#".repeat(filled),
        "-".repeat(WIDTH - filled)
    );
    let _ = std::io::stderr().flush();
}

/// Counts by status.
pub fn summary(reports: &[CaseReport]) -> BTreeMap<Status, usize> {
    let mut m = BTreeMap::new();
    for r in reports {
        *m.entry(r.status).or_insert(0) += 1;
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("kernel/*", "kernel/scm-max-fd/stream"));
        assert!(glob_match("*stream", "peer/stream"));
        assert!(glob_match("peer/?tream/*", "peer/stream/fds-1"));
        assert!(!glob_match("kernel/*/dgram", "kernel/x/stream"));
        assert!(!glob_match("peer", "peer/stream"));
        assert!(selected(&["peer".into()], "peer/stream"));
        assert!(!selected(&["pee".into()], "peer/stream"));
        assert!(selected(&[], "anything"));
    }
}
