//! `sendfd`: `sendfd::{SendWithFd, RecvWithFd}`.

use std::io;
use std::os::fd::BorrowedFd;

use crate::shared::{recv_numbers, send_numbers};
use crate::{Implementation, Recv};

/// `sendfd::{SendWithFd, RecvWithFd}` on a borrowed descriptor (see
/// `as_std_stream` in `shared.rs`). sendfd receives without `MSG_CMSG_CLOEXEC` and reports no
/// truncation.
#[derive(Clone, Copy, Debug, Default)]
pub struct SendFd;

impl Implementation for SendFd {
    fn name(&self) -> &'static str {
        "sendfd"
    }

    fn cloexec(&self) -> bool {
        false
    }

    fn send(
        &mut self,
        sock: BorrowedFd<'_>,
        payload: &[u8],
        fds: &[BorrowedFd<'_>],
    ) -> io::Result<usize> {
        use sendfd::SendWithFd;
        send_numbers(sock, payload, fds, |s, p, raw| s.send_with_fd(p, raw))
    }

    fn recv(&mut self, sock: BorrowedFd<'_>, buf: &mut [u8], capacity: usize) -> io::Result<Recv> {
        use sendfd::RecvWithFd;
        // SAFETY: sendfd stores the numbers of the descriptors it received
        // and gives them to its caller.
        unsafe { recv_numbers(sock, buf, capacity, |s, b, raw| s.recv_with_fd(b, raw)) }
    }
}
