//! # inflight
//!
//! I/O-safe file descriptor passing over Unix domain sockets (`SCM_RIGHTS`).
//!
//! A sender lends descriptors ([`BorrowedFd`](std::os::fd::BorrowedFd)) to
//! one `sendmsg`; the kernel installs new descriptors in the receiver that
//! refer to the *same open file description*, and the receiver gets them as
//! [`OwnedFd`](std::os::fd::OwnedFd)s only, close-on-exec by default.
//!
//! What this crate guarantees, on every path:
//!
//! * every descriptor the kernel installed is either handed to the caller or
//!   closed, including on control-data truncation (`MSG_CTRUNC`), payload
//!   truncation, surplus, and errors; the error says which case it was
//!   ([`ErrorKind`]);
//! * every control message is walked (several `SCM_RIGHTS`,
//!   `SCM_CREDENTIALS`, `SCM_PIDFD`, unknown ones skipped);
//! * the control buffer has room for credentials and a pidfd beside the
//!   descriptors, so neither pushes a descriptor out;
//! * checks the kernel would answer badly are made before the system call
//!   (more than 253 descriptors, descriptors with an empty payload on a
//!   stream socket);
//! * `MSG_NOSIGNAL` on every send, `EINTR` retried, `EAGAIN` as
//!   `WouldBlock`;
//! * the allocation-free path ([`recv_fds`], [`send_fds`]) touches no heap.
//!
//! ```
//! use std::io::{Read, Seek, Write};
//! use std::os::fd::AsFd;
//! use inflight::{socketpair, SocketKind};
//!
//! let (tx, rx) = socketpair(SocketKind::Stream)?;
//! let mut file = tempfile::tempfile()?;
//! file.write_all(b"shared offset")?;
//!
//! inflight::send_fds(&tx, b"!", &[file.as_fd()])?;
//! drop(file); // in flight: the receiver still gets it
//!
//! let mut buf = [0u8; 1];
//! let got = inflight::recv_fds::<1>(&rx, &mut buf)?;
//! let mut received = std::fs::File::from(got.fds.into_iter().next().unwrap());
//! received.rewind()?;
//! let mut text = String::new();
//! received.read_to_string(&mut text)?;
//! assert_eq!(text, "shared offset");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Layers: [`codec`] is the pure control-message codec (no system calls,
//! what the fuzzers drive); a private system call layer holds the `unsafe`;
//! the functions at the crate root are thin forwarders. [`inspect`] is the
//! oracle the tests use, public for your own audits.

#![cfg(unix)]
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]
#![deny(missing_docs)]
#![warn(rust_2018_idioms)]

#[cfg(any(target_os = "linux", target_os = "android"))]
pub mod batch;
pub mod codec;
mod creds;
mod error;
mod fdarray;
pub mod inspect;
mod socket;
mod sys;
#[cfg(feature = "tokio")]
pub mod tokio;
mod transfer;

#[cfg(any(target_os = "linux", target_os = "android"))]
pub use creds::{
    peer_credentials, peer_pidfd, pidfd_supported, set_pass_credentials, set_pass_pidfd,
    set_pass_rights,
};
pub use creds::{Credentials, SO_PASSPIDFD, SO_PASSRIGHTS, SO_PEERPIDFD};
pub use error::{Error, ErrorKind, Result};
pub use fdarray::{CapacityError, FdArray};
pub use socket::{
    accept, bind, connect, set_nonblocking, socket_kind, socketpair, unbound, SocketKind,
};
pub use transfer::{
    peek_fds, recv_fds, recv_fds_vec, recv_fds_vectored, recv_vec_with, recv_with, send_fds,
    send_fds_to, send_fds_vectored, send_with, Received, RecvOptions, SendOptions,
};

/// The most descriptors one message may carry (`SCM_MAX_FD` in the kernel).
pub const SCM_MAX_FD: usize = 253;

pub use codec::space_for;

/// The README's code blocks, run as doc tests so they cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
