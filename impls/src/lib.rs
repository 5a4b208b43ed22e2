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
//! The trait itself, [`Implementation`], is the conformance kit's
//! (`inflight_conformance::Implementation`), as are the descriptor fixtures
//! the tests pass through it (`inflight_conformance::FdKind`).
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

/// The trait and what a receive reports live in the conformance kit
/// (`inflight-conformance`), which runs its battery and its property over
/// any implementation of it: these adapters are ordinary users of the kit.
pub use inflight_conformance::{Implementation, Recv};

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
