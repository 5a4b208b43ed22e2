//! `MSG_PEEK`: every peek installs new duplicates.

use std::os::fd::{AsFd, AsRawFd};

use anyhow::{ensure, Context as _};
use inflight::SocketKind;
use inflight_testkit::FdKind;

use super::common::{pair, recv, send, BIG};
use crate::oracle;
use crate::runner::{CaseResult, Outcome};

pub(super) fn msg_peek(k: SocketKind) -> CaseResult {
    let fx = FdKind::File.open().context("file")?;
    let (a, b) = pair(k)?;
    send(&a, b"pk", &[fx.fd.as_raw_fd()]).context("sendmsg")?;
    let (_, p1) = recv(&b, 16, Some(BIG), libc::MSG_PEEK).context("peek 1")?;
    let (_, p2) = recv(&b, 16, Some(BIG), libc::MSG_PEEK).context("peek 2")?;
    let (_, r) = recv(&b, 16, Some(BIG), 0).context("recvmsg")?;
    ensure!(
        p1.fds.len() == 1 && p2.fds.len() == 1 && r.fds.len() == 1,
        "peek, peek, receive: {}, {}, {} descriptors",
        p1.fds.len(),
        p2.fds.len(),
        r.fds.len()
    );
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
/// its bytes were copied; a plain read of the same size gets none. Reported
/// either way (a receiver that peeks to size a buffer must expect it); a
/// failure is only a plain read that crosses the boundary, or a wrong file.
pub(super) fn peek_lookahead_stream() -> CaseResult {
    let fx = FdKind::File.open().context("file")?;
    let (a, b) = pair(SocketKind::Stream)?;
    send(&a, b"aaaa", &[]).context("sendmsg 1")?;
    send(&a, b"bbbb", &[fx.fd.as_raw_fd()]).context("sendmsg 2")?;
    let (pb, p) = recv(&b, 2, Some(BIG), libc::MSG_PEEK).context("peek")?;
    let (rb, r) = recv(&b, 2, Some(BIG), 0).context("recvmsg")?;
    ensure!(
        r.fds.is_empty(),
        "a 2-byte read of the first (descriptor-less) write returned {} descriptor(s) of the second",
        r.fds.len()
    );
    for f in &p.fds {
        ensure!(
            oracle::same(fx.as_fd(), f.as_fd()).context("the peeked descriptor")?,
            "the peeked descriptor is another open file description than the one sent"
        );
    }
    let what = if p.fds.is_empty() {
        "no descriptor (the peek stopped with the buffer)"
    } else {
        "the second write's descriptor (the peek looked ahead past a full buffer)"
    };
    Ok(Outcome::pass(format!(
        "writes \"aaaa\" and \"bbbb\"+fd; a 2-byte MSG_PEEK returned {:?} with {what}; a 2-byte read returned {:?} with none",
        String::from_utf8_lossy(&pb),
        String::from_utf8_lossy(&rb)
    )))
}
