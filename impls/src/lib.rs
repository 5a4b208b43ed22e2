//! One trait over every fd-passing implementation.
//!
//! * [`Implementation`]: send a payload with descriptors, receive with a
//!   capacity. One small module per implementation: inflight itself
//!   ([`Inflight`], [`InflightArray`]), the raw system calls
//!   ([`RawLibc`]), and the other fd-passing crates ([`Nix`], [`Rustix`],
//!   [`Uds`], [`SendFd`], [`PassFd`]); [`all`] lists them. The benchmarks
//!   compare them; the auditor's `crates` battery runs its cases through
//!   them.
//!
//! The descriptor fixtures the tests pass through them live in the test kit
//! (`inflight_testkit::FdKind`).
//!
//! Every implementation is faithful to its crate: `recv` hands back exactly
//! the descriptors the crate handed its caller (wrapping raw numbers into
//! `OwnedFd`, which is the wrapper's `unsafe`), reports truncation only as
//! far as the crate tells its caller, and never recovers what a crate
//! dropped or leaked.
//!
//! | name | send | receive | close-on-exec | truncation reported |
//! | --- | --- | --- | --- | --- |
//! | `inflight` | `send_fds` | `recv_fds_vec` | atomic | typed error |
//! | `inflight-array` | `send_fds` | `recv_fds::<N>` (no heap) | atomic | typed error |
//! | `libc` | `sendmsg`, stack control buffer | `recvmsg`, stack buffer of `CMSG_SPACE(4 * capacity)` | atomic | `MSG_CTRUNC` |
//! | `nix` | `sendmsg` | `recvmsg` into a `Vec` of `CMSG_SPACE(4 * capacity)` | atomic | `ENOBUFS` from `cmsgs()` |
//! | `rustix` | `sendmsg` + `SendAncillaryBuffer` | `recvmsg` + `RecvAncillaryBuffer` of `cmsg_space!(ScmRights(capacity))` | atomic | `ReturnFlags::CTRUNC` |
//! | `uds` | `UnixStreamExt::send_fds` | `UnixStreamExt::recv_fds` | atomic | none |
//! | `sendfd` | `SendWithFd` | `RecvWithFd` | no | none |
//! | `passfd` | `FdPassingExt`, one descriptor per message | one descriptor per message | `fcntl` after arrival | none |

#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]
#![deny(missing_docs)]

mod inflight;
mod inflight_array;
mod libc;
mod nix;
mod passfd;
mod rustix;
mod sendfd;
mod shared;
mod uds;

#[cfg(test)]
mod tests;

pub use self::inflight::Inflight;
pub use self::inflight_array::InflightArray;
pub use self::libc::RawLibc;
pub use self::nix::Nix;
pub use self::passfd::PassFd;
pub use self::rustix::Rustix;
pub use self::sendfd::SendFd;
pub use self::uds::Uds;

use std::io;
use std::os::fd::{BorrowedFd, OwnedFd};

/// What a receive through an implementation produced.
#[derive(Debug, Default)]
pub struct Recv {
    /// Payload bytes received.
    pub bytes: usize,
    /// Descriptors the implementation handed to its caller, in order
    /// (wrappers of crates that return raw numbers wrap exactly those).
    pub fds: Vec<OwnedFd>,
    /// Whether the implementation told its caller that control data was
    /// truncated (an error, a flag, or a count): `None` when its API has no
    /// way to say so.
    pub reported_truncation: Option<bool>,
}

/// One fd-passing implementation, behind the interface the benchmarks and
/// the auditor drive.
///
/// Implementations must be faithful: `recv` returns what the wrapped crate
/// hands its caller, and nothing the crate dropped or leaked is recovered
/// here (the auditor measures leaks from outside).
pub trait Implementation {
    /// A short name ("inflight", "nix", ...).
    fn name(&self) -> &'static str;

    /// The most descriptors one `send` call carries in one message (1 for
    /// crates that pass a single descriptor per message).
    fn max_fds_per_message(&self) -> usize {
        shared::MAX
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

/// Every implementation compiled in, inflight first.
pub fn all() -> Vec<Box<dyn Implementation>> {
    vec![
        Box::new(Inflight),
        Box::new(InflightArray),
        Box::new(RawLibc),
        Box::new(Nix),
        Box::new(Rustix),
        Box::new(Uds),
        Box::new(SendFd),
        Box::new(PassFd),
    ]
}

/// The implementation named `name` (as [`Implementation::name`] spells
/// it).
pub fn by_name(name: &str) -> Option<Box<dyn Implementation>> {
    all().into_iter().find(|p| p.name() == name)
}
