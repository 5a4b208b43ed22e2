//! Message plans: what one case sends and how it receives.

use std::fmt;

use inflight::SocketKind;
use proptest::prelude::*;
use proptest::sample::Index;

use crate::fds::{bytes_from_seed, fd_spec, FdSpec, Source};

/// How the receive capacity relates to the descriptor count `n`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Capacity {
    /// `n - 1 - k % n` (below; equal when `n` is 0).
    Below(u8),
    /// `n`.
    Equal,
    /// `n + 1 + k`.
    Above(u8),
}

impl Capacity {
    /// The capacity for `n` descriptors.
    pub fn for_count(self, n: usize) -> usize {
        match self {
            Capacity::Below(_) | Capacity::Equal if n == 0 => 0,
            Capacity::Below(k) => n - 1 - usize::from(k) % n,
            Capacity::Equal => n,
            Capacity::Above(k) => n + 1 + usize::from(k),
        }
    }
}

/// One message: payload, descriptors (indices into the pool, repeats
/// allowed), and how the receiver takes it.
#[derive(Clone, PartialEq, Eq)]
pub struct MessagePlan {
    /// Payload length in bytes.
    pub payload_len: usize,
    /// Seed of the payload bytes.
    pub payload_seed: u64,
    /// Descriptors, as indices into the pool, in send order.
    pub fds: Vec<usize>,
    /// The receive capacity relative to `fds.len()`.
    pub capacity: Capacity,
    /// Whether the receiver asks for `MSG_CMSG_CLOEXEC`.
    pub cloexec: bool,
}

impl MessagePlan {
    /// The payload bytes.
    pub fn payload(&self) -> Vec<u8> {
        bytes_from_seed(self.payload_seed, self.payload_len)
    }

    /// The receive capacity.
    pub fn capacity(&self) -> usize {
        self.capacity.for_count(self.fds.len())
    }
}

impl fmt::Debug for MessagePlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rel = match self.capacity {
            Capacity::Below(_) if !self.fds.is_empty() => "below",
            Capacity::Above(_) => "above",
            _ => "equal",
        };
        write!(
            f,
            "payload {} B, {} fd(s) {:?}, receive capacity {} ({rel}), {}",
            self.payload_len,
            self.fds.len(),
            Compact(&self.fds),
            self.capacity(),
            if self.cloexec {
                "CLOEXEC"
            } else {
                "no CLOEXEC"
            }
        )
    }
}

/// Run-length form of a descriptor list: `[0 x3, 1, 0]`.
struct Compact<'a>(&'a [usize]);

impl fmt::Debug for Compact<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        let mut i = 0;
        while i < self.0.len() {
            let mut j = i;
            while j < self.0.len() && self.0[j] == self.0[i] {
                j += 1;
            }
            if i > 0 {
                f.write_str(", ")?;
            }
            if j - i > 1 {
                write!(f, "#{} x{}", self.0[i], j - i)?;
            } else {
                write!(f, "#{}", self.0[i])?;
            }
            i = j;
        }
        f.write_str("]")
    }
}

/// A whole case: the socket kind, the descriptor pool, the messages sent in
/// a row, and the blocking modes.
#[derive(Clone, PartialEq, Eq)]
pub struct CasePlan {
    /// The socket pair's kind.
    pub kind: SocketKind,
    /// The descriptors opened for the case (`#i` in the messages).
    pub pool: Vec<FdSpec>,
    /// The messages, in send order.
    pub messages: Vec<MessagePlan>,
    /// Sends with `MSG_DONTWAIT` (retrying after `poll` on `WouldBlock`).
    pub send_nonblocking: bool,
    /// Receives with `MSG_DONTWAIT` (retrying after `poll`).
    pub recv_nonblocking: bool,
}

impl fmt::Debug for CasePlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} socket pair, {} send, {} receive",
            self.kind,
            if self.send_nonblocking {
                "non-blocking"
            } else {
                "blocking"
            },
            if self.recv_nonblocking {
                "non-blocking"
            } else {
                "blocking"
            },
        )?;
        for (i, s) in self.pool.iter().enumerate() {
            writeln!(f, "  fd #{i}: {s:?}")?;
        }
        for (i, m) in self.messages.iter().enumerate() {
            writeln!(f, "  message {i}: {m:?}")?;
        }
        Ok(())
    }
}

/// Limits of a plan strategy.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Messages per case.
    pub messages: (usize, usize),
    /// The largest payload.
    pub max_payload: usize,
    /// Descriptors in all messages of a case together (the kernel's
    /// per-user in-flight limit is `RLIMIT_NOFILE`, maybe 1024 in CI).
    pub max_total_fds: usize,
    /// Allow capacities below the count (truncation).
    pub truncation: bool,
    /// Allow the sending socket itself in the pool.
    pub sender_socket: bool,
}

impl Limits {
    /// Defaults: 1–3 messages, payloads up to 64 KiB, up to 300 descriptors
    /// in a case, capacities at or above the count.
    pub const fn new() -> Self {
        Limits {
            messages: (1, 3),
            max_payload: 64 * 1024,
            max_total_fds: 300,
            truncation: false,
            sender_socket: true,
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self::new()
    }
}

/// Any socket kind.
pub fn any_kind() -> impl Strategy<Value = SocketKind> {
    proptest::sample::select(SocketKind::ALL.to_vec())
}

/// A payload length for `kind`: 1 to `max` bytes, mostly small; 0 allowed
/// on seqpacket and datagram.
pub fn payload_len(kind: SocketKind, max: usize) -> BoxedStrategy<usize> {
    let small = 1..=64.min(max);
    let mid = 1..=4096.min(max);
    let any = 1..=max;
    if kind == SocketKind::Stream {
        prop_oneof![5 => small, 3 => mid, 1 => any].boxed()
    } else {
        prop_oneof![1 => Just(0), 5 => small, 3 => mid, 1 => any].boxed()
    }
}

/// A descriptor count: mostly a few, sometimes up to 253, sometimes exactly
/// 253.
pub fn fd_count() -> impl Strategy<Value = usize> {
    prop_oneof![
        6 => 0usize..=4,
        3 => 0usize..=32,
        1 => 0usize..=inflight::SCM_MAX_FD,
        1 => Just(inflight::SCM_MAX_FD),
    ]
}

fn capacity(truncation: bool) -> BoxedStrategy<Capacity> {
    let equal_or_above = prop_oneof![
        2 => Just(Capacity::Equal),
        1 => (0u8..8).prop_map(Capacity::Above),
        1 => any::<u8>().prop_map(Capacity::Above),
    ];
    if truncation {
        prop_oneof![2 => any::<u8>().prop_map(Capacity::Below), 1 => equal_or_above].boxed()
    } else {
        equal_or_above.boxed()
    }
}

/// One message over a pool of `pool_len` descriptors.
pub fn message(
    kind: SocketKind,
    pool_len: usize,
    limits: Limits,
) -> impl Strategy<Value = MessagePlan> {
    (
        payload_len(kind, limits.max_payload),
        any::<u64>(),
        fd_count().prop_flat_map(|n| proptest::collection::vec(any::<Index>(), n)),
        capacity(limits.truncation),
        any::<bool>(),
    )
        .prop_map(move |(payload_len, payload_seed, idx, capacity, cloexec)| {
            let fds = idx.iter().map(|i| i.index(pool_len)).collect();
            MessagePlan {
                payload_len,
                payload_seed,
                fds,
                capacity,
                cloexec,
            }
        })
}

/// A whole case over any socket kind, with a pool from `source`.
pub fn case(
    kind: impl Strategy<Value = SocketKind>,
    source: impl Strategy<Value = Source> + Clone + 'static,
    limits: Limits,
) -> impl Strategy<Value = CasePlan> {
    kind.prop_flat_map(move |kind| {
        let source = source.clone();
        proptest::collection::vec(fd_spec(source), 1..=6).prop_flat_map(move |pool| {
            let n = pool.len();
            (
                Just(pool),
                proptest::collection::vec(
                    message(kind, n, limits),
                    limits.messages.0..=limits.messages.1,
                ),
                any::<bool>(),
                any::<bool>(),
            )
                .prop_map(move |(mut pool, mut messages, sn, rn)| {
                    if !limits.sender_socket {
                        for s in &mut pool {
                            if s.source == Source::SenderSocket {
                                s.source = Source::Kind(inflight_testkit::FdKind::DevNull);
                            }
                        }
                    }
                    // Bound the descriptors of a case (in-flight limit).
                    let mut budget = limits.max_total_fds;
                    for m in &mut messages {
                        m.fds.truncate(budget);
                        budget -= m.fds.len();
                    }
                    CasePlan {
                        kind,
                        pool,
                        messages,
                        send_nonblocking: sn,
                        recv_nonblocking: rn,
                    }
                })
        })
    })
}
