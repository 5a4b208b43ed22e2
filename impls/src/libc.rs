//! `libc`: raw `sendmsg`/`recvmsg`, the limit to measure against.

use std::io;
use std::mem::{size_of, MaybeUninit};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use crate::shared::MAX;
use crate::{Implementation, Recv};

/// Control bytes for [`MAX`] descriptors: `CMSG_SPACE(4 * 253)`, from
/// libc (not from inflight's codec: the baseline owes inflight nothing).
// SAFETY: CMSG_SPACE is arithmetic on its argument, evaluated at compile
// time.
const RAW_SPACE: usize = unsafe { libc::CMSG_SPACE((MAX * size_of::<RawFd>()) as u32) } as usize;

/// A control buffer aligned for `cmsghdr`, on the stack and left
/// uninitialised, as a C program would have it. (Not the test kit's
/// `AlignedBuf`: that one lives on the heap and is zeroed, which would add
/// an allocation and a `memset` to the baseline the benchmarks compare
/// with.)
#[repr(C, align(8))]
struct RawControl([MaybeUninit<u8>; RAW_SPACE]);

/// The limit to measure against: `sendmsg`/`recvmsg` from `libc` with a
/// hand-built, aligned stack control buffer, `MSG_NOSIGNAL` on send and
/// `MSG_CMSG_CLOEXEC` on receive, walked with `CMSG_FIRSTHDR`/`CMSG_NXTHDR`.
/// The receive buffer is `CMSG_SPACE(4 * capacity)` bytes (so alignment
/// padding may admit one descriptor more than `capacity`, as with any C
/// program sized that way); truncation is reported from `MSG_CTRUNC`.
#[derive(Clone, Copy, Debug, Default)]
pub struct RawLibc;

impl Implementation for RawLibc {
    fn name(&self) -> &'static str {
        "libc"
    }

    fn cloexec(&self) -> bool {
        true
    }

    fn send(
        &mut self,
        sock: BorrowedFd<'_>,
        payload: &[u8],
        fds: &[BorrowedFd<'_>],
    ) -> io::Result<usize> {
        if fds.len() > MAX {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        let mut control = RawControl([MaybeUninit::uninit(); RAW_SPACE]);
        let data_len = size_of_val(fds);
        // SAFETY: all-zero is a valid msghdr (null pointers, zero lengths).
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        let mut iov = libc::iovec {
            iov_base: payload.as_ptr() as *mut libc::c_void,
            iov_len: payload.len(),
        };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        if !fds.is_empty() {
            msg.msg_control = control.0.as_mut_ptr().cast();
            // SAFETY: CMSG_SPACE is pure arithmetic on its argument.
            msg.msg_controllen = unsafe { libc::CMSG_SPACE(data_len as u32) } as _;
            // SAFETY: CMSG_FIRSTHDR reads msg_control/msg_controllen of a
            // valid msghdr; the buffer is at least one cmsghdr long
            // (CMSG_SPACE(n) >= sizeof(cmsghdr)), so it returns a non-null
            // pointer into `control`, aligned for cmsghdr (align(8)).
            let cmsg = unsafe { libc::CMSG_FIRSTHDR(&msg) };
            // SAFETY: `cmsg` points to writable, aligned memory inside
            // `control` with room for a header plus `data_len` bytes
            // (msg_controllen = CMSG_SPACE(data_len) <= RAW_SPACE). CMSG_DATA
            // is pointer arithmetic within that region; the fds are written
            // with `copy_nonoverlapping` from a live slice of `RawFd`-sized
            // BorrowedFds (BorrowedFd is repr(transparent) over RawFd).
            unsafe {
                (*cmsg).cmsg_level = libc::SOL_SOCKET;
                (*cmsg).cmsg_type = libc::SCM_RIGHTS;
                (*cmsg).cmsg_len = libc::CMSG_LEN(data_len as u32) as _;
                std::ptr::copy_nonoverlapping(
                    fds.as_ptr().cast::<u8>(),
                    libc::CMSG_DATA(cmsg),
                    data_len,
                );
            }
        }
        loop {
            // SAFETY: sendmsg reads the msghdr, its one iovec (the live
            // `payload`) and `msg_controllen` initialised bytes of `control`
            // (header and descriptors written above; CMSG_SPACE padding is
            // ignored by the kernel), all alive for the call.
            let ret = unsafe { libc::sendmsg(sock.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) };
            if ret >= 0 {
                return Ok(ret as usize);
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }

    fn recv(&mut self, sock: BorrowedFd<'_>, buf: &mut [u8], capacity: usize) -> io::Result<Recv> {
        let capacity = capacity.min(MAX);
        let mut control = RawControl([MaybeUninit::uninit(); RAW_SPACE]);
        // SAFETY: all-zero is a valid msghdr.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        if capacity > 0 {
            msg.msg_control = control.0.as_mut_ptr().cast();
            // SAFETY: pure arithmetic.
            msg.msg_controllen =
                unsafe { libc::CMSG_SPACE((capacity * size_of::<RawFd>()) as u32) } as _;
        }
        let bytes = loop {
            // SAFETY: recvmsg writes at most iov_len bytes to `buf` and
            // msg_controllen (<= RAW_SPACE) bytes to `control`, both
            // exclusively borrowed and alive for the call.
            let ret = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
            if ret >= 0 {
                break ret as usize;
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        };
        let fds = if capacity > 0 {
            // SAFETY: the recvmsg above succeeded with `msg`, whose control
            // buffer is alive; nothing else adopts its descriptors.
            unsafe { adopt_rights(&msg) }
        } else {
            Vec::new()
        };
        Ok(Recv {
            bytes,
            fds,
            reported_truncation: Some(msg.msg_flags & libc::MSG_CTRUNC != 0),
        })
    }
}

/// Adopts the descriptors of every `SCM_RIGHTS` message in `msg`'s control
/// data, walked with `CMSG_FIRSTHDR`/`CMSG_NXTHDR` as C does.
///
/// # Safety
///
/// `msg` must describe a `recvmsg` that just succeeded in this process, its
/// control buffer (8-aligned) still alive, and no descriptor in it may be
/// adopted elsewhere.
unsafe fn adopt_rights(msg: &libc::msghdr) -> Vec<OwnedFd> {
    let mut fds = Vec::new();
    // SAFETY: after a successful recvmsg, msg_control/msg_controllen
    // describe the control bytes the kernel wrote; CMSG_FIRSTHDR and
    // CMSG_NXTHDR only return headers lying wholly inside them (or
    // null).
    let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(msg) };
    while !cmsg.is_null() {
        // SAFETY: `cmsg` is a non-null header inside the
        // kernel-written part of the aligned buffer.
        let (level, kind, len) =
            unsafe { ((*cmsg).cmsg_level, (*cmsg).cmsg_type, (*cmsg).cmsg_len) };
        if level == libc::SOL_SOCKET && kind == libc::SCM_RIGHTS {
            // SAFETY: pure arithmetic.
            let header = unsafe { libc::CMSG_LEN(0) } as usize;
            #[allow(clippy::unnecessary_cast)] // cmsg_len is not usize everywhere
            let n = (len as usize).saturating_sub(header) / size_of::<RawFd>();
            // SAFETY: the kernel wrote `n` descriptor numbers after
            // the header (cmsg_len covers them, within the buffer);
            // read unaligned as the C idiom requires. Each is a new
            // descriptor installed in this process by this recvmsg,
            // owned by nobody else: adopting it is sound.
            unsafe {
                let data = libc::CMSG_DATA(cmsg).cast::<RawFd>();
                for i in 0..n {
                    let raw = std::ptr::read_unaligned(data.add(i));
                    fds.push(OwnedFd::from_raw_fd(raw));
                }
            }
        }
        // SAFETY: as for CMSG_FIRSTHDR above.
        cmsg = unsafe { libc::CMSG_NXTHDR(msg, cmsg) };
    }
    fds
}
