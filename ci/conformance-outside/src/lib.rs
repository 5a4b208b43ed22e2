//! Descriptor passing over raw libc, as a user of the conformance kit would write it:
//! sendmsg/recvmsg, CMSG_SPACE(4 * capacity), MSG_CMSG_CLOEXEC. SAFETY (every block): the
//! msghdr points at live buffers of the lengths given; CMSG_* walk only the control bytes the
//! kernel wrote; each number adopted was installed for this receive and is owned by no one else.
use std::{io, mem::{size_of, zeroed}, os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd}};

use inflight_conformance::{Implementation, Recv};

pub struct RawLibc;

fn check(r: isize) -> io::Result<usize> {
    usize::try_from(r).map_err(|_| io::Error::last_os_error())
}
impl Implementation for RawLibc {
    fn name(&self) -> &'static str {
        "outside-libc"
    }
    fn send(&mut self, sock: BorrowedFd<'_>, payload: &[u8], fds: &[BorrowedFd<'_>]) -> io::Result<usize> {
        let data = size_of::<i32>() * fds.len();
        let mut control = vec![0u64; unsafe { libc::CMSG_SPACE(data as u32) } as usize / 8];
        let mut iov = libc::iovec { iov_base: payload.as_ptr() as *mut _, iov_len: payload.len() };
        let mut msg: libc::msghdr = unsafe { zeroed() };
        (msg.msg_iov, msg.msg_iovlen) = (&mut iov, 1);
        if !fds.is_empty() {
            (msg.msg_control, msg.msg_controllen) = (control.as_mut_ptr().cast(), control.len() * 8);
            unsafe {
                let c = libc::CMSG_FIRSTHDR(&msg);
                ((*c).cmsg_level, (*c).cmsg_type) = (libc::SOL_SOCKET, libc::SCM_RIGHTS);
                (*c).cmsg_len = libc::CMSG_LEN(data as u32) as usize;
                std::ptr::copy_nonoverlapping(fds.as_ptr().cast::<u8>(), libc::CMSG_DATA(c), data);
            }
        }
        check(unsafe { libc::sendmsg(sock.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) })
    }
    fn recv(&mut self, sock: BorrowedFd<'_>, buf: &mut [u8], capacity: usize) -> io::Result<Recv> {
        let space = unsafe { libc::CMSG_SPACE((size_of::<i32>() * capacity) as u32) } as usize;
        let mut control = vec![0u64; space.div_ceil(8)];
        let mut iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
        let mut msg: libc::msghdr = unsafe { zeroed() };
        (msg.msg_iov, msg.msg_iovlen) = (&mut iov, 1);
        if capacity > 0 {
            (msg.msg_control, msg.msg_controllen) = (control.as_mut_ptr().cast(), space);
        }
        let bytes = check(unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) })?;
        let mut fds = Vec::new();
        let mut c = unsafe { libc::CMSG_FIRSTHDR(&msg) };
        while !c.is_null() {
            let (level, kind, len) = unsafe { ((*c).cmsg_level, (*c).cmsg_type, (*c).cmsg_len) };
            if (level, kind) == (libc::SOL_SOCKET, libc::SCM_RIGHTS) {
                let n = (len - unsafe { libc::CMSG_LEN(0) } as usize) / size_of::<i32>();
                let data = unsafe { libc::CMSG_DATA(c) }.cast::<i32>();
                fds.extend((0..n).map(|i| unsafe { OwnedFd::from_raw_fd(data.add(i).read_unaligned()) }));
            }
            c = unsafe { libc::CMSG_NXTHDR(&msg, c) };
        }
        Ok(Recv { bytes, fds, reported_truncation: Some(msg.msg_flags & libc::MSG_CTRUNC != 0) })
    }
}
