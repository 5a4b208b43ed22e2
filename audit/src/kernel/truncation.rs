//! Truncation: the `MSG_CTRUNC` arithmetic for every control buffer size,
//! no control buffer at all, and datagram payload truncation (`MSG_TRUNC`).

use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::time::Duration;

use anyhow::{ensure, Context as _};
use inflight::inspect::file_id;
use inflight::SocketKind;
use inflight_testkit::cmsg::{space as cmsg_space, HEADER_LEN as HDR};
use inflight_testkit::FdKind;

use super::common::{hung_up, pair, queue_state, raws, recv, send, BIG};
use crate::oracle;
use crate::runner::{CaseResult, Outcome, Settings};
use crate::sys::{self};

/// What the kernel's `scm_detach_fds` arithmetic predicts for `n`
/// descriptors and a control buffer of `len` bytes: installed count,
/// `MSG_CTRUNC`, and the resulting `msg_controllen`.
fn predicted(n: usize, len: usize) -> (usize, bool, usize) {
    let room = if len > HDR { (len - HDR) / 4 } else { 0 };
    let k = room.min(n);
    let used = if k > 0 { cmsg_space(4 * k).min(len) } else { 0 };
    (k, k < n, used)
}

pub(super) fn ctrunc_arithmetic(k: SocketKind, n: usize, s: &Settings) -> CaseResult {
    let top = cmsg_space(4 * n);
    let mut steps = Vec::new();
    let mut last = usize::MAX;
    for len in 0..=top {
        let want = one_buffer(k, n, len, s)?;
        if want != last {
            steps.push(format!("{len}→{want}"));
            last = want;
        }
    }
    Ok(Outcome::pass(format!(
        "{} buffer sizes 0..={top}: installed = min({n}, (len-{HDR})/4) [len→count {}], MSG_CTRUNC iff fewer, msg_controllen = min(len, CMSG_SPACE); discarded write ends released (pipe EOF), nothing leaked",
        top + 1,
        steps.join(" ")
    )))
}

/// `n` pipe write ends into a control buffer of `len` bytes: what arrives
/// is what [`predicted`] says, in order, and the discarded ones are
/// released. Returns the count installed.
fn one_buffer(k: SocketKind, n: usize, len: usize, s: &Settings) -> anyhow::Result<usize> {
    let pipes: Vec<(OwnedFd, OwnedFd)> = (0..n)
        .map(|_| sys::pipe())
        .collect::<Result<_, _>>()
        .context("pipe")?;
    let (a, b) = pair(k)?;
    let writers: Vec<RawFd> = pipes.iter().map(|p| p.1.as_raw_fd()).collect();
    send(&a, b"t", &writers).context("sendmsg")?;
    let readers: Vec<OwnedFd> = pipes.into_iter().map(|(r, _w)| r).collect();
    let (bytes, r) = recv(&b, 16, Some(len), 0).context("recvmsg")?;
    let (want, want_trunc, want_len) = predicted(n, len);
    ensure!(
        (r.fds.len(), r.ctrunc(), r.controllen) == (want, want_trunc, want_len),
        "control buffer of {len} bytes: got {} descriptor(s), MSG_CTRUNC {}, msg_controllen {}; expected {want}, {want_trunc}, {want_len}",
        r.fds.len(),
        r.ctrunc(),
        r.controllen
    );
    ensure!(
        bytes == b"t",
        "payload {bytes:?} with a {len}-byte control buffer"
    );
    for (i, got) in r.fds.iter().enumerate() {
        let (x, y) = (
            file_id(got.as_fd()).context("fstat")?,
            file_id(readers[i].as_fd()).context("fstat")?,
        );
        ensure!(
            x.ino == y.ino,
            "buffer {len}: descriptor #{i} is not pipe #{i}'s write end ({x} vs {y})"
        );
    }
    // The discarded descriptors must have been released by the kernel.
    for (i, rd) in readers.iter().enumerate().skip(want) {
        ensure!(
            hung_up(rd, s.timeout.min(Duration::from_secs(2))),
            "buffer {len}: pipe #{i}'s write end was discarded but not released (no EOF on its read end)"
        );
    }
    let q = queue_state(&b);
    ensure!(q == "nothing queued", "buffer {len}: then {q}");
    Ok(want)
}

pub(super) fn no_control_buffer(k: SocketKind, s: &Settings) -> CaseResult {
    let (r1, w1) = sys::pipe().context("pipe")?;
    let (r2, w2) = sys::pipe().context("pipe")?;
    let (a, b) = pair(k)?;
    send(&a, b"hi", &raws(&[&w1, &w2])).context("sendmsg")?;
    drop((w1, w2));
    let (bytes, r) = recv(&b, 16, None, 0).context("recvmsg")?;
    ensure!(bytes == b"hi", "payload {bytes:?}");
    ensure!(
        r.fds.is_empty() && r.ctrunc() && r.controllen == 0,
        "{} descriptors, MSG_CTRUNC {}, msg_controllen {}",
        r.fds.len(),
        r.ctrunc(),
        r.controllen
    );
    let wait = s.timeout.min(Duration::from_secs(2));
    ensure!(
        hung_up(&r1, wait) && hung_up(&r2, wait),
        "the discarded write ends were not released (no pipe EOF)"
    );
    Ok(Outcome::pass(
        "msg_control NULL: payload \"hi\" delivered, MSG_CTRUNC set, both descriptors discarded and released (pipe EOF)",
    ))
}

pub(super) fn payload_truncation(k: SocketKind) -> CaseResult {
    let fx = FdKind::DevNull.open().context("/dev/null")?;
    let (a, b) = pair(k)?;
    let msg: Vec<u8> = (0..100u8).collect();
    send(&a, &msg, &[fx.fd.as_raw_fd()]).context("sendmsg")?;
    let (bytes, r) = recv(&b, 10, Some(BIG), 0).context("recvmsg")?;
    ensure!(
        r.trunc(),
        "{k}: 100 bytes into a 10-byte buffer without MSG_TRUNC"
    );
    ensure!(bytes == msg[..10], "{k}: got {:?}", bytes);
    ensure!(
        r.fds.len() == 1,
        "{k}: descriptors lost with the truncated payload ({} arrived)",
        r.fds.len()
    );
    ensure!(
        oracle::same(fx.as_fd(), r.fds[0].as_fd())
            .context("the descriptor beside the truncated payload")?,
        "{k}: the descriptor beside the truncated payload is not the /dev/null sent"
    );
    let q = queue_state(&b);
    ensure!(
        q == "nothing queued",
        "{k}: after the truncated message: {q}"
    );
    Ok(Outcome::pass(format!(
        "{k}: 100 bytes into 10: MSG_TRUNC, 10 bytes, the descriptor delivered; the tail discarded (nothing queued)"
    )))
}
