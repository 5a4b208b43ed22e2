//! The crates matrix: the applicable cases through every implementation in
//! `inflight_impls::all()`, driven through the [`Implementation`] trait.
//!
//! Where a case is about what an implementation does on *receive*, the
//! auditor sends with raw `sendmsg` (so the message is exactly the one the
//! case needs, whatever the implementation can send); leaks are measured
//! from outside, on this process's descriptor table, with the test kit's
//! witnessed [`LeakGuard`].

mod transfer;
mod truncation;

use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context as _};
use inflight::SocketKind;
use inflight_impls::{Implementation, Recv};
use inflight_testkit::{Described, LeakGuard, Leaks};

use crate::runner::{one_line, Case, CaseResult, Settings};
use crate::sys;

/// A fresh instance of implementation number `index` of
/// `inflight_impls::all()`.
fn passer(index: usize) -> anyhow::Result<Box<dyn Implementation>> {
    inflight_impls::all()
        .into_iter()
        .nth(index)
        .context("the implementation list changed")
}

fn pair(kind: SocketKind) -> anyhow::Result<(OwnedFd, OwnedFd)> {
    let (a, b) = inflight::socketpair(kind).context("socketpair")?;
    // Receives through an adapter must never block the auditor.
    inflight::set_nonblocking(&b, true).context("O_NONBLOCK")?;
    Ok((a, b))
}

fn wait_readable(sock: &OwnedFd, s: &Settings) -> anyhow::Result<()> {
    let rev = sys::poll_in(sock.as_fd(), s.timeout).context("poll")?;
    ensure!(rev != 0, "nothing arrived within {:?}", s.timeout);
    Ok(())
}

fn list(fds: &[impl std::fmt::Display]) -> String {
    let v: Vec<String> = fds.iter().take(4).map(|f| f.to_string()).collect();
    let more = if fds.len() > 4 {
        format!(" +{}", fds.len() - 4)
    } else {
        String::new()
    };
    format!("{}{more}", v.join(", "))
}

/// One receive through the implementation, with the descriptors it leaked
/// (installed by the kernel, neither returned nor closed).
struct Observed {
    /// The implementation's result; an error is kept as text (dropping it
    /// first closes whatever descriptors it carried).
    result: Result<Recv, String>,
    leaked: Vec<Described>,
}

/// Receives once through `p` with room for `capacity` descriptors, and
/// measures what the receive leaked (closing it, so the auditor stays clean).
///
/// # Errors
///
/// The receive closed or replaced a descriptor that was open before it
/// (one it did not own), or the descriptor table could not be read.
fn observe_recv(
    p: &mut dyn Implementation,
    sock: &OwnedFd,
    buf: &mut [u8],
    capacity: usize,
) -> anyhow::Result<Observed> {
    let guard = LeakGuard::start();
    // An error may own descriptors (inflight's truncation errors do): it is
    // turned into text and dropped here, before looking for leaks.
    let result = p
        .recv(sock.as_fd(), buf, capacity)
        .map_err(|e| e.to_string());
    let returned: Vec<RawFd> = result
        .as_ref()
        .map(|r| r.fds.iter().map(|f| f.as_raw_fd()).collect())
        .unwrap_or_default();
    let mut changes = guard.finish().err().unwrap_or_default();
    changes.leaked.retain(|d| !returned.contains(&d.fd));
    let leaked = std::mem::take(&mut changes.leaked);
    // Close what leaked, so that the auditor itself stays clean.
    for d in &leaked {
        // SAFETY: close(2) on a number that the kernel installed in this
        // process during the receive above and that nothing owns any more:
        // the implementation neither returned it nor closed it, and its
        // error (if any) was dropped above, so no OwnedFd refers to it.
        unsafe { libc::close(d.fd) };
    }
    unowned_changes(&changes)?;
    Ok(Observed { result, leaked })
}

/// Fails when a call closed or replaced descriptors open before it (ones
/// it did not own), or the guard could not tell.
fn unowned_changes(changes: &Leaks) -> anyhow::Result<()> {
    if changes.closed.is_empty() && changes.replaced.is_empty() && changes.notes.is_empty() {
        return Ok(());
    }
    bail!(
        "the implementation changed descriptors it did not own: {}",
        one_line(changes)
    )
}

/// Receives until `want` descriptors arrived (several messages for
/// implementations that carry one per message).
fn recv_all(
    p: &mut dyn Implementation,
    sock: &OwnedFd,
    want: usize,
    s: &Settings,
) -> anyhow::Result<(Vec<u8>, Vec<OwnedFd>, usize)> {
    let mut fds = Vec::new();
    let mut bytes = Vec::new();
    let mut messages = 0;
    let mut buf = vec![0u8; 4096];
    let end = Instant::now() + s.timeout;
    while fds.len() < want || messages == 0 {
        if sys::poll_in(sock.as_fd(), Duration::from_millis(50)).context("poll")? == 0 {
            ensure!(
                Instant::now() < end,
                "only {} of {want} descriptors arrived within {:?}",
                fds.len(),
                s.timeout
            );
            continue;
        }
        let r = p
            .recv(sock.as_fd(), &mut buf, want.max(1))
            .context("receive")?;
        messages += 1;
        bytes.extend_from_slice(&buf[..r.bytes.min(buf.len())]);
        let empty = r.fds.is_empty();
        fds.extend(r.fds);
        if empty && messages > want + 1 {
            break;
        }
    }
    Ok((bytes, fds, messages))
}

/// Every crates case, for every implementation.
pub fn cases() -> Vec<Case> {
    let mut v = Vec::new();
    for (i, a) in inflight_impls::all().iter().enumerate() {
        let name = a.name();
        let mut add = |case: &str, f: fn(usize, &Settings) -> CaseResult| {
            v.push(Case::new(
                format!("crates/{name}/{case}"),
                move |s: &Settings| f(i, s),
            ));
        };
        add("roundtrip/stream", |i, s| {
            transfer::roundtrip(i, s, SocketKind::Stream)
        });
        add("roundtrip/seqpacket", |i, s| {
            transfer::roundtrip(i, s, SocketKind::SeqPacket)
        });
        add("roundtrip/dgram", |i, s| {
            transfer::roundtrip(i, s, SocketKind::Datagram)
        });
        add("payload-kept", transfer::payload_kept);
        add("several-per-message", transfer::several);
        add("all-kinds", transfer::all_kinds);
        add("exact-capacity", truncation::exact_capacity);
        add("max-253", transfer::max_253);
        add("refuse-254", transfer::refuse_254);
        add("cloexec-across-exec", transfer::cloexec);
        add("truncation-leak", truncation::truncation_leak);
        add("truncation-reported", truncation::truncation_reported);
        add("creds-beside-rights", truncation::creds_beside_rights);
        add("payload-truncation", truncation::payload_truncation);
        add("empty-payload-stream", truncation::empty_payload_stream);
    }
    v
}
