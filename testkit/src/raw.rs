//! Raw `sendmsg(2)`/`recvmsg(2)` with exactly the control bytes a test
//! gives (an unusual or hostile sender) and exactly the control buffer size
//! it asks for (a careless receiver).
//!
//! Sends always add `MSG_NOSIGNAL`; both retry on `EINTR`. A receive claims
//! every descriptor the kernel installed (from `SCM_RIGHTS` and
//! `SCM_PIDFD`), found with the kit's own walk ([`cmsg::messages`]), so
//! that they are closed when the [`RawRecv`] drops.

use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::cmsg::{self, SCM_PIDFD};
use crate::AlignedBuf;

/// A destination for a `sendmsg` on an unconnected datagram socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnixDest<'a> {
    /// A socket bound to a path.
    Path(&'a Path),
    /// A socket bound to an abstract name (without the leading NUL).
    Abstract(&'a [u8]),
}

impl UnixDest<'_> {
    /// The `sockaddr_un` and its length.
    fn sockaddr(&self) -> io::Result<(libc::sockaddr_un, libc::socklen_t)> {
        // SAFETY: sockaddr_un is a plain C struct (integers and a char
        // array) for which all-zero bytes are a valid value.
        let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
        addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
        let (name, skip) = match self {
            UnixDest::Path(p) => (p.as_os_str().as_bytes(), 0),
            UnixDest::Abstract(n) => (*n, 1),
        };
        // A path keeps room for its terminating NUL.
        let room = addr.sun_path.len() - 1 + skip;
        if name.len() + skip > room || (skip == 0 && name.contains(&0)) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "unix socket address too long (or a path with a NUL)",
            ));
        }
        for (dst, &src) in addr.sun_path[skip..].iter_mut().zip(name) {
            *dst = src as libc::c_char;
        }
        let base = std::mem::offset_of!(libc::sockaddr_un, sun_path);
        let len = base + skip + name.len() + usize::from(skip == 0);
        Ok((addr, len as libc::socklen_t))
    }
}

/// `sendmsg(sock, payload, control, flags | MSG_NOSIGNAL)`, `EINTR`
/// retried. An empty `control` is sent as `msg_control = NULL`.
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
    sendmsg_to(sock, None, &[IoSlice::new(payload)], control, flags)
}

/// [`sendmsg`] with several payload buffers.
///
/// # Errors
///
/// The `sendmsg` error.
pub fn sendmsg_vectored(
    sock: BorrowedFd<'_>,
    iov: &[IoSlice<'_>],
    control: &[u8],
    flags: i32,
) -> io::Result<usize> {
    sendmsg_to(sock, None, iov, control, flags)
}

/// [`sendmsg_vectored`] to `dest` (`msg_name`), or to the connected peer
/// when `None`. The control bytes are copied into an [`AlignedBuf`] first,
/// as a C sender would pass them.
///
/// # Errors
///
/// `InvalidInput` for an address that does not fit a `sockaddr_un`, else
/// the `sendmsg` error.
pub fn sendmsg_to(
    sock: BorrowedFd<'_>,
    dest: Option<UnixDest<'_>>,
    iov: &[IoSlice<'_>],
    control: &[u8],
    flags: i32,
) -> io::Result<usize> {
    let mut aligned = AlignedBuf::from_bytes(control);
    let mut addr = dest.map(|d| d.sockaddr()).transpose()?;
    // SAFETY: msghdr is a plain C struct for which all-zero is a valid
    // value (null pointers, zero lengths).
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    if let Some((sa, len)) = addr.as_mut() {
        msg.msg_name = std::ptr::from_mut(sa).cast();
        msg.msg_namelen = *len;
    }
    // IoSlice is guaranteed ABI compatible with iovec on Unix.
    msg.msg_iov = iov.as_ptr().cast_mut().cast();
    msg.msg_iovlen = iov.len() as _;
    let (ptr, len) = aligned.msg_control();
    msg.msg_control = ptr;
    msg.msg_controllen = len as _;
    loop {
        // SAFETY: sendmsg(2) needs an open socket (borrowed for the call)
        // and a msghdr whose pointers are valid for reading their lengths:
        // the address (a live local sockaddr_un, or NULL), `iov.len()`
        // iovecs over live slices, and `len` bytes of `aligned` (or NULL);
        // all outlive the call and the kernel only reads them.
        let r = unsafe { libc::sendmsg(sock.as_raw_fd(), &msg, flags | libc::MSG_NOSIGNAL) };
        if r >= 0 {
            return Ok(r as usize);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// What one raw `recvmsg` produced. Dropping it closes every descriptor
/// the kernel installed.
#[derive(Debug)]
pub struct RawRecv {
    /// The return value: payload bytes (the datagram's full length with
    /// `MSG_TRUNC` in the flags).
    pub bytes: usize,
    /// `msg_flags` as the kernel left them.
    pub flags: i32,
    /// `msg_controllen` as the kernel left it (0 when no buffer was given).
    pub controllen: usize,
    /// The control bytes the kernel wrote (descriptor numbers in them are
    /// owned by [`fds`](RawRecv::fds) and [`pidfd`](RawRecv::pidfd)).
    pub control: Vec<u8>,
    /// Descriptors from every `SCM_RIGHTS` message, in order.
    pub fds: Vec<OwnedFd>,
    /// `SCM_CREDENTIALS` (the last one), as `(pid, uid, gid)`.
    pub credentials: Option<(libc::pid_t, libc::uid_t, libc::gid_t)>,
    /// `SCM_PIDFD` (the last one; any earlier one is closed).
    pub pidfd: Option<OwnedFd>,
    /// `(level, type)` of every control message, in buffer order.
    pub order: Vec<(i32, i32)>,
}

impl RawRecv {
    /// `MSG_CTRUNC` was set: control data did not fit.
    pub fn ctrunc(&self) -> bool {
        self.flags & libc::MSG_CTRUNC != 0
    }

    /// `MSG_TRUNC` was set: payload did not fit.
    pub fn trunc(&self) -> bool {
        self.flags & libc::MSG_TRUNC != 0
    }
}

/// `recvmsg(sock, buf, control, flags)`, `EINTR` retried, where the control
/// buffer is `NULL` for `control_len = None` and exactly `n` (aligned)
/// bytes for `Some(n)`.
///
/// # Errors
///
/// The `recvmsg` error (nothing was received, so nothing is installed).
pub fn recvmsg(
    sock: BorrowedFd<'_>,
    buf: &mut [u8],
    control_len: Option<usize>,
    flags: i32,
) -> io::Result<RawRecv> {
    recvmsg_vectored(sock, &mut [IoSliceMut::new(buf)], control_len, flags)
}

/// [`recvmsg`] into several buffers.
///
/// # Errors
///
/// The `recvmsg` error.
pub fn recvmsg_vectored(
    sock: BorrowedFd<'_>,
    iov: &mut [IoSliceMut<'_>],
    control_len: Option<usize>,
    flags: i32,
) -> io::Result<RawRecv> {
    let cap = control_len.unwrap_or(0);
    let mut space = AlignedBuf::zeroed(cap);
    // SAFETY: msghdr is a plain C struct for which all-zero is a valid
    // value.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    // IoSliceMut is guaranteed ABI compatible with iovec on Unix.
    msg.msg_iov = iov.as_mut_ptr().cast();
    msg.msg_iovlen = iov.len() as _;
    if control_len.is_some() {
        // Exactly `cap` bytes, even 0 (a non-null pointer with no room).
        msg.msg_control = space.as_mut_ptr().cast();
        msg.msg_controllen = cap as _;
    }
    let bytes = loop {
        // SAFETY: recvmsg(2) needs an open socket (borrowed for the call),
        // `iov.len()` iovecs over live, exclusively borrowed buffers, and a
        // control pointer valid for writing `msg_controllen` bytes (the
        // aligned `space` of exactly `cap` bytes) or NULL with length 0;
        // all outlive the call.
        let r = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, flags) };
        if r >= 0 {
            break r as usize;
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    };
    let controllen = if control_len.is_some() {
        msg.msg_controllen as usize
    } else {
        0
    };
    let control = space.as_bytes()[..controllen.min(cap)].to_vec();
    let mut out = RawRecv {
        bytes,
        flags: msg.msg_flags,
        controllen,
        control: Vec::new(),
        fds: Vec::new(),
        credentials: None,
        pidfd: None,
        order: Vec::new(),
    };
    for m in cmsg::messages(&control) {
        out.order.push((m.level, m.kind));
        match (m.level, m.kind) {
            (libc::SOL_SOCKET, libc::SCM_RIGHTS) => {
                out.fds.extend(numbers(m.data).map(claim));
            }
            (libc::SOL_SOCKET, SCM_PIDFD) => {
                out.pidfd = numbers(m.data).map(claim).last();
            }
            (libc::SOL_SOCKET, libc::SCM_CREDENTIALS) if m.data.len() >= 12 => {
                let int = |i: usize| m.data[i..i + 4].try_into().expect("4 bytes");
                out.credentials = Some((
                    i32::from_ne_bytes(int(0)),
                    u32::from_ne_bytes(int(4)),
                    u32::from_ne_bytes(int(8)),
                ));
            }
            _ => {}
        }
    }
    out.control = control;
    Ok(out)
}

/// The whole `int`s in a message's data, skipping negative ones (the
/// kernel never installs those).
fn numbers(data: &[u8]) -> impl Iterator<Item = RawFd> + '_ {
    data.chunks_exact(4)
        .map(|c| RawFd::from_ne_bytes(c.try_into().expect("4 bytes")))
        .filter(|&fd| fd >= 0)
}

/// Takes ownership of a descriptor number the kernel wrote into this
/// call's control buffer.
fn claim(fd: RawFd) -> OwnedFd {
    // SAFETY: from_raw_fd needs an open descriptor that nothing else owns.
    // The number was written by the kernel into the control buffer of the
    // successful recvmsg above (the buffer is ours and nothing else writes
    // it): the kernel installed it in this process for this call, and each
    // message is walked, and so each number claimed, once.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// Closes this process's standard input, descriptor 0, so that the next
/// descriptor the process gets is number 0: for tests that code under test
/// takes 0 for the valid descriptor it is. Only for a process of the
/// test's own (a spawned copy of the test binary): nothing may read
/// standard input afterwards.
///
/// # Errors
///
/// The `close(2)` error (`EBADF` when it was closed already).
pub fn close_stdin() -> io::Result<()> {
    // SAFETY: close(2) takes an integer and reads no memory. No Rust value
    // of a test process owns descriptor 0 (std's `Stdin` only borrows it
    // while reading, which the caller has ruled out), so nothing closes it
    // again or uses a number reassigned under it.
    if unsafe { libc::close(0) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
