//! The system call layer: the only module besides the codec's byte access
//! that uses `unsafe`. Everything here is a thin, checked wrapper around one
//! call, with `EINTR` retried where the call is safe to repeat.

use std::io::{self, IoSlice, IoSliceMut};
use std::mem::{size_of, MaybeUninit};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::ptr;

use crate::codec::{self, Message};
use crate::creds::Credentials;

/// A socket address in its raw form, for `msg_name`.
pub(crate) struct RawAddr<'a> {
    pub ptr: *const libc::sockaddr,
    pub len: libc::socklen_t,
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

fn cvt(ret: libc::ssize_t) -> io::Result<usize> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret as usize)
    }
}

/// `sendmsg(2)` with `control` (already encoded) and an optional address,
/// retried on `EINTR`.
pub(crate) fn sendmsg(
    sock: BorrowedFd<'_>,
    iov: &[IoSlice<'_>],
    control: &[u8],
    addr: Option<&RawAddr<'_>>,
    flags: libc::c_int,
) -> io::Result<usize> {
    // SAFETY: `msghdr` is a plain C struct for which all-zero bytes are a
    // valid value (null pointers and zero lengths).
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    if let Some(a) = addr {
        msg.msg_name = a.ptr as *mut libc::c_void;
        msg.msg_namelen = a.len;
    }
    // `IoSlice` is ABI compatible with `struct iovec` on Unix (documented by
    // std); the kernel only reads through these pointers for sendmsg.
    msg.msg_iov = iov.as_ptr() as *mut libc::iovec;
    msg.msg_iovlen = iov.len() as _;
    if !control.is_empty() {
        msg.msg_control = control.as_ptr() as *mut libc::c_void;
        msg.msg_controllen = control.len() as _;
    }
    loop {
        // SAFETY: sendmsg(2) requires `msg` to point to a valid msghdr whose
        // msg_name (with msg_namelen), msg_iov (msg_iovlen entries, each a
        // valid readable buffer) and msg_control (msg_controllen readable
        // bytes) describe live memory for the duration of the call. All of
        // them borrow from this function's arguments, which outlive the
        // call; the kernel only reads them. `sock` is a live descriptor.
        let ret = unsafe { libc::sendmsg(sock.as_raw_fd(), &msg, flags) };
        match cvt(ret) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
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
pub(crate) fn recvmsg<'c>(
    sock: BorrowedFd<'_>,
    iov: &mut [IoSliceMut<'_>],
    control: &'c mut [MaybeUninit<u8>],
    flags: libc::c_int,
) -> io::Result<RawRecv<'c>> {
    loop {
        // SAFETY: all-zero is a valid msghdr (null pointers, zero lengths).
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        // `IoSliceMut` is ABI compatible with `struct iovec` on Unix.
        msg.msg_iov = iov.as_mut_ptr() as *mut libc::iovec;
        msg.msg_iovlen = iov.len() as _;
        if !control.is_empty() {
            msg.msg_control = control.as_mut_ptr().cast();
            msg.msg_controllen = control.len() as _;
        }
        // SAFETY: recvmsg(2) requires a valid msghdr whose msg_iov entries
        // are writable buffers of the stated lengths and whose msg_control
        // is writable for msg_controllen bytes, all live for the call. They
        // borrow from `iov` and `control`, exclusively, for this call.
        // Writing arbitrary bytes is fine: `u8` and `MaybeUninit<u8>` accept
        // any bit pattern. `sock` is a live descriptor.
        let ret = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, flags) };
        match cvt(ret) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
            Ok(bytes) => {
                let len = (msg.msg_controllen as usize).min(control.len());
                let len = if msg.msg_control.is_null() { 0 } else { len };
                // SAFETY: `from_raw_parts` needs `len` initialised bytes at an
                // aligned, live pointer with no mutable alias. The kernel
                // wrote the first `msg_controllen` bytes of `control` (clamped
                // to its length above), `MaybeUninit<u8>` has `u8`'s layout,
                // and the result reborrows `control` for its lifetime.
                let bytes_ctl =
                    unsafe { std::slice::from_raw_parts(control.as_ptr().cast::<u8>(), len) };
                return Ok(RawRecv {
                    bytes,
                    flags: msg.msg_flags,
                    control: KernelControl {
                        buf: bytes_ctl,
                        claimed: false,
                    },
                });
            }
        }
    }
}

/// A control buffer the kernel filled in this process. Its descriptors are
/// owned by this value until [`claim`](KernelControl::claim)ed.
pub(crate) struct KernelControl<'a> {
    buf: &'a [u8],
    claimed: bool,
}

/// What a kernel-filled control buffer held, besides descriptors.
#[derive(Default)]
pub(crate) struct Extras {
    pub credentials: Option<Credentials>,
    pub pidfd: Option<OwnedFd>,
}

impl KernelControl<'_> {
    /// Walks every control message, hands each `SCM_RIGHTS` descriptor to
    /// `on_fd` in order, and returns credentials and the pidfd. Descriptors
    /// in messages this crate does not know cannot exist (the kernel sends
    /// them only in `SCM_RIGHTS` and `SCM_PIDFD`); unknown messages are
    /// skipped.
    pub(crate) fn claim(mut self, mut on_fd: impl FnMut(OwnedFd)) -> Extras {
        self.claimed = true;
        let mut extras = Extras::default();
        for cmsg in codec::decode(self.buf).flatten() {
            match cmsg.parse() {
                Message::Rights(r) => {
                    // SAFETY: `claim`'s contract: the buffer was filled by a
                    // successful recvmsg in this process (this type is only
                    // built by `recvmsg` above) and each message is claimed
                    // once (`claimed` makes Drop skip the buffer).
                    for fd in unsafe { r.claim() } {
                        on_fd(fd);
                    }
                }
                Message::PidFd(raw) => {
                    // SAFETY: as above: a kernel-installed pidfd from a buffer
                    // this process's recvmsg filled, claimed once.
                    let fd = unsafe { codec::claim_pidfd(raw) };
                    // A second pidfd cannot happen; if it did, the first is
                    // kept and the other closed by the drop.
                    if extras.pidfd.is_none() {
                        extras.pidfd = Some(fd);
                    }
                }
                Message::Credentials(c) => extras.credentials = Some(c),
                _ => {}
            }
        }
        extras
    }
}

impl Drop for KernelControl<'_> {
    fn drop(&mut self) {
        if !self.claimed {
            let this = KernelControl {
                buf: self.buf,
                claimed: false,
            };
            // `claim` sets `claimed` on its copy, so this does not recurse.
            drop(this.claim(drop));
        }
    }
}

/// Views an uninitialised value as uninitialised bytes.
pub(crate) fn uninit_bytes<T>(v: &mut MaybeUninit<T>) -> &mut [MaybeUninit<u8>] {
    uninit_slice_bytes(std::slice::from_mut(v))
}

/// Views uninitialised values as uninitialised bytes.
pub(crate) fn uninit_slice_bytes<T>(v: &mut [MaybeUninit<T>]) -> &mut [MaybeUninit<u8>] {
    let len = std::mem::size_of_val(v);
    // SAFETY: `from_raw_parts_mut` needs a non-null, aligned pointer valid
    // for reads and writes of `len` elements of `MaybeUninit<u8>`, within one
    // allocation, with no other alias for the result's lifetime. The pointer
    // comes from a live `&mut [MaybeUninit<T>]` (exclusive, non-null even
    // when empty) spanning exactly `len` bytes; `MaybeUninit<u8>` has
    // alignment 1 and accepts any (or no) byte value; the result reborrows
    // `v`.
    unsafe { std::slice::from_raw_parts_mut(v.as_mut_ptr().cast::<MaybeUninit<u8>>(), len) }
}

/// `setsockopt(fd, SOL_SOCKET, opt, &int)`.
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
            ptr::from_ref(&value).cast(),
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
            ptr::from_mut(&mut value).cast(),
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
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn peer_pidfd(sock: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    let raw = get_int_option(sock, crate::creds::SO_PEERPIDFD)?;
    if raw < 0 {
        return Err(io::Error::from_raw_os_error(libc::EBADF));
    }
    // SAFETY: on success SO_PEERPIDFD installs a new descriptor in this
    // process and returns its number; nothing else knows it, so we own it
    // (from_raw_fd's precondition: open, owned, not -1).
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// `kcmp(pid1, pid2, KCMP_FILE, fd1, fd2)`: 0 if the two descriptors refer
/// to the same open file description, 1 or 2 (an ordering) otherwise.
#[cfg(any(target_os = "linux", target_os = "android"))]
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
#[cfg_attr(any(target_os = "linux", target_os = "android"), allow(dead_code))]
pub(crate) fn set_fd_flags(fd: BorrowedFd<'_>, flags: libc::c_int) -> io::Result<()> {
    // SAFETY: F_SETFD takes an int argument and reads no memory.
    let ret = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, flags) };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

// The batch block (sendmmsg/recvmmsg) is appended after the tests.
#[allow(clippy::items_after_test_module)]
#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{encode, ControlMessage, FdList};
    use std::os::fd::IntoRawFd;
    use std::sync::Mutex;

    /// Closed numbers are checked with F_GETFD: no other test thread may
    /// open descriptors meanwhile.
    static SERIAL: Mutex<()> = Mutex::new(());

    fn released(n: usize) -> Vec<RawFd> {
        (0..n)
            .map(|_| OwnedFd::from(std::fs::File::open("/dev/null").unwrap()).into_raw_fd())
            .collect()
    }

    fn is_open(fd: RawFd) -> bool {
        // SAFETY: F_GETFD reads no memory; a closed number gives EBADF.
        unsafe { libc::fcntl(fd, libc::F_GETFD) >= 0 }
    }

    /// Several SCM_RIGHTS, credentials, an unknown message and a pidfd in
    /// one buffer: every descriptor is claimed, in order.
    #[test]
    fn claim_walks_every_message() {
        let _g = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
        let raw = released(5);
        let msgs = [
            ControlMessage::Rights(FdList::Raw(&raw[0..2])),
            ControlMessage::Credentials(Credentials {
                pid: 1,
                uid: 2,
                gid: 3,
            }),
            ControlMessage::Other {
                level: 99,
                kind: 1,
                data: b"?",
            },
            ControlMessage::Rights(FdList::Raw(&raw[2..4])),
            ControlMessage::Other {
                level: libc::SOL_SOCKET,
                kind: codec::SCM_PIDFD,
                data: &raw[4].to_ne_bytes(),
            },
        ];
        let mut buf = vec![MaybeUninit::uninit(); 256];
        let bytes = encode(&msgs, &mut buf).unwrap();
        let ctl = KernelControl {
            buf: bytes,
            claimed: false,
        };
        let mut got = Vec::new();
        let extras = ctl.claim(|fd| got.push(fd));
        assert_eq!(
            got.iter().map(|f| f.as_raw_fd()).collect::<Vec<_>>(),
            raw[..4]
        );
        assert_eq!(
            extras.credentials,
            Some(Credentials {
                pid: 1,
                uid: 2,
                gid: 3
            })
        );
        assert_eq!(extras.pidfd.as_ref().map(|f| f.as_raw_fd()), Some(raw[4]));
        drop((got, extras));
        assert!(
            raw.iter().all(|&fd| !is_open(fd)),
            "all closed by their owners"
        );
    }

    /// A buffer nobody claims (an early return) closes its descriptors.
    #[test]
    fn unclaimed_control_closes_on_drop() {
        let _g = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
        let raw = released(3);
        let msgs = [ControlMessage::Rights(FdList::Raw(&raw))];
        let mut buf = vec![MaybeUninit::uninit(); 128];
        let bytes = encode(&msgs, &mut buf).unwrap();
        assert!(raw.iter().all(|&fd| is_open(fd)));
        drop(KernelControl {
            buf: bytes,
            claimed: false,
        });
        assert!(raw.iter().all(|&fd| !is_open(fd)));
    }
}

// ---------------------------------------------------------------------------
// Batches: sendmmsg(2) / recvmmsg(2), for `crate::batch` (Linux).
// ---------------------------------------------------------------------------

/// `sendmmsg(2)`: message `i` is `iovs[i]` (one buffer) with the encoded
/// control bytes `controls[i]`, at most `hdrs.len()` messages. Retried on
/// `EINTR`. Returns how many messages the kernel accepted and writes each
/// accepted message's payload byte count to `sent[i]`.
///
/// # Panics
///
/// If `iovs`, `controls` and `sent` differ in length or exceed `hdrs`.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn sendmmsg(
    sock: BorrowedFd<'_>,
    hdrs: &mut [MaybeUninit<libc::mmsghdr>],
    iovs: &[IoSlice<'_>],
    controls: &[&[u8]],
    sent: &mut [usize],
    flags: libc::c_int,
) -> io::Result<usize> {
    let n = iovs.len();
    assert!(controls.len() == n && sent.len() == n && n <= hdrs.len());
    for ((hdr, iov), control) in hdrs.iter_mut().zip(iovs).zip(controls) {
        // SAFETY: all-zero is a valid mmsghdr (null pointers, zero lengths).
        let mut m: libc::mmsghdr = unsafe { std::mem::zeroed() };
        // `IoSlice` is ABI compatible with `struct iovec` on Unix; the
        // kernel only reads through it for a send.
        m.msg_hdr.msg_iov = ptr::from_ref(iov) as *mut libc::iovec;
        m.msg_hdr.msg_iovlen = 1;
        if !control.is_empty() {
            m.msg_hdr.msg_control = control.as_ptr() as *mut libc::c_void;
            m.msg_hdr.msg_controllen = control.len() as _;
        }
        hdr.write(m);
    }
    let ret = loop {
        // SAFETY: sendmmsg(2) reads `n` mmsghdrs at `hdrs` (the first `n`
        // were initialised above) and, for each, one iovec and
        // `msg_controllen` control bytes; all borrow from this function's
        // arguments, alive and unmodified for the call. It writes only each
        // header's `msg_len`, inside `hdrs`, which we borrow exclusively.
        // `sock` is a live descriptor.
        let ret = unsafe {
            libc::sendmmsg(
                sock.as_raw_fd(),
                hdrs.as_mut_ptr().cast::<libc::mmsghdr>(),
                n as libc::c_uint,
                flags,
            )
        };
        match cvt(ret as libc::ssize_t) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => break other?,
        }
    };
    for (out, hdr) in sent.iter_mut().zip(&hdrs[..ret.min(n)]) {
        // SAFETY: the first `n` headers were initialised above (the kernel
        // only updated `msg_len` in place).
        *out = unsafe { hdr.assume_init_ref() }.msg_len as usize;
    }
    Ok(ret.min(n))
}

/// `recvmmsg(2)` into `bufs` (message `i` into `bufs[i]`) and `control`,
/// which holds one control area per message: message `i`'s area starts at
/// `i * stride` and is `len` bytes long. Retried on `EINTR`; no timeout.
///
/// The returned [`MmsgRecv`] owns every descriptor the kernel installed in
/// the received messages: iterate it to claim them message by message
/// (dropping it closes what was not taken).
///
/// # Panics
///
/// If `stride` is not a multiple of the `cmsghdr` alignment, `len >
/// stride`, `control` is not so aligned, or `bufs.len()` exceeds `hdrs` or
/// the areas in `control`.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn recvmmsg<'c>(
    sock: BorrowedFd<'_>,
    hdrs: &'c mut [MaybeUninit<libc::mmsghdr>],
    bufs: &mut [IoSliceMut<'_>],
    control: &'c mut [MaybeUninit<u8>],
    stride: usize,
    len: usize,
    flags: libc::c_int,
) -> io::Result<MmsgRecv<'c>> {
    let align = std::mem::align_of::<libc::cmsghdr>();
    let n = bufs.len();
    assert!(stride % align == 0 && len <= stride && n <= hdrs.len());
    assert!(n * stride <= control.len() && (control.as_ptr() as usize) % align == 0);
    let base = control.as_mut_ptr();
    for (i, (hdr, buf)) in hdrs.iter_mut().zip(bufs.iter_mut()).enumerate() {
        // SAFETY: all-zero is a valid mmsghdr.
        let mut m: libc::mmsghdr = unsafe { std::mem::zeroed() };
        // `IoSliceMut` is ABI compatible with `struct iovec` on Unix.
        m.msg_hdr.msg_iov = ptr::from_mut(buf).cast::<libc::iovec>();
        m.msg_hdr.msg_iovlen = 1;
        if len > 0 {
            // `i * stride + len <= control.len()` (asserted above), so this
            // stays inside `control`; `wrapping_add` keeps it safe code.
            m.msg_hdr.msg_control = base.wrapping_add(i * stride).cast();
            m.msg_hdr.msg_controllen = len as _;
        }
        hdr.write(m);
    }
    let received = loop {
        // SAFETY: recvmmsg(2) reads `n` initialised mmsghdrs at `hdrs`,
        // writes into each one's single iovec (a live, exclusively borrowed
        // `IoSliceMut` of `bufs`, of the stated length) and into its
        // `msg_controllen` bytes of `control` (disjoint areas inside the
        // exclusively borrowed `control`), and updates each header's
        // `msg_len`, `msg_flags` and `msg_controllen` in place. Any byte
        // value is valid for `u8`/`MaybeUninit<u8>`. A null timeout means
        // none. `sock` is a live descriptor.
        let ret = unsafe {
            libc::recvmmsg(
                sock.as_raw_fd(),
                hdrs.as_mut_ptr().cast::<libc::mmsghdr>(),
                n as libc::c_uint,
                flags,
                ptr::null_mut(),
            )
        };
        match cvt(ret as libc::ssize_t) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => break other?.min(n),
        }
    };
    Ok(MmsgRecv {
        hdrs: &hdrs[..received],
        control,
        stride,
        len,
        next: 0,
    })
}

/// The messages one `recvmmsg` filled: yields each one's [`RawRecv`] in
/// order; dropping it closes the descriptors of the messages not yet taken.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) struct MmsgRecv<'c> {
    hdrs: &'c [MaybeUninit<libc::mmsghdr>],
    control: &'c mut [MaybeUninit<u8>],
    stride: usize,
    len: usize,
    next: usize,
}

#[cfg(any(target_os = "linux", target_os = "android"))]
impl<'c> MmsgRecv<'c> {
    /// How many messages were received.
    pub(crate) fn len(&self) -> usize {
        self.hdrs.len()
    }

    /// Message `next`, advancing; `None` after the last.
    pub(crate) fn next_message(&mut self) -> Option<RawRecv<'_>> {
        let i = self.next;
        let hdr = self.hdrs.get(i)?;
        self.next += 1;
        // SAFETY: `hdrs` holds only the headers a successful recvmmsg
        // filled (they were all initialised before the call).
        let m = unsafe { hdr.assume_init_ref() };
        let clen = if m.msg_hdr.msg_control.is_null() {
            0
        } else {
            #[allow(clippy::unnecessary_cast)] // socklen_t or size_t by libc
            (m.msg_hdr.msg_controllen as usize).min(self.len)
        };
        let area = &self.control[i * self.stride..][..clen];
        // SAFETY: `from_raw_parts` needs `clen` initialised bytes at a live
        // pointer with no mutable alias for the result's lifetime. The kernel
        // wrote the first `msg_controllen` bytes of this message's area
        // (clamped to the area's length), `MaybeUninit<u8>` has `u8`'s
        // layout, and the result reborrows `self` (so no other message view
        // or the Drop walk can exist meanwhile; each index is visited once).
        let buf = unsafe { std::slice::from_raw_parts(area.as_ptr().cast::<u8>(), clen) };
        Some(RawRecv {
            bytes: m.msg_len as usize,
            flags: m.msg_hdr.msg_flags,
            control: KernelControl {
                buf,
                claimed: false,
            },
        })
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
impl Drop for MmsgRecv<'_> {
    fn drop(&mut self) {
        // Each message's KernelControl closes its descriptors when dropped.
        while self.next_message().is_some() {}
    }
}
