//! `uds`: `uds::UnixStreamExt::{send_fds, recv_fds}`.

use std::io;
use std::os::fd::BorrowedFd;

use crate::shared::{adopt, as_std_stream, raw_numbers, MAX};
use crate::{Implementation, Recv};

/// `uds::UnixStreamExt::{send_fds, recv_fds}` on a borrowed descriptor
/// (see `as_std_stream` in `shared.rs`). uds asks for `MSG_CMSG_CLOEXEC`, sizes its
/// buffer for `capacity` and closes any surplus itself; its `recv_fds`
/// returns no truncation flag.
#[derive(Clone, Copy, Debug, Default)]
pub struct Uds;

impl Implementation for Uds {
    fn name(&self) -> &'static str {
        "uds"
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
        use uds::UnixStreamExt;
        let (raw, n) = raw_numbers(fds)?;
        as_std_stream(sock).send_fds(payload, &raw[..n])
    }

    fn recv(&mut self, sock: BorrowedFd<'_>, buf: &mut [u8], capacity: usize) -> io::Result<Recv> {
        use uds::UnixStreamExt;
        let mut raw = [-1; MAX];
        let capacity = capacity.min(MAX);
        let (bytes, n) = as_std_stream(sock).recv_fds(buf, &mut raw[..capacity])?;
        Ok(Recv {
            bytes,
            // SAFETY: uds stored the numbers of the descriptors it received
            // and kept (it closed the rest); the caller owns them.
            fds: unsafe { adopt(&raw[..n]) },
            reported_truncation: None,
        })
    }
}
