//! Batches: several messages, each with its own descriptors, in one system
//! call (`sendmmsg(2)` / `recvmmsg(2)`, Linux).
//!
//! [`SendBatch<M, N>`] and [`RecvBatch<M, N>`] hold, inline, the headers
//! and one control area per message for up to `M` messages of up to `N`
//! descriptors each: no heap allocation per message or per call. Keep one
//! around (it is scratch space, rewritten by every call) or make one on the
//! stack per call; making one costs nothing (its storage is uninitialised).
//!
//! The guarantees are those of the single-message calls, per message:
//! every descriptor the kernel installed is handed to the caller or closed,
//! close-on-exec by default, and each message's truncation is its own typed
//! [`Error`] holding that message's descriptors; the other messages of the
//! batch are unaffected.
//!
//! ```
//! use std::os::fd::AsFd;
//! use inflight::batch::{Message, RecvBatch, SendBatch};
//! use inflight::{socketpair, SocketKind};
//!
//! let (tx, rx) = socketpair(SocketKind::SeqPacket)?;
//! let null = std::fs::File::open("/dev/null")?;
//! let fds = [null.as_fd()];
//! let msgs = [Message::new(b"a", &fds), Message::new(b"b", &fds), Message::new(b"c", &[])];
//! assert_eq!(SendBatch::<8, 1>::new().send(&tx, &msgs)?, 3);
//!
//! let mut storage = [[0u8; 16]; 8];
//! let mut bufs = storage.each_mut().map(|b| std::io::IoSliceMut::new(b));
//! let mut batch = RecvBatch::<8, 1>::new();
//! let got: Vec<usize> = batch
//!     .recv(&rx, &mut bufs, &inflight::RecvOptions::new())?
//!     .map(|m| m.map(|r| r.fds.len()))
//!     .collect::<Result<_, _>>()?;
//! assert_eq!(got, [1, 1, 0]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::io::{IoSlice, IoSliceMut};
use std::mem::{size_of, MaybeUninit};
use std::os::fd::{AsFd, BorrowedFd};

use crate::codec::{self, space_for, ControlMessage, FdList};
use crate::error::{Error, ErrorKind};
use crate::options::{Received, RecvOptions};
use crate::sys::FdArray;
use crate::sys::{self, ControlBuffer};
use crate::transfer::check_send;

/// One message of a batch to send: a payload and the descriptors that go
/// with it (borrowed, as for [`send_fds`](crate::send_fds)).
#[derive(Clone, Copy, Debug)]
pub struct Message<'a> {
    payload: &'a [u8],
    fds: &'a [BorrowedFd<'a>],
}

impl<'a> Message<'a> {
    /// A message carrying `payload` and `fds`.
    pub const fn new(payload: &'a [u8], fds: &'a [BorrowedFd<'a>]) -> Self {
        Message { payload, fds }
    }
}

/// Storage for sending up to `M` messages of up to `N` descriptors each in
/// one `sendmmsg`.
pub struct SendBatch<const M: usize, const N: usize> {
    hdrs: [MaybeUninit<libc::mmsghdr>; M],
    control: [ControlBuffer<N>; M],
    sent: [usize; M],
    nonblocking: bool,
}

// SAFETY: `Send` needs every field to be safe to move to another thread.
// The only non-`Send` field is `hdrs`, whose raw pointers are scratch:
// written by each `send` for the duration of its system call and never
// dereferenced afterwards, so no thread can reach memory through them.
unsafe impl<const M: usize, const N: usize> Send for SendBatch<M, N> {}

impl<const M: usize, const N: usize> Default for SendBatch<M, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const M: usize, const N: usize> SendBatch<M, N> {
    /// Empty storage (nothing initialised: free to make).
    pub const fn new() -> Self {
        SendBatch {
            hdrs: [const { MaybeUninit::uninit() }; M],
            control: [const { ControlBuffer::new() }; M],
            sent: [0; M],
            nonblocking: false,
        }
    }

    /// `MSG_DONTWAIT` on later sends: fail with `WouldBlock` instead of
    /// blocking, whatever the socket's mode.
    pub fn nonblocking(&mut self, on: bool) -> &mut Self {
        self.nonblocking = on;
        self
    }

    /// Sends the first `M` of `msgs` (fewer if `msgs` is shorter) in one
    /// `sendmmsg`, with `MSG_NOSIGNAL`. Returns how many messages the
    /// kernel accepted, which may be fewer than were passed: send the rest
    /// with another call. [`bytes_sent`](Self::bytes_sent) tells each
    /// accepted message's payload bytes (on a stream socket a message may
    /// go out short; its descriptors travel with its first byte).
    ///
    /// Every message is checked before the system call; nothing is sent if
    /// one fails.
    ///
    /// # Errors
    ///
    /// * [`ErrorKind::TooManyFds`]: a message with more than `N`
    ///   descriptors (the detail names the message).
    /// * [`ErrorKind::EmptyPayloadOnStream`]: a message with descriptors
    ///   and an empty payload on a stream socket.
    /// * [`ErrorKind::Io`]: the `sendmmsg` error when the *first* message
    ///   could not be sent. When a later one fails the kernel returns the
    ///   count before it, and the error comes with the next call.
    pub fn send(&mut self, sock: &impl AsFd, msgs: &[Message<'_>]) -> Result<usize, Error> {
        let sock = sock.as_fd();
        let msgs = &msgs[..msgs.len().min(M)];
        if msgs.is_empty() {
            return Ok(0);
        }
        for (i, m) in msgs.iter().enumerate() {
            if m.fds.len() > N {
                return Err(Error::with_detail(
                    ErrorKind::TooManyFds,
                    format!(
                        "message {i}: {} descriptors, the batch holds {N} per message",
                        m.fds.len()
                    ),
                ));
            }
            check_send(sock, &[IoSlice::new(m.payload)], m.fds)?;
        }
        let stride = size_of::<ControlBuffer<N>>();
        let mut iovs = [IoSlice::new(&[]); M];
        let mut controls: [&[MaybeUninit<u8>]; M] = [&[]; M];
        let flat = sys::uninit_slice_bytes(&mut self.control);
        for (((iov, ctl), area), m) in iovs
            .iter_mut()
            .zip(controls.iter_mut())
            .zip(flat.chunks_exact_mut(stride))
            .zip(msgs)
        {
            *iov = IoSlice::new(m.payload);
            if !m.fds.is_empty() {
                let rights = [ControlMessage::Rights(FdList::Borrowed(m.fds))];
                let len = codec::encode_uninit(&rights, area)?;
                *ctl = &area[..len];
            }
        }
        let mut flags = libc::MSG_NOSIGNAL;
        if self.nonblocking {
            flags |= libc::MSG_DONTWAIT;
        }
        let n = msgs.len();
        Ok(sys::sendmmsg(
            sock,
            &mut self.hdrs,
            &iovs[..n],
            &controls[..n],
            &mut self.sent[..n],
            flags,
        )?)
    }

    /// Payload bytes the kernel took from message `i` of the last
    /// [`send`](Self::send) (meaningful for `i` below the count it
    /// returned; 0 past `M`).
    pub fn bytes_sent(&self, i: usize) -> usize {
        self.sent.get(i).copied().unwrap_or(0)
    }
}

/// Storage for receiving up to `M` messages with room for `N` descriptors
/// each in one `recvmmsg`.
pub struct RecvBatch<const M: usize, const N: usize> {
    hdrs: [MaybeUninit<libc::mmsghdr>; M],
    control: [ControlBuffer<N>; M],
}

// SAFETY: as for `SendBatch`: the headers' raw pointers are scratch, never
// dereferenced outside the system call of the `recv` that wrote them.
unsafe impl<const M: usize, const N: usize> Send for RecvBatch<M, N> {}

impl<const M: usize, const N: usize> Default for RecvBatch<M, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const M: usize, const N: usize> RecvBatch<M, N> {
    /// Empty storage (nothing initialised: free to make).
    pub const fn new() -> Self {
        RecvBatch {
            hdrs: [const { MaybeUninit::uninit() }; M],
            control: [const { ControlBuffer::new() }; M],
        }
    }

    /// Receives up to `min(M, bufs.len())` messages in one `recvmmsg`,
    /// message `i`'s payload into `bufs[i]`, with room for `N` descriptors
    /// per message. Blocks (unless `opts` or the socket say not to) until
    /// one message is there, then takes what is queued without waiting
    /// (`MSG_WAITFORONE`).
    ///
    /// The result yields one `Result` per message received, in order, with
    /// the semantics of [`recv_fds`](crate::recv_fds) for that message:
    /// `ControlBufferFull`, `ReceiverLimit` and `PayloadTruncated` are that
    /// message's error, holding its descriptors. Messages not taken from
    /// the result have their descriptors closed when it drops.
    ///
    /// # Errors
    ///
    /// * [`ErrorKind::Unsupported`]: `opts` asks for a peek (`recvmmsg`
    ///   would peek the same message again for every slot).
    /// * [`ErrorKind::Io`]: the `recvmmsg` error when no message could be
    ///   received (`WouldBlock` when non-blocking with nothing queued).
    pub fn recv<'a>(
        &'a mut self,
        sock: &impl AsFd,
        bufs: &mut [IoSliceMut<'_>],
        opts: &RecvOptions,
    ) -> Result<Messages<'a, N>, Error> {
        let flags = opts.flags();
        if flags & libc::MSG_PEEK != 0 {
            return Err(Error::with_detail(
                ErrorKind::Unsupported,
                "peeking a batch of messages",
            ));
        }
        let n = bufs.len().min(M);
        let stride = size_of::<ControlBuffer<N>>();
        let control = sys::uninit_slice_bytes(&mut self.control);
        let raw = sys::recvmmsg(
            sock.as_fd(),
            &mut self.hdrs,
            &mut bufs[..n],
            control,
            stride,
            space_for(N),
            flags | libc::MSG_WAITFORONE,
        )?;
        Ok(Messages { raw })
    }
}

/// The messages one [`RecvBatch::recv`] received: an iterator of one
/// `Result` per message. Dropping it closes the descriptors of the messages
/// not taken.
pub struct Messages<'a, const N: usize> {
    raw: sys::MmsgRecv<'a>,
}

impl<const N: usize> Messages<'_, N> {
    /// How many messages the system call received (taken or not).
    pub fn received(&self) -> usize {
        self.raw.len()
    }
}

impl<const N: usize> Iterator for Messages<'_, N> {
    type Item = Result<Received<FdArray<N>>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        let raw = self.raw.next_message()?;
        // The same claim and classification as a single receive.
        Some(crate::transfer::finish(raw, FdArray::<N>::new(), true))
    }
}
