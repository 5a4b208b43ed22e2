//! A time limit for one test: a test whose code under test hangs (a lost
//! wake-up, a receive that waits for ever) fails instead of stalling the
//! run. The test harness has no per-test limit, and a hang inside a
//! single-threaded runtime cannot be interrupted from within it, so the
//! watchdog ends the whole test process, with a message naming the test.

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

/// Ends the process (exit status 101, as a failed test run) unless it is
/// dropped within its limit.
///
/// ```
/// use std::time::Duration;
/// let _dog = inflight_testkit::Watchdog::new("quick test", Duration::from_secs(30));
/// assert_eq!(1 + 1, 2); // done well within the limit: nothing happens
/// ```
#[must_use = "the limit holds only while the watchdog lives"]
pub struct Watchdog {
    /// Dropped with the watchdog: the watcher sees the sender hang up.
    _done: mpsc::Sender<()>,
}

impl Watchdog {
    /// Starts the clock for `what`.
    pub fn new(what: &str, limit: Duration) -> Self {
        let (done, wait) = mpsc::channel::<()>();
        let what = what.to_owned();
        thread::spawn(move || {
            // A message or a hung-up sender: the test finished in time.
            if let Err(mpsc::RecvTimeoutError::Timeout) = wait.recv_timeout(limit) {
                eprintln!("watchdog: `{what}` still running after {limit:?}: failing the run");
                std::process::exit(101);
            }
        });
        Watchdog { _done: done }
    }
}
