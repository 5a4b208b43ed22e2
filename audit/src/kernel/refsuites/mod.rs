//! Cases the reference suites have and the rest of the battery lacked:
//! the kernel selftests of `tools/testing/selftests/net/af_unix/`
//! (`scm_rights.c`, `scm_pidfd.c`, `scm_inq.c`), gVisor's
//! `test/syscalls/linux/socket_unix_cmsg.cc` and CPython's
//! `Lib/test/test_socket.py` (`SCMRightsTest`), each re-implemented from
//! what the suite checks (no code of theirs), its source cited.
//!
//! Features a kernel may lack are probed with raw system calls, never
//! through inflight: only `ENOPROTOOPT` (an unknown option) makes a case
//! skip. Where kernels legitimately differ, the case passes and names what
//! it saw at the start of its evidence (`[errno-payload] ...`), so that the
//! kernel matrix (`inflight-audit kernels`) shows which kernel does what.

mod cpython;
mod creds;
mod gc;
mod gvisor;
mod inq;
mod pidfd;

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use inflight::SocketKind;
use inflight_testkit::cmsg::{self, Found};
use inflight_testkit::probe::{self, Support};
use inflight_testkit::sockopt;
use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};

use super::Battery;
use crate::runner::Outcome;

/// Registers every case of this module.
pub(super) fn register(b: &mut Battery) {
    gc::register(b);
    pidfd::register(b);
    inq::register(b);
    gvisor::register(b);
    creds::register(b);
    cpython::register(b);
}

/// A pass that names the behaviour the kernel showed: `[mark] detail`.
fn observed(mark: &str, detail: impl std::fmt::Display) -> Outcome {
    Outcome::pass(format!("[{mark}] {detail}"))
}

fn sock_type(k: SocketKind) -> SockType {
    match k {
        SocketKind::Stream => SockType::Stream,
        SocketKind::SeqPacket => SockType::SeqPacket,
        SocketKind::Datagram => SockType::Datagram,
    }
}

/// A connected pair made with `socketpair(2)` itself (close-on-exec).
fn pair(k: SocketKind) -> anyhow::Result<(OwnedFd, OwnedFd)> {
    socketpair(
        AddressFamily::Unix,
        sock_type(k),
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .with_context(|| format!("socketpair({k})"))
}

/// `SOL_SOCKET` option `opt` on or off.
fn set_sol(fd: BorrowedFd<'_>, opt: i32, on: bool) -> io::Result<()> {
    sockopt::set_int(fd, libc::SOL_SOCKET, opt, i32::from(on))
}

/// `a` and `b` are the same open file description (the auditor's oracle
/// and its policy for an identity it cannot decide).
fn same(a: BorrowedFd<'_>, b: BorrowedFd<'_>, what: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        crate::oracle::same(a, b)?,
        "{what}: a different open file description arrived"
    );
    Ok(())
}

/// A skip when the kernel does not know `SOL_SOCKET` option `opt` (the
/// test kit's raw probe: only `ENOPROTOOPT` means unknown).
///
/// # Errors
///
/// The probe failed otherwise (a failure of the case, not a skip).
fn lacks(opt: i32, name: &str, since: &str) -> anyhow::Result<Option<Outcome>> {
    Ok(
        match probe::socket_option(opt).with_context(|| format!("probing {name}"))? {
            Support::Present => None,
            Support::Missing(why) => Some(Outcome::skip(format!(
                "the kernel lacks {name} ({why}); it appeared in Linux {since}"
            ))),
        },
    )
}

/// `SO_PASSRIGHTS` (Linux 6.16).
const SO_PASSRIGHTS: i32 = probe::SO_PASSRIGHTS;

/// The symbolic name of an `errno`.
fn errno(e: &io::Error) -> String {
    let n = e.raw_os_error().unwrap_or(0);
    let name = match n {
        libc::EPERM => "EPERM",
        libc::ESRCH => "ESRCH",
        libc::EBADF => "EBADF",
        libc::EAGAIN => "EAGAIN",
        libc::EINVAL => "EINVAL",
        libc::ENOTTY => "ENOTTY",
        libc::ENOPROTOOPT => "ENOPROTOOPT",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        _ => return format!("errno {n} ({e})"),
    };
    name.into()
}

/// The read end of a pipe sees end-of-file within `wait`: every write end
/// is closed, including copies that were in flight.
fn released(read: &OwnedFd, wait: Duration) -> bool {
    let end = Instant::now() + wait;
    loop {
        let rev = crate::sys::poll_in(read.as_fd(), Duration::from_millis(5)).unwrap_or(0);
        if rev & libc::POLLHUP != 0 {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
    }
}

/// The control messages in the bytes a receive wrote.
fn messages(control: &[u8]) -> Vec<Found<'_>> {
    cmsg::messages(control).collect()
}

/// The first `int` of a message's data.
fn first_int(m: &Found<'_>) -> Option<i32> {
    Some(i32::from_ne_bytes(m.data.get(..4)?.try_into().ok()?))
}

/// `[name(len)]` for each message, for evidence.
fn describe(msgs: &[Found<'_>]) -> String {
    let parts: Vec<String> = msgs
        .iter()
        .map(|m| {
            format!(
                "{}(cmsg_len {})",
                cmsg::cmsg_name(m.level, m.kind),
                m.cmsg_len
            )
        })
        .collect();
    format!("[{}]", parts.join(", "))
}
