//! What every suite shares: one lock per test binary, open-descriptor leak
//! checks, the property runner (regressions persisted, failures printed
//! readably) and the counters of cases and operations.

use std::fmt::Debug;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use inflight::inspect::FdSnapshot;
use proptest::strategy::Strategy;
use proptest::test_runner::{Config, FileFailurePersistence, TestCaseError, TestError, TestRunner};

static SERIAL: Mutex<()> = Mutex::new(());
static OPS: AtomicU64 = AtomicU64::new(0);
static CASES: AtomicU64 = AtomicU64::new(0);

/// Takes the lock every test of a binary holds for its whole run: the
/// open-descriptor snapshots are only meaningful when no other thread opens
/// or closes descriptors meanwhile. A poisoned lock (an earlier test failed)
/// is taken over.
pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Counts `n` operations (sends, receives, peeks, state-machine steps) for
/// the soak totals.
pub fn count_ops(n: u64) {
    OPS.fetch_add(n, Ordering::Relaxed);
}

/// A snapshot of the open descriptors at the start of a case.
#[derive(Debug)]
pub struct LeakCheck {
    before: FdSnapshot,
}

impl LeakCheck {
    /// Takes the "before" snapshot.
    ///
    /// # Panics
    ///
    /// If `/proc/self/fd` cannot be read (the suites need it).
    pub fn start() -> Self {
        LeakCheck {
            before: FdSnapshot::take().expect("read /proc/self/fd"),
        }
    }

    /// Fails if any descriptor is open now that was not before, or one that
    /// was open before is closed (or reused) now.
    ///
    /// # Errors
    ///
    /// A test-case failure naming every leaked or lost descriptor and its
    /// target, with `context` (which step of the case).
    pub fn finish(&self, context: &str) -> Result<(), TestCaseError> {
        let now = FdSnapshot::take().map_err(|e| TestCaseError::fail(format!("snapshot: {e}")))?;
        let leaked = now.leaked_since(&self.before);
        let closed = now.closed_since(&self.before);
        if leaked.is_empty() && closed.is_empty() {
            return Ok(());
        }
        let list = |v: &[inflight::inspect::OpenFd]| {
            v.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        Err(TestCaseError::fail(format!(
            "{context}: descriptors leaked: [{}]; descriptors closed that were open before: [{}]",
            list(&leaked),
            list(&closed)
        )))
    }
}

/// Runs one property: `cases` from `PROPTEST_CASES` (never hard-coded),
/// regressions persisted in `proptests/proptest-regressions/<suite>.txt`,
/// every case inside a leak check. Holds the binary's [`serial`] lock for the
/// whole run. On failure it panics with the reason and the shrunk input
/// printed with `{:#?}` (the plans print as readable summaries).
///
/// # Panics
///
/// When the property fails: that is the test failing.
pub fn run_property<S>(
    name: &'static str,
    source_file: &'static str,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) where
    S: Strategy,
    S::Value: Debug,
{
    let _guard = serial();
    let config = Config {
        source_file: Some(source_file),
        test_name: Some(name),
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(regressions_file(
            source_file,
        )))),
        ..Config::default()
    };
    let ops_before = OPS.load(Ordering::Relaxed);
    let cases_before = CASES.load(Ordering::Relaxed);
    let mut runner = TestRunner::new(config);
    let result = runner.run(&strategy, |value| {
        CASES.fetch_add(1, Ordering::Relaxed);
        let leaks = LeakCheck::start();
        test(value)?;
        leaks.finish("after the case")
    });
    let cases = CASES.load(Ordering::Relaxed) - cases_before;
    let ops = OPS.load(Ordering::Relaxed) - ops_before;
    record_stats(name, cases, ops);
    match result {
        Ok(()) => {}
        Err(TestError::Abort(reason)) => panic!("property {name} aborted: {reason}"),
        Err(TestError::Fail(reason, value)) => {
            panic!("property {name} failed: {reason}\n\nminimal failing input:\n{value:#?}\n")
        }
    }
}

/// `proptests/proptest-regressions/<suite>.txt` for the suite in
/// `source_file` (proptest's `SourceParallel` looks for a `lib.rs` beside
/// the source, which integration tests do not have). Leaked: one short
/// string per property run.
fn regressions_file(source_file: &str) -> &'static str {
    let suite = std::path::Path::new(source_file)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("unknown");
    let path = format!(
        "{}/proptest-regressions/{suite}.txt",
        env!("CARGO_MANIFEST_DIR")
    );
    Box::leak(path.into_boxed_str())
}

/// Appends `name cases=N ops=M` to the file named by
/// `INFLIGHT_PROPTEST_STATS`, when set (`ci/soak.sh` sums these lines).
pub fn record_stats(name: &str, cases: u64, ops: u64) {
    let Some(path) = std::env::var_os("INFLIGHT_PROPTEST_STATS") else {
        return;
    };
    let line = format!("{name} cases={cases} ops={ops}\n");
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| f.write_all(line.as_bytes()));
    if let Err(e) = written {
        eprintln!("could not record stats in {path:?}: {e}");
    }
}

/// Prints a "skipped: why" note once per process for a check the machine
/// cannot make (for example `kcmp` blocked by seccomp).
pub fn note_skipped(what: &str, why: &str) {
    static SEEN: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let key = format!("{what}: {why}");
    let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
    if !seen.contains(&key) {
        // Straight to the process's stderr: libtest captures `eprintln!`
        // of passing tests, and a weakened check must be seen.
        let _ = writeln!(std::io::stderr(), "skipped: {key}");
        seen.push(key);
    }
}
