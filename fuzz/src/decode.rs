//! `decode_cmsg`: arbitrary bytes as a received control buffer, with an
//! arbitrary claimed `msg_controllen`, through the checked decoder.
//!
//! The oracle is a model of the walk written from the `cmsghdr` layout (the
//! test kit's constants, not inflight's), and the claim's meaning: the bytes
//! after it change nothing, and every data slice lies inside it. The fast
//! path's `sole_rights` agrees with the walk.

use inflight::codec::{self, Cmsg, Message};
use inflight::ErrorKind;
use inflight_testkit::cmsg::{align, ALIGN, DATA_OFFSET, HEADER_LEN, SCM_PIDFD};

/// The claimed length, from the first three bytes of the input: the exact
/// buffer length, a small value, a bit less than the buffer, or a huge one.
fn split(data: &[u8]) -> Option<(usize, &[u8])> {
    let (&[mode, lo, hi], buf) = data.split_first_chunk::<3>()?;
    let v = usize::from(u16::from_le_bytes([lo, hi]));
    let claimed = match mode % 4 {
        0 => buf.len(),
        1 => v,
        2 => buf.len().saturating_sub(v),
        _ => usize::MAX - v,
    };
    Some((claimed, buf))
}

fn read_len(buf: &[u8], at: usize) -> usize {
    usize::from_ne_bytes(buf[at..at + ALIGN].try_into().unwrap())
}

fn read_i32(buf: &[u8], at: usize) -> i32 {
    i32::from_ne_bytes(buf[at..at + 4].try_into().unwrap())
}

type Walk<'a> = Vec<Result<Cmsg<'a>, inflight::Error>>;

/// The fuzz target body; see the module documentation.
///
/// # Panics
///
/// When the decoder disagrees with the model walk below, reads past the
/// claimed length, or hands out data outside it.
pub fn decode_cmsg(data: &[u8]) {
    let Some((claimed, buf)) = split(data) else {
        return;
    };
    let eff = claimed.min(buf.len());
    let walked: Walk<'_> = codec::decode_clamped(buf, claimed).collect();

    within_claim(buf, eff, &walked);
    // The bytes after the claim must not matter: poisoned (every one of
    // them changed), the walk is the same.
    let poisoned: Vec<u8> = buf
        .iter()
        .enumerate()
        .map(|(i, &b)| if i < eff { b } else { !b })
        .collect();
    let again: Walk<'_> = codec::decode_clamped(&poisoned, claimed).collect();
    within_claim(&poisoned, eff, &again);
    assert_eq!(
        walked.len(),
        again.len(),
        "bytes after the claim changed the walk"
    );
    for (a, b) in walked.iter().zip(&again) {
        match (a, b) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "bytes after the claim changed the walk"),
            (Err(a), Err(b)) => assert_eq!(a.kind(), b.kind()),
            _ => panic!("bytes after the claim changed the walk: {a:?} vs {b:?}"),
        }
    }

    // Fused: exhausted stays exhausted.
    let mut d = codec::decode_clamped(buf, claimed);
    for _ in d.by_ref() {}
    assert!(d.next().is_none(), "decoder yielded after exhaustion");

    model(buf, eff, &walked);
    sole(&buf[..eff], &walked);
}

/// `sole_rights` (the receive's fast path) finds numbers exactly when the
/// walk yielded one message, an `SCM_RIGHTS`, and they are its numbers.
fn sole(claimed: &[u8], walked: &Walk<'_>) {
    let got = codec::sole_rights(claimed).map(|r| r.as_bytes());
    let want = match walked.as_slice() {
        [Ok(c)] if (c.level, c.kind) == (libc::SOL_SOCKET, libc::SCM_RIGHTS) => {
            Some(&c.data[..c.data.len() / 4 * 4])
        }
        _ => None,
    };
    assert_eq!(
        got,
        want,
        "sole_rights against a walk of {} items",
        walked.len()
    );
}

/// Every data slice is `buf[data_range]`, itself inside the first `eff`
/// bytes, and every header the walk read lies inside them too.
fn within_claim(buf: &[u8], eff: usize, walked: &Walk<'_>) {
    let claim = buf[..eff].as_ptr_range();
    for (i, item) in walked.iter().enumerate() {
        let Ok(c) = item else { continue };
        let r = &c.data_range;
        let header_in = c.offset.checked_add(HEADER_LEN).is_some_and(|e| e <= eff);
        assert!(
            header_in && r.start <= r.end && r.end <= eff,
            "item {i}: header at {} or data {r:?} outside the {eff} claimed bytes",
            c.offset
        );
        let inside = c.data.is_empty() || {
            let d = c.data.as_ptr_range();
            claim.start <= d.start && d.end <= claim.end
        };
        assert!(inside, "item {i}: data slice outside the claimed bytes");
        assert_eq!(
            c.data,
            &buf[r.clone()],
            "item {i}: data is not buf[data_range]"
        );
    }
}

/// The model walk (the documented semantics, written independently).
fn model(buf: &[u8], eff: usize, walked: &Walk<'_>) {
    let mut off = 0usize;
    let mut model_done = false;
    for (i, item) in walked.iter().enumerate() {
        assert!(
            !model_done,
            "decoder yielded past the end of the walk: {item:?}"
        );
        assert!(
            off + HEADER_LEN <= eff,
            "item {i} without room for a header"
        );
        let len = read_len(buf, off);
        let last = i + 1 == walked.len();
        match item {
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::MalformedControl, "{e:?}");
                assert!(len < HEADER_LEN, "error for cmsg_len {len} at {off}");
                assert!(last, "the decoder went on after an error");
                model_done = true;
            }
            Ok(c) => {
                assert!(len >= HEADER_LEN, "no error for cmsg_len {len} at {off}");
                assert_eq!(c.offset, off, "offset of item {i}");
                assert_eq!(c.level, read_i32(buf, off + ALIGN), "level of item {i}");
                assert_eq!(c.kind, read_i32(buf, off + ALIGN + 4), "type of item {i}");
                let end = match off.checked_add(len) {
                    Some(end) if end <= eff => end,
                    _ => eff,
                };
                let truncated = off.checked_add(len).is_none_or(|end| end > eff);
                assert_eq!(c.truncated, truncated, "truncated flag of item {i}");
                let start = (off + DATA_OFFSET).min(end);
                assert_eq!(c.data_range, start..end, "data range of item {i}");
                assert_eq!(c.data, &buf[start..end], "data of item {i}");
                check_parse(c);
                // `len` fits the buffer here (not truncated), so neither
                // the rounding nor the sum overflows.
                if truncated {
                    model_done = true;
                } else {
                    off += align(len);
                }
            }
        }
    }
    // The walk stopped exactly where the model says it must.
    if !model_done {
        assert!(
            off.checked_add(HEADER_LEN).is_none_or(|e| e > eff),
            "decoder stopped at {off} with a whole header left ({eff} bytes)"
        );
    }
}

fn check_parse(c: &Cmsg<'_>) {
    const SOL_SOCKET: i32 = libc::SOL_SOCKET;
    match c.parse() {
        Message::Rights(r) => {
            assert_eq!((c.level, c.kind), (SOL_SOCKET, libc::SCM_RIGHTS));
            assert_eq!(r.len() * 4 + r.trailing_bytes(), c.data.len());
            let nums: Vec<i32> = r.iter().collect();
            assert_eq!(nums.len(), r.len());
            assert_eq!(r.is_empty(), nums.is_empty());
            for (n, chunk) in nums.iter().zip(c.data.chunks_exact(4)) {
                assert_eq!(*n, i32::from_ne_bytes(chunk.try_into().unwrap()));
            }
        }
        Message::Credentials(cr) => {
            assert_eq!((c.level, c.kind), (SOL_SOCKET, libc::SCM_CREDENTIALS));
            assert!(c.data.len() >= 12);
            assert_eq!(cr.pid, read_i32(c.data, 0));
            assert_eq!(cr.uid, read_i32(c.data, 4) as u32);
            assert_eq!(cr.gid, read_i32(c.data, 8) as u32);
        }
        Message::PidFd(fd) => {
            assert_eq!((c.level, c.kind), (SOL_SOCKET, SCM_PIDFD));
            assert!(c.data.len() >= 4);
            assert_eq!(fd, read_i32(c.data, 0));
        }
        Message::Other { level, kind, data } => {
            assert_eq!((level, kind, data), (c.level, c.kind, c.data));
            let typed = level == SOL_SOCKET
                && (kind == libc::SCM_RIGHTS
                    || (kind == libc::SCM_CREDENTIALS && data.len() >= 12)
                    || (kind == SCM_PIDFD && data.len() >= 4));
            assert!(!typed, "a well-formed known message parsed as Other");
        }
        other => panic!("unknown message variant {other:?}"),
    }
}
