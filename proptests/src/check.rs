//! The checks the properties share: identity of a received descriptor with
//! its original, offsets, flags, and "does it still work".

use std::fmt;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use inflight_testkit::probe::{self, Support};
use inflight_testkit::sockopt;
use inflight_testkit::{same_description, Sameness};
use nix::fcntl::{fcntl, FcntlArg, FdFlag, OFlag};
use nix::unistd::{lseek, Whence};
use proptest::test_runner::TestCaseError;

use crate::fds::{Opened, Source};
use crate::harness::identity_unknown;

/// A failure with a message.
pub fn fail(msg: impl Into<String>) -> TestCaseError {
    TestCaseError::fail(msg.into())
}

/// What `fstat` says a file is: device, inode and mode. Two opens of one
/// file (every `/dev/null`) share it: it names a file, not an open file
/// description.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileIdentity {
    /// `st_dev`.
    pub dev: libc::dev_t,
    /// `st_ino`.
    pub ino: libc::ino_t,
    /// `st_mode` (type and permissions).
    pub mode: libc::mode_t,
}

impl fmt::Display for FileIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "dev {:#x} ino {} mode {:o}",
            self.dev, self.ino, self.mode
        )
    }
}

/// The `fstat` identity of `fd`.
///
/// # Errors
///
/// The `fstat` error.
pub fn file_identity(fd: BorrowedFd<'_>) -> Result<FileIdentity, TestCaseError> {
    let st = nix::sys::stat::fstat(fd).map_err(|e| fail(format!("fstat: {e}")))?;
    Ok(FileIdentity {
        dev: st.st_dev,
        ino: st.st_ino,
        mode: st.st_mode,
    })
}

/// Whether `FD_CLOEXEC` is set on `fd` (a per-descriptor flag).
///
/// # Errors
///
/// The `fcntl` error.
pub fn is_cloexec(fd: BorrowedFd<'_>) -> Result<bool, TestCaseError> {
    fcntl(fd, FcntlArg::F_GETFD)
        .map(|f| FdFlag::from_bits_retain(f).contains(FdFlag::FD_CLOEXEC))
        .map_err(|e| fail(format!("F_GETFD: {e}")))
}

/// Whether `a` and `b` are one open file description, as the test kit's
/// oracle decides (`kcmp`, else the status-flag flip). "Unknown" goes
/// through [`identity_unknown`]: a failure, or `None` (skipped) when the
/// run allows it.
///
/// # Errors
///
/// An undecidable identity without the opt-in, naming `what`.
pub fn same(
    what: &str,
    a: BorrowedFd<'_>,
    b: BorrowedFd<'_>,
) -> Result<Option<bool>, TestCaseError> {
    match same_description(a, b) {
        Sameness::Same => Ok(Some(true)),
        Sameness::Different => Ok(Some(false)),
        Sameness::Unknown(why) => identity_unknown(what, why).map(|()| None),
    }
}

/// Property 1 for one pair: a different descriptor number, equal `fstat`
/// identity, and the same open file description (the test kit's oracle;
/// an undecidable answer fails, see [`same`]).
///
/// # Errors
///
/// What differs, with `what` (which message and position).
pub fn identical(
    what: &str,
    original: BorrowedFd<'_>,
    received: BorrowedFd<'_>,
) -> Result<(), TestCaseError> {
    if original.as_raw_fd() == received.as_raw_fd() {
        return Err(fail(format!(
            "{what}: received descriptor has the original's number {}",
            received.as_raw_fd()
        )));
    }
    let a = file_identity(original).map_err(|e| fail(format!("{what}: original: {e}")))?;
    let b = file_identity(received).map_err(|e| fail(format!("{what}: received: {e}")))?;
    if a != b {
        return Err(fail(format!(
            "{what}: fstat differs: original {a}, received {b}"
        )));
    }
    if same(what, original, received)? != Some(false) {
        Ok(())
    } else {
        Err(fail(format!(
            "{what}: fd {} and fd {} are different open file descriptions",
            original.as_raw_fd(),
            received.as_raw_fd()
        )))
    }
}

/// Turns boolean socket option `name` (`SOL_SOCKET`) on, with the test
/// kit's raw `setsockopt` rather than inflight's setters: the receive is
/// judged, not the setter.
///
/// # Errors
///
/// The `setsockopt` error.
pub fn turn_on(sock: BorrowedFd<'_>, what: &str, name: i32) -> Result<(), TestCaseError> {
    sockopt::set_int(sock, libc::SOL_SOCKET, name, 1).map_err(|e| fail(format!("{what}: {e}")))
}

/// Whether this kernel has `SO_PASSPIDFD` (Linux 6.5), probed once with
/// the test kit's raw `setsockopt`: only `ENOPROTOOPT` means it has not.
///
/// # Errors
///
/// Any other error of the probe: it could not decide, which is a failure.
pub fn pass_pidfd_support() -> Result<Support, TestCaseError> {
    static PROBE: std::sync::OnceLock<Result<Support, String>> = std::sync::OnceLock::new();
    PROBE
        .get_or_init(|| probe::socket_option(libc::SO_PASSPIDFD).map_err(|e| e.to_string()))
        .clone()
        .map_err(|e| fail(format!("probing SO_PASSPIDFD: {e}")))
}

/// The file offset of `fd`.
///
/// # Errors
///
/// The `lseek` error.
pub fn offset(fd: BorrowedFd<'_>) -> Result<u64, TestCaseError> {
    lseek(fd, 0, Whence::SeekCur)
        .map(|o| o as u64)
        .map_err(|e| fail(format!("lseek: {e}")))
}

/// The open file status flags of `fd`.
///
/// # Errors
///
/// The `fcntl` error.
pub fn status(fd: BorrowedFd<'_>) -> Result<OFlag, TestCaseError> {
    fcntl(fd, FcntlArg::F_GETFL)
        .map(OFlag::from_bits_retain)
        .map_err(|e| fail(format!("F_GETFL: {e}")))
}

/// Sets or clears `flag` in the status flags of `fd`.
///
/// # Errors
///
/// The `fcntl` error.
pub fn set_status(fd: BorrowedFd<'_>, flag: OFlag, on: bool) -> Result<(), TestCaseError> {
    let mut fl = status(fd)?;
    fl.set(flag, on);
    fcntl(fd, FcntlArg::F_SETFL(fl))
        .map(drop)
        .map_err(|e| fail(format!("F_SETFL: {e}")))
}

/// Property 3, per descriptor: `FD_CLOEXEC` on the received one is set
/// exactly when the receiver asked for it.
///
/// # Errors
///
/// When it is not.
pub fn cloexec_as_asked(
    what: &str,
    received: BorrowedFd<'_>,
    asked: bool,
) -> Result<(), TestCaseError> {
    let got = is_cloexec(received).map_err(|e| fail(format!("{what}: {e}")))?;
    if got != asked {
        return Err(fail(format!(
            "{what}: FD_CLOEXEC is {got} on the received descriptor, the receiver asked for {asked}"
        )));
    }
    Ok(())
}

fn write_fd(fd: BorrowedFd<'_>, data: &[u8]) -> Result<usize, TestCaseError> {
    nix::unistd::write(fd, data).map_err(|e| fail(format!("write: {e}")))
}

fn read_fd(fd: BorrowedFd<'_>, buf: &mut [u8]) -> Result<usize, TestCaseError> {
    nix::unistd::read(fd, buf).map_err(|e| fail(format!("read: {e}")))
}

/// Shows that `received` works as the kind of `original` should, when the
/// original may already be closed: reads the known content of a file,
/// carries a byte through a pipe or socket to or from the kept end, counts
/// on an eventfd, waits on an epoll… `sender_peer` is the receiving socket,
/// for a received sending socket.
///
/// # Errors
///
/// What did not work.
pub fn works(
    what: &str,
    original: &Opened,
    received: BorrowedFd<'_>,
    sender_peer: BorrowedFd<'_>,
) -> Result<(), TestCaseError> {
    use inflight_testkit::FdKind as K;
    let ctx = |e: TestCaseError| fail(format!("{what} ({:?}): {e}", original.spec));
    let roundtrip = |w: BorrowedFd<'_>, r: BorrowedFd<'_>| -> Result<(), TestCaseError> {
        write_fd(w, b"k")?;
        let mut b = [0u8; 1];
        let n = read_fd(r, &mut b)?;
        if (n, b) != (1, *b"k") {
            return Err(fail(format!("read {n} byte(s) {b:?}, wrote b\"k\"")));
        }
        Ok(())
    };
    match original.spec.source {
        Source::SenderSocket => {
            // A byte sent through the received sending socket arrives at
            // the receiving socket.
            roundtrip(received, sender_peer).map_err(ctx)
        }
        Source::Kind(K::File | K::AppendFile | K::MemFd | K::SealedMemFd) => {
            let mut buf = vec![0u8; original.content.len()];
            let n = nix::sys::uio::pread(received, &mut buf, 0)
                .map_err(|e| ctx(fail(format!("pread: {e}"))))?;
            if buf[..n] != original.content[..] {
                return Err(ctx(fail(format!(
                    "pread returned {n} byte(s) that differ from the {} byte(s) written",
                    original.content.len()
                ))));
            }
            Ok(())
        }
        Source::Kind(K::PipeWrite | K::UnixSocket) => {
            roundtrip(received, original.keep[0].as_fd()).map_err(ctx)
        }
        Source::Kind(K::PipeRead) => roundtrip(original.keep[0].as_fd(), received).map_err(ctx),
        Source::Kind(K::EventFd) => {
            write_fd(received, &1u64.to_ne_bytes()).map_err(ctx)?;
            let mut b = [0u8; 8];
            read_fd(received, &mut b).map_err(ctx)?;
            if u64::from_ne_bytes(b) != 1 {
                return Err(ctx(fail(format!(
                    "eventfd counter {}",
                    u64::from_ne_bytes(b)
                ))));
            }
            Ok(())
        }
        Source::Kind(K::DevNull) => {
            // The fixture opens /dev/null read-only: reading gives EOF.
            let mut b = [0u8; 4];
            let n = read_fd(received, &mut b).map_err(ctx)?;
            if n != 0 {
                return Err(ctx(fail(format!("/dev/null read {n} byte(s)"))));
            }
            Ok(())
        }
        Source::Kind(K::Epoll) => {
            let ep = nix::sys::epoll::Epoll(dup(received).map_err(ctx)?);
            let mut ev = [nix::sys::epoll::EpollEvent::empty(); 1];
            ep.wait(&mut ev, 0u16)
                .map(drop)
                .map_err(|e| ctx(fail(format!("epoll_wait: {e}"))))
        }
        Source::Kind(K::TimerFd) => {
            let fd = dup(received).map_err(ctx)?;
            // SAFETY: `from_owned_fd` requires a timerfd: `fd` duplicates a
            // descriptor received for a `TimerFd` fixture (checked to be the
            // same open file description by the callers that still hold the
            // original).
            let timer = unsafe { nix::sys::timerfd::TimerFd::from_owned_fd(fd) };
            match timer.get() {
                Ok(None) => Ok(()),
                Ok(Some(e)) => Err(ctx(fail(format!("unarmed timer reports {e:?}")))),
                Err(e) => Err(ctx(fail(format!("timerfd_gettime: {e}")))),
            }
        }
        Source::Kind(K::DirPath) => {
            let id = file_identity(received).map_err(ctx)?;
            if id.mode & libc::S_IFMT != libc::S_IFDIR {
                return Err(ctx(fail(format!("not a directory: mode {:o}", id.mode))));
            }
            Ok(())
        }
    }
}

/// `dup` with `CLOEXEC`.
///
/// # Errors
///
/// The `fcntl` error.
pub fn dup(fd: BorrowedFd<'_>) -> Result<OwnedFd, TestCaseError> {
    fd.try_clone_to_owned()
        .map_err(|e| fail(format!("dup: {e}")))
}
