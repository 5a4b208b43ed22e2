//! `passfd`: `passfd::FdPassingExt`, one descriptor per message.

use std::io::{self, Write};
use std::os::fd::{AsRawFd, BorrowedFd};

use crate::shared::{adopt, as_std_stream};
use crate::{Implementation, Recv};

/// `passfd::FdPassingExt` on the raw descriptor: one descriptor per
/// message, so `k` descriptors cost `k` messages (the first carries the
/// payload, the others one byte). With no descriptor the payload goes out
/// as a plain `write`, which passfd cannot do. On receive passfd reads at
/// most 4 payload bytes into its own buffer and does not say how many:
/// the adapter reports 0 bytes and leaves `buf` untouched. It sets
/// `FD_CLOEXEC` with `fcntl` after arrival (not atomic), and receives into
/// room for one descriptor whatever `capacity` is.
#[derive(Clone, Copy, Debug, Default)]
pub struct PassFd;

impl Implementation for PassFd {
    fn name(&self) -> &'static str {
        "passfd"
    }

    fn max_fds_per_message(&self) -> usize {
        1
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
        use passfd::FdPassingExt;
        let raw = sock.as_raw_fd();
        match fds.split_first() {
            None => (&*as_std_stream(sock)).write(payload),
            Some((first, rest)) => {
                raw.send_fd_with_payload(first.as_raw_fd(), payload)?;
                for fd in rest {
                    raw.send_fd_with_payload(fd.as_raw_fd(), b"+")?;
                }
                Ok(payload.len())
            }
        }
    }

    fn recv(
        &mut self,
        sock: BorrowedFd<'_>,
        _buf: &mut [u8],
        _capacity: usize,
    ) -> io::Result<Recv> {
        use passfd::FdPassingExt;
        let fd = sock.as_raw_fd().recv_fd()?;
        Ok(Recv {
            bytes: 0,
            // SAFETY: passfd returns the number of the one descriptor it
            // received; the caller owns it.
            fds: unsafe { adopt(&[fd]) },
            reported_truncation: None,
        })
    }
}
