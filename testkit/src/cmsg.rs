//! Control messages written and read by hand: the layout constants, a
//! builder for exactly the bytes a test wants to send (including lies a
//! hostile sender tells), the kit's own walk over received bytes, and
//! human names for reports.
//!
//! Written from the `cmsghdr` layout alone (a `size_t` length, then two
//! `int`s, data at the next `size_t` boundary, every message padded to
//! `size_t`), independently of inflight's codec.
//!
//! ```
//! use inflight_testkit::cmsg::{self, Cmsg};
//! let bytes = cmsg::concat(&[Cmsg::rights(&[0, 1]), Cmsg::credentials(1, 2, 3)]);
//! assert_eq!(bytes.len(), cmsg::space(8) + cmsg::space(12));
//! let read: Vec<_> = cmsg::messages(&bytes).collect();
//! assert_eq!(read[1].data, &Cmsg::credentials(1, 2, 3).data[..]);
//! ```

use std::mem::size_of;
use std::os::fd::RawFd;

/// `SCM_PIDFD` (Linux 6.5): a pidfd of the sender, received with
/// `SO_PASSPIDFD` on.
pub const SCM_PIDFD: i32 = 0x04;

/// `SCM_SECURITY`: the sender's security context, received with
/// `SO_PASSSEC` on.
pub const SCM_SECURITY: i32 = 0x03;

/// `CMSG_ALIGN`'s unit: `sizeof(size_t)`.
pub const ALIGN: usize = size_of::<usize>();

/// `sizeof(struct cmsghdr)`.
pub const HEADER_LEN: usize = size_of::<libc::cmsghdr>();

/// Where `CMSG_DATA` starts, from the header: `CMSG_ALIGN(sizeof(cmsghdr))`.
pub const DATA_OFFSET: usize = align(HEADER_LEN);

/// `CMSG_ALIGN(n)`: `n` rounded up to [`ALIGN`].
pub const fn align(n: usize) -> usize {
    (n + ALIGN - 1) & !(ALIGN - 1)
}

/// `CMSG_LEN(data)`: the `cmsg_len` of a message with `data` bytes.
pub const fn len(data: usize) -> usize {
    DATA_OFFSET + data
}

/// `CMSG_SPACE(data)`: the bytes a message with `data` bytes takes,
/// padding included.
pub const fn space(data: usize) -> usize {
    DATA_OFFSET + align(data)
}

/// One control message to encode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cmsg {
    /// `cmsg_level`.
    pub level: i32,
    /// `cmsg_type`.
    pub kind: i32,
    /// The data after the header.
    pub data: Vec<u8>,
    /// A `cmsg_len` to write instead of the true `CMSG_LEN(data.len())`
    /// (a lying sender); the data and padding written do not change.
    pub len_override: Option<usize>,
}

impl Cmsg {
    /// Any message: `level`, `kind` and `data` as given.
    pub fn raw(level: i32, kind: i32, data: &[u8]) -> Self {
        Cmsg {
            level,
            kind,
            data: data.to_vec(),
            len_override: None,
        }
    }

    /// `SOL_SOCKET`/`SCM_RIGHTS` carrying `fds` (any count, any numbers:
    /// the kernel judges them).
    pub fn rights(fds: &[RawFd]) -> Self {
        let data: Vec<u8> = fds.iter().flat_map(|fd| fd.to_ne_bytes()).collect();
        Cmsg::raw(libc::SOL_SOCKET, libc::SCM_RIGHTS, &data)
    }

    /// `SOL_SOCKET`/`SCM_CREDENTIALS` carrying a `struct ucred`.
    pub fn credentials(pid: libc::pid_t, uid: libc::uid_t, gid: libc::gid_t) -> Self {
        let mut data = Vec::with_capacity(12);
        data.extend_from_slice(&pid.to_ne_bytes());
        data.extend_from_slice(&uid.to_ne_bytes());
        data.extend_from_slice(&gid.to_ne_bytes());
        Cmsg::raw(libc::SOL_SOCKET, libc::SCM_CREDENTIALS, &data)
    }

    /// `SCM_CREDENTIALS` with this process's pid and real uid and gid:
    /// what the kernel accepts from anyone.
    pub fn own_credentials() -> Self {
        let (pid, uid, gid) = own_ids();
        Cmsg::credentials(pid, uid, gid)
    }

    /// The same message with `cmsg_len` written as `cmsg_len` (too short,
    /// too long, or past the buffer: whatever the test needs).
    pub fn with_len(mut self, cmsg_len: usize) -> Self {
        self.len_override = Some(cmsg_len);
        self
    }

    /// The `cmsg_len` that will be written.
    pub fn cmsg_len(&self) -> usize {
        self.len_override.unwrap_or(len(self.data.len()))
    }

    /// The bytes [`encode_into`](Cmsg::encode_into) appends:
    /// `CMSG_SPACE(data.len())`.
    pub fn space(&self) -> usize {
        space(self.data.len())
    }

    /// Appends the header, the data and the padding to `CMSG_SPACE`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&self.cmsg_len().to_ne_bytes());
        out.extend_from_slice(&self.level.to_ne_bytes());
        out.extend_from_slice(&self.kind.to_ne_bytes());
        out.resize(start + DATA_OFFSET, 0);
        out.extend_from_slice(&self.data);
        out.resize(start + self.space(), 0);
    }

    /// This message alone, padded to `CMSG_SPACE`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.space());
        self.encode_into(&mut out);
        out
    }
}

/// This process's `(pid, real uid, real gid)`, as `SCM_CREDENTIALS`
/// carries them.
pub fn own_ids() -> (libc::pid_t, libc::uid_t, libc::gid_t) {
    // SAFETY: getuid(2) and getgid(2) take no arguments and cannot fail.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    (std::process::id() as libc::pid_t, uid, gid)
}

/// `msgs` one after the other, each padded to `CMSG_SPACE`: what a C sender
/// fills with `CMSG_FIRSTHDR`/`CMSG_NXTHDR`.
pub fn concat(msgs: &[Cmsg]) -> Vec<u8> {
    let mut out = Vec::with_capacity(msgs.iter().map(Cmsg::space).sum());
    for m in msgs {
        m.encode_into(&mut out);
    }
    out
}

/// [`concat()`] without the last message's padding (the buffer ends where
/// its data ends, as with `msg_controllen = CMSG_LEN` of a lone message).
pub fn concat_unpadded(msgs: &[Cmsg]) -> Vec<u8> {
    let mut out = concat(msgs);
    if let Some(last) = msgs.last() {
        out.truncate(out.len() - (last.space() - len(last.data.len())));
    }
    out
}

/// One message found by [`messages`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Found<'a> {
    /// Offset of its header in the buffer.
    pub offset: usize,
    /// `cmsg_len` as stored.
    pub cmsg_len: usize,
    /// `cmsg_level`.
    pub level: i32,
    /// `cmsg_type`.
    pub kind: i32,
    /// Its data: from `DATA_OFFSET` to `cmsg_len`, cut at the end of the
    /// buffer.
    pub data: &'a [u8],
    /// `cmsg_len` ran past the end of the buffer (the data was cut).
    pub truncated: bool,
}

/// The kit's own walk, as the kernel and `CMSG_NXTHDR` do it: a message
/// starts wherever a whole header fits, the next one `CMSG_ALIGN(cmsg_len)`
/// further. It stops at the end, or after a header whose `cmsg_len` is
/// below the header size (malformed: nothing after it is read) or runs past
/// the end (yielded with its data cut and `truncated` set).
pub fn messages(buf: &[u8]) -> impl Iterator<Item = Found<'_>> {
    let mut at = 0usize;
    let mut done = false;
    std::iter::from_fn(move || {
        if done || buf.len().saturating_sub(at) < HEADER_LEN {
            return None;
        }
        let h = &buf[at..];
        let cmsg_len = usize::from_ne_bytes(h[..ALIGN].try_into().expect("ALIGN bytes"));
        let level = i32::from_ne_bytes(h[ALIGN..ALIGN + 4].try_into().expect("4 bytes"));
        let kind = i32::from_ne_bytes(h[ALIGN + 4..ALIGN + 8].try_into().expect("4 bytes"));
        if cmsg_len < HEADER_LEN {
            done = true;
            return None;
        }
        let truncated = cmsg_len > h.len();
        let end = cmsg_len.min(h.len());
        let found = Found {
            offset: at,
            cmsg_len,
            level,
            kind,
            data: &h[DATA_OFFSET.min(end)..end],
            truncated,
        };
        if truncated {
            done = true;
        } else {
            // cmsg_len <= what is left of the buffer, so neither the
            // rounding nor the sum can overflow.
            at += align(cmsg_len);
        }
        Some(found)
    })
}

/// A human name for a control message type: `SCM_RIGHTS`,
/// `SCM_CREDENTIALS`, `SCM_SECURITY`, `SCM_PIDFD`, or the numbers.
pub fn cmsg_name(level: i32, kind: i32) -> String {
    match (level, kind) {
        (libc::SOL_SOCKET, libc::SCM_RIGHTS) => "SCM_RIGHTS".into(),
        (libc::SOL_SOCKET, libc::SCM_CREDENTIALS) => "SCM_CREDENTIALS".into(),
        (libc::SOL_SOCKET, SCM_SECURITY) => "SCM_SECURITY".into(),
        (libc::SOL_SOCKET, SCM_PIDFD) => "SCM_PIDFD".into(),
        (libc::SOL_SOCKET, k) => format!("SOL_SOCKET type {k}"),
        (l, k) => format!("level {l} type {k}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_libc_macros() {
        for n in 0..=600u32 {
            // SAFETY: CMSG_LEN and CMSG_SPACE are arithmetic on their
            // argument only.
            let (l, s) = unsafe { (libc::CMSG_LEN(n), libc::CMSG_SPACE(n)) };
            assert_eq!(len(n as usize), l as usize, "CMSG_LEN({n})");
            assert_eq!(space(n as usize), s as usize, "CMSG_SPACE({n})");
        }
        let buf = crate::AlignedBuf::zeroed(64);
        let h = buf.as_ptr().cast::<libc::cmsghdr>();
        // SAFETY: CMSG_DATA is pointer arithmetic on `h` (one header on),
        // which stays inside the 64-byte buffer.
        let data = unsafe { libc::CMSG_DATA(h) } as usize;
        assert_eq!(data - h as usize, DATA_OFFSET);
        assert_eq!(HEADER_LEN, DATA_OFFSET, "no gap after the header on Linux");
    }

    #[test]
    fn builder_bytes() {
        let m = Cmsg::rights(&[3, 4, 5]);
        let b = m.to_bytes();
        assert_eq!(b.len(), space(12));
        assert_eq!(
            usize::from_ne_bytes(b[..ALIGN].try_into().unwrap()),
            len(12)
        );
        assert_eq!(&b[ALIGN..ALIGN + 4], &libc::SOL_SOCKET.to_ne_bytes());
        assert_eq!(&b[ALIGN + 4..ALIGN + 8], &libc::SCM_RIGHTS.to_ne_bytes());
        assert_eq!(&b[DATA_OFFSET + 8..DATA_OFFSET + 12], &5i32.to_ne_bytes());
        assert!(b[len(12)..].iter().all(|&x| x == 0), "zero padding");
        let lie = Cmsg::raw(1, 2, &[9; 4]).with_len(1000).to_bytes();
        assert_eq!(usize::from_ne_bytes(lie[..ALIGN].try_into().unwrap()), 1000);
        assert_eq!(lie.len(), space(4));
        let two = [Cmsg::raw(7, 8, &[1]), Cmsg::raw(9, 10, &[2, 3])];
        assert_eq!(concat(&two).len(), space(1) + space(2));
        assert_eq!(concat_unpadded(&two).len(), space(1) + len(2));
    }

    #[test]
    fn walk_reads_what_the_builder_wrote() {
        let msgs = [
            Cmsg::rights(&[1]),
            Cmsg::credentials(-1, 2, 3),
            Cmsg::raw(41, 42, &[]),
            Cmsg::raw(5, 6, &[7; 13]),
        ];
        for bytes in [concat(&msgs), concat_unpadded(&msgs)] {
            let found: Vec<_> = messages(&bytes).collect();
            assert_eq!(found.len(), msgs.len());
            let mut off = 0;
            for (f, m) in found.iter().zip(&msgs) {
                assert_eq!((f.offset, f.level, f.kind), (off, m.level, m.kind));
                assert_eq!((f.data, f.truncated), (&m.data[..], false));
                off += m.space();
            }
        }
        // Lies: a short length stops the walk, a long one is cut.
        let short = concat(&[Cmsg::raw(1, 1, &[0; 8]).with_len(4), Cmsg::raw(2, 2, &[])]);
        assert_eq!(messages(&short).count(), 0);
        let long = concat(&[Cmsg::raw(1, 1, &[5; 8]).with_len(500), Cmsg::raw(2, 2, &[])]);
        let f: Vec<_> = messages(&long).collect();
        assert_eq!(f.len(), 1);
        assert!(f[0].truncated);
        assert_eq!(f[0].data.len(), long.len() - DATA_OFFSET);
    }

    #[test]
    fn names() {
        assert_eq!(cmsg_name(libc::SOL_SOCKET, libc::SCM_RIGHTS), "SCM_RIGHTS");
        assert_eq!(cmsg_name(libc::SOL_SOCKET, SCM_PIDFD), "SCM_PIDFD");
        assert_eq!(cmsg_name(6, 7), "level 6 type 7");
    }
}
