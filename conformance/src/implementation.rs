//! The one trait an implementation under test fulfils: [`Implementation`],
//! what a receive reports ([`Recv`]), and the socket kinds it may declare
//! ([`SocketKind`]).

use std::fmt;
use std::io;
use std::os::fd::{BorrowedFd, OwnedFd};

/// `SCM_MAX_FD`: the most descriptors Linux carries in one message.
pub const SCM_MAX_FD: usize = 253;

/// The three Unix socket types that carry descriptors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SocketKind {
    /// `SOCK_STREAM`.
    Stream,
    /// `SOCK_SEQPACKET`.
    SeqPacket,
    /// `SOCK_DGRAM`.
    Datagram,
}

impl SocketKind {
    /// All three, in a fixed order.
    pub const ALL: [SocketKind; 3] = [
        SocketKind::Stream,
        SocketKind::SeqPacket,
        SocketKind::Datagram,
    ];

    /// `"stream"`, `"seqpacket"` or `"dgram"`, as case names spell them.
    pub const fn name(self) -> &'static str {
        match self {
            SocketKind::Stream => "stream",
            SocketKind::SeqPacket => "seqpacket",
            SocketKind::Datagram => "dgram",
        }
    }
}

impl fmt::Display for SocketKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What one receive through an implementation produced.
///
/// An implementation that returns an error instead (a typed truncation
/// error, say) returns `Err` from [`Implementation::recv`]: the kit counts
/// an error as a refusal, and measures from outside whether the
/// descriptors the kernel installed were closed or leaked.
#[derive(Debug, Default)]
pub struct Recv {
    /// Payload bytes received (what `recvmsg` returned, or what the
    /// implementation says it put in the buffer).
    pub bytes: usize,
    /// Every descriptor the implementation hands its caller, in the order
    /// they arrived. A wrapper of an API that returns raw numbers wraps
    /// exactly those numbers, and nothing it dropped or closed.
    pub fds: Vec<OwnedFd>,
    /// Whether the implementation told its caller that control data was
    /// truncated (`MSG_CTRUNC`, an error kind, a flag, a count):
    /// `Some(true)` when it said so, `Some(false)` when it said the message
    /// was complete, and `None` when its API has no way to say either. A
    /// truncation that the caller cannot learn of is a finding
    /// (`truncation-reported`) whether the answer is `Some(false)` or
    /// `None`; `None` only makes the report say why.
    pub reported_truncation: Option<bool>,
}

/// One fd-passing implementation, as the kit drives it: send a payload with
/// descriptors, receive one message with room for a number of descriptors.
///
/// Implement it over your own code the way your callers use it, and be
/// faithful: `recv` returns what your API hands its caller, and recovers
/// nothing your API dropped, closed or leaked (the kit measures leaks from
/// outside, on the process's descriptor table, and compares descriptors
/// with the kernel's `kcmp`). The kit only ever calls it from one thread at
/// a time, on sockets it created (the receiving end non-blocking, so a
/// receive with nothing queued fails with `WouldBlock` instead of hanging).
///
/// Something your API cannot do is declared, not faked: a kind missing
/// from [`socket_kinds`](Implementation::socket_kinds) skips the cases that
/// need it, with the reason; a limit of descriptors per message is
/// [`max_fds_per_message`](Implementation::max_fds_per_message); a receive
/// that cannot say whether control data was truncated reports
/// `reported_truncation: None`.
pub trait Implementation {
    /// A short name for reports (`"libc"`, `"my-service"`).
    fn name(&self) -> &'static str;

    /// The most descriptors one [`send`](Implementation::send) call puts
    /// in one message: [`SCM_MAX_FD`] unless the API passes fewer (1 for an
    /// API that passes one descriptor per message). The kit sizes
    /// receives, and counts messages, with it.
    fn max_fds_per_message(&self) -> usize {
        SCM_MAX_FD
    }

    /// Whether received descriptors are meant to be close-on-exec (as far as
    /// the API allows asking for it). Informational: the
    /// `cloexec-across-exec` case checks every implementation, since a
    /// descriptor inherited by every child is a leak whatever was meant.
    fn cloexec(&self) -> bool {
        true
    }

    /// The socket kinds the implementation works with (all three unless it
    /// says otherwise). Cases on a kind left out are skipped, with this as
    /// the reason.
    fn socket_kinds(&self) -> &'static [SocketKind] {
        &SocketKind::ALL
    }

    /// Sends `payload` with `fds` on the connected socket `sock`, returning
    /// the payload bytes sent. An API limited to fewer descriptors per
    /// message than `fds.len()` may send several messages (the first with
    /// the payload, the others with whatever the API sends alone), or
    /// refuse.
    ///
    /// # Errors
    ///
    /// Whatever the implementation reports, as `io::Error` (a refusal of
    /// more than [`SCM_MAX_FD`] descriptors, say).
    fn send(
        &mut self,
        sock: BorrowedFd<'_>,
        payload: &[u8],
        fds: &[BorrowedFd<'_>],
    ) -> io::Result<usize>;

    /// Receives one message from `sock` into `buf`, with room for
    /// `capacity` descriptors as the API expresses room: a control buffer
    /// of `CMSG_SPACE(4 * capacity)` bytes (alignment padding may admit a
    /// descriptor more), an array of `capacity` slots, a typed limit.
    ///
    /// # Errors
    ///
    /// Whatever the implementation reports, as `io::Error`. An error may
    /// own descriptors (the kit drops it before it looks for leaks).
    fn recv(&mut self, sock: BorrowedFd<'_>, buf: &mut [u8], capacity: usize) -> io::Result<Recv>;
}

impl<T: Implementation + ?Sized> Implementation for Box<T> {
    fn name(&self) -> &'static str {
        (**self).name()
    }

    fn max_fds_per_message(&self) -> usize {
        (**self).max_fds_per_message()
    }

    fn cloexec(&self) -> bool {
        (**self).cloexec()
    }

    fn socket_kinds(&self) -> &'static [SocketKind] {
        (**self).socket_kinds()
    }

    fn send(
        &mut self,
        sock: BorrowedFd<'_>,
        payload: &[u8],
        fds: &[BorrowedFd<'_>],
    ) -> io::Result<usize> {
        (**self).send(sock, payload, fds)
    }

    fn recv(&mut self, sock: BorrowedFd<'_>, buf: &mut [u8], capacity: usize) -> io::Result<Recv> {
        (**self).recv(sock, buf, capacity)
    }
}
