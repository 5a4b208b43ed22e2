//! `rustix`: `rustix::net::{sendmsg, recvmsg}` with ancillary buffers.

use std::io::{self, IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::BorrowedFd;

use crate::shared::MAX;
use crate::{Implementation, Recv};

/// `rustix::net::{sendmsg, recvmsg}` with `SendAncillaryBuffer` /
/// `RecvAncillaryBuffer`, `SendFlags::NOSIGNAL` and
/// `RecvFlags::CMSG_CLOEXEC`. The receive buffer is a stack array sliced to
/// `cmsg_space!(ScmRights(capacity))` (rustix adds alignment slack, so a
/// descriptor or two beyond `capacity` can fit; rustix hands them all).
/// Truncation comes from `ReturnFlags::CTRUNC`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Rustix;

const RUSTIX_SPACE: usize = rustix::cmsg_space!(ScmRights(MAX));

impl Implementation for Rustix {
    fn name(&self) -> &'static str {
        "rustix"
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
        use rustix::net::{sendmsg, SendAncillaryBuffer, SendAncillaryMessage, SendFlags};
        let mut space = [MaybeUninit::<u8>::uninit(); RUSTIX_SPACE];
        let mut control = SendAncillaryBuffer::new(&mut space[..]);
        if !fds.is_empty() && !control.push(SendAncillaryMessage::ScmRights(fds)) {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        Ok(sendmsg(
            sock,
            &[IoSlice::new(payload)],
            &mut control,
            SendFlags::NOSIGNAL,
        )?)
    }

    fn recv(&mut self, sock: BorrowedFd<'_>, buf: &mut [u8], capacity: usize) -> io::Result<Recv> {
        use rustix::net::{
            recvmsg, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, ReturnFlags,
        };
        let capacity = capacity.min(MAX);
        let mut space = [MaybeUninit::<u8>::uninit(); RUSTIX_SPACE];
        let len = if capacity == 0 {
            0
        } else {
            rustix::cmsg_space!(ScmRights(capacity))
        };
        let mut control = RecvAncillaryBuffer::new(&mut space[..len]);
        let mut iov = [IoSliceMut::new(buf)];
        let msg = recvmsg(sock, &mut iov, &mut control, RecvFlags::CMSG_CLOEXEC)?;
        let mut fds = Vec::new();
        for m in control.drain() {
            if let RecvAncillaryMessage::ScmRights(rights) = m {
                fds.extend(rights);
            }
        }
        Ok(Recv {
            bytes: msg.bytes,
            fds,
            reported_truncation: Some(msg.flags.contains(ReturnFlags::CTRUNC)),
        })
    }
}
