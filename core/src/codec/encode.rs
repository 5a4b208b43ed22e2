//! Encoding control messages into the platform's `cmsghdr` layout.

use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};

use super::wire::{
    cmsg_len, cmsg_space, len_bytes, DATA_OFFSET, FD_SIZE, HEADER_SIZE, LEN_FIELD, LEVEL_OFFSET,
    SCM_MAX_FD, TYPE_OFFSET,
};
#[cfg(linux_like)]
use super::wire::{Credentials, UCRED_SIZE};
use crate::error::{Error, ErrorKind};

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
}

/// A control message to encode.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum ControlMessage<'a> {
    /// `SOL_SOCKET`/`SCM_RIGHTS`.
    Rights(FdList<'a>),
    /// `SOL_SOCKET`/`SCM_CREDENTIALS` (Linux).
    #[cfg(linux_like)]
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
    #[inline]
    fn data_len(&self) -> usize {
        match self {
            ControlMessage::Rights(fds) => fds.len() * FD_SIZE,
            #[cfg(linux_like)]
            ControlMessage::Credentials(_) => UCRED_SIZE,
            ControlMessage::Other { data, .. } => data.len(),
        }
    }

    #[inline]
    fn header(&self) -> Result<(i32, i32), Error> {
        Ok(match self {
            ControlMessage::Rights(_) => (libc::SOL_SOCKET, libc::SCM_RIGHTS),
            #[cfg(linux_like)]
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
        })
    }
}

/// Bytes [`encode`] needs for `msgs`: the sum of their `CMSG_SPACE`.
pub fn encoded_len(msgs: &[ControlMessage<'_>]) -> usize {
    msgs.iter().map(|m| cmsg_space(m.data_len())).sum()
}

/// Encodes `msgs` into `buf` and returns the written prefix of `buf` (its
/// length is the `msg_controllen` to send). Padding is zeroed. An empty
/// list writes nothing and returns an empty slice.
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
/// use inflight::codec::{decode, encode, encoded_len, ControlMessage, FdList, Message};
/// let msgs = [ControlMessage::Rights(FdList::Raw(&[7, 8]))];
/// let mut buf = [0u8; 64];
/// let bytes = encode(&msgs, &mut buf)?;
/// assert_eq!(bytes.len(), encoded_len(&msgs));
/// let first = decode(bytes).next().unwrap()?;
/// match first.parse() {
///     Message::Rights(r) => assert_eq!(r.iter().collect::<Vec<_>>(), [7, 8]),
///     other => panic!("unexpected {other:?}"),
/// }
/// # Ok::<(), inflight::Error>(())
/// ```
pub fn encode<'b>(msgs: &[ControlMessage<'_>], buf: &'b mut [u8]) -> Result<&'b [u8], Error> {
    let n = encode_into(msgs, buf)?;
    Ok(&buf[..n])
}

/// [`encode`] into uninitialised memory (a stack buffer that is never
/// zeroed first): returns how many bytes at the start of `buf` it wrote,
/// every one of them initialised.
///
/// # Errors
///
/// As [`encode`].
#[inline]
pub fn encode_uninit(
    msgs: &[ControlMessage<'_>],
    buf: &mut [MaybeUninit<u8>],
) -> Result<usize, Error> {
    encode_into(msgs, buf)
}

/// Encodes the most common control data, one `SCM_RIGHTS` message for
/// `fds`, into uninitialised memory: the same bytes as [`encode_uninit`]
/// with `[ControlMessage::Rights(FdList::Borrowed(fds))]`, written without
/// the general walk over a message list. Returns the bytes written (0 for
/// no descriptors: no message at all).
///
/// # Errors
///
/// * [`ErrorKind::TooManyFds`]: more than [`SCM_MAX_FD`] descriptors.
/// * [`ErrorKind::BufferTooSmall`]: `buf` is shorter than
///   `cmsg_space(4 * fds.len())`.
#[inline]
pub fn encode_rights(fds: &[BorrowedFd<'_>], buf: &mut [MaybeUninit<u8>]) -> Result<usize, Error> {
    if fds.is_empty() {
        return Ok(0);
    }
    if fds.len() > SCM_MAX_FD {
        return Err(Error::new(ErrorKind::TooManyFds));
    }
    let data_len = fds.len() * FD_SIZE;
    let space = cmsg_space(data_len);
    let Some(msg) = buf.get_mut(..space) else {
        return Err(Error::new(ErrorKind::BufferTooSmall));
    };
    let (head, data) = msg.split_at_mut(DATA_OFFSET);
    let mut header = [0u8; DATA_OFFSET];
    header[..LEN_FIELD].copy_from_slice(&len_bytes(cmsg_len(data_len)));
    header[LEVEL_OFFSET..LEVEL_OFFSET + 4].copy_from_slice(&libc::SOL_SOCKET.to_ne_bytes());
    header[TYPE_OFFSET..TYPE_OFFSET + 4].copy_from_slice(&libc::SCM_RIGHTS.to_ne_bytes());
    for (d, s) in head.iter_mut().zip(header) {
        d.write(s);
    }
    let (numbers, padding) = data.split_at_mut(data_len);
    // Up to four numbers as stores of a known count; a count known only at
    // run time makes the loop a call to memcpy, which costs more than the
    // few stores it replaces.
    match fds.len() {
        1 => put_numbers::<1>(numbers, fds),
        2 => put_numbers::<2>(numbers, fds),
        3 => put_numbers::<3>(numbers, fds),
        4 => put_numbers::<4>(numbers, fds),
        _ => put_all_numbers(numbers, fds),
    }
    // Numbers are 4 bytes and the alignment 4 or 8: the padding is 0 or 4
    // bytes, written as one fixed-size store rather than a memset call.
    debug_assert!(padding.is_empty() || padding.len() == FD_SIZE);
    if let Some(pad) = padding.get_mut(..FD_SIZE) {
        for d in pad {
            d.write(0);
        }
    }
    Ok(space)
}

/// Writes the numbers of `fds` to `out` (`4 * fds.len()` bytes).
#[inline]
fn put_all_numbers(out: &mut [MaybeUninit<u8>], fds: &[BorrowedFd<'_>]) {
    for (slot, fd) in out.chunks_exact_mut(FD_SIZE).zip(fds) {
        for (d, s) in slot.iter_mut().zip(fd.as_raw_fd().to_ne_bytes()) {
            d.write(s);
        }
    }
}

/// [`put_all_numbers`] for exactly `K` descriptors: a loop of a constant
/// count, which compiles to plain stores. Writes nothing if the lengths are
/// not `K` and `4 * K` (the caller matched them).
#[inline]
fn put_numbers<const K: usize>(out: &mut [MaybeUninit<u8>], fds: &[BorrowedFd<'_>]) {
    let (Ok(fds), Some(out)) = (
        <&[BorrowedFd<'_>; K]>::try_from(fds),
        out.get_mut(..K * FD_SIZE),
    ) else {
        return;
    };
    put_all_numbers(out, fds);
}

/// Where the encoder writes: initialised or uninitialised bytes. Both are
/// written byte by byte through safe code.
trait Out {
    fn size(&self) -> usize;
    fn put(&mut self, at: usize, src: &[u8]);
    fn zero(&mut self, from: usize, to: usize);
}

impl Out for [u8] {
    #[inline]
    fn size(&self) -> usize {
        self.len()
    }
    #[inline]
    fn put(&mut self, at: usize, src: &[u8]) {
        self[at..at + src.len()].copy_from_slice(src);
    }
    #[inline]
    fn zero(&mut self, from: usize, to: usize) {
        self[from..to].fill(0);
    }
}

impl Out for [MaybeUninit<u8>] {
    #[inline]
    fn size(&self) -> usize {
        self.len()
    }
    #[inline]
    fn put(&mut self, at: usize, src: &[u8]) {
        for (d, s) in self[at..at + src.len()].iter_mut().zip(src) {
            d.write(*s);
        }
    }
    #[inline]
    fn zero(&mut self, from: usize, to: usize) {
        for d in &mut self[from..to] {
            d.write(0);
        }
    }
}

#[inline]
fn encode_into<O: Out + ?Sized>(msgs: &[ControlMessage<'_>], buf: &mut O) -> Result<usize, Error> {
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
    if buf.size() < encoded_len(msgs) {
        return Err(Error::new(ErrorKind::BufferTooSmall));
    }
    let mut off = 0;
    for m in msgs {
        let (level, kind) = m.header()?;
        let data_len = m.data_len();
        header(buf, off, data_len, level, kind);
        let data = off + DATA_OFFSET;
        match m {
            ControlMessage::Rights(FdList::Borrowed(fds)) => {
                for (i, fd) in fds.iter().enumerate() {
                    buf.put(data + i * FD_SIZE, &fd.as_raw_fd().to_ne_bytes());
                }
            }
            ControlMessage::Rights(FdList::Raw(fds)) => {
                for (i, fd) in fds.iter().enumerate() {
                    buf.put(data + i * FD_SIZE, &fd.to_ne_bytes());
                }
            }
            #[cfg(linux_like)]
            ControlMessage::Credentials(c) => buf.put(data, &c.to_ne_bytes()),
            ControlMessage::Other { data: src, .. } => buf.put(data, src),
        }
        off += cmsg_space(data_len);
        buf.zero(data + data_len, off);
    }
    Ok(off)
}

/// Writes one header at `off` for `data_len` bytes of data, padding zeroed.
#[inline]
fn header<O: Out + ?Sized>(buf: &mut O, off: usize, data_len: usize, level: i32, kind: i32) {
    buf.put(off, &len_bytes(cmsg_len(data_len)));
    buf.zero(off + LEN_FIELD, off + LEVEL_OFFSET);
    buf.put(off + LEVEL_OFFSET, &level.to_ne_bytes());
    buf.put(off + TYPE_OFFSET, &kind.to_ne_bytes());
    buf.zero(off + TYPE_OFFSET + 4, off + HEADER_SIZE.max(DATA_OFFSET));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{decode, Message};

    #[test]
    fn padding_is_zeroed_and_walk_finds_both() {
        let msgs = [
            ControlMessage::Rights(FdList::Raw(&[3, 4, 5])),
            ControlMessage::Other {
                level: 1,
                kind: 2,
                data: b"abc",
            },
        ];
        let mut buf = [0xAAu8; 96];
        let bytes = encode(&msgs, &mut buf).unwrap();
        assert_eq!(bytes.len(), encoded_len(&msgs));
        let first = cmsg_space(12);
        assert!(bytes[DATA_OFFSET + 12..first].iter().all(|&b| b == 0));
        assert!(bytes[first + DATA_OFFSET + 3..].iter().all(|&b| b == 0));
        let got: Vec<_> = decode(bytes).map(|c| c.unwrap().parse()).collect();
        assert!(matches!(&got[0], Message::Rights(r) if r.iter().eq([3, 4, 5])));
        assert!(matches!(&got[1], Message::Other { level: 1, kind: 2, data } if data == b"abc"));
    }

    #[test]
    fn fd_lists_say_when_empty() {
        // Standard input's descriptor needs no system call, so Miri runs this too.
        let stdin = std::io::stdin();
        let one = [std::os::fd::AsFd::as_fd(&stdin)];
        assert!(!FdList::Borrowed(&one).is_empty());
        assert!(FdList::Borrowed(&[]).is_empty());
        assert!(!FdList::Raw(&[3]).is_empty());
        assert!(FdList::Raw(&[]).is_empty());
    }

    #[test]
    fn an_exact_buffer_is_enough_and_pid_zero_is_encodable() {
        let msgs = [
            ControlMessage::Rights(FdList::Raw(&[3])),
            ControlMessage::Credentials(Credentials {
                pid: 0,
                uid: 0,
                gid: 0,
            }),
        ];
        let mut buf = vec![0u8; encoded_len(&msgs)];
        assert_eq!(encode(&msgs, &mut buf).unwrap().len(), buf.len());
        let neg = [ControlMessage::Credentials(Credentials {
            pid: -1,
            uid: 0,
            gid: 0,
        })];
        let e = encode(&neg, &mut buf).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidControl);
    }

    #[test]
    fn refuses_too_many_and_too_small() {
        let fds = [0; SCM_MAX_FD + 1];
        let mut buf = [0u8; 2048];
        let e = encode(&[ControlMessage::Rights(FdList::Raw(&fds))], &mut buf).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::TooManyFds);
        let e = encode(&[ControlMessage::Rights(FdList::Raw(&[1]))], &mut buf[..8]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::BufferTooSmall);
    }
}
