//! `inflight`: inflight's own convenience API.

use std::io;
use std::os::fd::BorrowedFd;

use crate::shared::from_inflight;
use crate::{Implementation, Recv};

/// inflight's own API: [`inflight::send_fds`] and
/// [`inflight::recv_fds_vec`].
#[derive(Clone, Copy, Debug, Default)]
pub struct Inflight;

impl Implementation for Inflight {
    fn name(&self) -> &'static str {
        "inflight"
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
        Ok(inflight::send_fds(&sock, payload, fds)?)
    }

    fn recv(&mut self, sock: BorrowedFd<'_>, buf: &mut [u8], capacity: usize) -> io::Result<Recv> {
        from_inflight(inflight::recv_fds_vec(&sock, buf, capacity))
    }
}
