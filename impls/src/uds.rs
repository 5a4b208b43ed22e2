//! `uds`: `uds::UnixStreamExt::{send_fds, recv_fds}`.

use std::io;
use std::os::fd::BorrowedFd;

use crate::shared::{recv_numbers, send_numbers};
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
        send_numbers(sock, payload, fds, |s, p, raw| s.send_fds(p, raw))
    }

    fn recv(&mut self, sock: BorrowedFd<'_>, buf: &mut [u8], capacity: usize) -> io::Result<Recv> {
        use uds::UnixStreamExt;
        // SAFETY: uds stores the numbers of the descriptors it received and
        // kept (it closed the rest) and gives them to its caller.
        unsafe { recv_numbers(sock, buf, capacity, |s, b, raw| s.recv_fds(b, raw)) }
    }
}
