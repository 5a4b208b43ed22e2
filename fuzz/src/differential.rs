//! `decode_differential`: inflight's decoder against reference walks that
//! use `CMSG_FIRSTHDR`/`CMSG_NXTHDR`/`CMSG_DATA`: the `libc` crate's (which
//! follow the kernel's own walk) and glibc's `__cmsg_nxthdr` (which, before
//! glibc 2.37, also stops when the next message's padding would pass the
//! end).

use std::ops::Range;

use inflight::codec::{self, CMSG_ALIGNMENT, HEADER_SIZE};
use inflight::ErrorKind;

/// One step of a reference walk.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    /// A header whose `cmsg_len` fits: level, type and the data range
    /// (`CMSG_DATA(h) - base .. h - base + cmsg_len`).
    Msg {
        offset: usize,
        level: i32,
        kind: i32,
        data: Range<usize>,
    },
    /// `cmsg_len` below the header size: the reference's data range would be
    /// negative, and `CMSG_NXTHDR` ends the walk.
    Short,
    /// `cmsg_len` past the end of the buffer: `CMSG_DATA` + `cmsg_len` is
    /// outside the buffer, so the reference is undefined from here on.
    Overrun {
        offset: usize,
        level: i32,
        kind: i32,
    },
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Flavor {
    /// The `libc` crate's `CMSG_NXTHDR` (and the kernel's): a next header is
    /// returned when its header fits.
    LibcCrate,
    /// glibc's `__cmsg_nxthdr`. Since glibc 2.37 (and in distributions that
    /// backported the fix) it walks like the kernel; older versions also
    /// return null when the next message's `CMSG_ALIGN(cmsg_len)` does not
    /// fit.
    #[cfg(target_env = "gnu")]
    Glibc,
}

#[cfg(target_env = "gnu")]
extern "C" {
    /// glibc's out-of-line `CMSG_NXTHDR`.
    fn __cmsg_nxthdr(mhdr: *mut libc::msghdr, cmsg: *mut libc::cmsghdr) -> *mut libc::cmsghdr;
}

/// Walks `len` bytes at the start of `aligned` with the reference macros.
fn reference(aligned: &mut [u64], len: usize, flavor: Flavor) -> Vec<Step> {
    assert!(aligned.len() * 8 >= len);
    let base = aligned.as_mut_ptr().cast::<u8>();
    // SAFETY: all-zero bytes are a valid msghdr (null pointers, zero
    // lengths).
    let mut mhdr: libc::msghdr = unsafe { std::mem::zeroed() };
    mhdr.msg_control = base.cast();
    mhdr.msg_controllen = len as _;
    let mut steps = Vec::new();
    // SAFETY: CMSG_FIRSTHDR only reads the msghdr fields, a live local.
    let mut h = unsafe { libc::CMSG_FIRSTHDR(&mhdr) };
    while !h.is_null() {
        let offset = h as usize - base as usize;
        // Every header the reference hands out lies inside the buffer.
        assert!(offset + HEADER_SIZE <= len, "reference header outside");
        // SAFETY: `h` points at a whole, 8-aligned cmsghdr inside the buffer
        // (checked just above; the buffer is a slice of u64).
        let hdr = unsafe { h.read() };
        let cmsg_len = hdr.cmsg_len as usize;
        if cmsg_len < HEADER_SIZE {
            steps.push(Step::Short);
            break;
        }
        if cmsg_len > len - offset {
            steps.push(Step::Overrun {
                offset,
                level: hdr.cmsg_level,
                kind: hdr.cmsg_type,
            });
            break;
        }
        // SAFETY: CMSG_DATA is pointer arithmetic on `h` (one header
        // further), inside the buffer since cmsg_len >= HEADER_SIZE fits.
        let data = unsafe { libc::CMSG_DATA(h) } as usize - base as usize;
        steps.push(Step::Msg {
            offset,
            level: hdr.cmsg_level,
            kind: hdr.cmsg_type,
            data: data..offset + cmsg_len,
        });
        h = match flavor {
            // SAFETY: CMSG_NXTHDR reads `*h` (in bounds) and, only if a whole
            // header fits there, nothing else; `cmsg_len` fits in the
            // buffer, so its pointer arithmetic cannot wrap.
            Flavor::LibcCrate => unsafe { libc::CMSG_NXTHDR(&mhdr, h) },
            // SAFETY: glibc reads `*h` and, when a whole header fits at the
            // next position, that header's `cmsg_len`; both are inside the
            // buffer. The current `cmsg_len` fits, so no wrap-around.
            #[cfg(target_env = "gnu")]
            Flavor::Glibc => unsafe { __cmsg_nxthdr(&mut mhdr, h) },
        };
        if !h.is_null() {
            let next = h as usize - base as usize;
            // A next header whose own cmsg_len is huge makes glibc's
            // arithmetic wrap: undefined from here on.
            if next + HEADER_SIZE <= len {
                // SAFETY: a whole, aligned header lies at `h` (checked).
                let hdr = unsafe { h.read() };
                if hdr.cmsg_len as usize > len {
                    steps.push(Step::Overrun {
                        offset: next,
                        level: hdr.cmsg_level,
                        kind: hdr.cmsg_type,
                    });
                    break;
                }
            }
        }
    }
    steps
}

fn align(len: usize) -> usize {
    (len + CMSG_ALIGNMENT - 1) & !(CMSG_ALIGNMENT - 1)
}

/// The fuzz target body; see the module documentation.
///
/// # Panics
///
/// When inflight's walk and a reference walk disagree where the reference
/// is defined.
pub fn decode_differential(data: &[u8]) {
    // The references read through `*const cmsghdr`: give them an aligned
    // copy. inflight decodes the fuzzer's own (exactly sized) allocation.
    let mut aligned = vec![0u64; data.len().div_ceil(8)];
    for (i, b) in data.iter().enumerate() {
        aligned[i / 8] |= u64::from(*b) << (8 * (i % 8));
    }
    if cfg!(target_endian = "big") {
        for w in &mut aligned {
            *w = w.swap_bytes();
        }
    }
    let ours: Vec<_> = codec::decode(data).collect();

    let libc_steps = reference(&mut aligned, data.len(), Flavor::LibcCrate);
    compare(&ours, &libc_steps, data.len(), Flavor::LibcCrate);
    #[cfg(target_env = "gnu")]
    {
        let glibc_steps = reference(&mut aligned, data.len(), Flavor::Glibc);
        compare(&ours, &glibc_steps, data.len(), Flavor::Glibc);
    }
}

fn compare(
    ours: &[Result<codec::Cmsg<'_>, inflight::Error>],
    steps: &[Step],
    len: usize,
    flavor: Flavor,
) {
    let name = match flavor {
        Flavor::LibcCrate => "libc crate",
        #[cfg(target_env = "gnu")]
        Flavor::Glibc => "glibc",
    };
    let mut defined_to_end = true;
    for (i, step) in steps.iter().enumerate() {
        let Some(item) = ours.get(i) else {
            panic!("{name}: inflight ended before reference step {i} {step:?}");
        };
        match (step, item) {
            (
                Step::Msg {
                    offset,
                    level,
                    kind,
                    data,
                },
                Ok(c),
            ) => {
                assert_eq!(
                    (c.offset, c.level, c.kind, c.data_range.clone(), c.truncated),
                    (*offset, *level, *kind, data.clone(), false),
                    "{name}: step {i}"
                );
            }
            (Step::Short, Err(e)) => {
                assert_eq!(e.kind(), ErrorKind::MalformedControl, "{name}: step {i}");
                assert_eq!(i + 1, ours.len(), "{name}: inflight went on after an error");
            }
            (
                Step::Overrun {
                    offset,
                    level,
                    kind,
                },
                Ok(c),
            ) => {
                // Only where the header is, and that inflight clamps.
                assert_eq!(
                    (c.offset, c.level, c.kind),
                    (*offset, *level, *kind),
                    "{name}: step {i} (overrun)"
                );
                assert!(c.truncated, "{name}: overrun not marked truncated");
                assert_eq!(c.data_range.end, len, "{name}: overrun not clamped");
                assert_eq!(
                    i + 1,
                    ours.len(),
                    "{name}: inflight went on after an overrun"
                );
                defined_to_end = false;
            }
            (step, item) => panic!("{name}: step {i}: reference {step:?}, inflight {item:?}"),
        }
    }
    if !defined_to_end || matches!(steps.last(), Some(Step::Short)) {
        return;
    }
    // The reference ended with CMSG_NXTHDR returning null.
    let extra = &ours[steps.len()..];
    match flavor {
        Flavor::LibcCrate => assert!(
            extra.is_empty(),
            "libc crate: inflight yields more than the reference: {extra:?}"
        ),
        #[cfg(target_env = "gnu")]
        Flavor::Glibc => {
            // glibc before 2.37 (without the backported fix) also stops when
            // the next message is irregular: its padding passes the end, its
            // cmsg_len passes the end, or is below the header size. inflight
            // returns that one irregular message (clamped, or as the error),
            // then stops.
            assert!(extra.len() <= 1, "glibc: inflight yields {extra:?}");
            if let Some(item) = extra.first() {
                let expected_off = match steps.last() {
                    Some(Step::Msg { offset, data, .. }) => offset + align(data.end - offset),
                    _ => 0,
                };
                if let Ok(c) = item {
                    assert_eq!(c.offset, expected_off, "glibc: extra item offset");
                    assert!(
                        c.truncated || c.offset + align(c.data_range.end - c.offset) > len,
                        "glibc: stopped before {c:?}, which fits with its padding"
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use inflight::codec::DATA_OFFSET;

    fn msg(len: usize, level: i32, kind: i32, data: usize) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&len.to_ne_bytes());
        v.extend_from_slice(&level.to_ne_bytes());
        v.extend_from_slice(&kind.to_ne_bytes());
        v.resize(v.len() + data, 0xaa);
        v
    }

    #[test]
    fn references_differ_where_documented() {
        // Two messages; the second's data ends at the buffer end but its
        // padding would not fit: the libc crate walk returns it (old glibc
        // would not).
        let mut buf = msg(DATA_OFFSET + 4, 1, 1, 8);
        buf.extend(msg(DATA_OFFSET + 4, 1, 1, 4));
        let mut aligned = vec![0u64; buf.len().div_ceil(8)];
        for (i, b) in buf.iter().enumerate() {
            aligned[i / 8] |= u64::from(*b) << (8 * (i % 8));
        }
        let a = reference(&mut aligned, buf.len(), Flavor::LibcCrate);
        assert_eq!(a.len(), 2, "{a:?}");
        #[cfg(target_env = "gnu")]
        {
            let g = reference(&mut aligned, buf.len(), Flavor::Glibc);
            assert!(matches!(g.len(), 1 | 2), "{g:?}");
        }
        decode_differential(&buf);
    }
}
