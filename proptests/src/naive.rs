//! The reference walk for the codec: deliberately naive, on libc's
//! `CMSG_FIRSTHDR`/`CMSG_NXTHDR`/`CMSG_DATA` over a `msghdr` that points at
//! the buffer, in the spirit of memchr's `naive.rs`.

use std::mem::size_of;

/// One header as the libc macros see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefCmsg {
    /// Offset of the header in the buffer.
    pub offset: usize,
    /// `cmsg_len` as stored.
    pub len: usize,
    /// `cmsg_level`.
    pub level: i32,
    /// `cmsg_type`.
    pub kind: i32,
    /// Offset of `CMSG_DATA` in the buffer.
    pub data_offset: usize,
}

/// How the naive walk ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefEnd {
    /// `CMSG_FIRSTHDR` or `CMSG_NXTHDR` returned null.
    Null,
    /// A header's `cmsg_len` runs past the buffer: the macros are not well
    /// defined from here on (`CMSG_ALIGN` of it may overflow), so the walk
    /// stops and the comparison stops with it.
    OutOfDomain,
}

/// Walks `buf` (which must be 8-byte aligned: take it from
/// [`aligned`]) with the libc macros. Returns the headers `CMSG_FIRSTHDR`
/// and `CMSG_NXTHDR` visit and how the walk ended.
pub fn walk(buf: &[u8]) -> (Vec<RefCmsg>, RefEnd) {
    assert_eq!(
        buf.as_ptr() as usize % 8,
        0,
        "naive::walk needs an aligned buffer"
    );
    // SAFETY: all-zero is a valid msghdr (null pointers, zero lengths).
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_control = buf.as_ptr() as *mut libc::c_void;
    msg.msg_controllen = buf.len() as _;
    let base = buf.as_ptr() as usize;
    let mut out = Vec::new();
    // SAFETY: CMSG_FIRSTHDR reads only `msg`'s fields, a live local.
    let mut h = unsafe { libc::CMSG_FIRSTHDR(&msg) };
    while !h.is_null() {
        let offset = h as usize - base;
        // SAFETY: the macros only return headers with `size_of::<cmsghdr>()`
        // bytes inside the buffer (FIRSTHDR checks the length, NXTHDR
        // checks `next + 1 <= end`), at 8-byte aligned offsets of an aligned
        // buffer, so reading the header is in bounds and aligned.
        let hdr = unsafe { std::ptr::read(h) };
        // SAFETY: CMSG_DATA is pointer arithmetic on `h` (header size).
        let data = unsafe { libc::CMSG_DATA(h) } as usize - base;
        let len = hdr.cmsg_len as usize;
        out.push(RefCmsg {
            offset,
            len,
            level: hdr.cmsg_level,
            kind: hdr.cmsg_type,
            data_offset: data,
        });
        if len > buf.len() {
            return (out, RefEnd::OutOfDomain);
        }
        // The next header's own cmsg_len, if it fits, must not overflow
        // CMSG_NXTHDR's arithmetic either.
        let next = offset + align(len);
        if len >= size_of::<libc::cmsghdr>() && next + size_of::<libc::cmsghdr>() <= buf.len() {
            let next_len = read_len(buf, next);
            if next_len > buf.len() {
                // NXTHDR would compare `next + CMSG_ALIGN(huge)` with the
                // end: past it (null) unless the sum overflows. Stop as
                // null without computing it.
                return (out, RefEnd::Null);
            }
        }
        // SAFETY: NXTHDR reads `h`'s cmsg_len (in bounds, shown above) and,
        // only when the next header fits, the next cmsg_len (in bounds,
        // aligned); the lengths are at most `buf.len()`, so its arithmetic
        // does not overflow.
        h = unsafe { libc::CMSG_NXTHDR(&msg, h) };
    }
    (out, RefEnd::Null)
}

/// `CMSG_ALIGN` (not exported by libc): `len` rounded up to `size_t`.
fn align(len: usize) -> usize {
    (len + size_of::<usize>() - 1) & !(size_of::<usize>() - 1)
}

fn read_len(buf: &[u8], at: usize) -> usize {
    let mut raw = [0u8; size_of::<usize>()];
    raw.copy_from_slice(&buf[at..at + size_of::<usize>()]);
    usize::from_ne_bytes(raw)
}

/// `bytes` copied into an 8-byte aligned buffer; slice it with
/// `&buf_as_bytes(&v)[..bytes.len()]`.
pub fn aligned(bytes: &[u8]) -> Vec<u64> {
    let mut v = vec![0u64; bytes.len().div_ceil(8)];
    as_bytes_mut(&mut v)[..bytes.len()].copy_from_slice(bytes);
    v
}

/// The bytes of an aligned buffer.
pub fn as_bytes(v: &[u64]) -> &[u8] {
    // SAFETY: from_raw_parts needs `len` initialised bytes at a live,
    // aligned pointer without mutable aliases: a `&[u64]` spans exactly
    // `8 * len` initialised bytes; u8 has alignment 1.
    unsafe { std::slice::from_raw_parts(v.as_ptr().cast::<u8>(), v.len() * 8) }
}

fn as_bytes_mut(v: &mut [u64]) -> &mut [u8] {
    // SAFETY: as in `as_bytes`, with an exclusive borrow; any byte pattern
    // is a valid u64.
    unsafe { std::slice::from_raw_parts_mut(v.as_mut_ptr().cast::<u8>(), v.len() * 8) }
}
