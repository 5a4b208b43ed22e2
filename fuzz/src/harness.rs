//! The live model shared by `live_transfer` and `hostile_peer`: a socket
//! pair, a pool of fixture descriptors, and per end the queue of messages
//! the kernel holds for it. Every receive is checked against the model:
//! payload bytes, the descriptors (by identity, `kcmp`), the truncation
//! kind, credentials and pidfd.

use std::collections::VecDeque;
use std::io::IoSliceMut;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::rc::Rc;

use arbitrary::Arbitrary;
use inflight::{Credentials, ErrorKind, RecvOptions};
use inflight_testkit::cmsg::own_ids;

use crate::util::{self, CheapKind, Kind};

/// At most this many pool entries per input.
const POOL_MAX: usize = 16;
/// At most this many descriptors in flight per input (each costs a slot in
/// the kernel's per-user count and, on receipt, in our table).
pub(crate) const INFLIGHT_MAX: usize = 2048;

/// A fixture: the original descriptor (closable), what keeps it
/// meaningful (the other end of a pipe or socket pair), and a witness
/// duplicate that the oracle compares received descriptors with.
pub(crate) struct Entry {
    pub original: Option<OwnedFd>,
    _keep: Vec<OwnedFd>,
    pub witness: Rc<OwnedFd>,
}

/// A message the kernel holds for one end.
struct Pending {
    payload: Vec<u8>,
    fds: Vec<Rc<OwnedFd>>,
}

/// How many descriptors a receive makes room for, and through which API.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub(crate) enum Cap {
    Zero,
    One,
    Two,
    Four,
    Eight,
    Max,
    Vec(u8),
}

/// One receive.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub(crate) struct RecvSpec {
    pub cap: Cap,
    pub buf: u8,
    pub peek: bool,
    pub cloexec: bool,
}

struct Got {
    bytes: usize,
    fds: Vec<OwnedFd>,
    credentials: Option<Credentials>,
    pidfd: Option<OwnedFd>,
}

macro_rules! recv_array {
    ($n:expr, $sock:expr, $iov:expr, $opts:expr) => {
        (
            $n,
            inflight::recv_with::<$n>($sock, $iov, $opts).map(|r| Got {
                bytes: r.bytes,
                fds: r.fds.into_vec(),
                credentials: r.credentials,
                pidfd: r.pidfd,
            }),
        )
    };
}

pub(crate) struct Harness {
    pub kind: Kind,
    pub ends: [Option<OwnedFd>; 2],
    pub pool: Vec<Entry>,
    queues: [VecDeque<Pending>; 2],
    /// Stream only: bytes of the front message already consumed.
    front_off: [usize; 2],
    pub passcred: [bool; 2],
    pub passpidfd: [bool; 2],
    seq: u32,
    pub in_flight: usize,
    /// The peer of this end closed with data unread in its own queue: the
    /// kernel reports `ECONNRESET` once (stream and seqpacket).
    reset: [bool; 2],
}

impl Harness {
    pub(crate) fn new(kind: Kind) -> Self {
        util::raise_nofile();
        let (a, b) = inflight::socketpair(kind.socket()).expect("socketpair");
        Harness {
            kind,
            ends: [Some(a), Some(b)],
            pool: Vec::new(),
            queues: [VecDeque::new(), VecDeque::new()],
            front_off: [0, 0],
            passcred: [false; 2],
            passpidfd: [false; 2],
            seq: 0,
            in_flight: 0,
            reset: [false; 2],
        }
    }

    pub(crate) fn end(&self, i: usize) -> Option<BorrowedFd<'_>> {
        self.ends[i].as_ref().map(|f| f.as_fd())
    }

    pub(crate) fn open(&mut self, kind: CheapKind) {
        if self.pool.len() >= POOL_MAX {
            return;
        }
        let fixture = kind.0.open().expect("open fixture");
        let witness = Rc::new(fixture.fd.try_clone().expect("dup witness"));
        self.pool.push(Entry {
            original: Some(fixture.fd),
            _keep: fixture.keep,
            witness,
        });
    }

    /// The pool entry `idx` refers to among those whose original is open.
    pub(crate) fn pick(&self, idx: u8) -> Option<usize> {
        let open: Vec<usize> = (0..self.pool.len())
            .filter(|&i| self.pool[i].original.is_some())
            .collect();
        (!open.is_empty()).then(|| open[usize::from(idx) % open.len()])
    }

    pub(crate) fn close_original(&mut self, idx: u8) {
        if let Some(i) = self.pick(idx) {
            self.pool[i].original = None;
        }
    }

    pub(crate) fn drop_end(&mut self, i: usize) {
        if self.ends[i].is_none() {
            return;
        }
        self.ends[i] = None;
        if self.kind != Kind::Datagram && !self.queues[i].is_empty() {
            self.reset[1 - i] = true;
        }
        // The kernel purges what was queued for the closed end.
        self.purge(i);
    }

    /// Forgets what is queued at `at` (the kernel purged it).
    pub(crate) fn purge(&mut self, at: usize) {
        for p in self.queues[at].drain(..) {
            self.in_flight -= p.fds.len();
        }
        self.front_off[at] = 0;
    }

    /// A send from `from` failed with `ECONNRESET`: it consumed the pending
    /// error, which a receive will no longer report.
    pub(crate) fn reset_consumed(&mut self, from: usize) {
        self.reset[from] = false;
    }

    pub(crate) fn peer_alive(&self, at: usize) -> bool {
        self.ends[1 - at].is_some()
    }

    pub(crate) fn next_payload(&mut self, len: usize) -> Vec<u8> {
        self.seq += 1;
        util::payload(self.seq, len)
    }

    /// Records a message the kernel accepted for end `to`.
    pub(crate) fn enqueue(&mut self, to: usize, payload: Vec<u8>, fds: Vec<Rc<OwnedFd>>) {
        if self.kind == Kind::Stream && payload.is_empty() {
            // Nothing is queued on a stream for an empty write; the kernel
            // drops any descriptors with it.
            return;
        }
        if self.ends[to].is_none() {
            return;
        }
        self.in_flight += fds.len();
        self.queues[to].push_back(Pending { payload, fds });
    }

    fn queued_bytes(&self, at: usize) -> usize {
        self.queues[at]
            .iter()
            .map(|p| p.payload.len())
            .sum::<usize>()
            - self.front_off[at]
    }

    /// What `n` received bytes at `at` must be: the bytes, the descriptors
    /// that came with them, and whether the message was cut (`MSG_TRUNC`).
    ///
    /// Stream peeks differ from reads: Linux's `unix_stream_read_generic`
    /// keeps walking the queue in 0-byte steps once the buffer is full and
    /// stops at the first write that carries descriptors, duplicating them.
    /// A stream peek therefore returns the descriptors of the first
    /// descriptor-carrying write at or after the read position, even when
    /// none of its bytes fit (found by this fuzzer; see
    /// `regressions/live_transfer/README.md`).
    fn delivered(
        &self,
        at: usize,
        n: usize,
        len: usize,
        peek: bool,
    ) -> (Vec<u8>, Vec<Rc<OwnedFd>>, bool) {
        let q = &self.queues[at];
        match self.kind {
            Kind::Stream => {
                assert!(
                    n <= self.queued_bytes(at),
                    "stream: received {n} bytes, {} queued",
                    self.queued_bytes(at)
                );
                let mut bytes = Vec::with_capacity(n);
                let mut fds = Vec::new();
                let mut off = self.front_off[at];
                for p in q {
                    if bytes.len() == n {
                        break;
                    }
                    if off == 0 {
                        // Descriptors travel with the first byte of their
                        // write.
                        fds.extend(p.fds.iter().cloned());
                    }
                    let take = (n - bytes.len()).min(p.payload.len() - off);
                    bytes.extend_from_slice(&p.payload[off..off + take]);
                    off = 0;
                }
                if peek {
                    // The front message's descriptors went with an earlier
                    // partial read (the model cleared them), so "at or after
                    // the read position" is "the first non-empty list".
                    fds = q
                        .iter()
                        .find(|p| !p.fds.is_empty())
                        .map(|p| p.fds.clone())
                        .unwrap_or_default();
                }
                (bytes, fds, false)
            }
            Kind::SeqPacket | Kind::Datagram => {
                let p = q.front().expect("a message is queued");
                let want = p.payload.len().min(len);
                assert_eq!(
                    n,
                    want,
                    "{:?}: bytes of a {}-byte message",
                    self.kind,
                    p.payload.len()
                );
                (
                    p.payload[..n].to_vec(),
                    p.fds.clone(),
                    p.payload.len() > len,
                )
            }
        }
    }

    fn consume(&mut self, at: usize, n: usize) {
        match self.kind {
            Kind::Stream => {
                let mut left = n;
                while left > 0 {
                    let front = self.queues[at].front().expect("stream model underflow");
                    let rest = front.payload.len() - self.front_off[at];
                    if left >= rest {
                        left -= rest;
                        let p = self.queues[at].pop_front().expect("front");
                        self.in_flight -= p.fds.len();
                        self.front_off[at] = 0;
                    } else {
                        self.front_off[at] += left;
                        left = 0;
                    }
                }
                // A message whose descriptors went with a partial read keeps
                // none in flight.
                if self.front_off[at] > 0 {
                    if let Some(front) = self.queues[at].front_mut() {
                        self.in_flight -= front.fds.len();
                        front.fds.clear();
                    }
                }
            }
            Kind::SeqPacket | Kind::Datagram => {
                let p = self.queues[at].pop_front().expect("dgram model underflow");
                self.in_flight -= p.fds.len();
            }
        }
    }

    /// One receive at end `at`, checked against the model.
    pub(crate) fn recv(&mut self, at: usize, spec: RecvSpec) {
        let Some(sock) = self.ends[at].as_ref() else {
            return;
        };
        let mut len = usize::from(spec.buf);
        if self.kind == Kind::Stream {
            // 0 bytes read would be indistinguishable from end of stream.
            len = len.max(1);
        }
        let mut buf = vec![0u8; len];
        let opts = RecvOptions::new()
            .nonblocking(true)
            .peek(spec.peek)
            .cloexec(spec.cloexec);
        let iov = &mut [IoSliceMut::new(&mut buf)];
        let (capacity, res) = match spec.cap {
            Cap::Zero => recv_array!(0, sock, iov, &opts),
            Cap::One => recv_array!(1, sock, iov, &opts),
            Cap::Two => recv_array!(2, sock, iov, &opts),
            Cap::Four => recv_array!(4, sock, iov, &opts),
            Cap::Eight => recv_array!(8, sock, iov, &opts),
            Cap::Max => recv_array!(253, sock, iov, &opts),
            Cap::Vec(c) => {
                let c = usize::from(c % 24);
                (
                    c,
                    inflight::recv_vec_with(sock, iov, c, &opts).map(|r| Got {
                        bytes: r.bytes,
                        fds: r.fds,
                        credentials: r.credentials,
                        pidfd: r.pidfd,
                    }),
                )
            }
        };
        let what = format!("{:?} recv at {at} {spec:?}", self.kind);
        let empty = self.queues[at].is_empty();
        let eof = empty && self.kind != Kind::Datagram && !self.peer_alive(at);
        match res {
            Ok(got) => {
                if empty {
                    assert!(eof, "{what}: Ok({} bytes) with nothing queued", got.bytes);
                    assert_eq!(got.bytes, 0, "{what}: bytes at end of stream");
                    assert!(got.fds.is_empty(), "{what}: descriptors at end of stream");
                    return;
                }
                let n = got.bytes;
                if self.kind == Kind::Stream {
                    assert!(n >= 1, "{what}: 0 bytes with data queued");
                }
                let (bytes, fds, trunc) = self.delivered(at, n, len, spec.peek);
                assert!(!trunc, "{what}: a cut message reported as Ok");
                assert_eq!(&buf[..n], &bytes[..], "{what}: payload");
                assert_eq!(got.fds.len(), fds.len(), "{what}: descriptor count");
                assert!(got.fds.len() <= capacity, "{what}: more than the capacity");
                for (r, w) in got.fds.iter().zip(&fds) {
                    util::assert_same(r.as_fd(), w.as_fd(), &what);
                    util::assert_cloexec(r.as_fd(), spec.cloexec, &what);
                }
                if self.passcred[at] {
                    // The sender is this process.
                    let ids = got.credentials.map(|c: Credentials| (c.pid, c.uid, c.gid));
                    assert_eq!(ids, Some(own_ids()), "{what}: credentials");
                } else {
                    assert_eq!(got.credentials, None, "{what}: credentials unasked");
                }
                if self.passpidfd[at] {
                    let pidfd = got.pidfd.as_ref().expect("SO_PASSPIDFD on, no pidfd");
                    // The sender is this process: the pidfd must name it.
                    let pid = util::pidfd_pid(pidfd.as_fd());
                    assert_eq!(pid, Some(util::facts().pid), "{what}: the pidfd's process");
                } else {
                    assert!(got.pidfd.is_none(), "{what}: pidfd unasked");
                }
                if !spec.peek {
                    self.consume(at, n);
                }
            }
            Err(mut e) => {
                let kind = e.kind();
                let errno = e.io_error().and_then(|io| io.raw_os_error());
                if self.reset[at] && errno == Some(libc::ECONNRESET) {
                    // Reported once (before queued data on seqpacket, after
                    // it on stream; a send may consume it instead).
                    self.reset[at] = false;
                    return;
                }
                if kind == ErrorKind::Io && e.is_would_block() {
                    assert!(
                        empty && !eof,
                        "{what}: WouldBlock with data queued or at EOF"
                    );
                    return;
                }
                assert!(!empty, "{what}: {e:?} with nothing queued");
                let n = e.bytes();
                let (bytes, fds, trunc) = self.delivered(at, n, len, spec.peek);
                assert_eq!(&buf[..n], &bytes[..], "{what}: payload with {e:?}");
                let got = e.take_fds();
                match kind {
                    ErrorKind::ControlBufferFull => {
                        assert!(
                            fds.len() > capacity,
                            "{what}: {e:?} with {} sent",
                            fds.len()
                        );
                        assert_eq!(e.capacity(), capacity, "{what}: capacity in {e:?}");
                        assert!(
                            got.len() >= capacity && got.len() <= fds.len(),
                            "{what}: {} arrived of {} ({capacity} room)",
                            got.len(),
                            fds.len()
                        );
                    }
                    ErrorKind::PayloadTruncated => {
                        assert!(trunc, "{what}: {e:?} but the message fits");
                        assert!(fds.len() <= capacity, "{what}: truncation hid surplus");
                        assert_eq!(got.len(), fds.len(), "{what}: descriptors in {e:?}");
                    }
                    _ => panic!("{what}: unexpected {e:?}"),
                }
                for (r, w) in got.iter().zip(&fds) {
                    util::assert_same(r.as_fd(), w.as_fd(), &what);
                    util::assert_cloexec(r.as_fd(), spec.cloexec, &what);
                }
                if !spec.peek {
                    self.consume(at, n);
                }
            }
        }
    }

    /// Receives everything left at both ends, checking it against the model.
    pub(crate) fn drain(&mut self) {
        let spec = RecvSpec {
            cap: Cap::Max,
            buf: 255,
            peek: false,
            cloexec: true,
        };
        for at in 0..2 {
            let mut rounds = 0;
            while self.ends[at].is_some() && !self.queues[at].is_empty() {
                self.recv(at, spec);
                rounds += 1;
                assert!(rounds < 10_000, "drain does not progress");
            }
            // One more: WouldBlock or end of stream, as the model says.
            self.recv(at, spec);
        }
    }
}
