//! A deliberately broken implementation, and what the kit says about it.
//!
//! `IgnoresCtrunc` is raw `sendmsg`/`recvmsg` done right in every way but
//! one: it never looks at `MSG_CTRUNC`, so it tells its caller a message
//! was complete when the kernel dropped descriptors for want of room.
//!
//! ```text
//! cargo run -p inflight-conformance --example ignores_ctrunc
//! ```
//!
//! prints the battery's report (`truncation-reported` fails, beside the two
//! findings every plain libc receive has) and the property's smallest
//! failing plan, shrunk by proptest (conformance/README.md shows both).
//! `conformance/tests/ignores_ctrunc.rs` checks that it stays so.

use std::io;
use std::mem::size_of;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use inflight_conformance::{Implementation, Recv};

/// Raw libc descriptor passing that ignores `MSG_CTRUNC`.
pub struct IgnoresCtrunc;

/// `CMSG_SPACE(4 * n)`.
fn space(n: usize) -> usize {
    // SAFETY: CMSG_SPACE is arithmetic on its argument.
    unsafe { libc::CMSG_SPACE((n * size_of::<RawFd>()) as u32) as usize }
}

/// A syscall's return value, or the error it set.
fn check(r: isize) -> io::Result<usize> {
    usize::try_from(r).map_err(|_| io::Error::last_os_error())
}

impl Implementation for IgnoresCtrunc {
    fn name(&self) -> &'static str {
        "ignores-ctrunc"
    }

    fn send(
        &mut self,
        sock: BorrowedFd<'_>,
        payload: &[u8],
        fds: &[BorrowedFd<'_>],
    ) -> io::Result<usize> {
        let raw: Vec<RawFd> = fds.iter().map(|f| f.as_raw_fd()).collect();
        let mut control = vec![0u64; space(raw.len()).div_ceil(8)];
        let mut iov = libc::iovec {
            iov_base: payload.as_ptr() as *mut libc::c_void,
            iov_len: payload.len(),
        };
        // SAFETY: all-zero is a valid msghdr (null pointers, zero lengths).
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        (msg.msg_iov, msg.msg_iovlen) = (&mut iov, 1);
        if !raw.is_empty() {
            msg.msg_control = control.as_mut_ptr().cast();
            msg.msg_controllen = space(raw.len()) as _;
            // SAFETY: the control buffer is 8-aligned and CMSG_SPACE(4 * n)
            // bytes long, so CMSG_FIRSTHDR returns a header inside it with
            // room for the header and 4 * n data bytes, which are copied
            // from the live `raw`.
            unsafe {
                let c = libc::CMSG_FIRSTHDR(&msg);
                (*c).cmsg_level = libc::SOL_SOCKET;
                (*c).cmsg_type = libc::SCM_RIGHTS;
                (*c).cmsg_len = libc::CMSG_LEN((raw.len() * 4) as u32) as _;
                std::ptr::copy_nonoverlapping(raw.as_ptr(), libc::CMSG_DATA(c).cast(), raw.len());
            }
        }
        // SAFETY: the msghdr points at the live payload and control buffer,
        // with their lengths.
        check(unsafe { libc::sendmsg(sock.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) })
    }

    fn recv(&mut self, sock: BorrowedFd<'_>, buf: &mut [u8], capacity: usize) -> io::Result<Recv> {
        let mut control = vec![0u64; space(capacity).div_ceil(8)];
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        // SAFETY: all-zero is a valid msghdr.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        (msg.msg_iov, msg.msg_iovlen) = (&mut iov, 1);
        if capacity > 0 {
            msg.msg_control = control.as_mut_ptr().cast();
            msg.msg_controllen = space(capacity) as _;
        }
        let flags = libc::MSG_CMSG_CLOEXEC;
        // SAFETY: the msghdr points at `buf` and the control buffer,
        // exclusively borrowed and alive for the call, with their lengths.
        let bytes = check(unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, flags) })?;
        let mut fds = Vec::new();
        // SAFETY: after a successful recvmsg the CMSG_* walk stays inside
        // the control bytes the kernel wrote; every number in an
        // SCM_RIGHTS message was installed in this process for this
        // receive and is owned by nothing else, so adopting it is sound.
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(&msg);
            while !c.is_null() {
                if ((*c).cmsg_level, (*c).cmsg_type) == (libc::SOL_SOCKET, libc::SCM_RIGHTS) {
                    let n = ((*c).cmsg_len as usize - libc::CMSG_LEN(0) as usize) / 4;
                    let data = libc::CMSG_DATA(c).cast::<RawFd>();
                    fds.extend((0..n).map(|i| OwnedFd::from_raw_fd(data.add(i).read_unaligned())));
                }
                c = libc::CMSG_NXTHDR(&msg, c);
            }
        }
        // The bug: msg.msg_flags & MSG_CTRUNC is never looked at.
        Ok(Recv {
            bytes,
            fds,
            reported_truncation: Some(false),
        })
    }
}

fn main() {
    let report = inflight_conformance::check(&mut IgnoresCtrunc);
    println!("{report}\n");
    match inflight_conformance::property::run(&mut IgnoresCtrunc) {
        Ok(()) => println!("property: every plan passed"),
        Err(failure) => println!("property: {failure}"),
    }
}
