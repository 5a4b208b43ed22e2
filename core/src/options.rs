//! The options of a send or a receive, and what a receive returns.

use std::os::fd::OwnedFd;
use std::os::unix::net::SocketAddr;

use crate::codec::Credentials;

#[cfg(linux_like)]
const CMSG_CLOEXEC: libc::c_int = libc::MSG_CMSG_CLOEXEC;
#[cfg(not(linux_like))]
const CMSG_CLOEXEC: libc::c_int = 0;

/// Options of a send beyond payload and descriptors.
#[derive(Clone, Copy, Debug, Default)]
pub struct SendOptions<'a> {
    pub(crate) credentials: Option<Credentials>,
    pub(crate) to: Option<&'a SocketAddr>,
    pub(crate) nonblocking: bool,
}

impl<'a> SendOptions<'a> {
    /// Default options: no credentials, the connected peer, the socket's own
    /// blocking mode.
    pub const fn new() -> Self {
        SendOptions {
            credentials: None,
            to: None,
            nonblocking: false,
        }
    }

    /// Attach `SCM_CREDENTIALS` (Linux). Without privilege they must be the
    /// sender's own ([`Credentials::current`]). The receiver sees them only
    /// with `SO_PASSCRED` on.
    pub const fn credentials(mut self, creds: Credentials) -> Self {
        self.credentials = Some(creds);
        self
    }

    /// Send to `addr` (`sendto` semantics, for unconnected datagram sockets).
    pub const fn to(mut self, addr: &'a SocketAddr) -> Self {
        self.to = Some(addr);
        self
    }

    /// `MSG_DONTWAIT`: fail with `WouldBlock` instead of blocking, whatever
    /// the socket's mode.
    pub const fn nonblocking(mut self, on: bool) -> Self {
        self.nonblocking = on;
        self
    }
}

/// Options of a receive.
#[derive(Clone, Copy, Debug)]
pub struct RecvOptions {
    pub(crate) cloexec: bool,
    /// The `recvmsg` flags, kept up to date by the builder methods.
    flags: libc::c_int,
}

impl Default for RecvOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl RecvOptions {
    /// Default options: close-on-exec, consume the message, the socket's own
    /// blocking mode.
    pub const fn new() -> Self {
        RecvOptions {
            cloexec: true,
            flags: CMSG_CLOEXEC,
        }
    }

    /// `MSG_CMSG_CLOEXEC` (default on): received descriptors are
    /// close-on-exec, atomically. Turn off only to pass them to a child
    /// across `exec`.
    pub const fn cloexec(mut self, on: bool) -> Self {
        self.cloexec = on;
        self.flags = with_flag(self.flags, CMSG_CLOEXEC, on);
        self
    }

    /// `MSG_PEEK`: look at the next message without consuming it. The
    /// kernel installs a *fresh set of duplicates* of its descriptors on
    /// every peek; they are owned by the result and closed when it drops.
    ///
    /// On a stream socket Linux (at least up to 6.18) lets a peek look
    /// ahead: when the buffer fills before a later write that carries
    /// descriptors, the peek still returns that write's descriptors although
    /// none of its bytes were copied; a read of the same size would not.
    /// Do not infer from a stream peek which bytes the descriptors came
    /// with.
    pub const fn peek(mut self, on: bool) -> Self {
        self.flags = with_flag(self.flags, libc::MSG_PEEK, on);
        self
    }

    /// `MSG_DONTWAIT`: fail with `WouldBlock` instead of blocking.
    pub const fn nonblocking(mut self, on: bool) -> Self {
        self.flags = with_flag(self.flags, libc::MSG_DONTWAIT, on);
        self
    }

    #[inline]
    pub(crate) fn flags(&self) -> libc::c_int {
        self.flags
    }
}

const fn with_flag(flags: libc::c_int, flag: libc::c_int, on: bool) -> libc::c_int {
    if on {
        flags | flag
    } else {
        flags & !flag
    }
}

/// A received message: payload length, descriptors and the other control
/// data that came with it.
#[derive(Debug)]
#[non_exhaustive]
pub struct Received<F> {
    /// Payload bytes written to the caller's buffer. 0 with no descriptors
    /// is end of stream on a stream socket.
    pub bytes: usize,
    /// The descriptors, in the order sent (an [`FdArray`](crate::FdArray)
    /// or a `Vec`).
    pub fds: F,
    /// The sender's credentials, when `SO_PASSCRED` is on.
    pub credentials: Option<Credentials>,
    /// A pidfd of the sender, when `SO_PASSPIDFD` is on (Linux 6.5+).
    pub pidfd: Option<OwnedFd>,
}

impl Received<()> {
    /// The same message with its descriptors: a receive claims into a
    /// store that stays where the caller put it, and joins the two at the
    /// end (one move of the store, none of the rest).
    #[inline]
    pub(crate) fn with<F>(self, fds: F) -> Received<F> {
        Received {
            bytes: self.bytes,
            fds,
            credentials: self.credentials,
            pidfd: self.pidfd,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Turning a flag on twice keeps it on; off clears only that flag.
    #[test]
    fn flags_are_set_not_toggled() {
        let o = RecvOptions::new().cloexec(true).peek(true).peek(true);
        assert_eq!(o.flags(), CMSG_CLOEXEC | libc::MSG_PEEK);
        let o = o.nonblocking(true).nonblocking(true).peek(false);
        assert_eq!(o.flags(), CMSG_CLOEXEC | libc::MSG_DONTWAIT);
        assert_eq!(o.cloexec(false).flags(), libc::MSG_DONTWAIT);
    }
}
