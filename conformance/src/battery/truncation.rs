//! Truncation cases: what an implementation does when more arrives than it
//! has room for (descriptors or payload), beside credentials, or with an
//! empty payload on a stream.

use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::time::Duration;

use anyhow::{anyhow, ensure, Context as _};

use super::{list, observe_recv, wait_readable, Ctx, Observed, Outcome};
use crate::sys::{self, pair, send_rights};
use crate::{FdKind, Fixture, Implementation};

pub(super) fn exact_capacity(p: &mut dyn Implementation, cx: &Ctx<'_>) -> anyhow::Result<Outcome> {
    let n = 3;
    let fx: Vec<Fixture> = (0..n)
        .map(|_| FdKind::DevNull.open().context("fixture"))
        .collect::<Result<_, _>>()?;
    let sent: Vec<RawFd> = fx.iter().map(|f| f.fd.as_raw_fd()).collect();
    let (a, b) = pair(cx.kind).context("socketpair")?;
    send_rights(a.as_fd(), b"e", &sent).context("sendmsg")?;
    wait_readable(&b, cx.s)?;
    let mut buf = [0u8; 16];
    let o = observe_recv(p, cx, &b, &mut buf, n)?;
    ensure!(
        o.leaked.is_empty(),
        "leaked {} with a capacity of exactly {n}: {}",
        o.leaked.len(),
        list(&o.leaked)
    );
    let r = o
        .result
        .map_err(|e| anyhow!("{n} descriptors into a capacity of {n}: error {e}"))?;
    ensure!(
        r.fds.len() == n && r.reported_truncation != Some(true),
        "{n} descriptors into a capacity of {n}: got {}, truncation reported {:?}",
        r.fds.len(),
        r.reported_truncation
    );
    Ok(Outcome::pass(format!(
        "{n} descriptors into a capacity of {n}: all returned, no truncation"
    )))
}

/// Eight descriptors arrive where the receive has capacity for two.
const SENT: usize = 8;

fn truncated(p: &mut dyn Implementation, cx: &Ctx<'_>) -> anyhow::Result<(Observed, usize)> {
    let fx: Vec<Fixture> = (0..SENT)
        .map(|_| FdKind::DevNull.open().context("fixture"))
        .collect::<Result<_, _>>()?;
    let sent: Vec<RawFd> = fx.iter().map(|f| f.fd.as_raw_fd()).collect();
    let (a, b) = pair(cx.kind).context("socketpair")?;
    send_rights(a.as_fd(), b"t", &sent).context("sendmsg")?;
    wait_readable(&b, cx.s)?;
    let mut buf = [0u8; 16];
    let cap = 2usize.min(p.max_fds_per_message());
    let o = observe_recv(p, cx, &b, &mut buf, cap)?;
    Ok((o, cap))
}

pub(super) fn truncation_leak(p: &mut dyn Implementation, cx: &Ctx<'_>) -> anyhow::Result<Outcome> {
    let (o, cap) = truncated(p, cx)?;
    let returned = o.result.as_ref().map(|r| r.fds.len()).unwrap_or(0);
    ensure!(
        o.leaked.is_empty(),
        "{SENT} descriptors into a capacity of {cap}: {returned} returned, {} leaked ({})",
        o.leaked.len(),
        list(&o.leaked)
    );
    Ok(Outcome::pass(format!(
        "{SENT} descriptors into a capacity of {cap}: {returned} returned, none leaked (the rest never installed or closed)"
    )))
}

pub(super) fn truncation_reported(
    p: &mut dyn Implementation,
    cx: &Ctx<'_>,
) -> anyhow::Result<Outcome> {
    let (o, cap) = truncated(p, cx)?;
    match &o.result {
        Err(e) => Ok(Outcome::pass(format!("{SENT} descriptors into a capacity of {cap}: error {e}"))),
        Ok(r) if r.fds.len() == SENT => Ok(Outcome::pass(format!(
            "{SENT} descriptors into a capacity of {cap}: all {SENT} returned (the buffer had room to spare), nothing lost"
        ))),
        Ok(r) if r.reported_truncation == Some(true) => Ok(Outcome::pass(format!(
            "{SENT} descriptors into a capacity of {cap}: truncation reported, {} returned",
            r.fds.len()
        ))),
        Ok(r) => Err(anyhow!(
            "{SENT} descriptors into a capacity of {cap}: {} returned and no truncation reported ({}): the caller cannot know descriptors were lost",
            r.fds.len(),
            match r.reported_truncation {
                None => "the API has no way to say so",
                _ => "reported as complete",
            }
        )),
    }
}

pub(super) fn creds_beside_rights(
    p: &mut dyn Implementation,
    cx: &Ctx<'_>,
) -> anyhow::Result<Outcome> {
    let fx: Vec<Fixture> = (0..2)
        .map(|_| FdKind::DevNull.open().context("fixture"))
        .collect::<Result<_, _>>()?;
    let sent: Vec<RawFd> = fx.iter().map(|f| f.fd.as_raw_fd()).collect();
    let (a, b) = pair(cx.kind).context("socketpair")?;
    sys::pass_credentials(b.as_fd()).context("SO_PASSCRED")?;
    send_rights(a.as_fd(), b"c", &sent).context("sendmsg")?;
    wait_readable(&b, cx.s)?;
    let mut buf = [0u8; 16];
    let cap = 2usize.min(p.max_fds_per_message());
    let o = observe_recv(p, cx, &b, &mut buf, cap)?;
    let returned = o.result.as_ref().map(|r| r.fds.len()).unwrap_or(0);
    let err = o
        .result
        .as_ref()
        .err()
        .map(|e| format!(", error {e}"))
        .unwrap_or_default();
    ensure!(
        o.leaked.is_empty() && returned == cap,
        "SO_PASSCRED on, {cap} descriptor(s) sent with capacity {cap}: {returned} returned, {} leaked{}{err}",
        o.leaked.len(),
        if o.leaked.is_empty() { String::new() } else { format!(" ({})", list(&o.leaked)) }
    );
    Ok(Outcome::pass(format!(
        "SO_PASSCRED on: all {cap} descriptors returned beside the credentials"
    )))
}

pub(super) fn payload_truncation(
    p: &mut dyn Implementation,
    cx: &Ctx<'_>,
) -> anyhow::Result<Outcome> {
    let fx = FdKind::DevNull.open().context("/dev/null")?;
    let (a, b) = pair(cx.kind).context("socketpair")?;
    let msg = [7u8; 100];
    send_rights(a.as_fd(), &msg, &[fx.fd.as_raw_fd()]).context("sendmsg")?;
    wait_readable(&b, cx.s)?;
    let mut buf = [0u8; 10];
    let o = observe_recv(p, cx, &b, &mut buf, 1)?;
    ensure!(
        o.leaked.is_empty(),
        "100-byte datagram into 10 bytes: leaked {}",
        list(&o.leaked)
    );
    match o.result {
        Err(e) => Ok(Outcome::pass(format!("100-byte datagram into 10 bytes: error {e}, descriptor closed"))),
        Ok(r) if r.fds.len() == 1 => Ok(Outcome::pass(format!(
            "100-byte datagram into 10 bytes: {} bytes and the descriptor returned",
            r.bytes
        ))),
        Ok(r) => Err(anyhow!(
            "100-byte datagram into 10 bytes: {} bytes, {} descriptors returned, no error: the descriptor was dropped silently",
            r.bytes,
            r.fds.len()
        )),
    }
}

pub(super) fn empty_payload_stream(
    p: &mut dyn Implementation,
    cx: &Ctx<'_>,
) -> anyhow::Result<Outcome> {
    let (r, w) = sys::pipe().context("pipe")?;
    let (a, b) = pair(cx.kind).context("socketpair")?;
    let sent = p.send(a.as_fd(), b"", &[w.as_fd()]);
    drop(w);
    match sent {
        Err(e) => Ok(Outcome::pass(format!(
            "descriptor with an empty payload on a stream socket refused: {e}"
        ))),
        Ok(n) => {
            let queued = sys::poll_in(b.as_fd(), cx.s.timeout.min(Duration::from_millis(200)))
                .context("poll")?
                != 0;
            if queued {
                let mut buf = [0u8; 16];
                let (bytes, fds) = sys::recv_rights(b.as_fd(), &mut buf).context("recvmsg")?;
                if fds.len() == 1 {
                    return Ok(Outcome::pass(format!(
                        "empty payload on a stream socket: the implementation sent {} byte(s) itself and the descriptor arrived",
                        bytes
                    )));
                }
            }
            let released = sys::poll_in(r.as_fd(), Duration::from_millis(200)).context("poll")?
                & libc::POLLHUP
                != 0;
            Err(anyhow!(
                "descriptor with an empty payload on a stream socket: send returned Ok({n}), {} — the kernel {}",
                if queued { "something was queued" } else { "nothing was queued" },
                if released { "dropped the descriptor silently (pipe EOF)" } else { "kept it" }
            ))
        }
    }
}
