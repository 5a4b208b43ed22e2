//! The reference state machine of property 10: one socket pair, a sender
//! end and a receiver end, a small pool of original descriptors, and the
//! FIFO of messages in flight from sender to receiver.
//!
//! The model is pure: [`Model::step`] applies an [`Op`] and records in
//! [`Model::expect`] what the real system must do (the exact bytes, which
//! originals arrive, which error), so the test in
//! `tests/state_machine.rs` only executes and compares. What the kernel does
//! at the edges (a dead peer, a shut-down sender, end of stream, a reset, a
//! full descriptor table), per socket kind, was measured on Linux 6.18 and
//! is written down in [`Model::step`] and its helpers.
//!
//! Once both ends are closed, [`Op::Reopen`] starts a new pair of the same
//! kind (the originals and what was received stay as they are).
//!
//! Besides the ordinary operations there are three faults: a receive with
//! `RLIMIT_NOFILE` lowered ([`Op::RecvAtLimit`]), a blocking receive
//! interrupted by signals ([`Op::RecvInterrupted`]) and a peer process
//! killed mid-transfer ([`Op::KillPeer`]).

use std::collections::VecDeque;

use inflight::SocketKind;
use inflight_testkit::FdKind;
use proptest::sample::Index;

mod op;
mod reference;
#[cfg(test)]
mod tests;

pub use op::{Expect, Msg, Op};
pub use reference::{cases, summary, Case, Reference};

/// Originals in the pool.
pub const POOL: usize = 4;
/// At most this many descriptors per send.
pub const MAX_SEND: usize = 6;
/// Largest receive capacity generated (above `MAX_SEND`: room to spare).
pub const MAX_CAP: usize = 8;
/// Largest payload per send.
pub const MAX_PAYLOAD: usize = 48;
/// At most this many messages given to the child peer.
pub const MAX_PEER_MSGS: usize = 3;
/// At most this many signals per interrupted receive.
pub const MAX_SIGNALS: usize = 3;

/// The reference state.
#[derive(Clone, Debug)]
pub struct Model {
    /// The socket kind of the pair.
    pub kind: SocketKind,
    /// What each original is.
    pub pool: Vec<FdKind>,
    /// `SO_PASSCRED` on the receiver: every receive of data also carries
    /// `SCM_CREDENTIALS`, a second control message beside the rights.
    pub passcred: bool,
    /// Which originals are still open.
    pub open: Vec<bool>,
    /// The sender end is open (in this process, or in the live child).
    pub sender_open: bool,
    /// The sender end is shut down for writing.
    pub sender_shut: bool,
    /// The receiver end is open.
    pub receiver_open: bool,
    /// The receiver closed with messages unread: the sender has a pending
    /// `ECONNRESET` (seqpacket reports it on the next send).
    pub reset_pending: bool,
    /// Datagram: the kernel already dropped the dead peer (after the first
    /// `ECONNREFUSED`, sends fail with `ENOTCONN`).
    pub disconnected: bool,
    /// The child peer died with data unread: the receiver has a pending
    /// `ECONNRESET` (stream and seqpacket).
    pub recv_reset: bool,
    /// Messages in flight, oldest first.
    pub queue: VecDeque<Msg>,
    /// Received descriptors the test holds.
    pub held: usize,
    /// Messages sent so far (numbers the payloads).
    pub seq: u32,
    /// The outcome of the last operation.
    pub expect: Expect,
}

/// The payload of message `seq`: its number, then a pattern, `len` bytes.
pub fn payload(seq: u32, len: usize) -> Vec<u8> {
    let head = format!("#{seq}:");
    head.bytes()
        .chain((0..).map(|i: u32| b'a' + ((seq + i) % 26) as u8))
        .take(len)
        .collect()
}

impl Model {
    /// A fresh pair of `kind`, every original of `pool` open.
    pub fn new(kind: SocketKind, pool: Vec<FdKind>, passcred: bool) -> Model {
        Model {
            kind,
            passcred,
            open: vec![true; pool.len()],
            pool,
            sender_open: true,
            sender_shut: false,
            receiver_open: true,
            reset_pending: false,
            disconnected: false,
            recv_reset: false,
            queue: VecDeque::new(),
            held: 0,
            seq: 0,
            expect: Expect::Nothing,
        }
    }

    fn open_indices(&self) -> Vec<usize> {
        (0..self.pool.len()).filter(|&i| self.open[i]).collect()
    }

    /// The next message: numbered, carrying the picked open originals.
    fn new_msg(&mut self, picks: &[Index], len: usize, child: bool) -> Msg {
        let open = self.open_indices();
        let fds = if open.is_empty() {
            Vec::new()
        } else {
            picks.iter().map(|p| open[p.index(open.len())]).collect()
        };
        self.seq += 1;
        Msg {
            payload: payload(self.seq, len),
            fds,
            child,
        }
    }

    /// A send from this process now cannot fail: both ends open, nothing
    /// shut down (and so no pending reset or disconnection).
    fn send_clear(&self) -> bool {
        self.sender_open && !self.sender_shut && self.receiver_open
    }

    /// The errno of a send now, if it must fail (and what the failure
    /// consumes), as measured per kind.
    fn send_error(&mut self) -> Option<i32> {
        match self.kind {
            SocketKind::Stream => (self.sender_shut || !self.receiver_open).then_some(libc::EPIPE),
            SocketKind::SeqPacket => {
                if self.reset_pending {
                    // The pending error is reported once, before EPIPE.
                    self.reset_pending = false;
                    Some(libc::ECONNRESET)
                } else {
                    (self.sender_shut || !self.receiver_open).then_some(libc::EPIPE)
                }
            }
            SocketKind::Datagram => {
                if self.sender_shut {
                    Some(libc::EPIPE)
                } else if !self.receiver_open {
                    if self.disconnected {
                        Some(libc::ENOTCONN)
                    } else {
                        self.disconnected = true;
                        Some(libc::ECONNREFUSED)
                    }
                } else {
                    None
                }
            }
        }
    }

    /// What a receive takes from the front of the queue: how many messages,
    /// their bytes, the originals that come with them and whether the child
    /// wrote them. Stream: every message up to and including the first that
    /// carries descriptors (a receive merges data-only writes but stops
    /// after descriptors), and with `SO_PASSCRED` never across writers (the
    /// kernel does not glue messages with different credentials); others:
    /// one message.
    fn front(&self) -> (usize, Vec<u8>, Vec<usize>, bool) {
        let child = self.queue[0].child;
        match self.kind {
            SocketKind::Stream => {
                let mut bytes = Vec::new();
                for (i, m) in self.queue.iter().enumerate() {
                    if self.passcred && m.child != child {
                        return (i, bytes, Vec::new(), child);
                    }
                    bytes.extend_from_slice(&m.payload);
                    if !m.fds.is_empty() {
                        return (i + 1, bytes, m.fds.clone(), child);
                    }
                }
                (self.queue.len(), bytes, Vec::new(), child)
            }
            SocketKind::SeqPacket | SocketKind::Datagram => {
                let m = &self.queue[0];
                (1, m.payload.clone(), m.fds.clone(), child)
            }
        }
    }

    /// A receive (or peek) with capacity `cap`; `room`: how many
    /// descriptors still fit under `RLIMIT_NOFILE` (`None`: plenty).
    ///
    /// A pending reset comes first on seqpacket and after the queued data
    /// on a stream, once, peek or not. The kernel installs descriptors
    /// until the capacity or the limit stops it and sets `MSG_CTRUNC` when
    /// some were left: below the capacity that is `ReceiverLimit` with
    /// exactly the ones installed; at or above it `ControlBufferFull`.
    /// Either way the message is consumed unless peeked.
    fn receive(&mut self, cap: usize, peek: bool, room: Option<usize>) -> Expect {
        if !self.receiver_open {
            return Expect::Nothing;
        }
        let reset_now = match self.kind {
            SocketKind::SeqPacket => true,
            SocketKind::Stream => self.queue.is_empty(),
            SocketKind::Datagram => false,
        };
        if self.recv_reset && reset_now {
            self.recv_reset = false;
            return Expect::RecvFails(libc::ECONNRESET);
        }
        if self.queue.is_empty() {
            let ended = !self.sender_open || self.sender_shut;
            return if ended && self.kind != SocketKind::Datagram {
                Expect::Eof
            } else {
                Expect::WouldBlock
            };
        }
        let (taken, bytes, fds, child) = self.front();
        if !peek {
            self.queue.drain(..taken);
        }
        let room = room.unwrap_or(usize::MAX);
        if room < cap.min(fds.len()) {
            Expect::Limited { bytes, fds, room }
        } else if fds.len() > cap {
            let most = fds.len().min(room);
            Expect::Truncated {
                bytes,
                fds,
                cap,
                most,
            }
        } else {
            self.held += fds.len();
            Expect::Received { bytes, fds, child }
        }
    }

    /// The blocking receive on an empty queue that another thread's send
    /// completes.
    fn interrupted(&mut self, picks: &[Index], len: usize, cap: usize) -> Expect {
        if !self.send_clear() || !self.queue.is_empty() || self.recv_reset {
            return Expect::Nothing;
        }
        let msg = self.new_msg(picks, len, false);
        self.queue.push_back(msg.clone());
        let recv = Box::new(self.receive(cap, false, None));
        Expect::Interrupted { msg, recv }
    }

    /// The sender handed to a child that sends some messages and dies. The
    /// messages it sent stay queued with their descriptors (in flight, they
    /// outlive the sender); then the pair is as after a closed sender, and
    /// unread data in the child's socket leaves a reset on the receiver
    /// (stream, seqpacket).
    fn kill_peer(&mut self, msgs: &[(Vec<Index>, usize)], sent: &Index, unread: bool) -> Expect {
        if !self.send_clear() {
            return Expect::Nothing;
        }
        let msgs: Vec<Msg> = msgs
            .iter()
            .map(|(picks, len)| self.new_msg(picks, *len, true))
            .collect();
        let sent = sent.index(msgs.len() + 1);
        self.queue.extend(msgs[..sent].iter().cloned());
        self.sender_open = false;
        self.recv_reset = unread && self.kind != SocketKind::Datagram;
        Expect::PeerKilled { msgs, sent, unread }
    }

    /// Applies `op`, setting [`Model::expect`].
    pub fn step(&mut self, op: &Op) {
        self.expect = match op {
            Op::Send { picks, len } => {
                if !self.sender_open {
                    Expect::Nothing
                } else {
                    let msg = self.new_msg(picks, *len, false);
                    match self.send_error() {
                        Some(errno) => Expect::SendFails { msg, errno },
                        None => {
                            self.queue.push_back(msg.clone());
                            Expect::Sent(msg)
                        }
                    }
                }
            }
            Op::Recv { cap, peek, .. } => self.receive(*cap, *peek, None),
            Op::RecvAtLimit {
                cap, peek, room, ..
            } => self.receive(*cap, *peek, Some(*room)),
            Op::RecvInterrupted {
                picks, len, cap, ..
            } => self.interrupted(picks, *len, *cap),
            Op::KillPeer { msgs, sent, unread } => self.kill_peer(msgs, sent, *unread),
            Op::CloseOriginal(pick) => {
                let open = self.open_indices();
                if open.is_empty() {
                    Expect::Nothing
                } else {
                    let i = open[pick.index(open.len())];
                    self.open[i] = false;
                    Expect::Closed(i)
                }
            }
            Op::CloseReceived => {
                self.held = 0;
                Expect::ClosedReceived
            }
            Op::ShutdownSender => {
                if self.sender_open && !self.sender_shut {
                    self.sender_shut = true;
                    Expect::Shutdown
                } else {
                    Expect::Nothing
                }
            }
            Op::DropSender => {
                if self.sender_open {
                    self.sender_open = false;
                    Expect::DroppedSender
                } else {
                    Expect::Nothing
                }
            }
            Op::Reopen => {
                if self.sender_open || self.receiver_open {
                    Expect::Nothing
                } else {
                    // Nothing of the old pair is left: its queue went with
                    // the receiver, its pending errors with both ends.
                    *self = Model {
                        open: self.open.clone(),
                        held: self.held,
                        seq: self.seq,
                        ..Model::new(self.kind, self.pool.clone(), self.passcred)
                    };
                    Expect::Reopened
                }
            }
            Op::DropReceiver => {
                if self.receiver_open {
                    self.receiver_open = false;
                    if !self.queue.is_empty() && self.kind != SocketKind::Datagram {
                        self.reset_pending = true;
                    }
                    // The kernel discards what was in flight.
                    self.queue.clear();
                    Expect::DroppedReceiver
                } else {
                    Expect::Nothing
                }
            }
        };
    }
}
