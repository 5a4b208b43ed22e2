//! Stream framing: where a receive stops around descriptors, empty payloads
//! per socket kind, and partial reads.

use std::os::fd::{AsFd, AsRawFd};
use std::time::Duration;

use anyhow::{bail, ensure, Context as _};
use inflight::inspect::file_id;
use inflight::SocketKind;
use inflight_testkit::FdKind;

use super::common::{drain, hung_up, pair, queue_state, recv, send, shape, three, BIG};
use crate::oracle;
use crate::runner::{CaseResult, Outcome, Settings};
use crate::sys::{self};

pub(super) fn stream_record_boundary() -> CaseResult {
    let fx = three()?;
    let (a, b) = pair(SocketKind::Stream)?;
    send(&a, b"ab", &[fx[0].fd.as_raw_fd()]).context("sendmsg 1")?;
    send(&a, b"cd", &[fx[1].fd.as_raw_fd()]).context("sendmsg 2")?;
    let (p1, r1) = recv(&b, 64, Some(BIG), 0).context("recvmsg 1")?;
    let (p2, r2) = recv(&b, 64, Some(BIG), 0).context("recvmsg 2")?;
    ensure!(
        p1 == b"ab" && r1.fds.len() == 1 && p2 == b"cd" && r2.fds.len() == 1,
        "two writes with descriptors read as {:?}+{} fd and {:?}+{} fd: a receive merged them",
        String::from_utf8_lossy(&p1),
        r1.fds.len(),
        String::from_utf8_lossy(&p2),
        r2.fds.len()
    );
    for (i, (f, r)) in [(&fx[0], &r1), (&fx[1], &r2)].into_iter().enumerate() {
        ensure!(
            oracle::same(f.as_fd(), r.fds[0].as_fd())
                .with_context(|| format!("receive {}", i + 1))?,
            "receive {} returned another descriptor than write {} carried",
            i + 1,
            i + 1
        );
    }
    // A write without descriptors, then one with: the bytes of both and
    // the one descriptor arrive, the descriptor with the receive that
    // returns the second write's bytes; a receive may stop before that
    // write or take it too (Linux: it stops only after descriptors).
    send(&a, b"ef", &[]).context("sendmsg 3")?;
    send(&a, b"gh", &[fx[2].fd.as_raw_fd()]).context("sendmsg 4")?;
    let got = drain(&b).context("recvmsg after \"ef\", \"gh\"+fd")?;
    let seen = shape(&got);
    let (fd, how) = match &got[..] {
        [(p, r)] if p == b"efgh" && r.fds.len() == 1 => (&r.fds[0], "one receive took both writes, up to and including the one with the descriptor"),
        [(p, r), (q, s)] if p == b"ef" && r.fds.is_empty() && q == b"gh" && s.fds.len() == 1 => {
            (&s.fds[0], "a receive stopped before the write with the descriptor")
        }
        _ => bail!(
            "\"ef\" (no fd) then \"gh\"+fd read as {seen}: expected \"efgh\"+1 fd, or \"ef\"+0 fd then \"gh\"+1 fd"
        ),
    };
    ensure!(
        oracle::same(fx[2].as_fd(), fd.as_fd()).context("the descriptor of \"gh\"")?,
        "the descriptor that came with \"gh\" is not the one sent with it"
    );
    Ok(Outcome::pass(format!(
        "\"ab\"+fd then \"cd\"+fd read as two receives, one descriptor each (a receive stops after descriptors); \"ef\" (no fd) then \"gh\"+fd read as {seen}: {how}"
    )))
}

pub(super) fn empty_payload(k: SocketKind, s: &Settings) -> CaseResult {
    let (r, w) = sys::pipe().context("pipe")?;
    let (a, b) = pair(k)?;
    let sent = send(&a, b"", &[w.as_raw_fd()]);
    drop(w);
    let wait = s.timeout.min(Duration::from_secs(2));
    if k == SocketKind::Stream {
        let n = sent.context("sendmsg of 0 bytes with a descriptor")?;
        let q = queue_state(&b);
        ensure!(q == "nothing queued", "sendmsg returned {n}, then {q}");
        ensure!(
            hung_up(&r, wait),
            "the descriptor was neither delivered nor released"
        );
        return Ok(Outcome::pass(format!(
            "stream: sendmsg of 0 bytes with a descriptor returned {n} and queued nothing: the descriptor was silently dropped (released: pipe EOF)"
        )));
    }
    let n = sent.context("sendmsg of 0 bytes with a descriptor")?;
    let (bytes, got) = recv(&b, 16, Some(BIG), 0).context("recvmsg")?;
    ensure!(
        bytes.is_empty() && got.fds.len() == 1,
        "{k}: received {} bytes and {} descriptors",
        bytes.len(),
        got.fds.len()
    );
    let (x, y) = (
        file_id(got.fds[0].as_fd()).context("fstat")?,
        file_id(r.as_fd()).context("fstat")?,
    );
    ensure!(x.ino == y.ino, "received descriptor is not the pipe");
    Ok(Outcome::pass(format!(
        "{k}: sendmsg returned {n}; recvmsg returned 0 bytes with the descriptor (0 bytes is not end of file here)"
    )))
}

pub(super) fn partial_read_stream() -> CaseResult {
    let fx = FdKind::DevNull.open().context("/dev/null")?;
    let (a, b) = pair(SocketKind::Stream)?;
    let msg: Vec<u8> = (0..100u8).collect();
    send(&a, &msg, &[fx.fd.as_raw_fd()]).context("sendmsg")?;
    let (p1, r1) = recv(&b, 10, Some(BIG), 0).context("recvmsg")?;
    let (p2, r2) = recv(&b, 200, Some(BIG), 0).context("recvmsg")?;
    ensure!(
        p1 == msg[..10] && r1.fds.len() == 1 && !r1.trunc() && p2 == msg[10..] && r2.fds.is_empty(),
        "10 then 200: {}+{} fd (MSG_TRUNC {}), {}+{} fd",
        p1.len(),
        r1.fds.len(),
        r1.trunc(),
        p2.len(),
        r2.fds.len()
    );
    Ok(Outcome::pass(
        "stream: 100 bytes read as 10 (with the descriptor, no MSG_TRUNC) and 90 (none): nothing lost",
    ))
}
