//! Lifetime: descriptors survive in flight after the sender closes them,
//! queued messages outlive the sending socket, and the garbage collector
//! reclaims an in-flight cycle.

use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::time::{Duration, Instant};

use anyhow::{anyhow, ensure, Context as _};
use inflight::SocketKind;

use super::common::{pair, payload_for, queue_state, recv, send, three, BIG};
use crate::oracle;
use crate::runner::{CaseResult, Outcome, Settings};
use crate::sys::{self};

pub(super) fn in_flight_survival(k: SocketKind) -> CaseResult {
    let (r, w) = sys::pipe().context("pipe")?;
    let (a, b) = pair(k)?;
    send(&a, payload_for(k), &[r.as_raw_fd()]).context("sendmsg")?;
    let number = r.as_raw_fd();
    drop(r);
    (&std::fs::File::from(w.try_clone().context("dup")?))
        .write_all(b"still here")
        .context("write")?;
    let (_, mut got) = recv(&b, 16, Some(BIG), 0).context("recvmsg")?;
    ensure!(
        got.fds.len() == 1,
        "expected 1 descriptor, got {}",
        got.fds.len()
    );
    let mut text = String::new();
    let mut f = std::fs::File::from(got.fds.remove(0));
    sys::set_status_flags(f.as_fd(), libc::O_NONBLOCK).context("F_SETFL")?;
    let mut buf = [0u8; 32];
    let n = f.read(&mut buf).context("read")?;
    text.push_str(&String::from_utf8_lossy(&buf[..n]));
    ensure!(
        text == "still here",
        "read {text:?} from the received read end"
    );
    Ok(Outcome::pass(format!(
        "pipe read end fd {number} closed by the sender while in flight; the received copy read \"still here\""
    )))
}

pub(super) fn queued_after_close(k: SocketKind) -> CaseResult {
    let fx = three()?;
    let (a, b) = pair(k)?;
    send(&a, b"q1", &[fx[0].fd.as_raw_fd(), fx[1].fd.as_raw_fd()]).context("sendmsg 1")?;
    send(&a, b"q2", &[fx[2].fd.as_raw_fd()]).context("sendmsg 2")?;
    drop(a);
    let (p1, r1) = recv(&b, 16, Some(BIG), 0).context("recvmsg 1")?;
    let (p2, r2) = recv(&b, 16, Some(BIG), 0).context("recvmsg 2")?;
    ensure!(
        p1 == b"q1" && r1.fds.len() == 2 && p2 == b"q2" && r2.fds.len() == 1,
        "after the sender closed: {:?}+{} fd, {:?}+{} fd",
        String::from_utf8_lossy(&p1),
        r1.fds.len(),
        String::from_utf8_lossy(&p2),
        r2.fds.len()
    );
    for (f, g) in [
        (&fx[0], &r1.fds[0]),
        (&fx[1], &r1.fds[1]),
        (&fx[2], &r2.fds[0]),
    ] {
        ensure!(
            oracle::same(f.as_fd(), g.as_fd()).context("after the sender closed")?,
            "after the sender closed: received fd {} is not the {} sent",
            g.as_raw_fd(),
            f.kind.name()
        );
    }
    let tail = queue_state(&b);
    // Stream and seqpacket sockets see the closed peer as end of stream;
    // datagram sockets have no connection to end.
    let end = if k == SocketKind::Datagram {
        "nothing queued"
    } else {
        "end of stream"
    };
    ensure!(tail == end, "after both messages: {tail} (expected {end})");
    Ok(Outcome::pass(format!(
        "sender's socket closed with 2 messages queued: both received with their 3 descriptors; then {tail}"
    )))
}

pub(super) fn gc_cycle(s: &Settings) -> CaseResult {
    let (r, w) = sys::pipe().context("pipe")?;
    let (a, b) = pair(SocketKind::Stream)?;
    // a travels to b's queue, b to a's queue, and the pipe's write end with
    // a: once both ends are closed, only the cycle holds them.
    send(&a, b"a", &[a.as_raw_fd(), w.as_raw_fd()]).context("sendmsg a over a")?;
    send(&b, b"b", &[b.as_raw_fd()]).context("sendmsg b over b")?;
    drop((a, b, w));
    let t0 = Instant::now();
    let deadline = t0 + s.timeout;
    let mut nudges = 0;
    loop {
        if sys::poll_in(r.as_fd(), Duration::from_millis(20)).unwrap_or(0) & libc::POLLHUP != 0 {
            let how = if nudges == 0 {
                "on the close of the last user reference".to_string()
            } else {
                format!("after {nudges} unrelated unix socket release(s)")
            };
            return Ok(Outcome::pass(format!(
                "cycle a→b, b→a with a pipe write end inside, both ends closed: reclaimed by the unix GC in {:.1} ms {how} (pipe EOF)",
                t0.elapsed().as_secs_f64() * 1000.0
            )));
        }
        if Instant::now() > deadline {
            return Err(anyhow!(
                "the in-flight cycle was not reclaimed within {:?} ({nudges} socket releases to trigger the GC): the pipe write end inside it is still open",
                s.timeout
            ));
        }
        if t0.elapsed() > Duration::from_millis(100) {
            // The GC also runs when another unix socket is released.
            drop(pair(SocketKind::Stream)?);
            nudges += 1;
        }
    }
}
