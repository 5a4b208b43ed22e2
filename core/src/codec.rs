//! The pure control-message codec: bytes in, typed values out, no system
//! calls.
//!
//! * [`encode`] writes a list of [`ControlMessage`]s into a caller buffer of
//!   `MaybeUninit<u8>` in the platform's `cmsghdr` layout.
//! * [`decode`] walks a received control buffer and yields [`Cmsg`] views;
//!   [`Cmsg::parse`] turns one into a typed [`Message`].
//!
//! Decoding never trusts a header: every length is checked against the
//! buffer, a `cmsg_len` that runs past the end is clamped to the end (the
//! message is marked [`truncated`](Cmsg::truncated) and the walk stops), and
//! a `cmsg_len` shorter than the header ends the walk with
//! [`ErrorKind::MalformedControl`]. Descriptor numbers found in a buffer are
//! plain integers ([`Rights`]); turning them into [`OwnedFd`]s is the one
//! `unsafe` step, [`Rights::claim`], for buffers the kernel filled.
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

use std::mem::{offset_of, size_of, MaybeUninit};
use std::ops::Range;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use crate::creds::Credentials;
use crate::error::{Error, ErrorKind};
use crate::SCM_MAX_FD;

/// Alignment of control message headers and data (`CMSG_ALIGN`).
#[cfg(any(target_os = "linux", target_os = "android"))]
pub const CMSG_ALIGNMENT: usize = size_of::<usize>();
/// Alignment of control message headers and data (`CMSG_ALIGN`).
#[cfg(target_vendor = "apple")]
pub const CMSG_ALIGNMENT: usize = 4;
/// Alignment of control message headers and data (`CMSG_ALIGN`).
#[cfg(not(any(target_os = "linux", target_os = "android", target_vendor = "apple")))]
pub const CMSG_ALIGNMENT: usize = size_of::<usize>();

/// Size of the `cmsg_len` field (the kernel's `size_t` on Linux).
#[cfg(any(target_os = "linux", target_os = "android"))]
const LEN_FIELD: usize = size_of::<usize>();
#[cfg(not(any(target_os = "linux", target_os = "android")))]
const LEN_FIELD: usize = size_of::<libc::socklen_t>();

const LEVEL_OFFSET: usize = offset_of!(libc::cmsghdr, cmsg_level);
const TYPE_OFFSET: usize = offset_of!(libc::cmsghdr, cmsg_type);
/// `sizeof(struct cmsghdr)`: the least `cmsg_len` that is well formed.
pub const HEADER_SIZE: usize = size_of::<libc::cmsghdr>();
/// Offset of the data from the header start (`CMSG_DATA(h) - h`).
pub const DATA_OFFSET: usize = cmsg_align(HEADER_SIZE);

const FD_SIZE: usize = size_of::<RawFd>();
#[cfg(any(target_os = "linux", target_os = "android"))]
const UCRED_SIZE: usize = size_of::<libc::ucred>();

/// `SCM_PIDFD` (Linux 6.5): a pidfd of the sending process.
pub const SCM_PIDFD: i32 = 0x04;

/// `CMSG_ALIGN(len)`.
pub const fn cmsg_align(len: usize) -> usize {
    (len + CMSG_ALIGNMENT - 1) & !(CMSG_ALIGNMENT - 1)
}

/// `CMSG_LEN(data_len)`: the `cmsg_len` of a message with `data_len` bytes.
pub const fn cmsg_len(data_len: usize) -> usize {
    DATA_OFFSET + data_len
}

/// `CMSG_SPACE(data_len)`: the bytes a message with `data_len` bytes takes
/// in a buffer, padding included.
pub const fn cmsg_space(data_len: usize) -> usize {
    DATA_OFFSET + cmsg_align(data_len)
}

/// Control buffer bytes for receiving up to `n` descriptors, with room beside
/// them for `SCM_CREDENTIALS` and `SCM_PIDFD`, so that neither can push a
/// descriptor out.
///
/// The kernel fills a control buffer greedily: when credentials or a pidfd
/// are absent it may install a few more than `n` descriptors into the room
/// kept for them (and `CMSG_SPACE` rounding alone lets `CMSG_SPACE(4)` hold
/// two). The receive functions of this crate therefore enforce the capacity
/// themselves: more than `n` arriving is
/// [`ErrorKind::ControlBufferFull`], with every arrived descriptor handed
/// back in the error.
///
/// ```
/// // One descriptor, credentials and a pidfd: 24 + 32 + 24 bytes on x86_64.
/// assert!(inflight::codec::space_for(1) >= inflight::codec::cmsg_space(4));
/// ```
pub const fn space_for(n: usize) -> usize {
    cmsg_space(n * FD_SIZE) + CREDENTIALS_SPACE + cmsg_space(FD_SIZE)
}

#[cfg(any(target_os = "linux", target_os = "android"))]
const CREDENTIALS_SPACE: usize = cmsg_space(UCRED_SIZE);
#[cfg(not(any(target_os = "linux", target_os = "android")))]
const CREDENTIALS_SPACE: usize = 0;

/// An aligned control buffer of `BYTES` bytes, for callers who drive
/// `recvmsg`/`sendmsg` themselves and use this codec. Size it with
/// [`space_for`] or [`cmsg_space`]:
///
/// ```
/// use inflight::codec::{space_for, CmsgBuffer};
/// let mut buf = CmsgBuffer::<{ space_for(4) }>::new();
/// assert_eq!(buf.as_uninit_mut().len(), space_for(4));
/// ```
#[repr(C, align(8))]
pub struct CmsgBuffer<const BYTES: usize> {
    bytes: [MaybeUninit<u8>; BYTES],
}

impl<const BYTES: usize> CmsgBuffer<BYTES> {
    /// A new buffer; no bytes are initialised.
    pub const fn new() -> Self {
        CmsgBuffer {
            bytes: [MaybeUninit::uninit(); BYTES],
        }
    }

    /// The buffer as uninitialised bytes, to [`encode`] into or hand to the
    /// kernel.
    pub fn as_uninit_mut(&mut self) -> &mut [MaybeUninit<u8>] {
        &mut self.bytes
    }
}

impl<const BYTES: usize> Default for CmsgBuffer<BYTES> {
    fn default() -> Self {
        Self::new()
    }
}

// ---------------------------------------------------------------- encoding

/// The descriptors of an `SCM_RIGHTS` message to encode.
#[derive(Clone, Copy, Debug)]
pub enum FdList<'a> {
    /// Descriptors borrowed for the duration of the send.
    Borrowed(&'a [BorrowedFd<'a>]),
    /// Plain numbers (for tests and fuzzing: encoding a number is harmless;
    /// only sending it makes it mean something).
    Raw(&'a [RawFd]),
}

impl FdList<'_> {
    /// How many descriptors.
    pub fn len(&self) -> usize {
        match self {
            FdList::Borrowed(s) => s.len(),
            FdList::Raw(s) => s.len(),
        }
    }

    /// No descriptors.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn get(&self, i: usize) -> RawFd {
        match self {
            FdList::Borrowed(s) => s[i].as_raw_fd(),
            FdList::Raw(s) => s[i],
        }
    }
}

/// A control message to encode.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum ControlMessage<'a> {
    /// `SOL_SOCKET`/`SCM_RIGHTS`.
    Rights(FdList<'a>),
    /// `SOL_SOCKET`/`SCM_CREDENTIALS` (Linux).
    #[cfg(any(target_os = "linux", target_os = "android"))]
    Credentials(Credentials),
    /// Any other message, copied as is.
    Other {
        /// `cmsg_level`.
        level: i32,
        /// `cmsg_type`.
        kind: i32,
        /// The data.
        data: &'a [u8],
    },
}

impl ControlMessage<'_> {
    fn data_len(&self) -> usize {
        match self {
            ControlMessage::Rights(fds) => fds.len() * FD_SIZE,
            #[cfg(any(target_os = "linux", target_os = "android"))]
            ControlMessage::Credentials(_) => UCRED_SIZE,
            ControlMessage::Other { data, .. } => data.len(),
        }
    }
}

/// Bytes [`encode`] needs for `msgs`: the sum of their `CMSG_SPACE`.
pub fn encoded_len(msgs: &[ControlMessage<'_>]) -> usize {
    msgs.iter().map(|m| cmsg_space(m.data_len())).sum()
}

/// Encodes `msgs` into `buf` and returns the written prefix of `buf` (its
/// length is the `msg_controllen` to send). Padding is zeroed, so the prefix
/// is fully initialised. An empty list writes nothing and returns an empty
/// slice.
///
/// # Errors
///
/// * [`ErrorKind::TooManyFds`]: more than [`SCM_MAX_FD`] descriptors in all
///   `Rights` messages together (the kernel refuses that with `EINVAL`).
/// * [`ErrorKind::BufferTooSmall`]: `buf` is shorter than
///   [`encoded_len`]`(msgs)`; nothing useful was written.
/// * [`ErrorKind::InvalidControl`]: credentials with a negative pid.
///
/// ```
/// use inflight::codec::{decode, encode, encoded_len, ControlMessage, FdList, Message, CmsgBuffer};
/// let msgs = [ControlMessage::Rights(FdList::Raw(&[7, 8]))];
/// let mut buf = CmsgBuffer::<64>::new();
/// let bytes = encode(&msgs, buf.as_uninit_mut())?;
/// assert_eq!(bytes.len(), encoded_len(&msgs));
/// let first = decode(bytes).next().unwrap()?;
/// match first.parse() {
///     Message::Rights(r) => assert_eq!(r.iter().collect::<Vec<_>>(), [7, 8]),
///     other => panic!("unexpected {other:?}"),
/// }
/// # Ok::<(), inflight::Error>(())
/// ```
pub fn encode<'b>(
    msgs: &[ControlMessage<'_>],
    buf: &'b mut [MaybeUninit<u8>],
) -> Result<&'b [u8], Error> {
    let total_fds: usize = msgs
        .iter()
        .map(|m| match m {
            ControlMessage::Rights(f) => f.len(),
            _ => 0,
        })
        .sum();
    if total_fds > SCM_MAX_FD {
        return Err(Error::new(ErrorKind::TooManyFds));
    }
    let need = encoded_len(msgs);
    if buf.len() < need {
        return Err(Error::new(ErrorKind::BufferTooSmall));
    }
    let mut off = 0;
    for m in msgs {
        let data_len = m.data_len();
        let (level, kind) = match m {
            ControlMessage::Rights(_) => (libc::SOL_SOCKET, libc::SCM_RIGHTS),
            #[cfg(any(target_os = "linux", target_os = "android"))]
            ControlMessage::Credentials(c) => {
                if c.pid < 0 {
                    return Err(Error::with_detail(
                        ErrorKind::InvalidControl,
                        "credentials with a negative pid",
                    ));
                }
                (libc::SOL_SOCKET, libc::SCM_CREDENTIALS)
            }
            ControlMessage::Other { level, kind, .. } => (*level, *kind),
        };
        let msg = &mut buf[off..off + cmsg_space(data_len)];
        // Zero the header (its padding included) and the data padding.
        for b in msg.iter_mut() {
            b.write(0);
        }
        write_len(&mut msg[..LEN_FIELD], cmsg_len(data_len));
        write_bytes(&mut msg[LEVEL_OFFSET..], &level.to_ne_bytes());
        write_bytes(&mut msg[TYPE_OFFSET..], &kind.to_ne_bytes());
        let data = &mut msg[DATA_OFFSET..];
        match m {
            ControlMessage::Rights(fds) => {
                for i in 0..fds.len() {
                    write_bytes(&mut data[i * FD_SIZE..], &fds.get(i).to_ne_bytes());
                }
            }
            #[cfg(any(target_os = "linux", target_os = "android"))]
            ControlMessage::Credentials(c) => {
                write_bytes(data, &c.pid.to_ne_bytes());
                write_bytes(&mut data[4..], &c.uid.to_ne_bytes());
                write_bytes(&mut data[8..], &c.gid.to_ne_bytes());
            }
            ControlMessage::Other { data: src, .. } => write_bytes(data, src),
        }
        off += cmsg_space(data_len);
    }
    let written = &buf[..off];
    // SAFETY: `slice::from_raw_parts` needs a pointer valid for reads of
    // `off` initialised `u8`s, aligned, within one allocation, and no
    // mutable alias while the result lives. The loop above wrote every byte
    // of `buf[..off]` (each message zeroes its whole `cmsg_space` first),
    // `MaybeUninit<u8>` has the layout of `u8`, and the returned borrow
    // keeps `buf` mutably borrowed for its lifetime.
    Ok(unsafe { std::slice::from_raw_parts(written.as_ptr().cast::<u8>(), off) })
}

fn write_bytes(dst: &mut [MaybeUninit<u8>], src: &[u8]) {
    for (d, s) in dst.iter_mut().zip(src) {
        d.write(*s);
    }
}

fn write_len(dst: &mut [MaybeUninit<u8>], len: usize) {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    write_bytes(dst, &len.to_ne_bytes());
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    write_bytes(dst, &(len as libc::socklen_t).to_ne_bytes());
}

fn read_len(src: &[u8]) -> usize {
    let mut raw = [0u8; LEN_FIELD];
    raw.copy_from_slice(&src[..LEN_FIELD]);
    #[cfg(any(target_os = "linux", target_os = "android"))]
    return usize::from_ne_bytes(raw);
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    return libc::socklen_t::from_ne_bytes(raw) as usize;
}

fn read_i32(src: &[u8], at: usize) -> i32 {
    let mut raw = [0u8; 4];
    raw.copy_from_slice(&src[at..at + 4]);
    i32::from_ne_bytes(raw)
}

fn read_u32(src: &[u8], at: usize) -> u32 {
    let mut raw = [0u8; 4];
    raw.copy_from_slice(&src[at..at + 4]);
    u32::from_ne_bytes(raw)
}

// ---------------------------------------------------------------- decoding

/// Walks the control messages in `buf`, which must be exactly the bytes the
/// kernel reported (`msg_controllen`); use [`decode_clamped`] when a claimed
/// length comes separately.
pub fn decode(buf: &[u8]) -> Decoder<'_> {
    Decoder {
        buf,
        off: 0,
        done: false,
    }
}

/// Walks the first `min(claimed_len, buf.len())` bytes of `buf`: a claimed
/// `msg_controllen` larger than the buffer is never trusted.
pub fn decode_clamped(buf: &[u8], claimed_len: usize) -> Decoder<'_> {
    decode(&buf[..claimed_len.min(buf.len())])
}

/// Iterator over the control messages of a buffer; see [`decode`].
///
/// Yields `Ok(Cmsg)` per message and at most one `Err`
/// ([`ErrorKind::MalformedControl`]), after which it is exhausted.
#[derive(Clone, Debug)]
pub struct Decoder<'a> {
    buf: &'a [u8],
    off: usize,
    done: bool,
}

impl<'a> Iterator for Decoder<'a> {
    type Item = Result<Cmsg<'a>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let rest = &self.buf[self.off.min(self.buf.len())..];
        if rest.len() < HEADER_SIZE {
            self.done = true;
            return None;
        }
        let len = read_len(rest);
        if len < HEADER_SIZE {
            self.done = true;
            return Some(Err(Error::with_detail(
                ErrorKind::MalformedControl,
                format!(
                    "cmsg_len {len} at offset {} is below the header size",
                    self.off
                ),
            )));
        }
        let level = read_i32(rest, LEVEL_OFFSET);
        let kind = read_i32(rest, TYPE_OFFSET);
        let start = self.off;
        let data_start = (start + DATA_OFFSET).min(self.buf.len());
        let (end, truncated) = match start.checked_add(len) {
            Some(end) if end <= self.buf.len() => (end, false),
            _ => (self.buf.len(), true),
        };
        let data_start = data_start.min(end);
        match start.checked_add(cmsg_align(len.min(usize::MAX - CMSG_ALIGNMENT))) {
            Some(next) if !truncated && next > start => self.off = next,
            _ => self.done = true,
        }
        Some(Ok(Cmsg {
            level,
            kind,
            data: &self.buf[data_start..end],
            data_range: data_start..end,
            offset: start,
            truncated,
        }))
    }
}

impl std::iter::FusedIterator for Decoder<'_> {}

/// One control message as found in a buffer: header fields and a data slice
/// that is always inside the buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cmsg<'a> {
    /// `cmsg_level`.
    pub level: i32,
    /// `cmsg_type`.
    pub kind: i32,
    /// The data, clamped to the buffer.
    pub data: &'a [u8],
    /// Where `data` lies in the decoded buffer.
    pub data_range: Range<usize>,
    /// Offset of the header in the decoded buffer.
    pub offset: usize,
    /// `cmsg_len` claimed more bytes than the buffer holds; `data` was
    /// clamped. The walk ends after such a message.
    pub truncated: bool,
}

impl<'a> Cmsg<'a> {
    /// The typed form of this message. Unknown levels and types, and known
    /// types with a data length that does not fit their payload, come back as
    /// [`Message::Other`].
    pub fn parse(&self) -> Message<'a> {
        if self.level == libc::SOL_SOCKET {
            if self.kind == libc::SCM_RIGHTS {
                return Message::Rights(Rights { data: self.data });
            }
            #[cfg(any(target_os = "linux", target_os = "android"))]
            if self.kind == libc::SCM_CREDENTIALS && self.data.len() >= UCRED_SIZE {
                return Message::Credentials(Credentials {
                    pid: read_i32(self.data, 0),
                    uid: read_u32(self.data, 4),
                    gid: read_u32(self.data, 8),
                });
            }
            #[cfg(any(target_os = "linux", target_os = "android"))]
            if self.kind == SCM_PIDFD && self.data.len() >= FD_SIZE {
                return Message::PidFd(read_i32(self.data, 0));
            }
        }
        Message::Other {
            level: self.level,
            kind: self.kind,
            data: self.data,
        }
    }
}

/// A typed control message.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Message<'a> {
    /// `SCM_RIGHTS`: descriptor numbers.
    Rights(Rights<'a>),
    /// `SCM_CREDENTIALS`.
    Credentials(Credentials),
    /// `SCM_PIDFD`: a pidfd number.
    PidFd(RawFd),
    /// Anything else.
    Other {
        /// `cmsg_level`.
        level: i32,
        /// `cmsg_type`.
        kind: i32,
        /// The data.
        data: &'a [u8],
    },
}

/// The descriptor numbers of an `SCM_RIGHTS` message: plain integers read
/// from bytes. A trailing partial number (data length not a multiple of 4)
/// is ignored and reported by [`trailing_bytes`](Rights::trailing_bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rights<'a> {
    data: &'a [u8],
}

impl<'a> Rights<'a> {
    /// How many whole descriptor numbers.
    pub fn len(&self) -> usize {
        self.data.len() / FD_SIZE
    }

    /// No descriptor numbers.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes after the last whole number (0 in anything the kernel wrote).
    pub fn trailing_bytes(&self) -> usize {
        self.data.len() % FD_SIZE
    }

    /// The numbers, in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = RawFd> + 'a {
        self.data
            .chunks_exact(FD_SIZE)
            .map(|c| i32::from_ne_bytes([c[0], c[1], c[2], c[3]]))
    }

    /// Takes ownership of every descriptor number, in order.
    ///
    /// # Safety
    ///
    /// The buffer must have been filled by a successful `recvmsg` in this
    /// process: each number must be a descriptor that the kernel installed
    /// for this call and that nothing else owns, and this must be the only
    /// `claim` of this message. Numbers from untrusted bytes would close (or
    /// double-close) descriptors that belong to others.
    pub unsafe fn claim(&self) -> impl ExactSizeIterator<Item = OwnedFd> + 'a {
        self.iter().map(|fd| {
            // SAFETY: `OwnedFd::from_raw_fd` requires an open descriptor that
            // the caller owns exclusively and that is not -1; this function's
            // contract makes the caller vouch that the kernel installed it
            // for this process and that it is claimed only once.
            unsafe { OwnedFd::from_raw_fd(fd) }
        })
    }
}

/// Takes ownership of a pidfd number from an `SCM_PIDFD` message.
///
/// # Safety
///
/// As for [`Rights::claim`]: `fd` must come from a buffer filled by a
/// successful `recvmsg` in this process and be claimed once.
pub unsafe fn claim_pidfd(fd: RawFd) -> OwnedFd {
    // SAFETY: the caller guarantees `fd` is a descriptor the kernel installed
    // for this process, open, exclusively owned and not -1 (from_raw_fd's
    // preconditions).
    unsafe { OwnedFd::from_raw_fd(fd) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_libc() {
        for n in 0..300usize {
            let len = (n * 4) as u32;
            // SAFETY: CMSG_LEN/CMSG_SPACE are pure arithmetic on their
            // argument; no pointer is involved.
            let (l, s) = unsafe { (libc::CMSG_LEN(len) as usize, libc::CMSG_SPACE(len) as usize) };
            assert_eq!(cmsg_len(n * 4), l, "CMSG_LEN({})", n * 4);
            assert_eq!(cmsg_space(n * 4), s, "CMSG_SPACE({})", n * 4);
        }
    }
}
