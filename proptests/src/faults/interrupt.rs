//! A blocking call interrupted by signals: a no-op handler installed
//! without `SA_RESTART`, so that a signal makes the blocked system call
//! fail with `EINTR`; another thread sends each signal with `pthread_kill`
//! only once it sees the calling thread blocked in that system call
//! (`/proc/self/task/TID/syscall`), and waits for the handler to run before
//! the next. Every wait is bounded: nothing here can hang.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Once;
use std::time::{Duration, Instant};

use nix::sys::pthread::{pthread_kill, pthread_self};
use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};

use crate::harness::note_skipped;

/// The signal used.
pub const SIGNAL: Signal = Signal::SIGUSR1;

/// How long one wait for the other thread may take.
pub const WAIT: Duration = Duration::from_secs(2);

static HANDLED: AtomicUsize = AtomicUsize::new(0);

extern "C" fn on_signal(_: libc::c_int) {
    // Async-signal-safe: one atomic add.
    HANDLED.fetch_add(1, Ordering::SeqCst);
}

/// Installs the no-op handler of [`SIGNAL`], without `SA_RESTART`, once.
///
/// # Panics
///
/// If `sigaction` fails.
pub fn install_handler() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let action = SigAction::new(
            SigHandler::Handler(on_signal),
            SaFlags::empty(),
            SigSet::empty(),
        );
        // SAFETY: sigaction(2) replaces the disposition of SIGUSR1, which
        // nothing else in this process uses; the handler only adds to an
        // atomic, which is async-signal-safe.
        unsafe { sigaction(SIGNAL, &action) }.expect("sigaction(SIGUSR1)");
    });
}

/// Sets the flag when dropped: the calling thread is done, on every path.
struct Done<'a>(&'a AtomicBool);

impl Drop for Done<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// What thread `tid` is blocked in: `Ok(Some(nr))` the system call number,
/// `Ok(None)` running; `Err`: the file cannot be read.
fn blocked_in(tid: nix::unistd::Pid) -> std::io::Result<Option<libc::c_long>> {
    let text = std::fs::read_to_string(format!("/proc/self/task/{tid}/syscall"))?;
    Ok(text
        .split_whitespace()
        .next()
        .and_then(|nr| nr.parse().ok()))
}

/// Polls `cond` until it holds, `done` is set, or [`WAIT`] passes.
fn wait_for(done: &AtomicBool, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if cond() {
            return true;
        }
        if done.load(Ordering::SeqCst) || start.elapsed() > WAIT {
            return false;
        }
        std::thread::sleep(Duration::from_micros(50));
    }
}

/// Runs `call` on this thread (it must block in system call `syscall`
/// until `then` has run) while another thread sends it `signals` signals,
/// each once `call` is seen blocked in `syscall` and after the handler of
/// the previous one ran, then waits to see it blocked once more (it
/// retried) and runs `then` (the send that completes `call`). Returns what
/// `call` and `then` returned, and how many signals were delivered while
/// `call` was blocked.
///
/// Where `/proc/self/task/TID/syscall` cannot be read the signals are sent
/// 10 ms apart instead, and the run says `skipped: …` once.
///
/// # Panics
///
/// If the signalling thread panics.
pub fn interrupted<R, S: Send>(
    signals: usize,
    syscall: libc::c_long,
    call: impl FnOnce() -> R,
    then: impl FnOnce() -> S + Send,
) -> (R, S, usize) {
    install_handler();
    let target = pthread_self();
    let tid = nix::unistd::gettid();
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        let helper = s.spawn(|| {
            let in_call = || match blocked_in(tid) {
                Ok(nr) => nr == Some(syscall),
                Err(e) => {
                    note_skipped(
                        "waiting for the receiver to block",
                        &format!("/proc/self/task/TID/syscall: {e}; signals sent 10 ms apart"),
                    );
                    std::thread::sleep(Duration::from_millis(10));
                    true
                }
            };
            let mut delivered = 0;
            for _ in 0..signals {
                if !wait_for(&done, &in_call) {
                    break;
                }
                let before = HANDLED.load(Ordering::SeqCst);
                pthread_kill(target, SIGNAL).expect("pthread_kill");
                if !wait_for(&done, || HANDLED.load(Ordering::SeqCst) > before) {
                    break;
                }
                delivered += 1;
            }
            // Blocked again: the call was retried after the last signal.
            wait_for(&done, &in_call);
            (delivered, then())
        });
        let r = {
            let _done = Done(&done);
            call()
        };
        let (delivered, s) = helper.join().expect("the signalling thread panicked");
        (r, s, delivered)
    })
}
