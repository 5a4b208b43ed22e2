//! The system call layer: every `unsafe` block of the crate lives here (and
//! in its parts: `control`, `mmsg`, `sink`, `fdarray`). Each function is a thin,
//! checked wrapper around one call, with `EINTR` retried where the call is
//! safe to repeat; one builder makes every `msghdr`, and one function,
//! [`adopt`], turns a number the kernel returned into an [`OwnedFd`].

use std::io::{self, IoSlice, IoSliceMut};

use std::mem::{size_of, MaybeUninit};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use crate::codec::space_for;
pub(crate) use control::{Extras, KernelControl};
pub(crate) use fdarray::BoundedVec;
#[cfg(test)]
pub(crate) use fdarray::CLOSE_RANGES;
pub use fdarray::{CapacityError, FdArray, IntoIter};
pub(crate) use sink::{Closer, FdSink, FdStore};

mod control;
mod fdarray;
#[cfg(linux_like)]
mod mmsg;
mod sink;
#[cfg(test)]
pub(crate) mod tests;

#[cfg(linux_like)]
pub(crate) use mmsg::{recvmmsg, sendmmsg, MmsgRecv};

/// Takes ownership of a descriptor number the kernel just installed in this
/// process: the one place where kernel numbers become [`OwnedFd`]s.
///
/// # Safety
///
/// `fd` must be a descriptor that a successful system call of this process
/// installed for the caller (a received `SCM_RIGHTS`/`SCM_PIDFD` number, a
/// `SO_PEERPIDFD` answer) and that nothing else owns; it is adopted once.
#[inline]
unsafe fn adopt(fd: RawFd) -> OwnedFd {
    // SAFETY: `OwnedFd::from_raw_fd` requires an open descriptor, owned
    // exclusively by the caller, not -1: this function's contract.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// A socket address in its raw form, for `msg_name`.
pub(crate) struct RawAddr<'a> {
    ptr: *const libc::sockaddr,
    len: libc::socklen_t,
    _marker: std::marker::PhantomData<&'a ()>,
}

impl<'a> RawAddr<'a> {
    pub(crate) fn from_unix(addr: &'a nix::sys::socket::UnixAddr) -> Self {
        use nix::sys::socket::SockaddrLike;
        RawAddr {
            ptr: addr.as_ptr().cast(),
            len: addr.len(),
            _marker: std::marker::PhantomData,
        }
    }
}

/// The one `msghdr` builder: name, one iovec array and a control area.
/// A null name and zero lengths where a part is absent.
#[inline]
fn msghdr(
    addr: Option<&RawAddr<'_>>,
    iov: *mut libc::iovec,
    iovlen: usize,
    control: *mut MaybeUninit<u8>,
    controllen: usize,
) -> libc::msghdr {
    // SAFETY: `msghdr` is a plain C struct for which all-zero bytes are a
    // valid value (null pointers, zero lengths); zeroing also clears the
    // padding fields some platforms have.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    if let Some(a) = addr {
        msg.msg_name = a.ptr as *mut libc::c_void;
        msg.msg_namelen = a.len;
    }
    msg.msg_iov = iov;
    msg.msg_iovlen = iovlen as _;
    // An empty control area is a length of 0, which the kernel reads as no
    // control data whatever the pointer.
    msg.msg_control = control.cast();
    msg.msg_controllen = controllen as _;
    msg
}

/// An aligned control buffer with room for `N` descriptors beside
/// credentials and a pidfd ([`space_for`]`(N)` bytes), sized at compile
/// time and never initialised by this crate: the kernel (on receive) or the
/// encoder (on send) writes it. Every receive of the crate uses it, and so
/// can callers who drive `recvmsg`/`sendmsg` themselves with
/// [`codec`](crate::codec):
///
/// ```
/// use inflight::ControlBuffer;
/// let mut buf = ControlBuffer::<4>::new();
/// assert_eq!(buf.as_uninit_mut().len(), inflight::codec::space_for(4));
/// ```
#[repr(C, align(8))]
pub struct ControlBuffer<const N: usize> {
    fds: [MaybeUninit<RawFd>; N],
    rest: [MaybeUninit<u8>; space_for(0) + 8],
}

impl<const N: usize> ControlBuffer<N> {
    /// The usable length: [`space_for`]`(N)`.
    pub const BYTES: usize = space_for(N);
    const FITS: () = assert!(size_of::<Self>() >= space_for(N));

    /// A new buffer; nothing is initialised, so making one costs nothing.
    pub const fn new() -> Self {
        #[allow(clippy::let_unit_value)]
        let () = Self::FITS;
        ControlBuffer {
            fds: [MaybeUninit::uninit(); N],
            rest: [MaybeUninit::uninit(); space_for(0) + 8],
        }
    }

    /// The first [`space_for`]`(N)` bytes, uninitialised, aligned for
    /// `cmsghdr`.
    #[inline]
    pub fn as_uninit_mut(&mut self) -> &mut [MaybeUninit<u8>] {
        &mut uninit_slice_bytes(std::slice::from_mut(self))[..space_for(N)]
    }
}

impl<const N: usize> Default for ControlBuffer<N> {
    fn default() -> Self {
        Self::new()
    }
}

/// Views a slice of values that hold only `MaybeUninit` data as bytes.
#[inline]
pub(crate) fn uninit_slice_bytes<const N: usize>(
    v: &mut [ControlBuffer<N>],
) -> &mut [MaybeUninit<u8>] {
    let len = std::mem::size_of_val(v);
    // SAFETY: `from_raw_parts_mut` needs a non-null pointer, aligned for
    // the element type, valid for reads and writes of `len` elements within
    // one allocation, and no other alias while the result lives. The
    // pointer comes from a live, exclusive `&mut [ControlBuffer<N>]`
    // (non-null even when empty) spanning exactly `len` bytes;
    // `MaybeUninit<u8>` has alignment 1 and accepts any or no byte value,
    // and `ControlBuffer` is `repr(C)` of `MaybeUninit` arrays only (its
    // padding is also just bytes here); the result reborrows `v`.
    unsafe { std::slice::from_raw_parts_mut(v.as_mut_ptr().cast::<MaybeUninit<u8>>(), len) }
}

/// `sendmsg(2)` with the first `controllen` bytes of `control` (written by
/// the encoder) and an optional address, retried on `EINTR`.
#[inline]
pub(crate) fn sendmsg(
    sock: BorrowedFd<'_>,
    iov: &[IoSlice<'_>],
    control: &[MaybeUninit<u8>],
    addr: Option<&RawAddr<'_>>,
    flags: libc::c_int,
) -> io::Result<usize> {
    // `IoSlice` is ABI compatible with `struct iovec` on Unix (documented by
    // std); the kernel only reads through these pointers for sendmsg.
    let msg = msghdr(
        addr,
        iov.as_ptr() as *mut libc::iovec,
        iov.len(),
        control.as_ptr() as *mut MaybeUninit<u8>,
        control.len(),
    );
    // SAFETY: sendmsg(2) requires `msg` to point to a valid msghdr whose
    // msg_name (with msg_namelen), msg_iov (msg_iovlen entries, each a
    // valid readable buffer) and msg_control (msg_controllen readable
    // bytes, every one written by the encoder) describe live memory for
    // the duration of the call. All of them borrow from this function's
    // arguments, which outlive the call; the kernel only reads them.
    // `sock` is a live descriptor.
    let ret = unsafe { libc::sendmsg(sock.as_raw_fd(), &msg, flags) };
    if ret < 0 {
        // SAFETY: `msg` is the valid msghdr above, its memory still
        // borrowed.
        return unsafe { sendmsg_again(sock, &msg, flags) };
    }
    Ok(ret as usize)
}

/// The rare rest of [`sendmsg`], out of line so that the usual call saves
/// no registers for it: the call failed; the error, or the call again
/// while it is interrupted (`EINTR`). [`recvmsg_again`] is its twin: one
/// helper taking the call as a closure would serve both, but it cost the
/// usual send and receive 6 or 7 instructions each (`ci/ir.sh`).
///
/// # Safety
///
/// `msg` must be valid for sendmsg(2) for the whole call, as [`sendmsg`]
/// builds it: every pointer in it live and readable for its length.
#[cold]
#[inline(never)]
unsafe fn sendmsg_again(
    sock: BorrowedFd<'_>,
    msg: &libc::msghdr,
    flags: libc::c_int,
) -> io::Result<usize> {
    loop {
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
        // SAFETY: sendmsg(2) needs a valid msghdr describing live memory:
        // the caller's contract. `sock` is a live descriptor.
        let ret = unsafe { libc::sendmsg(sock.as_raw_fd(), msg, flags) };
        if ret >= 0 {
            return Ok(ret as usize);
        }
    }
}

/// The outcome of one `recvmsg(2)`.
pub(crate) struct RawRecv<'a> {
    pub bytes: usize,
    pub flags: libc::c_int,
    pub control: KernelControl<'a>,
}

/// `recvmsg(2)` into `iov` and `control`, retried on `EINTR`.
///
/// The returned [`KernelControl`] owns every descriptor the kernel
/// installed: claim them with [`KernelControl::claim`] (dropping it unclaimed
/// closes them).
#[inline]
pub(crate) fn recvmsg<'c>(
    sock: BorrowedFd<'_>,
    iov: &mut [IoSliceMut<'_>],
    control: &'c mut [MaybeUninit<u8>],
    flags: libc::c_int,
) -> io::Result<RawRecv<'c>> {
    // `IoSliceMut` is ABI compatible with `struct iovec` on Unix.
    let mut msg = msghdr(
        None,
        iov.as_mut_ptr().cast::<libc::iovec>(),
        iov.len(),
        control.as_mut_ptr(),
        control.len(),
    );
    // SAFETY: recvmsg(2) requires a valid msghdr whose msg_iov entries
    // are writable buffers of the stated lengths and whose msg_control
    // is writable for msg_controllen bytes, all live for the call. They
    // borrow from `iov` and `control`, exclusively, for this call.
    // Writing arbitrary bytes is fine: `u8` and `MaybeUninit<u8>` accept
    // any bit pattern. `sock` is a live descriptor.
    let ret = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, flags) };
    let bytes = if ret >= 0 {
        ret as usize
    } else {
        // SAFETY: `msg` is the valid msghdr above, its memory still
        // borrowed exclusively.
        unsafe { recvmsg_again(sock, &mut msg, flags)? }
    };
    #[allow(clippy::unnecessary_cast)] // socklen_t or size_t by platform
    let len = msg.msg_controllen as usize;
    Ok(RawRecv {
        bytes,
        flags: msg.msg_flags,
        control: KernelControl::filled(control, len),
    })
}

/// The rare rest of [`recvmsg`], out of line as for [`sendmsg_again`]: the
/// call failed; the error, or the call again while it is interrupted.
///
/// # Safety
///
/// `msg` must be valid for recvmsg(2) for the whole call, as [`recvmsg`]
/// builds it: every pointer in it live and writable for its length, and
/// nothing else reading that memory meanwhile.
#[cold]
#[inline(never)]
unsafe fn recvmsg_again(
    sock: BorrowedFd<'_>,
    msg: &mut libc::msghdr,
    flags: libc::c_int,
) -> io::Result<usize> {
    loop {
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
        // SAFETY: recvmsg(2) needs a valid msghdr describing live, writable
        // memory: the caller's contract. `sock` is a live descriptor.
        let ret = unsafe { libc::recvmsg(sock.as_raw_fd(), msg, flags) };
        if ret >= 0 {
            return Ok(ret as usize);
        }
    }
}

/// `setsockopt(fd, SOL_SOCKET, opt, &int)`.
#[cfg(linux_like)]
pub(crate) fn set_int_option(
    sock: BorrowedFd<'_>,
    opt: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: setsockopt(2) reads `optlen` bytes at `optval`: a live c_int on
    // this stack frame of exactly that size. `sock` is a live descriptor.
    let ret = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            opt,
            std::ptr::from_ref(&value).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// `getsockopt(fd, SOL_SOCKET, opt)` for an int option.
#[cfg(linux_like)]
pub(crate) fn get_int_option(sock: BorrowedFd<'_>, opt: libc::c_int) -> io::Result<libc::c_int> {
    let mut value: libc::c_int = 0;
    let mut len = size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: getsockopt(2) writes at most `*optlen` bytes to `optval` and
    // updates `*optlen`: both point to live locals of the right size.
    let ret = unsafe {
        libc::getsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            opt,
            std::ptr::from_mut(&mut value).cast(),
            &mut len,
        )
    };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(value)
    }
}

/// `getsockopt(SO_PEERPIDFD)`: a pidfd of the peer, as an owned descriptor.
#[cfg(linux_like)]
pub(crate) fn peer_pidfd(sock: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    let raw = get_int_option(sock, crate::codec::SO_PEERPIDFD)?;
    if raw < 0 {
        return Err(io::Error::from_raw_os_error(libc::EBADF));
    }
    // SAFETY: on success SO_PEERPIDFD installs a new descriptor in this
    // process and returns its number; nothing else knows it (adopt's
    // contract).
    Ok(unsafe { adopt(raw) })
}

/// `kcmp(pid1, pid2, KCMP_FILE, fd1, fd2)`: 0 if the two descriptors refer
/// to the same open file description, 1 or 2 (an ordering) otherwise.
#[cfg(linux_like)]
pub(crate) fn kcmp_file(
    pid1: libc::pid_t,
    fd1: RawFd,
    pid2: libc::pid_t,
    fd2: RawFd,
) -> io::Result<i32> {
    const KCMP_FILE: libc::c_long = 0;
    // SAFETY: kcmp(2) with KCMP_FILE takes only integers (pids and
    // descriptor numbers) and dereferences no user memory; a stale number
    // yields EBADF, not undefined behaviour.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_kcmp,
            pid1 as libc::c_long,
            pid2 as libc::c_long,
            KCMP_FILE,
            fd1 as libc::c_long,
            fd2 as libc::c_long,
        )
    };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret as i32)
    }
}

/// `fcntl(fd, F_GETFD)`.
pub(crate) fn get_fd_flags(fd: BorrowedFd<'_>) -> io::Result<libc::c_int> {
    // SAFETY: F_GETFD takes no third argument and reads no memory.
    let ret = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFD) };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// `fcntl(fd, F_SETFD, flags)`.
#[cfg(not(linux_like))]
pub(crate) fn set_fd_flags(fd: BorrowedFd<'_>, flags: libc::c_int) -> io::Result<()> {
    // SAFETY: F_SETFD takes an int argument and reads no memory.
    let ret = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, flags) };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}
