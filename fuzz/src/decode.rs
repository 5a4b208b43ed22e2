//! `decode_cmsg`: arbitrary bytes as a received control buffer, with an
//! arbitrary claimed `msg_controllen`, through the checked decoder.

use std::os::fd::{AsFd, OwnedFd};
use std::sync::OnceLock;

use inflight::codec::{self, Cmsg, Message, CMSG_ALIGNMENT, DATA_OFFSET, HEADER_SIZE};
use inflight::inspect::{self, FileId};
use inflight::ErrorKind;

/// A descriptor whose number seeds and dictionaries name in `SCM_RIGHTS`
/// data: decoding must never take ownership of it (closing it, or making it
/// owned twice).
struct Canary {
    fd: OwnedFd,
    id: FileId,
}

fn canary() -> &'static Canary {
    static CANARY: OnceLock<Canary> = OnceLock::new();
    CANARY.get_or_init(|| {
        let fd: OwnedFd = std::fs::File::open("/dev/null")
            .expect("open /dev/null")
            .into();
        let id = inspect::file_id(fd.as_fd()).expect("fstat canary");
        Canary { fd, id }
    })
}

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
    usize::from_ne_bytes(buf[at..at + 8].try_into().unwrap())
}

fn read_i32(buf: &[u8], at: usize) -> i32 {
    i32::from_ne_bytes(buf[at..at + 4].try_into().unwrap())
}

fn align(len: usize) -> Option<usize> {
    len.checked_add(CMSG_ALIGNMENT - 1)
        .map(|l| l & !(CMSG_ALIGNMENT - 1))
}

/// The fuzz target body; see the module documentation.
///
/// # Panics
///
/// When the decoder disagrees with the model walk below, reads outside the
/// buffer, or a descriptor named in the bytes is touched.
pub fn decode_cmsg(data: &[u8]) {
    let canary = canary();
    let Some((claimed, buf)) = split(data) else {
        return;
    };
    let eff = claimed.min(buf.len());
    let walked: Vec<Result<Cmsg<'_>, inflight::Error>> =
        codec::decode_clamped(buf, claimed).collect();

    // The same walk over the explicitly clamped slice.
    let again: Vec<_> = codec::decode(&buf[..eff]).collect();
    assert_eq!(walked.len(), again.len(), "decode_clamped vs decode");
    for (a, b) in walked.iter().zip(&again) {
        match (a, b) {
            (Ok(a), Ok(b)) => assert_eq!(a, b),
            (Err(a), Err(b)) => assert_eq!(a.kind(), b.kind()),
            _ => panic!("decode_clamped vs decode: {a:?} vs {b:?}"),
        }
    }

    // Fused: exhausted stays exhausted.
    let mut d = codec::decode_clamped(buf, claimed);
    for _ in d.by_ref() {}
    assert!(d.next().is_none(), "decoder yielded after exhaustion");

    // The model walk (the documented semantics, written independently).
    let mut off = 0usize;
    let mut model_done = false;
    for (i, item) in walked.iter().enumerate() {
        assert!(
            !model_done,
            "decoder yielded past the end of the walk: {item:?}"
        );
        assert!(
            off + HEADER_SIZE <= eff,
            "item {i} without room for a header"
        );
        let len = read_len(buf, off);
        let last = i + 1 == walked.len();
        match item {
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::MalformedControl, "{e:?}");
                assert!(len < HEADER_SIZE, "error for cmsg_len {len} at {off}");
                assert!(last, "the decoder went on after an error");
                model_done = true;
            }
            Ok(c) => {
                assert!(len >= HEADER_SIZE, "no error for cmsg_len {len} at {off}");
                assert_eq!(c.offset, off, "offset of item {i}");
                assert_eq!(c.level, read_i32(buf, off + 8), "level of item {i}");
                assert_eq!(c.kind, read_i32(buf, off + 12), "type of item {i}");
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
                match align(len).and_then(|a| off.checked_add(a)) {
                    Some(next) if !truncated => off = next,
                    _ => model_done = true,
                }
            }
        }
    }
    // The walk stopped exactly where the model says it must.
    if !model_done {
        assert!(
            off.checked_add(HEADER_SIZE).is_none_or(|e| e > eff),
            "decoder stopped at {off} with a whole header left ({eff} bytes)"
        );
    }
    assert!(walked.len() <= eff / HEADER_SIZE + 1, "too many items");

    // No descriptor named in the bytes was claimed: the canary is intact.
    let id = inspect::file_id(canary.fd.as_fd()).expect("canary closed by the decoder");
    assert_eq!(id, canary.id, "canary replaced");
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
            assert_eq!((c.level, c.kind), (SOL_SOCKET, codec::SCM_PIDFD));
            assert!(c.data.len() >= 4);
            assert_eq!(fd, read_i32(c.data, 0));
        }
        Message::Other { level, kind, data } => {
            assert_eq!((level, kind, data), (c.level, c.kind, c.data));
            let typed = level == SOL_SOCKET
                && (kind == libc::SCM_RIGHTS
                    || (kind == libc::SCM_CREDENTIALS && data.len() >= 12)
                    || (kind == codec::SCM_PIDFD && data.len() >= 4));
            assert!(!typed, "a well-formed known message parsed as Other");
        }
        other => panic!("unknown message variant {other:?}"),
    }
}
