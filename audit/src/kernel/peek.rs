//! `MSG_PEEK`: every peek installs new duplicates.

use std::os::fd::{AsFd, AsRawFd};

use anyhow::{bail, ensure, Context as _};
use inflight::SocketKind;
use inflight_testkit::FdKind;

use super::common::{drain, pair, queue_state, recv, send, shape, BIG};
use crate::oracle;
use crate::runner::{CaseResult, Outcome};

pub(super) fn msg_peek(k: SocketKind) -> CaseResult {
    let fx = FdKind::File.open().context("file")?;
    let (a, b) = pair(k)?;
    send(&a, b"pk", &[fx.fd.as_raw_fd()]).context("sendmsg")?;
    let (b1, p1) = recv(&b, 16, Some(BIG), libc::MSG_PEEK).context("peek 1")?;
    let (b2, p2) = recv(&b, 16, Some(BIG), libc::MSG_PEEK).context("peek 2")?;
    let (b3, r) = recv(&b, 16, Some(BIG), 0).context("recvmsg")?;
    ensure!(
        p1.fds.len() == 1 && p2.fds.len() == 1 && r.fds.len() == 1,
        "peek, peek, receive: {}, {}, {} descriptors",
        p1.fds.len(),
        p2.fds.len(),
        r.fds.len()
    );
    ensure!(
        [&b1, &b2, &b3].iter().all(|p| p.as_slice() == b"pk"),
        "peek, peek, receive returned payloads {:?}, {:?}, {:?} (sent \"pk\")",
        String::from_utf8_lossy(&b1),
        String::from_utf8_lossy(&b2),
        String::from_utf8_lossy(&b3)
    );
    let q = queue_state(&b);
    ensure!(q == "nothing queued", "after the receive: {q}");
    let nums = [
        p1.fds[0].as_raw_fd(),
        p2.fds[0].as_raw_fd(),
        r.fds[0].as_raw_fd(),
    ];
    ensure!(
        nums[0] != nums[1] && nums[1] != nums[2] && nums[0] != nums[2],
        "numbers {nums:?} repeat"
    );
    for (f, what) in [
        (&p1.fds[0], "peek 1"),
        (&p2.fds[0], "peek 2"),
        (&r.fds[0], "receive"),
    ] {
        ensure!(
            oracle::same(fx.as_fd(), f.as_fd()).with_context(|| what.to_string())?,
            "the descriptor of {what} (fd {}) is another open file description than the one sent",
            f.as_raw_fd()
        );
    }
    Ok(Outcome::pass(format!(
        "peek, peek, receive installed fds {nums:?}: a new duplicate each time (each must be closed)"
    )))
}

/// A stream peek whose buffer fills before a later write that carries
/// descriptors: Linux's `unix_stream_read_generic` walks on in 0-byte steps
/// and duplicates that write's descriptors into the peek, although none of
/// its bytes were copied; a plain read of the same size gets none. Both
/// peeks are allowed (a receiver that peeks to size a buffer must expect
/// the look-ahead) and the evidence says which one this kernel does; the
/// peeked descriptor, if any, must be the one sent, the read must get none,
/// and the rest must still bring the descriptor, once.
pub(super) fn peek_lookahead_stream() -> CaseResult {
    let fx = FdKind::File.open().context("file")?;
    let (a, b) = pair(SocketKind::Stream)?;
    send(&a, b"aaaa", &[]).context("sendmsg 1")?;
    send(&a, b"bbbb", &[fx.fd.as_raw_fd()]).context("sendmsg 2")?;
    let (pb, p) = recv(&b, 2, Some(BIG), libc::MSG_PEEK).context("peek")?;
    ensure!(
        pb == b"aa" && p.fds.len() <= 1 && !p.ctrunc(),
        "a 2-byte MSG_PEEK returned {:?} with {} descriptor(s) (MSG_CTRUNC {}): expected \"aa\" with none or the second write's one",
        String::from_utf8_lossy(&pb),
        p.fds.len(),
        p.ctrunc()
    );
    for f in &p.fds {
        ensure!(
            oracle::same(fx.as_fd(), f.as_fd()).context("the peeked descriptor")?,
            "the peeked descriptor is another open file description than the one sent"
        );
    }
    let (rb, r) = recv(&b, 2, Some(BIG), 0).context("recvmsg")?;
    ensure!(
        rb == b"aa" && r.fds.is_empty(),
        "a 2-byte read of the first (descriptor-less) write returned {:?} with {} descriptor(s) of the second",
        String::from_utf8_lossy(&rb),
        r.fds.len()
    );
    let rest = drain(&b).context("recvmsg of the rest")?;
    let seen = shape(&rest);
    let fd = match &rest[..] {
        [(q, s)] if q == b"aabbbb" && s.fds.len() == 1 => &s.fds[0],
        [(q, s), (t, u)] if q == b"aa" && s.fds.is_empty() && t == b"bbbb" && u.fds.len() == 1 => {
            &u.fds[0]
        }
        _ => bail!(
            "after the peek and the 2-byte read, the rest read as {seen}: expected \"aabbbb\" and the descriptor, once"
        ),
    };
    ensure!(
        oracle::same(fx.as_fd(), fd.as_fd()).context("the descriptor read after the peek")?,
        "the descriptor read after the peek is another open file description than the one sent"
    );
    let what = if p.fds.is_empty() {
        "no descriptor (the peek stopped with the buffer)"
    } else {
        "the second write's descriptor (the peek looked ahead past a full buffer)"
    };
    Ok(Outcome::pass(format!(
        "writes \"aaaa\" and \"bbbb\"+fd; a 2-byte MSG_PEEK returned \"aa\" with {what}; a 2-byte read returned \"aa\" with none; the rest read as {seen}"
    )))
}
