//! The pure control-message codec: bytes in, typed values out, no system
//! calls and no `unsafe` (the module forbids it).
//!
//! * [`wire`](self#constants): the platform's `cmsghdr` layout
//!   ([`cmsg_align`], [`cmsg_len`], [`cmsg_space`], [`space_for`]), the
//!   `struct ucred` layout ([`Credentials`]) and every `SCM_*`/`SO_*`
//!   number this crate uses.
//! * [`encode`] / [`encode_uninit`] write a list of [`ControlMessage`]s in
//!   the platform's `cmsghdr` layout.
//! * [`decode`] walks a received control buffer and yields [`Cmsg`] views;
//!   [`Cmsg::parse`] turns one into a typed [`Message`]; [`sole_rights`] is
//!   that walk for the usual received buffer, one `SCM_RIGHTS` alone.
//!
//! Decoding never trusts a header: every length is checked against the
//! buffer, a `cmsg_len` that runs past the end is clamped to the end (the
//! message is marked [`truncated`](Cmsg::truncated) and the walk stops), and
//! a `cmsg_len` shorter than the header ends the walk with
//! [`ErrorKind::MalformedControl`](crate::ErrorKind::MalformedControl).
//! Descriptor numbers found in a buffer are plain integers ([`Rights`]):
//! turning kernel-installed numbers into [`OwnedFd`](std::os::fd::OwnedFd)s
//! is the system call layer's job, done in one place for buffers the kernel
//! filled in this process, never for bytes from elsewhere.
//!
//! # Walk semantics
//!
//! The walk matches `CMSG_FIRSTHDR`/`CMSG_NXTHDR` where those are well
//! defined: a header is read at offset 0 if the buffer holds a whole
//! `cmsghdr`, and the next one at `offset + CMSG_ALIGN(cmsg_len)`. Unlike
//! glibc's `CMSG_NXTHDR`, a last message whose data ends inside the buffer
//! but whose padding would not is still returned, and a first message whose
//! `cmsg_len` runs past the buffer is returned clamped rather than read out
//! of bounds.
//!
//! # Constants
//!
//! The layout and protocol numbers live in this module so that every layer
//! above takes them from one place.

#![forbid(unsafe_code)]

mod decode;
mod encode;
mod wire;

pub use decode::{decode, decode_clamped, sole_rights, Cmsg, Decoder, Message, Rights};
pub use encode::{encode, encode_rights, encode_uninit, encoded_len, ControlMessage, FdList};
#[cfg(linux_like)]
pub use wire::UCRED_SIZE;
pub use wire::{
    cmsg_align, cmsg_len, cmsg_space, space_for, Credentials, CMSG_ALIGNMENT, DATA_OFFSET,
    HEADER_SIZE, SCM_MAX_FD, SCM_PIDFD, SO_PASSPIDFD, SO_PASSRIGHTS, SO_PEERPIDFD,
};
