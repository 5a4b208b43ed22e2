//! `sendfd`: `sendfd::{SendWithFd, RecvWithFd}`.

use std::io;
use std::os::fd::BorrowedFd;

use crate::shared::{adopt, as_std_stream, raw_numbers, MAX};
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
        let (raw, n) = raw_numbers(fds)?;
        as_std_stream(sock).send_with_fd(payload, &raw[..n])
    }

    fn recv(&mut self, sock: BorrowedFd<'_>, buf: &mut [u8], capacity: usize) -> io::Result<Recv> {
        use sendfd::RecvWithFd;
        let mut raw = [-1; MAX];
        let capacity = capacity.min(MAX);
        let (bytes, n) = as_std_stream(sock).recv_with_fd(buf, &mut raw[..capacity])?;
        Ok(Recv {
            bytes,
            // SAFETY: sendfd stored the numbers of the descriptors it
            // received; the caller owns them.
            fds: unsafe { adopt(&raw[..n]) },
            reported_truncation: None,
        })
    }
}
