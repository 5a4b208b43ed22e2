//! What every suite shares: the property runner (the test kit's lock held
//! for the whole run, a leak guard with witnesses around every case,
//! regressions persisted, failures printed readably), the one way to
//! report a skipped check, the policy for identities the oracle cannot
//! decide, and the counters of cases and operations.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use inflight_testkit::serial;
use proptest::strategy::Strategy;
use proptest::test_runner::{Config, FileFailurePersistence, TestCaseError, TestError, TestRunner};

static OPS: AtomicU64 = AtomicU64::new(0);
static CASES: AtomicU64 = AtomicU64::new(0);
/// Per kind of operation and outcome: how many.
type Kinds = BTreeMap<(&'static str, &'static str), u64>;
static OP_KINDS: Mutex<Kinds> = Mutex::new(BTreeMap::new());

/// The environment variable that turns an identity the oracle cannot
/// decide (no `kcmp`, and status flags that cannot be flipped) from a
/// failure into a skip. Only the value `1` counts; a run that sets it says
/// so on stderr.
pub const ALLOW_UNKNOWN_IDENTITY: &str = "INFLIGHT_ALLOW_UNKNOWN_IDENTITY";

/// Counts `n` operations (sends, receives, peeks, state-machine steps) for
/// the soak totals.
pub fn count_ops(n: u64) {
    OPS.fetch_add(n, Ordering::Relaxed);
}

/// Counts one operation of kind `op` that ended as `outcome` (one word:
/// `received`, `receiver_limit`, `not_applicable`...), for the soak's
/// per-kind totals. Call [`count_ops`] for the total as well.
pub fn count_op_kind(op: &'static str, outcome: &'static str) {
    let mut kinds = OP_KINDS.lock().unwrap_or_else(|e| e.into_inner());
    *kinds.entry((op, outcome)).or_default() += 1;
}

/// Runs one property: `cases` from `PROPTEST_CASES` (never hard-coded),
/// regressions persisted in `proptests/proptest-regressions/<suite>.txt`,
/// every case inside the test kit's [`LeakGuard`](inflight_testkit::LeakGuard)
/// (with witnesses, so that a descriptor closed and reopened at the same
/// number is caught too). Holds the kit's lock for the whole run, so that
/// the properties of a binary run one at a time. On failure it panics with
/// the reason and the shrunk input printed with `{:#?}` (the plans print as
/// readable summaries).
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
    let lock = serial();
    if unknown_identity_allowed() {
        say_once(&format!(
            "{ALLOW_UNKNOWN_IDENTITY}=1: an identity the oracle cannot decide is reported as \
             skipped instead of failing"
        ));
    }
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
        let guard = lock.leak_guard();
        test(value)?;
        guard
            .finish()
            .map_err(|leaks| TestCaseError::fail(format!("after the case: {leaks}")))
    });
    let cases = CASES.load(Ordering::Relaxed) - cases_before;
    let ops = OPS.load(Ordering::Relaxed) - ops_before;
    record_stats(name, cases, ops);
    let kinds = std::mem::take(&mut *OP_KINDS.lock().unwrap_or_else(|e| e.into_inner()));
    for ((op, outcome), n) in kinds {
        record_line(&format!("{name}/{op} {outcome}={n}\n"));
    }
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
/// After it come the per-kind counts of [`count_op_kind`], one line each:
/// `name/op outcome=N`.
pub fn record_stats(name: &str, cases: u64, ops: u64) {
    record_line(&format!("{name} cases={cases} ops={ops}\n"));
}

fn record_line(line: &str) {
    let Some(path) = std::env::var_os("INFLIGHT_PROPTEST_STATS") else {
        return;
    };
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| f.write_all(line.as_bytes()));
    if let Err(e) = written {
        eprintln!("could not record stats in {path:?}: {e}");
    }
}

/// The one way a property reports a check it could not make (a kernel
/// feature missing, detected independently of inflight; an identity the
/// oracle cannot decide, when the run allows that): prints
/// `skipped: {what}: {why}` once per process.
pub fn note_skipped(what: &str, why: &str) {
    say_once(&format!("skipped: {what}: {why}"));
}

/// Whether this run was started with [`ALLOW_UNKNOWN_IDENTITY`]`=1`.
pub fn unknown_identity_allowed() -> bool {
    std::env::var_os(ALLOW_UNKNOWN_IDENTITY).is_some_and(|v| v == "1")
}

/// What a property does when the oracle cannot tell whether two
/// descriptors are one open file description: "unknown" is not "passed".
/// It fails, unless the run was started with [`ALLOW_UNKNOWN_IDENTITY`]`=1`;
/// then it is skipped, and [`note_skipped`] prints
/// `skipped: identity unknown: {why}`.
///
/// # Errors
///
/// A test-case failure naming `what` and `why`, without the opt-in.
pub fn identity_unknown(what: &str, why: &str) -> Result<(), TestCaseError> {
    if unknown_identity_allowed() {
        note_skipped("identity unknown", why);
        Ok(())
    } else {
        Err(TestCaseError::fail(format!(
            "{what}: identity unknown: {why} (a check that cannot decide fails; \
             {ALLOW_UNKNOWN_IDENTITY}=1 reports it as skipped instead)"
        )))
    }
}

/// Prints `line` on stderr once per process. Straight to the process's
/// stderr: libtest captures `eprintln!` of passing tests, and a weakened
/// check must be seen.
fn say_once(line: &str) {
    static SEEN: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
    if !seen.iter().any(|s| s == line) {
        let _ = writeln!(std::io::stderr(), "{line}");
        seen.push(line.to_string());
    }
}
