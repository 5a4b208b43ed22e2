//! The reference state machine of property 10: one socket pair, a sender
//! end and a receiver end, a small pool of original descriptors, and the
//! FIFO of messages in flight from sender to receiver.
//!
//! The model is pure: [`Model::step`] applies an [`Op`] and records in
//! [`Model::expect`] what the real system must do (the exact bytes, which
//! originals arrive, which error), so the test in
//! `tests/state_machine.rs` only executes and compares. What the kernel does
//! at the edges (a dead peer, a shut-down sender, end of stream), per socket
//! kind, was measured on Linux 6.18 and is written down in [`Model::step`].

use std::collections::VecDeque;

use inflight::SocketKind;
use inflight_testkit::FdKind;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest_state_machine::ReferenceStateMachine;

use crate::plan::any_kind;

/// Originals in the pool.
pub const POOL: usize = 4;
/// At most this many descriptors per send.
pub const MAX_SEND: usize = 6;
/// Largest receive capacity generated (above `MAX_SEND`: room to spare).
pub const MAX_CAP: usize = 8;
/// Largest payload per send.
pub const MAX_PAYLOAD: usize = 48;

/// A message in flight: its payload and the pool indices it carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Msg {
    /// The bytes.
    pub payload: Vec<u8>,
    /// Which originals, in order, with repeats.
    pub fds: Vec<usize>,
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
    },
    /// The receive fails with `ControlBufferFull`: the message of `bytes`
    /// carried `fds`, more than `cap`; between `cap` and all of them arrive
    /// (a prefix, handed back in the error, which the test then closes).
    Truncated {
        /// The payload bytes.
        bytes: Vec<u8>,
        /// Which originals were sent.
        fds: Vec<usize>,
        /// The capacity asked for.
        cap: usize,
    },
    /// The receive finds nothing: `WouldBlock` (non-blocking sockets).
    WouldBlock,
    /// The receive reports end of stream: `Ok`, 0 bytes, no descriptors.
    Eof,
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
}

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
    /// The sender end is open.
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
    fn open_indices(&self) -> Vec<usize> {
        (0..self.pool.len()).filter(|&i| self.open[i]).collect()
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

    /// What a receive takes from the front of the queue: how many messages
    /// and the originals that come with them. Stream: every message up to
    /// and including the first that carries descriptors (a receive merges
    /// data-only writes but stops after descriptors); others: one message.
    fn front(&self) -> (usize, Vec<u8>, Vec<usize>) {
        match self.kind {
            SocketKind::Stream => {
                let mut bytes = Vec::new();
                for (i, m) in self.queue.iter().enumerate() {
                    bytes.extend_from_slice(&m.payload);
                    if !m.fds.is_empty() {
                        return (i + 1, bytes, m.fds.clone());
                    }
                }
                (self.queue.len(), bytes, Vec::new())
            }
            SocketKind::SeqPacket | SocketKind::Datagram => {
                let m = &self.queue[0];
                (1, m.payload.clone(), m.fds.clone())
            }
        }
    }

    /// Applies `op`, setting [`Model::expect`].
    pub fn step(&mut self, op: &Op) {
        self.expect = match op {
            Op::Send { picks, len } => {
                if !self.sender_open {
                    Expect::Nothing
                } else {
                    let open = self.open_indices();
                    let fds: Vec<usize> = if open.is_empty() {
                        Vec::new()
                    } else {
                        picks.iter().map(|p| open[p.index(open.len())]).collect()
                    };
                    self.seq += 1;
                    let msg = Msg {
                        payload: payload(self.seq, *len),
                        fds,
                    };
                    match self.send_error() {
                        Some(errno) => Expect::SendFails { msg, errno },
                        None => {
                            self.queue.push_back(msg.clone());
                            Expect::Sent(msg)
                        }
                    }
                }
            }
            Op::Recv { cap, peek, .. } => {
                if !self.receiver_open {
                    Expect::Nothing
                } else if self.queue.is_empty() {
                    let ended = !self.sender_open || self.sender_shut;
                    if ended && self.kind != SocketKind::Datagram {
                        Expect::Eof
                    } else {
                        Expect::WouldBlock
                    }
                } else {
                    let (taken, bytes, fds) = self.front();
                    if !peek {
                        self.queue.drain(..taken);
                    }
                    if fds.len() > *cap {
                        Expect::Truncated {
                            bytes,
                            fds,
                            cap: *cap,
                        }
                    } else {
                        self.held += fds.len();
                        Expect::Received { bytes, fds }
                    }
                }
            }
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

/// The [`ReferenceStateMachine`] over [`Model`].
#[derive(Debug)]
pub struct Reference;

fn any_fd_kind() -> impl Strategy<Value = FdKind> {
    proptest::sample::select(FdKind::ALL.to_vec())
}

impl ReferenceStateMachine for Reference {
    type State = Model;
    type Transition = Op;

    fn init_state() -> BoxedStrategy<Model> {
        (
            any_kind(),
            proptest::collection::vec(any_fd_kind(), POOL),
            any::<bool>(),
        )
            .prop_map(|(kind, pool, passcred)| Model {
                kind,
                passcred,
                open: vec![true; pool.len()],
                pool,
                sender_open: true,
                sender_shut: false,
                receiver_open: true,
                reset_pending: false,
                disconnected: false,
                queue: VecDeque::new(),
                held: 0,
                seq: 0,
                expect: Expect::Nothing,
            })
            .boxed()
    }

    fn transitions(_state: &Model) -> BoxedStrategy<Op> {
        // Every operation is valid in every state (one that does not apply
        // expects nothing), so shrinking may drop any step.
        prop_oneof![
            6 => (proptest::collection::vec(any::<Index>(), 0..=MAX_SEND), 1..=MAX_PAYLOAD)
                .prop_map(|(picks, len)| Op::Send { picks, len }),
            6 => (0..=MAX_CAP, any::<bool>(), any::<bool>())
                .prop_map(|(cap, peek, cloexec)| Op::Recv { cap, peek, cloexec }),
            2 => any::<Index>().prop_map(Op::CloseOriginal),
            2 => Just(Op::CloseReceived),
            1 => Just(Op::ShutdownSender),
            1 => Just(Op::DropSender),
            1 => Just(Op::DropReceiver),
        ]
        .boxed()
    }

    fn apply(mut state: Model, op: &Op) -> Model {
        state.step(op);
        state
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(kind: SocketKind) -> Model {
        Model {
            kind,
            pool: vec![FdKind::File; POOL],
            passcred: false,
            open: vec![true; POOL],
            sender_open: true,
            sender_shut: false,
            receiver_open: true,
            reset_pending: false,
            disconnected: false,
            queue: VecDeque::new(),
            held: 0,
            seq: 0,
            expect: Expect::Nothing,
        }
    }

    /// Sends `n` descriptors (which ones does not matter here: the pool is
    /// all files).
    fn send(m: &mut Model, n: usize, len: usize) {
        use proptest::strategy::ValueTree;
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let picks = (0..n)
            .map(|_| any::<Index>().new_tree(&mut runner).unwrap().current())
            .collect();
        m.step(&Op::Send { picks, len });
    }

    #[test]
    fn stream_receive_merges_data_up_to_the_first_descriptors() {
        let mut m = model(SocketKind::Stream);
        send(&mut m, 0, 3);
        send(&mut m, 1, 3);
        send(&mut m, 1, 3);
        m.step(&Op::Recv {
            cap: 4,
            peek: false,
            cloexec: true,
        });
        match &m.expect {
            Expect::Received { bytes, fds } => {
                assert_eq!(bytes.len(), 6);
                assert_eq!(fds.len(), 1);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(m.queue.len(), 1);
        assert_eq!(m.held, 1);
    }

    #[test]
    fn seqpacket_reports_reset_once_then_epipe() {
        let mut m = model(SocketKind::SeqPacket);
        send(&mut m, 0, 2);
        m.step(&Op::DropReceiver);
        send(&mut m, 0, 2);
        assert!(matches!(
            m.expect,
            Expect::SendFails {
                errno: libc::ECONNRESET,
                ..
            }
        ));
        send(&mut m, 0, 2);
        assert!(matches!(
            m.expect,
            Expect::SendFails {
                errno: libc::EPIPE,
                ..
            }
        ));
    }

    #[test]
    fn truncation_consumes_unless_peeking() {
        let mut m = model(SocketKind::Datagram);
        send(&mut m, 3, 2);
        m.step(&Op::Recv {
            cap: 1,
            peek: true,
            cloexec: false,
        });
        assert!(matches!(m.expect, Expect::Truncated { cap: 1, .. }));
        assert_eq!(m.queue.len(), 1);
        m.step(&Op::Recv {
            cap: 1,
            peek: false,
            cloexec: false,
        });
        assert!(m.queue.is_empty());
        assert_eq!(m.held, 0);
    }
}
