//! What the kernel cases share: raw sends and receives with exactly the
//! control buffer a case asks for, and what to make of the queue afterwards.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use anyhow::{ensure, Context as _};
use inflight::SocketKind;
use inflight_testkit::cmsg::{self, Cmsg};
use inflight_testkit::raw::{self, RawRecv};
use inflight_testkit::{FdKind, Fixture};

use crate::sys;

/// The kernel's limit on descriptors in one message (`SCM_MAX_FD`).
pub(super) const SCM_MAX_FD: usize = 253;

/// A control buffer big enough for anything: 253 descriptors, credentials,
/// a pidfd, and slack.
pub(super) const BIG: usize = cmsg::space(4 * SCM_MAX_FD) + cmsg::space(12) + 64;

pub(super) fn pair(kind: SocketKind) -> anyhow::Result<(OwnedFd, OwnedFd)> {
    inflight::socketpair(kind).context("socketpair")
}

pub(super) fn raws(fds: &[&OwnedFd]) -> Vec<RawFd> {
    fds.iter().map(|f| f.as_raw_fd()).collect()
}

/// One `SCM_RIGHTS` control message carrying `fds`, none when `fds` is
/// empty.
pub(super) fn rights(fds: &[RawFd]) -> Vec<u8> {
    if fds.is_empty() {
        Vec::new()
    } else {
        Cmsg::rights(fds).to_bytes()
    }
}

/// `sendmsg` with one `SCM_RIGHTS` message (none when `fds` is empty).
pub(super) fn send(sock: &OwnedFd, payload: &[u8], fds: &[RawFd]) -> std::io::Result<usize> {
    raw::sendmsg(sock.as_fd(), payload, &rights(fds), 0)
}

/// A non-blocking `recvmsg`: payload and everything that came with it.
pub(super) fn recv(
    sock: &OwnedFd,
    buflen: usize,
    control: Option<usize>,
    flags: i32,
) -> std::io::Result<(Vec<u8>, RawRecv)> {
    let mut buf = vec![0u8; buflen];
    let r = raw::recvmsg(sock.as_fd(), &mut buf, control, flags | libc::MSG_DONTWAIT)?;
    buf.truncate(r.bytes.min(buflen));
    Ok((buf, r))
}

/// Every receive (of up to 64 bytes, with room for any control data) until
/// nothing is queued: the payload and what came with it, at most 8.
///
/// # Errors
///
/// A receive failed with anything but `EAGAIN`.
pub(super) fn drain(sock: &OwnedFd) -> std::io::Result<Vec<(Vec<u8>, RawRecv)>> {
    let mut out = Vec::new();
    while out.len() < 8 {
        match recv(sock, 64, Some(BIG), 0) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) => return Err(e),
            Ok(got) => out.push(got),
        }
    }
    Ok(out)
}

/// Receives as `payload+N fd` items, for evidence: `"efgh"+1 fd, "ij"+0 fd`.
pub(super) fn shape(receives: &[(Vec<u8>, RawRecv)]) -> String {
    let parts: Vec<String> = receives
        .iter()
        .map(|(p, r)| format!("{:?}+{} fd", String::from_utf8_lossy(p), r.fds.len()))
        .collect();
    if parts.is_empty() {
        "nothing".into()
    } else {
        parts.join(", ")
    }
}

/// What a non-blocking receive finds: "nothing queued", "end of stream" or
/// a description of a message.
pub(super) fn queue_state(sock: &OwnedFd) -> String {
    match recv(sock, 4096, Some(BIG), 0) {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => "nothing queued".into(),
        Err(e) => format!("recvmsg error {e}"),
        Ok((_, r)) if r.bytes == 0 && r.fds.is_empty() => "end of stream".into(),
        Ok((_, r)) => format!(
            "a message of {} byte(s) with {} descriptor(s)",
            r.bytes,
            r.fds.len()
        ),
    }
}

/// The read end of a pipe sees end-of-file: every write end is closed
/// (including copies that were in flight).
pub(super) fn hung_up(r: &OwnedFd, wait: Duration) -> bool {
    let end = Instant::now() + wait;
    loop {
        let rev = sys::poll_in(r.as_fd(), Duration::from_millis(5)).unwrap_or(0);
        if rev & libc::POLLHUP != 0 {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
    }
}

pub(super) fn errno_name(e: &std::io::Error) -> String {
    let n = e.raw_os_error().unwrap_or(0);
    let name = match n {
        libc::EINVAL => "EINVAL",
        libc::EBADF => "EBADF",
        libc::EPERM => "EPERM",
        libc::EAGAIN => "EAGAIN",
        libc::EMFILE => "EMFILE",
        libc::ETOOMANYREFS => "ETOOMANYREFS",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::ENOPROTOOPT => "ENOPROTOOPT",
        _ => return format!("errno {n} ({e})"),
    };
    name.to_string()
}

pub(super) fn payload_for(kind: SocketKind) -> &'static [u8] {
    let _ = kind;
    b"x"
}

/// Three distinct descriptions: a file, a pipe read end, /dev/null.
pub(super) fn three() -> anyhow::Result<Vec<Fixture>> {
    [FdKind::File, FdKind::PipeRead, FdKind::DevNull]
        .iter()
        .map(|k| k.open().context("opening a fixture"))
        .collect()
}

pub(super) fn transfer_one(fd: BorrowedFd<'_>, flags: i32) -> anyhow::Result<OwnedFd> {
    let (a, b) = pair(SocketKind::Stream)?;
    send(&a, b"1", &[fd.as_raw_fd()]).context("sendmsg")?;
    let (_, mut r) = recv(&b, 16, Some(BIG), flags).context("recvmsg")?;
    ensure!(
        r.fds.len() == 1,
        "expected 1 descriptor, got {}",
        r.fds.len()
    );
    Ok(r.fds.remove(0))
}
