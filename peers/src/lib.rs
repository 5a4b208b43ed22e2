//! One trait over every fd-passing implementation, and descriptor fixtures.
//!
//! * [`FdPasser`]: send a payload with descriptors, receive with a
//!   capacity. Implemented for inflight and for the raw system calls here;
//!   the peer crates (nix, rustix, uds, sendfd, passfd) are adapted in
//!   [`adapters`]. The benchmarks compare them; the auditor's `crates`
//!   battery runs its cases through them.
//! * [`FdKind`]: every kind of descriptor the tests and the auditor pass
//!   around, and how to open one.

#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]
#![deny(missing_docs)]

pub mod adapters;
mod fixtures;

pub use fixtures::{FdKind, Fixture};

use std::io;
use std::os::fd::{BorrowedFd, OwnedFd};

/// What a receive through an implementation produced.
#[derive(Debug, Default)]
pub struct Recv {
    /// Payload bytes received.
    pub bytes: usize,
    /// Descriptors the implementation handed to its caller, in order
    /// (adapters of crates that return raw numbers wrap exactly those).
    pub fds: Vec<OwnedFd>,
    /// Whether the implementation told its caller that control data was
    /// truncated (an error, a flag, or a count): `None` when its API has no
    /// way to say so.
    pub reported_truncation: Option<bool>,
}

/// One fd-passing implementation, behind the interface the benchmarks and
/// the auditor drive.
///
/// Adapters must be faithful: `recv` returns what the implementation hands
/// its caller, and nothing the implementation dropped or leaked is
/// recovered by the adapter (the auditor measures leaks from outside).
pub trait FdPasser {
    /// A short name ("inflight", "nix", ...).
    fn name(&self) -> &'static str;

    /// The most descriptors one `send` call carries in one message (1 for
    /// crates that pass a single descriptor per message).
    fn max_fds_per_message(&self) -> usize {
        inflight::SCM_MAX_FD
    }

    /// Whether received descriptors are close-on-exec (as far as the
    /// implementation's API allows asking for it).
    fn cloexec(&self) -> bool;

    /// Sends `payload` and `fds`. Implementations limited to fewer
    /// descriptors per message send several messages (the first carrying the
    /// payload, the others one byte each).
    ///
    /// # Errors
    ///
    /// Whatever the implementation reports, as `io::Error`.
    fn send(
        &mut self,
        sock: BorrowedFd<'_>,
        payload: &[u8],
        fds: &[BorrowedFd<'_>],
    ) -> io::Result<usize>;

    /// Receives one message with room for `capacity` descriptors (as the
    /// implementation's API expresses capacity).
    ///
    /// # Errors
    ///
    /// Whatever the implementation reports, as `io::Error`.
    fn recv(&mut self, sock: BorrowedFd<'_>, buf: &mut [u8], capacity: usize) -> io::Result<Recv>;
}

/// inflight's own API: [`inflight::send_fds`] and
/// [`inflight::recv_fds_vec`].
#[derive(Clone, Copy, Debug, Default)]
pub struct Inflight;

impl FdPasser for Inflight {
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
        match inflight::recv_fds_vec(&sock, buf, capacity) {
            Ok(r) => Ok(Recv {
                bytes: r.bytes,
                fds: r.fds,
                reported_truncation: Some(false),
            }),
            Err(mut e)
                if matches!(
                    e.kind(),
                    inflight::ErrorKind::ControlBufferFull | inflight::ErrorKind::ReceiverLimit
                ) =>
            {
                Ok(Recv {
                    bytes: e.bytes(),
                    fds: e.take_fds(),
                    reported_truncation: Some(true),
                })
            }
            Err(e) => Err(e.into()),
        }
    }
}
