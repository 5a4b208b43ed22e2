//! The reference walk over a control buffer: deliberately naive, with the C
//! library's own `CMSG_FIRSTHDR`/`CMSG_NXTHDR`/`CMSG_DATA` over a `msghdr`
//! that points at the buffer, in two flavours:
//!
//! - [`Flavor::LibcCrate`]: the `libc` crate's macros, which walk as the
//!   kernel does (a next header is returned when a whole header fits).
//! - [`Flavor::Glibc`] (glibc targets only): glibc's out-of-line
//!   `__cmsg_nxthdr`. Before glibc 2.37 (unless a distribution backported
//!   the fix) it also returns null when the next message's
//!   `CMSG_ALIGN(cmsg_len)` does not fit.
//!
//! The macros are only well defined while every length they add up fits in
//! the buffer; the walk stops, and says so, where that ends
//! ([`End::Overrun`], [`End::Undefined`]), so that a comparison stops
//! there too.

use std::mem::size_of;

use crate::cmsg::{align, HEADER_LEN};
use crate::AlignedBuf;

/// Which `CMSG_NXTHDR`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    /// The `libc` crate's `CMSG_NXTHDR`.
    LibcCrate,
    /// glibc's `__cmsg_nxthdr`.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    Glibc,
}

impl Flavor {
    /// Every flavour this target has.
    pub const ALL: &'static [Flavor] = &[
        Flavor::LibcCrate,
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        Flavor::Glibc,
    ];

    /// A name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Flavor::LibcCrate => "libc crate",
            #[cfg(all(target_os = "linux", target_env = "gnu"))]
            Flavor::Glibc => "glibc",
        }
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
extern "C" {
    /// glibc's out-of-line `CMSG_NXTHDR`.
    fn __cmsg_nxthdr(mhdr: *mut libc::msghdr, cmsg: *mut libc::cmsghdr) -> *mut libc::cmsghdr;
}

/// One header `CMSG_FIRSTHDR` or `CMSG_NXTHDR` returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// Offset of the header in the buffer.
    pub offset: usize,
    /// `cmsg_len` as stored.
    pub cmsg_len: usize,
    /// `cmsg_level`.
    pub level: i32,
    /// `cmsg_type`.
    pub kind: i32,
    /// Offset of `CMSG_DATA` in the buffer.
    pub data_offset: usize,
}

impl Step {
    /// The data as a range of the buffer (`CMSG_DATA .. header +
    /// cmsg_len`), when it is one: `None` for a `cmsg_len` below the header
    /// size or past the end of a buffer of `buf_len` bytes.
    pub fn data(&self, buf_len: usize) -> Option<std::ops::Range<usize>> {
        let end = self.offset.checked_add(self.cmsg_len)?;
        (self.cmsg_len >= HEADER_LEN && end <= buf_len).then_some(self.data_offset..end)
    }
}

/// How the walk ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// `CMSG_FIRSTHDR` or `CMSG_NXTHDR` returned null.
    Null,
    /// The last step's `cmsg_len` is below the header size: its data range
    /// would be negative, and `CMSG_NXTHDR` returns null after it.
    Short,
    /// The last step's `cmsg_len` runs past the end of the buffer: its data
    /// is not all there, and the macros' arithmetic is not well defined
    /// from here on.
    Overrun,
    /// A whole header fits at the next position, but its `cmsg_len` runs
    /// past the end of the buffer, and older versions of both flavours add
    /// it to a pointer (undefined once it wraps): the walk stops before
    /// calling `CMSG_NXTHDR`. That header is not a step; it starts at the
    /// last step's offset plus `CMSG_ALIGN` of its `cmsg_len`.
    Undefined,
}

/// The headers a walk visited and how it ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Walk {
    /// Every header returned, in order (the last one may be short or
    /// overrun, as [`end`](Walk::end) says).
    pub steps: Vec<Step>,
    /// How the walk ended.
    pub end: End,
}

/// Walks `bytes` (copied into an [`AlignedBuf`]) with `flavor`.
pub fn walk_bytes(bytes: &[u8], flavor: Flavor) -> Walk {
    walk(&AlignedBuf::from_bytes(bytes), flavor)
}

/// Walks `buf` with the C macros of `flavor`.
pub fn walk(buf: &AlignedBuf, flavor: Flavor) -> Walk {
    let len = buf.len();
    let base = buf.as_ptr() as usize;
    // SAFETY: msghdr is a plain C struct for which all-zero is a valid
    // value (null pointers, zero lengths).
    let mut mhdr: libc::msghdr = unsafe { std::mem::zeroed() };
    // The macros only read through this pointer; `*mut` is what the C
    // struct declares.
    mhdr.msg_control = buf.as_ptr().cast_mut().cast();
    mhdr.msg_controllen = len as _;
    let mut steps = Vec::new();
    // SAFETY: CMSG_FIRSTHDR reads only the fields of `mhdr`, a live local.
    let mut h = unsafe { libc::CMSG_FIRSTHDR(&mhdr) };
    while !h.is_null() {
        let offset = h as usize - base;
        assert!(
            offset % size_of::<usize>() == 0 && offset + HEADER_LEN <= len,
            "{}: header at {offset} outside the {len}-byte buffer",
            flavor.name()
        );
        // SAFETY: `h` points at a whole header inside the buffer (checked
        // just above) at an offset aligned to size_t from an 8-aligned
        // start, so the read is in bounds and aligned; every byte pattern
        // is a valid cmsghdr.
        let hdr = unsafe { h.read() };
        // SAFETY: CMSG_DATA is pointer arithmetic on `h`: one header on,
        // which is at most the end of the buffer (checked above).
        let data_offset = unsafe { libc::CMSG_DATA(h) } as usize - base;
        let cmsg_len = hdr.cmsg_len as usize;
        steps.push(Step {
            offset,
            cmsg_len,
            level: hdr.cmsg_level,
            kind: hdr.cmsg_type,
            data_offset,
        });
        if cmsg_len < HEADER_LEN {
            return Walk {
                steps,
                end: End::Short,
            };
        }
        if cmsg_len > len - offset {
            return Walk {
                steps,
                end: End::Overrun,
            };
        }
        // Older libc crates (before 0.2.17x) and glibc before 2.37 add the
        // next header's own cmsg_len to a pointer: stop before that can
        // wrap.
        let next = offset + align(cmsg_len);
        if next + HEADER_LEN <= len && read_len(buf, next) > len {
            return Walk {
                steps,
                end: End::Undefined,
            };
        }
        h = match flavor {
            // SAFETY: CMSG_NXTHDR reads `mhdr`, `*h` (in bounds, above) and,
            // in older libc versions, the cmsg_len of a next header that
            // fits (in bounds, aligned); every length it adds is at most the
            // buffer length (checked above), so its arithmetic stays within
            // or one past the buffer. It does not write.
            Flavor::LibcCrate => unsafe { libc::CMSG_NXTHDR(&mhdr, h) },
            // SAFETY: glibc's __cmsg_nxthdr reads exactly what the libc
            // crate's does, with the same bounds (above); it does not write
            // through either pointer.
            #[cfg(all(target_os = "linux", target_env = "gnu"))]
            Flavor::Glibc => unsafe { __cmsg_nxthdr(&mut mhdr, h) },
        };
    }
    Walk {
        steps,
        end: End::Null,
    }
}

/// The `cmsg_len` stored at `at`.
fn read_len(buf: &AlignedBuf, at: usize) -> usize {
    let raw = &buf.as_bytes()[at..at + size_of::<usize>()];
    usize::from_ne_bytes(raw.try_into().expect("size_t bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmsg::{self, Cmsg, DATA_OFFSET};

    #[test]
    fn ends() {
        for &f in Flavor::ALL {
            assert_eq!(walk_bytes(&[], f).end, End::Null);
            assert_eq!(walk_bytes(&[0; 8], f).steps, vec![], "{f:?}");
            let short = Cmsg::raw(1, 2, &[0; 8]).with_len(3).to_bytes();
            let w = walk_bytes(&short, f);
            assert_eq!((w.steps.len(), w.end), (1, End::Short), "{f:?}");
            let over = Cmsg::raw(1, 2, &[0; 8]).with_len(999).to_bytes();
            let w = walk_bytes(&over, f);
            assert_eq!((w.steps.len(), w.end), (1, End::Overrun), "{f:?}");
            assert_eq!(w.steps[0].data(over.len()), None);
        }
    }

    #[test]
    fn flavours_differ_only_where_documented() {
        // The second message's data ends at the buffer's end but its
        // padding does not fit: the libc crate returns it, old glibc not.
        let msgs = [Cmsg::raw(1, 1, &[0xaa; 4]), Cmsg::raw(1, 1, &[0xbb; 4])];
        let buf = cmsg::concat_unpadded(&msgs);
        let w = walk_bytes(&buf, Flavor::LibcCrate);
        assert_eq!((w.steps.len(), w.end), (2, End::Null));
        assert_eq!(
            w.steps[1].data(buf.len()),
            Some(cmsg::space(4) + DATA_OFFSET..buf.len())
        );
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        {
            let g = walk_bytes(&buf, Flavor::Glibc);
            assert!(matches!(g.steps.len(), 1 | 2), "{g:?}");
            assert_eq!(g.end, End::Null);
            assert_eq!(g.steps[..], w.steps[..g.steps.len()]);
        }
    }
}
