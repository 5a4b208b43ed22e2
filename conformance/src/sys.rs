//! The battery's own system calls, through `nix`: socket pairs, `poll`,
//! pipes, descriptor flags, `SO_PASSCRED`, one `SCM_RIGHTS` message sent
//! and received exactly, and what a freshly exec'd child inherits.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::time::Duration;

use nix::fcntl::{fcntl, FcntlArg, FdFlag, OFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{
    self as nsock, AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags, SockFlag, SockType,
};

use crate::SocketKind;

/// A connected pair of `kind`, both ends close-on-exec, the second
/// (receiving) end non-blocking.
pub(crate) fn pair(kind: SocketKind) -> io::Result<(OwnedFd, OwnedFd)> {
    let ty = match kind {
        SocketKind::Stream => SockType::Stream,
        SocketKind::SeqPacket => SockType::SeqPacket,
        SocketKind::Datagram => SockType::Datagram,
    };
    let (a, b) = nsock::socketpair(AddressFamily::Unix, ty, None, SockFlag::SOCK_CLOEXEC)?;
    let flags = OFlag::from_bits_retain(fcntl(&b, FcntlArg::F_GETFL)?);
    fcntl(&b, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
    Ok((a, b))
}

/// Waits until `fd` is readable (or hung up). Returns the `revents` bits,
/// 0 on timeout.
pub(crate) fn poll_in(fd: BorrowedFd<'_>, timeout: Duration) -> io::Result<i16> {
    let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
    let t = PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX);
    let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
    loop {
        match poll(&mut fds, t) {
            Ok(0) => return Ok(0),
            Ok(_) => return Ok(fds[0].revents().map_or(0, |r| r.bits())),
            Err(nix::Error::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// A pipe, both ends close-on-exec: (read, write).
pub(crate) fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    Ok(nix::unistd::pipe2(OFlag::O_CLOEXEC)?)
}

/// Whether `fd` has `FD_CLOEXEC`.
pub(crate) fn is_cloexec(fd: BorrowedFd<'_>) -> io::Result<bool> {
    let flags = FdFlag::from_bits_retain(fcntl(fd, FcntlArg::F_GETFD)?);
    Ok(flags.contains(FdFlag::FD_CLOEXEC))
}

/// Turns `SO_PASSCRED` on.
pub(crate) fn pass_credentials(sock: BorrowedFd<'_>) -> io::Result<()> {
    Ok(nsock::setsockopt(&sock, nsock::sockopt::PassCred, &true)?)
}

/// `fstat`'s device and inode: which file a descriptor refers to.
pub(crate) fn file_id(fd: BorrowedFd<'_>) -> io::Result<(u64, u64)> {
    let st = nix::sys::stat::fstat(fd)?;
    #[allow(clippy::unnecessary_cast)] // st_dev is not u64 everywhere
    Ok((st.st_dev as u64, st.st_ino as u64))
}

/// Sends `payload` with one `SCM_RIGHTS` message carrying exactly `fds`
/// (`MSG_NOSIGNAL`), whatever the implementation under test could send.
pub(crate) fn send_rights(
    sock: BorrowedFd<'_>,
    payload: &[u8],
    fds: &[RawFd],
) -> io::Result<usize> {
    let iov = [io::IoSlice::new(payload)];
    let cmsg = [ControlMessage::ScmRights(fds)];
    let cmsgs: &[ControlMessage<'_>] = if fds.is_empty() { &[] } else { &cmsg };
    loop {
        match nsock::sendmsg::<()>(sock.as_raw_fd(), &iov, cmsgs, MsgFlags::MSG_NOSIGNAL, None) {
            Err(nix::Error::EINTR) => continue,
            r => return Ok(r?),
        }
    }
}

/// One non-blocking receive with room for 64 descriptors
/// (`MSG_CMSG_CLOEXEC`): the payload length and every descriptor the
/// kernel installed, owned.
pub(crate) fn recv_rights(
    sock: BorrowedFd<'_>,
    buf: &mut [u8],
) -> io::Result<(usize, Vec<OwnedFd>)> {
    let mut space = nix::cmsg_space!([RawFd; 64]);
    let mut iov = [io::IoSliceMut::new(buf)];
    let flags = MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_CMSG_CLOEXEC;
    let msg = loop {
        match nsock::recvmsg::<()>(sock.as_raw_fd(), &mut iov, Some(&mut space), flags) {
            Err(nix::Error::EINTR) => continue,
            r => break r?,
        }
    };
    let mut fds = Vec::new();
    for c in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(raw) = c {
            // SAFETY: each number was installed in this process by the
            // recvmsg above and written into its control buffer, which is
            // walked once: nothing else owns it.
            fds.extend(raw.into_iter().map(|fd| unsafe { own(fd) }));
        }
    }
    Ok((msg.bytes, fds))
}

/// Takes ownership of a descriptor number.
///
/// # Safety
///
/// `fd` must be open and owned by nothing else.
unsafe fn own(fd: RawFd) -> OwnedFd {
    use std::os::fd::FromRawFd as _;
    // SAFETY: the function's contract.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// Whether a freshly exec'd child inherits `fd`: spawns `sh` (which waits
/// on its standard input), reads `/proc/PID/fd/N` of the child once its
/// exec is done, and says `fd N open TARGET` (the same file as `fd`, by
/// `stat`) or `fd N closed`.
pub(crate) fn exec_probe(fd: BorrowedFd<'_>) -> io::Result<String> {
    use std::process::{Command, Stdio};
    let n = fd.as_raw_fd();
    // `spawn` returns once the exec succeeded (std reports a failed exec
    // through a close-on-exec pipe), so the child's table is the one exec
    // left it with.
    let mut child = Command::new("/bin/sh")
        .args(["-c", "read _"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let path = format!("/proc/{}/fd/{n}", child.id());
    let target = std::fs::read_link(&path);
    let same = std::fs::metadata(&path).ok().map(|m| {
        use std::os::unix::fs::MetadataExt as _;
        (m.dev(), m.ino())
    }) == file_id(fd).ok();
    drop(child.stdin.take());
    child.wait()?;
    Ok(match target {
        Ok(t) if same => format!("fd {n} open {}", t.display()),
        _ => format!("fd {n} closed"),
    })
}
