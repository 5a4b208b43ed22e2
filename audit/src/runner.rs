//! Cases, running them (progress bar, watchdog, panics), and the result
//! model.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::expect::Expectations;
use crate::oracle;

/// The verdict of one case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Status {
    /// Behaved as required.
    #[serde(rename = "pass")]
    Pass,
    /// Did not; the detail says what was observed.
    #[serde(rename = "fail")]
    Fail,
    /// Could not be checked here; the detail says why.
    #[serde(rename = "skipped")]
    Skip,
    /// Worth a look but not wrong in itself (a daemon may hold a
    /// descriptor on purpose); never fails the run.
    #[serde(rename = "warn")]
    Warn,
    /// Failed, and the `--expect` file lists it as a known finding.
    #[serde(rename = "known")]
    Known,
}

impl Status {
    /// Upper-case label, as in the table.
    pub fn label(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::Skip => "SKIP",
            Status::Warn => "WARN",
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

/// The body of a case: an error is a failure whose detail is the error with
/// its context chain (`what: why`).
pub type CaseResult = anyhow::Result<Outcome>;

/// A case result in one line (for a report that must quote it).
pub fn describe(result: &CaseResult) -> String {
    match result {
        Ok(o) => format!("{}: {}", o.status.label(), o.detail),
        Err(e) => format!("FAIL: {e:#}"),
    }
}

/// A multi-line text (a leak guard's report) on one line.
pub fn one_line(text: &impl std::fmt::Display) -> String {
    text.to_string()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
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
    /// Its full name (`kernel/...`, `crates/...`, `program/...`).
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

/// Counts by status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Passed.
    pub pass: usize,
    /// Failed.
    pub fail: usize,
    /// Skipped.
    pub skipped: usize,
    /// Warnings.
    pub warn: usize,
    /// Known findings.
    pub known: usize,
}

impl Totals {
    /// Counts `reports` by status.
    pub fn of(reports: &[CaseReport]) -> Totals {
        let mut t = Totals::default();
        for r in reports {
            *match r.status {
                Status::Pass => &mut t.pass,
                Status::Fail => &mut t.fail,
                Status::Skip => &mut t.skipped,
                Status::Warn => &mut t.warn,
                Status::Known => &mut t.known,
            } += 1;
        }
        t
    }
}

/// The case now running, shared with the watchdog: its name and when it
/// started (milliseconds after `epoch`, 0 when none runs).
struct Current {
    epoch: Instant,
    started: AtomicU64,
    name: Mutex<String>,
}

impl Current {
    fn begin(&self, name: &str) {
        if let Ok(mut c) = self.name.lock() {
            c.clear();
            c.push_str(name);
        }
        let ms = self.epoch.elapsed().as_millis().max(1) as u64;
        self.started.store(ms, Ordering::Relaxed);
    }

    fn end(&self) {
        self.started.store(0, Ordering::Relaxed);
    }

    /// The running case's name if it has run longer than `limit`.
    fn overdue(&self, limit: Duration) -> Option<String> {
        let s = self.started.load(Ordering::Relaxed);
        let running = self
            .epoch
            .elapsed()
            .saturating_sub(Duration::from_millis(s));
        (s != 0 && running > limit).then(|| self.name.lock().map(|c| c.clone()).unwrap_or_default())
    }
}

/// Starts the thread that ends the process if one case outlives its time by
/// far (so the auditor never hangs).
fn watchdog(current: Arc<Current>, settings: &Settings) {
    // Generous: a case may make several waits of `timeout` each.
    let limit = settings.timeout * 6 + Duration::from_secs(30);
    std::thread::Builder::new()
        .name("watchdog".into())
        .spawn(move || loop {
            std::thread::sleep(Duration::from_millis(200));
            if let Some(name) = current.overdue(limit) {
                eprintln!(
                    "\ninflight-audit: case {name} still running after {limit:?}: aborting (the auditor must not hang)"
                );
                std::process::exit(2);
            }
        })
        .expect("spawning the watchdog thread");
}

/// A progress bar on standard error (drawn only on a terminal).
fn progress_bar(total: usize) -> ProgressBar {
    let bar = ProgressBar::new(total as u64);
    if let Ok(style) = ProgressStyle::with_template("[{bar:30}] {pos}/{len} {wide_msg}") {
        bar.set_style(style.progress_chars("#>-"));
    }
    bar
}

/// Runs one case body, turning an error or a panic into a failure (an
/// undecided identity: see [`oracle::undecided_outcome`]).
fn run_body(body: Body, settings: &Settings) -> Outcome {
    match catch_unwind(AssertUnwindSafe(|| body(settings))) {
        Ok(Ok(o)) => o,
        Ok(Err(e)) if oracle::is_undecided(&e) => oracle::undecided_outcome(&format!("{e:#}")),
        Ok(Err(e)) => Outcome::fail(format!("{e:#}")),
        Err(panic) => {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown panic".into());
            Outcome::fail(format!("auditor panicked: {msg}"))
        }
    }
}

/// Runs `cases` in order, one at a time on this thread, with a progress bar
/// on a terminal and a watchdog.
pub fn run(cases: Vec<Case>, settings: &Settings, expect: &Expectations) -> Vec<CaseReport> {
    let current = Arc::new(Current {
        epoch: Instant::now(),
        started: AtomicU64::new(0),
        name: Mutex::new(String::new()),
    });
    watchdog(Arc::clone(&current), settings);
    let bar = progress_bar(cases.len());
    let mut out = Vec::with_capacity(cases.len());
    for case in cases {
        bar.set_message(case.name.clone());
        current.begin(&case.name);
        let t0 = Instant::now();
        let outcome = expect.apply(&case.name, run_body(case.body, settings));
        current.end();
        bar.inc(1);
        out.push(CaseReport {
            name: case.name,
            status: outcome.status,
            detail: outcome.detail,
            duration: t0.elapsed(),
        });
    }
    bar.finish_and_clear();
    out
}
