//! Transfer cases: descriptors go through the implementation and come back
//! the same, in order, with their payload, up to `SCM_MAX_FD`, close-on-exec.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::time::Duration;

use anyhow::{anyhow, ensure, Context as _};

use super::{list, recv_all, unowned_changes, Ctx, Outcome};
use crate::identity::{self as oracle, compare, Sent};
use crate::sys::{self, exec_probe, is_cloexec, pair};
use crate::{FdKind, Fixture, Implementation, SCM_MAX_FD};

pub(super) fn roundtrip(p: &mut dyn Implementation, cx: &Ctx<'_>) -> anyhow::Result<Outcome> {
    let fx = FdKind::File.open().context("file")?;
    let (a, b) = pair(cx.kind).context("socketpair")?;
    p.send(a.as_fd(), b"hello", &[fx.as_fd()]).context("send")?;
    let (_, fds, _) = recv_all(p, &b, 1, cx.s)?;
    compare(&[Sent::of(&fx)], &fds)?.require()?;
    Ok(Outcome::pass(format!(
        "{}: the descriptor round-trips ({})",
        cx.kind,
        oracle::method()
    )))
}

pub(super) fn payload_kept(p: &mut dyn Implementation, cx: &Ctx<'_>) -> anyhow::Result<Outcome> {
    let fx = FdKind::File.open().context("file")?;
    let (a, b) = pair(cx.kind).context("socketpair")?;
    p.send(a.as_fd(), b"hello", &[fx.as_fd()]).context("send")?;
    let (bytes, fds, _) = recv_all(p, &b, 1, cx.s)?;
    ensure!(
        bytes == b"hello",
        "payload lost: sent \"hello\" with the descriptor, the implementation returned {} byte(s) {:?}",
        bytes.len(),
        String::from_utf8_lossy(&bytes)
    );
    ensure!(fds.len() == 1, "{} descriptors", fds.len());
    Ok(Outcome::pass(
        "payload \"hello\" returned beside the descriptor",
    ))
}

pub(super) fn several(p: &mut dyn Implementation, cx: &Ctx<'_>) -> anyhow::Result<Outcome> {
    let fx: Vec<Fixture> = [
        FdKind::File,
        FdKind::PipeRead,
        FdKind::DevNull,
        FdKind::MemFd,
    ]
    .iter()
    .map(|k| k.open().context("fixture"))
    .collect::<Result<_, _>>()?;
    let fds: Vec<BorrowedFd<'_>> = fx.iter().map(|f| f.as_fd()).collect();
    let (a, b) = pair(cx.kind).context("socketpair")?;
    if let Err(e) = p.send(a.as_fd(), b"four", &fds) {
        return Err(anyhow!("refused to send 4 descriptors in one call: {e}"));
    }
    let (_, got, messages) = recv_all(p, &b, 4, cx.s)?;
    let sent: Vec<Sent<'_>> = fx.iter().map(Sent::of).collect();
    compare(&sent, &got)?.require()?;
    ensure!(
        messages == 1,
        "4 descriptors needed {messages} messages: the API carries {} per message",
        p.max_fds_per_message()
    );
    Ok(Outcome::pass(format!(
        "4 descriptors in one message, in order ({})",
        oracle::method()
    )))
}

pub(super) fn all_kinds(p: &mut dyn Implementation, cx: &Ctx<'_>) -> anyhow::Result<Outcome> {
    let fx: Vec<Fixture> = FdKind::ALL
        .iter()
        .map(|k| k.open().context("fixture"))
        .collect::<Result<_, _>>()?;
    let fds: Vec<BorrowedFd<'_>> = fx.iter().map(|f| f.as_fd()).collect();
    let labels: Vec<&str> = fx.iter().map(|f| f.kind.name()).collect();
    let (a, b) = pair(cx.kind).context("socketpair")?;
    p.send(a.as_fd(), b"kinds", &fds).context("send")?;
    let (_, got, messages) = recv_all(p, &b, fds.len(), cx.s)?;
    let sent: Vec<Sent<'_>> = fx.iter().map(Sent::of).collect();
    compare(&sent, &got)?.require()?;
    Ok(Outcome::pass(format!(
        "{} kinds ({}) round-trip in order, {messages} message(s)",
        fds.len(),
        labels.join(" ")
    )))
}

pub(super) fn max_253(p: &mut dyn Implementation, cx: &Ctx<'_>) -> anyhow::Result<Outcome> {
    let null = FdKind::DevNull.open().context("/dev/null")?;
    let fds = vec![null.as_fd(); SCM_MAX_FD];
    let (a, b) = pair(cx.kind).context("socketpair")?;
    p.send(a.as_fd(), b"m", &fds).context("send of 253")?;
    let (_, got, messages) = recv_all(p, &b, fds.len(), cx.s)?;
    ensure!(got.len() == 253, "253 sent, {} received", got.len());
    for (i, g) in got.iter().enumerate() {
        ensure!(
            oracle::same(null.as_fd(), g.as_fd()).with_context(|| format!("received #{i}"))?,
            "received descriptor #{i} is not the /dev/null sent"
        );
    }
    Ok(Outcome::pass(format!(
        "253 descriptors sent and received ({messages} message(s))"
    )))
}

pub(super) fn refuse_254(p: &mut dyn Implementation, cx: &Ctx<'_>) -> anyhow::Result<Outcome> {
    let null = FdKind::DevNull.open().context("/dev/null")?;
    let fds = vec![null.as_fd(); 254];
    let (a, b) = pair(cx.kind).context("socketpair")?;
    let guard = cx.lock.leak_guard();
    let sent = p.send(a.as_fd(), b"m", &fds);
    let mut changes = guard.finish().err().unwrap_or_default();
    let leaked = std::mem::take(&mut changes.leaked);
    ensure!(leaked.is_empty(), "send of 254 leaked {}", list(&leaked));
    unowned_changes(&changes)?;
    match sent {
        Err(e) => {
            let q = sys::poll_in(b.as_fd(), Duration::ZERO).context("poll")?;
            ensure!(q == 0, "send of 254 failed ({e}) but something was queued");
            Ok(Outcome::pass(format!(
                "send of 254 refused: {e}; nothing queued"
            )))
        }
        Ok(_) => {
            // Accepted: it must then have split them; all must arrive.
            let (_, got, messages) = recv_all(p, &b, 254, cx.s)?;
            ensure!(
                got.len() == 254,
                "send of 254 accepted, {} arrived",
                got.len()
            );
            Ok(Outcome::pass(format!(
                "send of 254 accepted and split: all arrived in {messages} messages"
            )))
        }
    }
}

pub(super) fn cloexec(p: &mut dyn Implementation, cx: &Ctx<'_>) -> anyhow::Result<Outcome> {
    let fx = FdKind::DevNull.open().context("/dev/null")?;
    let (a, b) = pair(cx.kind).context("socketpair")?;
    p.send(a.as_fd(), b"c", &[fx.as_fd()]).context("send")?;
    let (_, got, _) = recv_all(p, &b, 1, cx.s)?;
    let g = &got[0];
    let flag = is_cloexec(g.as_fd()).context("F_GETFD")?;
    // Proof by exec: does a freshly exec'd child have the descriptor?
    let seen = exec_probe(g.as_fd()).context("fork+exec of the fd probe")?;
    let inherited = seen.contains(" open ");
    ensure!(
        flag != inherited,
        "FD_CLOEXEC {flag} but the exec'd child says {seen:?}: inconsistent"
    );
    ensure!(
        flag,
        "received descriptor {} is inheritable: FD_CLOEXEC clear, and a fork+exec child saw it ({seen})",
        g.as_raw_fd()
    );
    Ok(Outcome::pass(format!(
        "received descriptor {} has FD_CLOEXEC; a fork+exec child did not get it ({seen})",
        g.as_raw_fd()
    )))
}
