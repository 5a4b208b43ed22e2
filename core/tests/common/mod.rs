//! Helpers shared by the core integration tests. The lock, the leak guard,
//! the identity oracle and every raw sender come from the workspace's test
//! kit (`inflight_testkit`), which does not depend on inflight: nothing
//! here asks the code under test whether the code under test worked.
#![allow(dead_code)]

use std::io::{Read, Seek, SeekFrom, Write};
use std::ops::Deref;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::time::Duration;

pub use inflight_testkit::Serial;
use inflight_testkit::{oracle, Sameness, Watchdog};

/// How long a test may hold the lock. Each takes well under a second; a
/// receive that waits for ever (a send lost to a bug, or to a mutant under
/// `ci/mutants.sh`) then fails the run with the test's name instead of
/// stalling it until an outer timeout.
pub const LIMIT: Duration = Duration::from_secs(60);

/// The test kit's lock, held, with [`LIMIT`] on the test that holds it.
pub struct Held {
    serial: Serial,
    _dog: Watchdog,
}

impl Deref for Held {
    type Target = Serial;

    fn deref(&self) -> &Serial {
        &self.serial
    }
}

/// Takes the test kit's lock ([`inflight_testkit::serial`]) and starts the
/// clock for the current test.
pub fn serial() -> Held {
    let serial = inflight_testkit::serial();
    let name = std::thread::current().name().unwrap_or("a test").to_owned();
    Held {
        serial,
        _dog: Watchdog::new(&name, LIMIT),
    }
}

/// Runs test `test` alone in a spawned copy of this test binary, with the
/// environment variable `env` set (which tells the test it is the child),
/// and returns what it printed and how it ended: for checks that change
/// the whole process (signal dispositions, standard input).
pub fn run_in_child(test: &str, env: &str) -> std::process::Output {
    std::process::Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(env, "1")
        .output()
        .unwrap()
}

/// A temporary file holding `content`, offset at `pos`.
pub fn file_with(content: &[u8], pos: u64) -> std::fs::File {
    let mut f = tempfile::tempfile().unwrap();
    f.write_all(content).unwrap();
    f.seek(SeekFrom::Start(pos)).unwrap();
    f
}

/// A pipe (read end, write end), close-on-exec.
pub fn pipe() -> (OwnedFd, OwnedFd) {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap()
}

/// Asserts `a` and `b` are the same open file description (the kit's
/// oracle: `kcmp`, else the status-flag flip) and different descriptor
/// numbers. An undecided answer fails unless the run opted in with
/// `INFLIGHT_ALLOW_UNKNOWN_IDENTITY=1`.
pub fn assert_same(a: BorrowedFd<'_>, b: BorrowedFd<'_>) {
    assert_ne!(a.as_raw_fd(), b.as_raw_fd(), "a new descriptor number");
    assert_sameness(a, b, Sameness::Same);
    assert_eq!(file_id(a), file_id(b), "{a:?} vs {b:?}: fstat");
}

/// Asserts `a` and `b` are different open file descriptions (same policy
/// for an undecided answer as [`assert_same`]).
pub fn assert_different(a: BorrowedFd<'_>, b: BorrowedFd<'_>) {
    assert_sameness(a, b, Sameness::Different);
}

fn assert_sameness(a: BorrowedFd<'_>, b: BorrowedFd<'_>, want: Sameness) {
    match oracle::same_description(a, b) {
        Sameness::Unknown(why) => assert!(
            oracle::unknown_allowed(why),
            "{a:?} vs {b:?}: identity unknown ({why}); set {}=1 to accept",
            oracle::ALLOW_UNKNOWN_ENV
        ),
        got => assert_eq!(got, want, "{a:?} vs {b:?}"),
    }
}

/// `(st_dev, st_ino)`, from `fstat`.
pub fn file_id(fd: BorrowedFd<'_>) -> (u64, u64) {
    let st = nix::sys::stat::fstat(fd).unwrap();
    (st.st_dev, st.st_ino)
}

/// Whether `FD_CLOEXEC` is set (`fcntl(F_GETFD)`).
pub fn cloexec(fd: BorrowedFd<'_>) -> bool {
    use nix::fcntl::{fcntl, FcntlArg, FdFlag};
    let flags = FdFlag::from_bits_retain(fcntl(fd, FcntlArg::F_GETFD).unwrap());
    flags.contains(FdFlag::FD_CLOEXEC)
}

/// The open file status flags (`fcntl(F_GETFL)`).
pub fn status_flags(fd: BorrowedFd<'_>) -> i32 {
    nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_GETFL).unwrap()
}

/// The file offset (`lseek(fd, 0, SEEK_CUR)`).
pub fn offset(fd: BorrowedFd<'_>) -> i64 {
    nix::unistd::lseek(fd, 0, nix::unistd::Whence::SeekCur).unwrap()
}

/// Reads a whole file from its start through `fd` (moves the offset).
pub fn read_all(fd: BorrowedFd<'_>) -> Vec<u8> {
    let mut f = std::fs::File::from(fd.try_clone_to_owned().unwrap());
    f.seek(SeekFrom::Start(0)).unwrap();
    let mut v = Vec::new();
    f.read_to_end(&mut v).unwrap();
    v
}

/// Descriptors as borrowed slices, for `send_fds`.
pub fn borrow_all<T: AsFd>(v: &[T]) -> Vec<BorrowedFd<'_>> {
    v.iter().map(|f| f.as_fd()).collect()
}

/// Runs `f` and counts the descriptors it left open that were not open
/// before (what a receive installed), with a guard of the kit nested in the
/// held lock `s`. It fails if `f` closed or replaced any descriptor.
pub fn opened_by<R>(s: &Serial, f: impl FnOnce() -> R) -> (R, usize) {
    let guard = s.leak_guard_cheap();
    let r = f();
    let leaks = match guard.finish() {
        Ok(()) => return (r, 0),
        Err(leaks) => leaks,
    };
    assert!(
        leaks.closed.is_empty() && leaks.replaced.is_empty() && leaks.notes.is_empty(),
        "{leaks}"
    );
    (r, leaks.leaked.len())
}
