//! The operations of property 10, what the model expects of each, and the
//! readable summary of a case that a failure prints.

use std::fmt;

use proptest::sample::Index;

/// A message in flight: its payload and the pool indices it carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Msg {
    /// The bytes.
    pub payload: Vec<u8>,
    /// Which originals, in order, with repeats.
    pub fds: Vec<usize>,
    /// Written by the child peer ([`Op::KillPeer`]), not by this process:
    /// its credentials are the child's.
    pub child: bool,
}

/// One operation.
#[derive(Clone, Debug)]
pub enum Op {
    /// Send `len` bytes with the originals picked among those still open.
    Send {
        /// Picks among the open originals (none when all are closed).
        picks: Vec<Index>,
        /// Payload length.
        len: usize,
    },
    /// Receive (or peek) with room for `cap` descriptors.
    Recv {
        /// Capacity.
        cap: usize,
        /// `MSG_PEEK`.
        peek: bool,
        /// `MSG_CMSG_CLOEXEC`.
        cloexec: bool,
    },
    /// [`Op::Recv`] with the soft `RLIMIT_NOFILE` lowered for the call so
    /// that exactly `room` more descriptors fit in the table (the limit is
    /// restored before anything else opens a descriptor).
    RecvAtLimit {
        /// Capacity.
        cap: usize,
        /// `MSG_PEEK`.
        peek: bool,
        /// `MSG_CMSG_CLOEXEC`.
        cloexec: bool,
        /// Free descriptor numbers below the lowered limit.
        room: usize,
    },
    /// A blocking receive on an empty queue: another thread signals the
    /// receiving thread `signals` times while it waits (a handler without
    /// `SA_RESTART`: `EINTR`), then sends `len` bytes and the picked
    /// originals, which must arrive once and intact.
    RecvInterrupted {
        /// Picks among the open originals.
        picks: Vec<Index>,
        /// Payload length.
        len: usize,
        /// Capacity of the receive.
        cap: usize,
        /// `MSG_CMSG_CLOEXEC`.
        cloexec: bool,
        /// Signals delivered while the receiver is blocked.
        signals: usize,
    },
    /// Close one original (picked among the open ones).
    CloseOriginal(Index),
    /// Close every descriptor received so far.
    CloseReceived,
    /// `shutdown(SHUT_WR)` on the sender.
    ShutdownSender,
    /// Close the sender end.
    DropSender,
    /// Close the receiver end (the kernel discards what is queued).
    DropReceiver,
    /// Open a new pair of the same kind once both ends are closed.
    Reopen,
    /// Hand the sender end to a child process (this process keeps no
    /// copy), which sends the first `sent` of `msgs`, one at a time, and is
    /// then killed (`SIGKILL`) and reaped. With `unread`, this process first
    /// writes a byte the child never reads, so that its death resets the
    /// connection.
    KillPeer {
        /// The messages the child is given: picks and payload length.
        msgs: Vec<(Vec<Index>, usize)>,
        /// How many it sends before the kill (`0..=msgs.len()`).
        sent: Index,
        /// Leave unread data in the child's socket.
        unread: bool,
    },
}

impl Op {
    /// The operation's name in reports and counts.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Send { .. } => "send",
            Op::Recv { peek: false, .. } => "recv",
            Op::Recv { peek: true, .. } => "peek",
            Op::RecvAtLimit { .. } => "recv_at_limit",
            Op::RecvInterrupted { .. } => "recv_interrupted",
            Op::CloseOriginal(_) => "close_original",
            Op::CloseReceived => "close_received",
            Op::ShutdownSender => "shutdown_sender",
            Op::DropSender => "drop_sender",
            Op::DropReceiver => "drop_receiver",
            Op::KillPeer { .. } => "kill_peer",
            Op::Reopen => "reopen",
        }
    }
}

fn flags(peek: bool, cloexec: bool) -> String {
    let mut s = String::new();
    if peek {
        s.push_str(" peek");
    }
    if cloexec {
        s.push_str(" cloexec");
    }
    s
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::Send { picks, len } => write!(f, "send {len} B, {} pick(s)", picks.len()),
            Op::Recv { cap, peek, cloexec } => {
                write!(f, "recv cap {cap}{}", flags(*peek, *cloexec))
            }
            Op::RecvAtLimit {
                cap,
                peek,
                cloexec,
                room,
            } => write!(
                f,
                "recv cap {cap}{} with RLIMIT_NOFILE leaving room for {room}",
                flags(*peek, *cloexec)
            ),
            Op::RecvInterrupted {
                picks,
                len,
                cap,
                cloexec,
                signals,
            } => write!(
                f,
                "blocking recv cap {cap}{}, {signals} signal(s), then send {len} B, {} pick(s)",
                flags(false, *cloexec),
                picks.len()
            ),
            Op::CloseOriginal(_) => f.write_str("close an original"),
            Op::CloseReceived => f.write_str("close the received"),
            Op::ShutdownSender => f.write_str("shutdown(SHUT_WR) the sender"),
            Op::DropSender => f.write_str("drop the sender"),
            Op::DropReceiver => f.write_str("drop the receiver"),
            Op::Reopen => f.write_str("open a new pair"),
            Op::KillPeer { msgs, sent, unread } => write!(
                f,
                "child peer sends {} of {} message(s){}, SIGKILL",
                sent.index(msgs.len() + 1),
                msgs.len(),
                if *unread { ", leaves data unread" } else { "" }
            ),
        }
    }
}

/// What the last operation must have done.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expect {
    /// Nothing (the operation does not apply in this state).
    Nothing,
    /// The send is accepted: `msg` is queued.
    Sent(Msg),
    /// The send fails with `errno`; nothing is queued.
    SendFails {
        /// The message attempted.
        msg: Msg,
        /// The error number.
        errno: i32,
    },
    /// The receive returns `bytes` and the originals `fds`, in order; the
    /// test keeps the received descriptors.
    Received {
        /// The payload bytes.
        bytes: Vec<u8>,
        /// Which originals arrive.
        fds: Vec<usize>,
        /// Written by the child peer (its credentials, not ours).
        child: bool,
    },
    /// The receive fails with `ControlBufferFull`: the message of `bytes`
    /// carried `fds`, more than `cap`; between `cap` and `most` of them
    /// arrive (a prefix, handed back in the error, which the test then
    /// closes).
    Truncated {
        /// The payload bytes.
        bytes: Vec<u8>,
        /// Which originals were sent.
        fds: Vec<usize>,
        /// The capacity asked for.
        cap: usize,
        /// At most this many arrive: all of them, or the room the
        /// descriptor limit left.
        most: usize,
    },
    /// The receive fails with `ReceiverLimit`: the descriptor limit left
    /// room for `room` of `fds`, fewer than the capacity; exactly the first
    /// `room` arrive, in the error, and the message is consumed unless
    /// peeked.
    Limited {
        /// The payload bytes.
        bytes: Vec<u8>,
        /// Which originals were sent.
        fds: Vec<usize>,
        /// How many fit.
        room: usize,
    },
    /// The receive fails with `errno` (a reset left by a dead peer).
    RecvFails(i32),
    /// The receive finds nothing: `WouldBlock` (non-blocking sockets).
    WouldBlock,
    /// The receive reports end of stream: `Ok`, 0 bytes, no descriptors.
    Eof,
    /// The interrupted blocking receive: `msg` is sent by another thread,
    /// and the receive then ends as `recv`.
    Interrupted {
        /// The message sent while the receiver waits.
        msg: Msg,
        /// What the receive returns.
        recv: Box<Expect>,
    },
    /// The child peer was given `msgs`, sent the first `sent`, and died.
    PeerKilled {
        /// Every message the child was given.
        msgs: Vec<Msg>,
        /// How many it sent.
        sent: usize,
        /// It left data unread.
        unread: bool,
    },
    /// Original `i` is closed.
    Closed(usize),
    /// Every received descriptor is closed.
    ClosedReceived,
    /// The sender is shut down for writing.
    Shutdown,
    /// The sender end is closed.
    DroppedSender,
    /// The receiver end is closed.
    DroppedReceiver,
    /// A new pair is open.
    Reopened,
}

impl Expect {
    /// The outcome in one word, for the per-kind counts.
    pub fn outcome(&self) -> &'static str {
        match self {
            Expect::Nothing => "not_applicable",
            Expect::Sent(_) => "sent",
            Expect::SendFails { .. } => "send_failed",
            Expect::Received { .. } => "received",
            Expect::Truncated { .. } => "control_buffer_full",
            Expect::Limited { .. } => "receiver_limit",
            Expect::RecvFails(_) => "reset",
            Expect::WouldBlock => "would_block",
            Expect::Eof => "end_of_stream",
            Expect::Interrupted { recv, .. } => match **recv {
                Expect::Received { .. } => "interrupted_received",
                _ => "interrupted_control_buffer_full",
            },
            Expect::PeerKilled { unread: true, .. } => "killed_data_unread",
            Expect::PeerKilled { .. } => "killed",
            Expect::Closed(_) | Expect::ClosedReceived => "closed",
            Expect::Shutdown => "shut_down",
            Expect::DroppedSender | Expect::DroppedReceiver => "dropped",
            Expect::Reopened => "reopened",
        }
    }
}

impl fmt::Display for Expect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expect::Nothing => f.write_str("does not apply"),
            Expect::Sent(m) => write!(f, "sent {} B + originals {:?}", m.payload.len(), m.fds),
            Expect::SendFails { errno, .. } => write!(f, "send fails, errno {errno}"),
            Expect::Received { bytes, fds, child } => write!(
                f,
                "{} B + originals {fds:?}{}",
                bytes.len(),
                if *child { " from the child" } else { "" }
            ),
            Expect::Truncated { fds, cap, most, .. } => {
                write!(f, "ControlBufferFull: {cap}..={most} of originals {fds:?}")
            }
            Expect::Limited { fds, room, .. } => {
                write!(f, "ReceiverLimit: the first {room} of originals {fds:?}")
            }
            Expect::RecvFails(errno) => write!(f, "receive fails, errno {errno}"),
            Expect::WouldBlock => f.write_str("WouldBlock"),
            Expect::Eof => f.write_str("end of stream"),
            Expect::Interrupted { msg, recv } => write!(
                f,
                "another thread sends {} B + originals {:?}; the receive: {recv}",
                msg.payload.len(),
                msg.fds
            ),
            Expect::PeerKilled { msgs, sent, unread } => {
                let sent: Vec<&Vec<usize>> = msgs[..*sent].iter().map(|m| &m.fds).collect();
                write!(f, "the child sent originals {sent:?}, unread {unread}")
            }
            Expect::Closed(i) => write!(f, "original {i} closed"),
            Expect::ClosedReceived => f.write_str("received closed"),
            Expect::Shutdown => f.write_str("sender shut down"),
            Expect::DroppedSender => f.write_str("sender closed"),
            Expect::DroppedReceiver => f.write_str("receiver closed"),
            Expect::Reopened => f.write_str("new pair open"),
        }
    }
}
