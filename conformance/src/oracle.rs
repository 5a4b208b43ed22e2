//! Are two descriptors of this process the same open file description?
//!
//! The answer comes from `kcmp(KCMP_FILE)` where the kernel has it and lets
//! us use it; elsewhere from flipping `O_NONBLOCK` on one and reading it on
//! the other (status flags belong to the open file description, so a flip
//! shows through exactly the descriptors that share it). When neither
//! works (an `O_PATH` descriptor's flags cannot be set) the answer is an
//! honest [`Sameness::Unknown`].

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::sync::OnceLock;

/// Whether two descriptors refer to the same open file description.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sameness {
    /// The same open file description.
    Same,
    /// Different open file descriptions.
    Different,
    /// Could not be decided; the reason says why.
    Unknown(&'static str),
}

impl Sameness {
    /// `Some(true)` for [`Same`](Sameness::Same), `Some(false)` for
    /// [`Different`](Sameness::Different), `None` when unknown.
    pub fn known(self) -> Option<bool> {
        match self {
            Sameness::Same => Some(true),
            Sameness::Different => Some(false),
            Sameness::Unknown(_) => None,
        }
    }
}

/// `kcmp(getpid(), getpid(), KCMP_FILE, a, b)`: `true` when `a` and `b`
/// are the same open file description.
///
/// # Errors
///
/// The `kcmp` error: `ENOSYS` (not built in), `EPERM` (seccomp, or ptrace
/// access denied), `EBADF` (a descriptor is not open).
pub fn kcmp_file(a: BorrowedFd<'_>, b: BorrowedFd<'_>) -> io::Result<bool> {
    kcmp_raw(a.as_raw_fd(), b.as_raw_fd())
}

/// [`kcmp_file`] on numbers (which may be closed: `EBADF`).
pub(crate) fn kcmp_raw(a: RawFd, b: RawFd) -> io::Result<bool> {
    let pid = std::process::id() as libc::pid_t;
    kcmp_file_in(pid, a, pid, b)
}

/// `kcmp(pid_a, pid_b, KCMP_FILE, fd_a, fd_b)`: `true` when descriptor
/// `fd_a` of process `pid_a` and `fd_b` of `pid_b` are the same open file
/// description (a descriptor passed to another process, seen from either).
///
/// # Errors
///
/// The `kcmp` error: `ENOSYS`, `EPERM` (seccomp, or no ptrace access to a
/// process), `ESRCH` (no such process), `EBADF` (a descriptor is not
/// open).
pub fn kcmp_file_in(
    pid_a: libc::pid_t,
    fd_a: RawFd,
    pid_b: libc::pid_t,
    fd_b: RawFd,
) -> io::Result<bool> {
    const KCMP_FILE: libc::c_long = 0;
    // SAFETY: kcmp(2) with KCMP_FILE takes only integers (two pids, the
    // type and two descriptor numbers) and touches no memory of ours.
    let r = unsafe {
        libc::syscall(
            libc::SYS_kcmp,
            libc::c_long::from(pid_a),
            libc::c_long::from(pid_b),
            KCMP_FILE,
            libc::c_long::from(fd_a),
            libc::c_long::from(fd_b),
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r == 0)
    }
}

/// Set (to anything) in the environment before the kit's first use, makes
/// [`kcmp_available`] say no, so that a test can run the fallback where
/// `kcmp` works.
pub const NO_KCMP_ENV: &str = "INFLIGHT_CONFORMANCE_NO_KCMP";

/// Whether `kcmp(KCMP_FILE)` works in this process (it can be missing from
/// the kernel or blocked by seccomp, as in some container runtimes).
/// Detected once, on descriptors the kit opens for the purpose: a
/// descriptor and its duplicate must compare equal, two opens of
/// `/dev/null` different. Always `false` with [`NO_KCMP_ENV`] set.
pub fn kcmp_available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        if std::env::var_os(NO_KCMP_ENV).is_some() {
            return false;
        }
        let probe = || -> io::Result<bool> {
            let a = std::fs::File::open("/dev/null")?;
            let b = a.try_clone()?;
            let c = std::fs::File::open("/dev/null")?;
            Ok(kcmp_raw(a.as_raw_fd(), b.as_raw_fd())? && !kcmp_raw(a.as_raw_fd(), c.as_raw_fd())?)
        };
        probe().unwrap_or(false)
    })
}

/// Decides whether `a` and `b` are one open file description without
/// `kcmp`: different status flags mean different descriptions; otherwise
/// `O_NONBLOCK` is flipped on `a`, read on `b`, and restored on `a`.
///
/// The flip is visible, for a moment, to every process sharing `a`'s
/// description; prefer [`same_description`], which uses `kcmp` when it can.
///
/// # Errors
///
/// An `fcntl` error: `EBADF` also for an `O_PATH` descriptor, whose flags
/// cannot be set.
pub fn flag_flip(a: BorrowedFd<'_>, b: BorrowedFd<'_>) -> io::Result<bool> {
    flag_flip_raw(a.as_raw_fd(), b.as_raw_fd())
}

/// [`flag_flip`] on numbers.
pub(crate) fn flag_flip_raw(a: RawFd, b: RawFd) -> io::Result<bool> {
    let fa = get_status_flags(a)?;
    let fb = get_status_flags(b)?;
    if (fa ^ fb) & !libc::O_CLOEXEC != 0 {
        return Ok(false);
    }
    set_status_flags(a, fa ^ libc::O_NONBLOCK)?;
    let flipped = get_status_flags(b);
    let restored = set_status_flags(a, fa);
    let flipped = flipped?;
    restored?;
    Ok((flipped ^ fb) & libc::O_NONBLOCK != 0)
}

/// `fcntl(fd, F_GETFL)`.
pub(crate) fn get_status_flags(fd: RawFd) -> io::Result<i32> {
    // SAFETY: fcntl(F_GETFL) takes no pointer; a closed number is EBADF.
    let r = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// Whether `fd` is an open descriptor of this process (`F_GETFL`
/// succeeds; it does for `O_PATH` descriptors too): what the kernel's
/// `fget_raw` asks when a sender names a number in `SCM_RIGHTS`.
pub fn is_open(fd: RawFd) -> bool {
    get_status_flags(fd).is_ok()
}

/// `fcntl(fd, F_SETFL, flags)`.
fn set_status_flags(fd: RawFd, flags: i32) -> io::Result<()> {
    // SAFETY: fcntl(F_SETFL) takes an int argument, no pointer.
    if unsafe { libc::fcntl(fd, libc::F_SETFL, flags) } < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// `(st_dev, st_ino, st_mode)` of `fd`.
pub(crate) fn file_id(fd: RawFd) -> io::Result<(u64, u64, u32)> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: fstat(2) writes one `struct stat` through the pointer, which
    // points to writable storage of exactly that type.
    if unsafe { libc::fstat(fd, st.as_mut_ptr()) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fstat succeeded, so it initialised `st`.
    let st = unsafe { st.assume_init() };
    Ok((st.st_dev, st.st_ino, st.st_mode))
}

/// Whether `a` and `b` (descriptors of this process) are the same open
/// file description: `kcmp(KCMP_FILE)`, else (when `kcmp` is unavailable)
/// different files or status flags, else the [`flag_flip`].
pub fn same_description(a: BorrowedFd<'_>, b: BorrowedFd<'_>) -> Sameness {
    same_description_raw(a.as_raw_fd(), b.as_raw_fd())
}

/// [`same_description`] on numbers (a closed one gives `Unknown`).
pub(crate) fn same_description_raw(a: RawFd, b: RawFd) -> Sameness {
    if kcmp_available() {
        match kcmp_raw(a, b) {
            Ok(true) => return Sameness::Same,
            Ok(false) => return Sameness::Different,
            Err(e) if e.raw_os_error() == Some(libc::EBADF) => {
                return Sameness::Unknown("a descriptor is not open (EBADF)")
            }
            // ENOSYS/EPERM after all (a seccomp filter installed since the
            // probe): fall back.
            Err(_) => {}
        }
    }
    without_kcmp(a, b)
}

/// The decision without `kcmp`.
pub(crate) fn without_kcmp(a: RawFd, b: RawFd) -> Sameness {
    match (file_id(a), file_id(b)) {
        (Ok(x), Ok(y)) if x != y => return Sameness::Different,
        (Ok(_), Ok(_)) => {}
        _ => return Sameness::Unknown("a descriptor is not open (EBADF)"),
    }
    match flag_flip_raw(a, b) {
        Ok(true) => Sameness::Same,
        Ok(false) => Sameness::Different,
        Err(_) => Sameness::Unknown(
            "kcmp(2) is unavailable and the status flags cannot be flipped (O_PATH?)",
        ),
    }
}

/// The environment variable that lets a run accept an identity check
/// answered [`Sameness::Unknown`]: set to `1`, and only then.
pub const ALLOW_UNKNOWN_ENV: &str = "INFLIGHT_ALLOW_UNKNOWN_IDENTITY";

/// Whether this run accepts an undecided identity (`why` says what could
/// not be decided): only with [`ALLOW_UNKNOWN_ENV`]`=1`. When it does, it
/// says so on the process's stderr (not captured by libtest), once per
/// reason, so that the weakened check is seen; without the opt-in the
/// caller must fail.
pub fn unknown_allowed(why: &str) -> bool {
    if std::env::var_os(ALLOW_UNKNOWN_ENV).as_deref() != Some(std::ffi::OsStr::new("1")) {
        return false;
    }
    static SEEN: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let mut seen = SEEN.lock().unwrap_or_else(|p| p.into_inner());
    if !seen.iter().any(|s| s == why) {
        use std::io::Write as _;
        let _ = writeln!(
            io::stderr(),
            "identity unknown, accepted because {ALLOW_UNKNOWN_ENV}=1: {why}"
        );
        seen.push(why.to_string());
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn both_oracles_agree_on_dup_and_reopen() {
        let a = std::fs::File::open("/dev/null").unwrap();
        let dup = a.try_clone().unwrap();
        let other = std::fs::File::open("/dev/null").unwrap();
        assert!(flag_flip(a.as_fd(), dup.as_fd()).unwrap());
        assert!(!flag_flip(a.as_fd(), other.as_fd()).unwrap());
        assert_eq!(without_kcmp(a.as_raw_fd(), dup.as_raw_fd()), Sameness::Same);
        assert_eq!(
            without_kcmp(a.as_raw_fd(), other.as_raw_fd()),
            Sameness::Different
        );
        // The flip is undone.
        assert_eq!(
            get_status_flags(a.as_raw_fd()).unwrap() & libc::O_NONBLOCK,
            0
        );
        if kcmp_available() {
            assert!(kcmp_file(a.as_fd(), dup.as_fd()).unwrap());
            assert!(!kcmp_file(a.as_fd(), other.as_fd()).unwrap());
            let me = std::process::id() as libc::pid_t;
            let (ra, rd) = (a.as_raw_fd(), dup.as_raw_fd());
            assert!(kcmp_file_in(me, ra, me, rd).unwrap());
            assert!(!kcmp_file_in(me, ra, me, other.as_raw_fd()).unwrap());
            let gone = kcmp_file_in(me, ra, -1, rd).unwrap_err();
            assert_eq!(gone.raw_os_error(), Some(libc::ESRCH), "{gone}");
        } else {
            eprintln!("skipped: kcmp(2) is not available here");
        }
        assert!(is_open(a.as_raw_fd()));
        let path = nix::fcntl::open(
            "/",
            nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .unwrap();
        assert!(is_open(path.as_raw_fd()), "O_PATH");
        // Never open: negative, and above any RLIMIT_NOFILE (a closed low
        // number could be reused by a test running meanwhile).
        assert!(!is_open(-1) && !is_open(1 << 30));
        assert_eq!(same_description(a.as_fd(), dup.as_fd()), Sameness::Same);
        assert_eq!(
            same_description(a.as_fd(), other.as_fd()),
            Sameness::Different
        );
    }

    #[test]
    fn unknown_is_refused_without_the_opt_in() {
        if std::env::var_os(ALLOW_UNKNOWN_ENV).is_none() {
            assert!(!unknown_allowed("a test of the policy"));
        } else {
            eprintln!("skipped: {ALLOW_UNKNOWN_ENV} is set for this run");
        }
    }
}
