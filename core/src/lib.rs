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
//! Layers, bottom up, each importing only from those below it:
//!
//! 1. [`codec`]: the pure control-message codec (wire layout, constants,
//!    encode, decode; no system calls, `unsafe` forbidden), what the
//!    fuzzers drive; beside it the error type and [`FdArray`];
//! 2. a private system call layer holding every `unsafe` block: one
//!    `msghdr` builder, the calls, and the one step that turns numbers the
//!    kernel installed into [`OwnedFd`](std::os::fd::OwnedFd)s;
//! 3. the operations: the functions at the crate root (thin forwarders),
//!    [`batch`], [`tokio`](mod@crate::tokio) (feature `tokio`),
//!    credentials, sockets, and [`inspect`], the oracle the tests use,
//!    public for your own audits.

#![cfg(unix)]

#[cfg(linux_like)]
pub mod batch;
pub mod codec;
mod creds;
mod error;
pub mod inspect;
mod options;
mod socket;
mod sys;
#[cfg(feature = "tokio")]
pub mod tokio;
mod transfer;

pub use codec::{space_for, Credentials, SCM_MAX_FD, SO_PASSPIDFD, SO_PASSRIGHTS, SO_PEERPIDFD};
#[cfg(linux_like)]
pub use creds::{
    peer_credentials, peer_pidfd, pidfd_supported, set_pass_credentials, set_pass_pidfd,
    set_pass_rights,
};
pub use error::{Error, ErrorKind, Result};
pub use options::{Received, RecvOptions, SendOptions};
pub use socket::{
    accept, bind, connect, set_nonblocking, socket_kind, socketpair, unbound, SocketKind,
};
pub use sys::{CapacityError, ControlBuffer, FdArray, IntoIter as FdArrayIntoIter};

pub use transfer::{
    peek_fds, recv_fds, recv_fds_vec, recv_fds_vectored, recv_vec_with, recv_with, send_fds,
    send_fds_to, send_fds_vectored, send_with,
};

/// The README's code blocks, run as doc tests so they cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
