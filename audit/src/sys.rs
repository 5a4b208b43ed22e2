//! The auditor's own raw system calls: `sendmsg`/`recvmsg` with a control
//! buffer of exactly the size a case asks for (or none at all), `poll`, and
//! resource limits. The kernel cases need this control; everything else goes
//! through inflight.

use std::io;
use std::mem::size_of;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use inflight::codec::{self, Message};
use inflight::Credentials;

/// What one raw `recvmsg` produced.
#[derive(Debug)]
pub struct RawRecv {
    /// The return value (payload bytes).
    pub bytes: usize,
    /// `msg_flags`.
    pub flags: i32,
    /// `msg_controllen` as the kernel left it.
    pub controllen: usize,
    /// Descriptors from every `SCM_RIGHTS` message, in order.
    pub fds: Vec<OwnedFd>,
    /// `SCM_CREDENTIALS`, if any.
    pub creds: Option<Credentials>,
    /// `SCM_PIDFD`, if any.
    pub pidfd: Option<OwnedFd>,
    /// `(level, type)` of every control message, in buffer order.
    pub order: Vec<(i32, i32)>,
}

impl RawRecv {
    /// `MSG_CTRUNC` was set.
    pub fn ctrunc(&self) -> bool {
        self.flags & libc::MSG_CTRUNC != 0
    }

    /// `MSG_TRUNC` was set.
    pub fn trunc(&self) -> bool {
        self.flags & libc::MSG_TRUNC != 0
    }
}

/// A human name for a control message type.
pub fn cmsg_name(level: i32, kind: i32) -> String {
    match (level, kind) {
        (libc::SOL_SOCKET, libc::SCM_RIGHTS) => "SCM_RIGHTS".into(),
        (libc::SOL_SOCKET, libc::SCM_CREDENTIALS) => "SCM_CREDENTIALS".into(),
        (libc::SOL_SOCKET, codec::SCM_PIDFD) => "SCM_PIDFD".into(),
        (l, k) => format!("level {l} type {k}"),
    }
}

/// One `SCM_RIGHTS` control message for `fds`, encoded by hand (no limit on
/// the count: the kernel cases send 254 on purpose).
pub fn rights_cmsg(fds: &[RawFd]) -> Vec<u8> {
    let data = std::mem::size_of_val(fds);
    let mut out = vec![0u8; codec::cmsg_space(data)];
    let len = codec::cmsg_len(data) as libc::size_t;
    out[..size_of::<libc::size_t>()].copy_from_slice(&len.to_ne_bytes());
    let lvl = size_of::<libc::size_t>();
    out[lvl..lvl + 4].copy_from_slice(&libc::SOL_SOCKET.to_ne_bytes());
    out[lvl + 4..lvl + 8].copy_from_slice(&libc::SCM_RIGHTS.to_ne_bytes());
    for (i, fd) in fds.iter().enumerate() {
        let at = codec::DATA_OFFSET + 4 * i;
        out[at..at + 4].copy_from_slice(&fd.to_ne_bytes());
    }
    out
}

/// `sendmsg(sock, payload, control, flags | MSG_NOSIGNAL)`, `EINTR` retried.
///
/// # Errors
///
/// The `sendmsg` error.
pub fn sendmsg(
    sock: BorrowedFd<'_>,
    payload: &[u8],
    control: &[u8],
    flags: i32,
) -> io::Result<usize> {
    // Copy the control bytes into an 8-aligned buffer: the kernel reads
    // `cmsghdr`s from it.
    let mut aligned = vec![0u64; control.len().div_ceil(8)];
    // SAFETY: `aligned` holds at least `control.len()` bytes; u64 has no
    // invalid bit patterns, so viewing it as bytes is sound; the slice does
    // not outlive `aligned`.
    let bytes = unsafe {
        std::slice::from_raw_parts_mut(aligned.as_mut_ptr().cast::<u8>(), aligned.len() * 8)
    };
    bytes[..control.len()].copy_from_slice(control);
    let mut iov = libc::iovec {
        iov_base: payload.as_ptr() as *mut libc::c_void,
        iov_len: payload.len(),
    };
    // SAFETY: msghdr is a plain C struct for which all-zero is a valid value.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    if !control.is_empty() {
        msg.msg_control = aligned.as_mut_ptr().cast();
        msg.msg_controllen = control.len() as _;
    }
    retry_eintr(|| {
        // SAFETY: sendmsg(2) needs a valid socket descriptor (borrowed for
        // the call) and a msghdr whose iov points to `payload.len()` readable
        // bytes and whose control points to `msg_controllen` readable bytes:
        // both buffers are alive for the duration of the call and the kernel
        // only reads them.
        unsafe { libc::sendmsg(sock.as_raw_fd(), &msg, flags | libc::MSG_NOSIGNAL) }
    })
}

/// Calls `call` (a system call returning a count or -1 with `errno`) until
/// it is not interrupted by a signal.
fn retry_eintr(mut call: impl FnMut() -> isize) -> io::Result<usize> {
    loop {
        let r = call();
        if r >= 0 {
            return Ok(r as usize);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// `recvmsg(sock, buf, control of exactly control_len bytes or NULL, flags)`,
/// `EINTR` retried. Every descriptor the kernel installed is claimed (and so
/// closed when the result drops).
///
/// # Errors
///
/// The `recvmsg` error.
pub fn recvmsg(
    sock: BorrowedFd<'_>,
    buf: &mut [u8],
    control_len: Option<usize>,
    flags: i32,
) -> io::Result<RawRecv> {
    let cap = control_len.unwrap_or(0);
    let mut space = vec![0u64; cap.div_ceil(8).max(1)];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: msghdr is a plain C struct for which all-zero is a valid value.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    if control_len.is_some() {
        msg.msg_control = space.as_mut_ptr().cast();
        msg.msg_controllen = cap as _;
    }
    let r = retry_eintr(|| {
        // SAFETY: recvmsg(2) needs a valid socket (borrowed for the call), an
        // iov of `buf.len()` writable bytes and a control buffer of
        // `msg_controllen` writable, 8-aligned bytes (or NULL with length 0);
        // all stay alive and unaliased for the duration of the call.
        unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, flags) }
    })?;
    let controllen = if control_len.is_some() {
        msg.msg_controllen as usize
    } else {
        0
    };
    // SAFETY: the kernel initialised the first `controllen` (<= cap) bytes of
    // `space`; u64 storage is viewed as bytes, which has no invalid values.
    let control =
        unsafe { std::slice::from_raw_parts(space.as_ptr().cast::<u8>(), controllen.min(cap)) };
    let mut out = RawRecv {
        bytes: r,
        flags: msg.msg_flags,
        controllen,
        fds: Vec::new(),
        creds: None,
        pidfd: None,
        order: Vec::new(),
    };
    // SAFETY: `control` was filled by the successful recvmsg above in this
    // process, and is claimed here once.
    unsafe { out.claim(control) };
    Ok(out)
}

impl RawRecv {
    /// Walks `control`, recording the order of the control messages and
    /// taking ownership of every descriptor they carry.
    ///
    /// # Safety
    ///
    /// `control` must be the control data of a `recvmsg` that just
    /// succeeded in this process, and must not be claimed again: each number
    /// in it is a descriptor the kernel installed for that call.
    unsafe fn claim(&mut self, control: &[u8]) {
        for cmsg in codec::decode(control) {
            let Ok(cmsg) = cmsg else { break };
            self.order.push((cmsg.level, cmsg.kind));
            match cmsg.parse() {
                Message::Rights(rights) => {
                    // SAFETY: the function's contract: descriptors the
                    // kernel installed for the call, claimed once.
                    self.fds
                        .extend(rights.iter().map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }));
                }
                Message::Credentials(c) => self.creds = Some(c),
                Message::PidFd(fd) => {
                    // SAFETY: as above: a pidfd the kernel installed for
                    // the call, claimed once.
                    self.pidfd = Some(unsafe { OwnedFd::from_raw_fd(fd) });
                }
                _ => {}
            }
        }
    }
}

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
