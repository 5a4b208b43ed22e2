//! The auditor's own small system calls: `poll`, resource limits,
//! `shutdown`, pipes, descriptor and status flags, the kernel release.
//! Raw `sendmsg`/`recvmsg` with exact control buffers, the control-message
//! builder and their names come from the test kit
//! (`inflight_testkit::{raw, cmsg}`); everything else goes through inflight.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

/// Waits until `fd` is readable (or hung up). Returns the `revents`, 0 on
/// timeout.
///
/// # Errors
///
/// The `poll` error.
pub fn poll_in(fd: BorrowedFd<'_>, timeout: Duration) -> io::Result<i16> {
    let mut p = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
    loop {
        // SAFETY: poll(2) needs a pointer to one valid pollfd, which `p` is,
        // alive for the call; the descriptor is borrowed for the call.
        let r = unsafe { libc::poll(&mut p, 1, ms) };
        if r >= 0 {
            return Ok(if r == 0 { 0 } else { p.revents });
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// `getrlimit(RLIMIT_NOFILE)`: (soft, hard).
///
/// # Errors
///
/// The `getrlimit` error.
pub fn nofile_limit() -> io::Result<(u64, u64)> {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit(2) writes one rlimit through a valid pointer.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((r.rlim_cur, r.rlim_max))
}

/// `setrlimit(RLIMIT_NOFILE, soft, hard)`.
///
/// # Errors
///
/// The `setrlimit` error.
pub fn set_nofile_limit(soft: u64, hard: u64) -> io::Result<()> {
    let r = libc::rlimit {
        rlim_cur: soft as libc::rlim_t,
        rlim_max: hard as libc::rlim_t,
    };
    // SAFETY: setrlimit(2) reads one rlimit through a valid pointer.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &r) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Raises the soft descriptor limit to the hard one (the 253-descriptor
/// cases need a few hundred at once). Best effort.
pub fn raise_nofile_limit() {
    if let Ok((soft, hard)) = nofile_limit() {
        if soft < hard {
            let _ = set_nofile_limit(hard.min(65536), hard);
        }
    }
}

/// `shutdown(sock, SHUT_WR)`.
///
/// # Errors
///
/// The `shutdown` error.
pub fn shutdown_write(sock: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: shutdown(2) on a descriptor borrowed for the call.
    if unsafe { libc::shutdown(sock.as_raw_fd(), libc::SHUT_WR) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A pipe, both ends close-on-exec: (read, write).
///
/// # Errors
///
/// The `pipe2` error.
pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: pipe2(2) writes two descriptors into a valid 2-element array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 succeeded, so both numbers are new open descriptors that
    // nothing else owns (from_raw_fd's precondition).
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// `fcntl(F_SETFD, flags)` (per-descriptor flags: `FD_CLOEXEC`).
///
/// # Errors
///
/// The `fcntl` error.
pub fn set_fd_flags(fd: BorrowedFd<'_>, flags: i32) -> io::Result<()> {
    // SAFETY: fcntl(F_SETFD) with an int argument on a borrowed descriptor.
    if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, flags) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `fcntl(F_SETFL, flags)` (open file status flags: `O_NONBLOCK`, ...).
///
/// # Errors
///
/// The `fcntl` error.
pub fn set_status_flags(fd: BorrowedFd<'_>, flags: i32) -> io::Result<()> {
    // SAFETY: fcntl(F_SETFL) with an int argument on a borrowed descriptor.
    if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `uname -r`.
pub fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}
