//! The workspace's test kit: one independent oracle and fixture set for
//! inflight's own tests, the property tests, the fuzz targets, the auditor
//! and the benchmarks.
//!
//! It does **not** depend on `inflight`: everything it says about control
//! messages, descriptors and leaks it works out for itself, from `libc`
//! and the kernel, so that it can judge inflight rather than repeat it.
//!
//! - [`raw`]: `sendmsg`/`recvmsg` with exactly the control bytes (and the
//!   control buffer size) a test asks for; every descriptor the kernel
//!   installs on a receive is claimed.
//! - [`cmsg`]: a hand-written control-message builder and walk, the layout
//!   constants and human names for reports.
//! - [`AlignedBuf`]: the one 8-byte aligned control buffer.
//! - [`reference`](mod@reference): the libc `CMSG_FIRSTHDR`/`CMSG_NXTHDR`/`CMSG_DATA` walk
//!   (and glibc's `__cmsg_nxthdr`), the reference a decoder is compared with.
//! - [`fixtures`]: every kind of descriptor the tests pass around.
//! - [`guard`]: the descriptor-leak guard and the process-wide lock it holds.
//! - [`oracle`]: are two descriptors the same open file description.
//!
//!   These three (and the descriptor table behind the guard) live in the
//!   publishable conformance kit, `inflight-conformance`, which judges any
//!   implementation with them; they are re-exported here under the same
//!   paths, so that each exists once.
//! - [`probe`]: what the kernel supports, asked with raw system calls.
//! - [`seccomp`]: deny one system call to a thread, as container
//!   runtimes do.
//! - [`sockopt`]: raw `int` socket options, and feature probes that say
//!   "missing" only on `ENOPROTOOPT`.
//! - [`Watchdog`]: a time limit for one test, which fails the run when
//!   the code under test hangs.
//!
//! The kit is for Linux (and Android, untested): it uses `/proc`, `kcmp(2)`,
//! eventfds, memfds and timerfds. On other systems it is empty.
#![cfg(any(target_os = "linux", target_os = "android"))]
#![deny(
    unsafe_op_in_unsafe_fn,
    clippy::undocumented_unsafe_blocks,
    missing_docs
)]

mod aligned;
pub mod cmsg;
pub mod probe;
pub mod raw;
pub mod reference;
pub mod seccomp;
pub mod sockopt;
mod watchdog;

pub use aligned::AlignedBuf;
pub use inflight_conformance::{describe_fd, open_fds, Described};
pub use inflight_conformance::{fixtures, guard, oracle};
pub use inflight_conformance::{same_description, Sameness};
pub use inflight_conformance::{serial, FdKind, Fixture, LeakGuard, Leaks, Serial};
pub use watchdog::Watchdog;
