//! Decoding untrusted control bytes into typed messages.

use std::ops::Range;
use std::os::fd::RawFd;

#[cfg(linux_like)]
use super::wire::SCM_PIDFD;
use super::wire::{
    cmsg_align, read_i32, read_len, Credentials, DATA_OFFSET, FD_SIZE, HEADER_SIZE, LEVEL_OFFSET,
    TYPE_OFFSET,
};
use crate::error::{Error, ErrorKind};

/// Walks the control messages in `buf`, which must be exactly the bytes the
/// kernel reported (`msg_controllen`); use [`decode_clamped`] when a claimed
/// length comes separately.
#[inline]
pub fn decode(buf: &[u8]) -> Decoder<'_> {
    Decoder { buf, off: 0 }
}

/// Walks the first `min(claimed_len, buf.len())` bytes of `buf`: a claimed
/// `msg_controllen` larger than the buffer is never trusted.
pub fn decode_clamped(buf: &[u8], claimed_len: usize) -> Decoder<'_> {
    decode(&buf[..claimed_len.min(buf.len())])
}

/// The numbers of the one `SCM_RIGHTS` message in `buf`, when the walk of
/// `buf` ([`decode`]) yields exactly one message and that message is
/// `SCM_RIGHTS` (what a receive of descriptors alone almost always finds);
/// `None` for anything else, including a malformed header.
///
/// This is that walk, stopped where its second step would begin, so it
/// agrees with it by construction: a receive can take this message's
/// descriptors at once, knowing that nothing else in the buffer is left to
/// claim.
///
/// ```
/// use inflight::codec::{encode, sole_rights, ControlMessage, FdList};
///
/// let mut buf = [0u8; 64];
/// let one = encode(&[ControlMessage::Rights(FdList::Raw(&[5, 6]))], &mut buf)?;
/// assert_eq!(sole_rights(one).map(|r| r.iter().collect::<Vec<_>>()), Some(vec![5, 6]));
///
/// let mut buf = [0u8; 64];
/// let two = encode(
///     &[
///         ControlMessage::Rights(FdList::Raw(&[5])),
///         ControlMessage::Rights(FdList::Raw(&[6])),
///     ],
///     &mut buf,
/// )?;
/// assert!(sole_rights(two).is_none());
/// # Ok::<(), inflight::Error>(())
/// ```
#[inline]
pub fn sole_rights(buf: &[u8]) -> Option<Rights<'_>> {
    let mut walk = decode(buf);
    let Some(Ok(first)) = walk.step() else {
        return None;
    };
    if !walk.at_end() {
        return None;
    }
    match first.parse() {
        Message::Rights(r) => Some(r),
        _ => None,
    }
}

/// Iterator over the control messages of a buffer; see [`decode`].
///
/// Yields `Ok(Cmsg)` per message and at most one `Err`
/// ([`ErrorKind::MalformedControl`]), after which it is exhausted.
#[derive(Clone, Debug)]
pub struct Decoder<'a> {
    buf: &'a [u8],
    /// Where the next header starts; `usize::MAX` once the walk is over.
    off: usize,
}

impl<'a> Iterator for Decoder<'a> {
    type Item = Result<Cmsg<'a>, Error>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        Some(self.step()?.map_err(|m| malformed(m.len, m.offset)))
    }
}

/// A header whose `cmsg_len` is below the header size: the walk's one error,
/// as plain numbers (see [`Decoder::step`]).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Malformed {
    /// The claimed `cmsg_len`.
    pub len: usize,
    /// Where the header starts.
    pub offset: usize,
}

impl<'a> Decoder<'a> {
    /// No whole header is left to read: the next [`step`](Self::step)
    /// yields `None`. One comparison, where the offset plus a header runs
    /// past the buffer (the sentinel `usize::MAX` saturates, so a finished
    /// walk is at its end too).
    #[inline]
    fn at_end(&self) -> bool {
        self.off.saturating_add(HEADER_SIZE) > self.buf.len()
    }

    /// One step of the walk: the parser itself, which [`Iterator::next`]
    /// forwards to. A malformed header comes back as plain numbers rather
    /// than an [`Error`], so that a caller on a hot path (the claim of a
    /// received message) has nothing to drop.
    #[inline]
    pub(crate) fn step(&mut self) -> Option<Result<Cmsg<'a>, Malformed>> {
        if self.at_end() {
            self.off = usize::MAX;
            return None;
        }
        let start = self.off;
        // Never `None` once `at_end` said no (a whole header lies past
        // `start`); kept as a check rather than an index that could panic.
        let rest = self.buf.get(start..)?;
        let len = read_len(rest);
        if len < HEADER_SIZE {
            self.off = usize::MAX;
            return Some(Err(Malformed { len, offset: start }));
        }
        let level = read_i32(rest, LEVEL_OFFSET).unwrap_or_default();
        let kind = read_i32(rest, TYPE_OFFSET).unwrap_or_default();
        // `len <= rest.len()` keeps `start + len` and the aligned next
        // offset within the buffer's length, so neither can overflow.
        let truncated = len > rest.len();
        let end = if truncated {
            self.buf.len()
        } else {
            start + len
        };
        self.off = if truncated {
            usize::MAX
        } else {
            start + cmsg_align(len)
        };
        let data_start = (start + DATA_OFFSET).min(end);
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

#[cold]
#[inline(never)]
fn malformed(len: usize, offset: usize) -> Error {
    Error::with_detail(
        ErrorKind::MalformedControl,
        format!("cmsg_len {len} at offset {offset} is below the header size"),
    )
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
    #[inline]
    pub fn parse(&self) -> Message<'a> {
        match (self.level, self.kind) {
            (libc::SOL_SOCKET, libc::SCM_RIGHTS) => {
                return Message::Rights(Rights { data: self.data })
            }
            #[cfg(linux_like)]
            // `from_ne_bytes` refuses data shorter than a `struct ucred`.
            (libc::SOL_SOCKET, libc::SCM_CREDENTIALS) => {
                if let Some(c) = Credentials::from_ne_bytes(self.data) {
                    return Message::Credentials(c);
                }
            }
            #[cfg(linux_like)]
            (libc::SOL_SOCKET, SCM_PIDFD) => {
                if let Some(fd) = read_i32(self.data, 0) {
                    return Message::PidFd(fd);
                }
            }
            _ => {}
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
    #[inline]
    pub fn len(&self) -> usize {
        self.data.len() / FD_SIZE
    }

    /// No descriptor numbers.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes after the last whole number (0 in anything the kernel wrote).
    #[inline]
    pub fn trailing_bytes(&self) -> usize {
        self.data.len() % FD_SIZE
    }

    /// The bytes of the whole numbers (`4 * len()` bytes, native order).
    #[inline]
    pub fn as_bytes(&self) -> &'a [u8] {
        &self.data[..self.len() * FD_SIZE]
    }

    /// The numbers, in order.
    #[inline]
    pub fn iter(&self) -> impl ExactSizeIterator<Item = RawFd> + 'a {
        self.data
            .chunks_exact(FD_SIZE)
            .map(|c| RawFd::from_ne_bytes([c[0], c[1], c[2], c[3]]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_length_is_malformed_and_ends_the_walk() {
        let mut buf = [0u8; 32];
        buf[..super::super::wire::LEN_FIELD]
            .copy_from_slice(&super::super::wire::len_bytes(HEADER_SIZE - 1));
        let mut walk = decode(&buf);
        assert_eq!(
            walk.next().unwrap().unwrap_err().kind(),
            ErrorKind::MalformedControl
        );
        assert!(walk.next().is_none());
    }

    #[test]
    fn rights_count_whole_numbers_only() {
        let r = Rights {
            data: &[1, 0, 0, 0, 2, 0, 0, 0, 9],
        };
        assert_eq!((r.len(), r.is_empty(), r.trailing_bytes()), (2, false, 1));
        assert_eq!(r.as_bytes().len(), 8);
        let empty = Rights { data: &[7, 7, 7] };
        assert_eq!(
            (empty.len(), empty.is_empty(), empty.trailing_bytes()),
            (0, true, 3)
        );
        let whole = Rights { data: &[0; 8] };
        assert_eq!((whole.len(), whole.trailing_bytes()), (2, 0));
        assert_eq!(empty.iter().count(), 0);
    }

    #[test]
    fn credentials_need_a_whole_ucred() {
        for short in 0..12usize {
            let data = [0u8; 12];
            let c = Cmsg {
                level: libc::SOL_SOCKET,
                kind: libc::SCM_CREDENTIALS,
                data: &data[..short],
                data_range: 0..short,
                offset: 0,
                truncated: false,
            };
            assert!(matches!(c.parse(), Message::Other { .. }), "{short} bytes");
        }
    }

    #[test]
    fn overlong_length_is_clamped_and_marked() {
        let mut buf = [0u8; 24];
        buf[..super::super::wire::LEN_FIELD].copy_from_slice(&super::super::wire::len_bytes(1000));
        let c = decode(&buf).next().unwrap().unwrap();
        assert!(c.truncated);
        assert_eq!(c.data_range, DATA_OFFSET..24);
        assert_eq!(decode(&buf).count(), 1);
    }

    /// The walk's three boundaries, each at equality: a header that exactly
    /// fits the rest, a length of exactly one header (no data), and a
    /// message that exactly fills the buffer (not truncated).
    #[test]
    fn boundaries_at_equality() {
        use super::super::wire::{len_bytes, LEN_FIELD};
        let mut buf = [0u8; HEADER_SIZE];
        buf[..LEN_FIELD].copy_from_slice(&len_bytes(HEADER_SIZE));
        let mut walk = decode(&buf);
        let c = walk
            .next()
            .expect("a header that exactly fits is read")
            .unwrap();
        assert!(c.data.is_empty() && !c.truncated, "{c:?}");
        assert!(walk.next().is_none());

        let mut buf = [0u8; HEADER_SIZE + 8];
        buf[..LEN_FIELD].copy_from_slice(&len_bytes(HEADER_SIZE + 8));
        let c = decode(&buf).next().unwrap().unwrap();
        assert!(
            !c.truncated,
            "a message ending at the buffer's end is whole"
        );
        assert_eq!(c.data_range, DATA_OFFSET..HEADER_SIZE + 8);
    }

    /// `sole_rights` answers for exactly one `SCM_RIGHTS` message alone:
    /// not for none, another type, two messages (whatever the second), or
    /// a malformed header; bytes too few for a second header do not count.
    #[test]
    fn sole_rights_only_for_one_rights_message_alone() {
        use super::super::encode::{encode, ControlMessage, FdList};
        let rights = |nums: &'static [i32]| ControlMessage::Rights(FdList::Raw(nums));
        let numbers = |buf: &[u8]| sole_rights(buf).map(|r| r.iter().collect::<Vec<_>>());
        let mut buf = [0u8; 128];
        let one = encode(&[rights(&[7, 8, 9])], &mut buf).unwrap().to_vec();
        assert_eq!(numbers(&one), Some(vec![7, 8, 9]), "one message");
        let mut short_tail = one.clone();
        short_tail.extend([0xFF; HEADER_SIZE - 1]);
        assert_eq!(
            numbers(&short_tail),
            Some(vec![7, 8, 9]),
            "a tail shorter than a header is no message"
        );
        let mut buf = [0u8; 128];
        let two = encode(&[rights(&[7]), rights(&[8])], &mut buf).unwrap();
        assert_eq!(numbers(two), None, "two messages");
        let creds = ControlMessage::Other {
            level: libc::SOL_SOCKET,
            kind: libc::SCM_CREDENTIALS,
            data: &[0; 12],
        };
        let mut buf = [0u8; 128];
        let with_creds = encode(&[rights(&[7]), creds], &mut buf).unwrap();
        assert_eq!(numbers(with_creds), None, "rights, then credentials");
        let mut buf = [0u8; 128];
        let creds_only = encode(&[creds], &mut buf).unwrap();
        assert_eq!(numbers(creds_only), None, "credentials alone");
        let mut malformed = one.clone();
        malformed[..super::super::wire::LEN_FIELD]
            .copy_from_slice(&super::super::wire::len_bytes(HEADER_SIZE - 1));
        assert_eq!(numbers(&malformed), None, "a malformed header");
        assert_eq!(numbers(&[]), None, "nothing");
    }
}
