//! The wire layout: `cmsghdr` arithmetic, `struct ucred`, and the protocol
//! numbers.

use std::mem::{offset_of, size_of};
use std::os::fd::RawFd;

/// The most descriptors one message may carry (`SCM_MAX_FD` in the kernel).
pub const SCM_MAX_FD: usize = 253;

/// `SCM_PIDFD` (Linux 6.5): a pidfd of the sending process.
pub const SCM_PIDFD: i32 = 0x04;
/// `SO_PASSPIDFD` (Linux 6.5): attach an `SCM_PIDFD` to every message.
pub const SO_PASSPIDFD: i32 = 76;
/// `SO_PEERPIDFD` (Linux 6.5): a pidfd of the connected peer.
pub const SO_PEERPIDFD: i32 = 77;
/// `SO_PASSRIGHTS` (Linux 6.16): whether the socket accepts `SCM_RIGHTS` at
/// all (default on).
pub const SO_PASSRIGHTS: i32 = 83;

/// Alignment of control message headers and data (`CMSG_ALIGN`).
#[cfg(not(apple))]
pub const CMSG_ALIGNMENT: usize = size_of::<usize>();
/// Alignment of control message headers and data (`CMSG_ALIGN`).
#[cfg(apple)]
pub const CMSG_ALIGNMENT: usize = 4;

/// Size of the `cmsg_len` field (the kernel's `size_t` on Linux).
#[cfg(linux_like)]
pub(crate) const LEN_FIELD: usize = size_of::<usize>();
#[cfg(not(linux_like))]
pub(crate) const LEN_FIELD: usize = size_of::<libc::socklen_t>();

pub(crate) const LEVEL_OFFSET: usize = offset_of!(libc::cmsghdr, cmsg_level);
pub(crate) const TYPE_OFFSET: usize = offset_of!(libc::cmsghdr, cmsg_type);
/// `sizeof(struct cmsghdr)`: the least `cmsg_len` that is well formed.
pub const HEADER_SIZE: usize = size_of::<libc::cmsghdr>();
/// Offset of the data from the header start (`CMSG_DATA(h) - h`).
pub const DATA_OFFSET: usize = cmsg_align(HEADER_SIZE);

/// Bytes of one descriptor number in `SCM_RIGHTS` data.
pub(crate) const FD_SIZE: usize = size_of::<RawFd>();
/// `sizeof(struct ucred)`: the data of an `SCM_CREDENTIALS` message.
#[cfg(linux_like)]
pub const UCRED_SIZE: usize = size_of::<libc::ucred>();

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

#[cfg(linux_like)]
const CREDENTIALS_SPACE: usize = cmsg_space(UCRED_SIZE);
#[cfg(not(linux_like))]
const CREDENTIALS_SPACE: usize = 0;

/// Control buffer bytes for receiving up to `n` descriptors, with room beside
/// them for `SCM_CREDENTIALS` and `SCM_PIDFD`, so that neither can push a
/// descriptor out.
///
/// The kernel fills a control buffer greedily: when credentials or a pidfd
/// are absent it may install a few more than `n` descriptors into the room
/// kept for them (and `CMSG_SPACE` rounding alone lets `CMSG_SPACE(4)` hold
/// two). The receive functions of this crate therefore enforce the capacity
/// themselves: more than `n` arriving is
/// [`ErrorKind::ControlBufferFull`](crate::ErrorKind::ControlBufferFull),
/// with every arrived descriptor handed back in the error.
///
/// ```
/// // One descriptor, credentials and a pidfd: 24 + 32 + 24 bytes on x86_64.
/// assert!(inflight::codec::space_for(1) >= inflight::codec::cmsg_space(4));
/// ```
pub const fn space_for(n: usize) -> usize {
    cmsg_space(n * FD_SIZE) + CREDENTIALS_SPACE + cmsg_space(FD_SIZE)
}

/// A process's pid, uid and gid, as in `struct ucred` (the data of
/// `SCM_CREDENTIALS` and the answer of `SO_PEERCRED`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Credentials {
    /// Process id.
    pub pid: i32,
    /// User id.
    pub uid: u32,
    /// Group id.
    pub gid: u32,
}

impl Credentials {
    /// The `struct ucred` bytes, in native byte order.
    pub const fn to_ne_bytes(self) -> [u8; 12] {
        let (p, u, g) = (
            self.pid.to_ne_bytes(),
            self.uid.to_ne_bytes(),
            self.gid.to_ne_bytes(),
        );
        [
            p[0], p[1], p[2], p[3], u[0], u[1], u[2], u[3], g[0], g[1], g[2], g[3],
        ]
    }

    /// Reads a `struct ucred` from the first 12 bytes of `data`, if it is
    /// that long.
    #[inline]
    pub fn from_ne_bytes(data: &[u8]) -> Option<Self> {
        Some(Credentials {
            pid: read_i32(data, 0)?,
            uid: read_u32(data, 4)?,
            gid: read_u32(data, 8)?,
        })
    }
}

/// The `i32` at `at` in native byte order, if the bytes are there.
#[inline]
pub(crate) fn read_i32(src: &[u8], at: usize) -> Option<i32> {
    let raw = src.get(at..at.checked_add(4)?)?;
    Some(i32::from_ne_bytes([raw[0], raw[1], raw[2], raw[3]]))
}

#[inline]
fn read_u32(src: &[u8], at: usize) -> Option<u32> {
    read_i32(src, at).map(|v| v as u32)
}

/// `cmsg_len` as stored at the start of a header (`size_t` on Linux,
/// `socklen_t` elsewhere). `src` must hold at least [`LEN_FIELD`] bytes.
#[inline]
pub(crate) fn read_len(src: &[u8]) -> usize {
    let mut raw = [0u8; LEN_FIELD];
    raw.copy_from_slice(&src[..LEN_FIELD]);
    #[cfg(linux_like)]
    return usize::from_ne_bytes(raw);
    #[cfg(not(linux_like))]
    return libc::socklen_t::from_ne_bytes(raw) as usize;
}

/// `cmsg_len` in its stored form.
#[inline]
pub(crate) fn len_bytes(len: usize) -> [u8; LEN_FIELD] {
    #[cfg(linux_like)]
    return len.to_ne_bytes();
    #[cfg(not(linux_like))]
    return (len as libc::socklen_t).to_ne_bytes();
}
