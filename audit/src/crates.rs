//! The crates matrix: the applicable cases through every implementation in
//! `inflight_impls::all()`, driven through the `Implementation` trait.
//!
//! Where a case is about what an implementation does on *receive*, the
//! auditor sends with raw `sendmsg` (so the message is exactly the one the
//! case needs, whatever the implementation can send); leaks are measured
//! from outside, on this process's descriptor table.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use inflight::inspect::{is_cloexec, same_file, FdSnapshot, OpenFd, Sameness};
use inflight::SocketKind;
use inflight_impls::{FdKind, Fixture, Implementation, Recv};

use crate::ensure;
use crate::runner::{Case, CaseResult, Context, Outcome, Settings};
use crate::sys;

fn passer(index: usize) -> Result<Box<dyn Implementation>, String> {
    inflight_impls::all()
        .into_iter()
        .nth(index)
        .ok_or_else(|| "adapter list changed".to_string())
}

fn pair(kind: SocketKind) -> Result<(OwnedFd, OwnedFd), String> {
    let (a, b) = inflight::socketpair(kind).ctx("socketpair")?;
    // Receives through an adapter must never block the auditor.
    inflight::set_nonblocking(&b, true).ctx("O_NONBLOCK")?;
    Ok((a, b))
}

fn wait_readable(sock: &OwnedFd, s: &Settings) -> Result<(), String> {
    let rev = sys::poll_in(sock.as_fd(), s.timeout).ctx("poll")?;
    ensure!(rev != 0, "nothing arrived within {:?}", s.timeout);
    Ok(())
}

fn list(fds: &[OpenFd]) -> String {
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
    leaked: Vec<OpenFd>,
}

fn observe_recv(
    p: &mut dyn Implementation,
    sock: &OwnedFd,
    buf: &mut [u8],
    capacity: usize,
) -> Result<Observed, String> {
    let before = FdSnapshot::take().ctx("/proc/self/fd")?;
    // An error may own descriptors (inflight's truncation errors do): it is
    // turned into text and dropped here, before looking for leaks.
    let result = p
        .recv(sock.as_fd(), buf, capacity)
        .map_err(|e| e.to_string());
    let returned: Vec<RawFd> = result
        .as_ref()
        .map(|r| r.fds.iter().map(|f| f.as_raw_fd()).collect())
        .unwrap_or_default();
    let after = FdSnapshot::take().ctx("/proc/self/fd")?;
    let leaked: Vec<OpenFd> = after
        .leaked_since(&before)
        .into_iter()
        .filter(|f| !returned.contains(&f.fd))
        .collect();
    // Close what leaked, so that the auditor itself stays clean.
    for f in &leaked {
        // SAFETY: close(2) on a number that the kernel installed in this
        // process during the receive above and that nothing owns any more:
        // the implementation neither returned it nor closed it, and its
        // error (if any) was dropped above, so no OwnedFd refers to it.
        unsafe { libc::close(f.fd) };
    }
    Ok(Observed { result, leaked })
}

fn check_identity(
    sent: &[BorrowedFd<'_>],
    got: &[OwnedFd],
    labels: &[&str],
) -> Result<Option<String>, String> {
    ensure!(
        got.len() == sent.len(),
        "sent {} descriptors, got {}",
        sent.len(),
        got.len()
    );
    let mut unknown = None;
    for (i, (s, g)) in sent.iter().zip(got).enumerate() {
        match same_file(*s, g.as_fd()) {
            Sameness::Same => {}
            Sameness::Different => {
                let j = sent
                    .iter()
                    .position(|x| same_file(*x, g.as_fd()) == Sameness::Same);
                return Err(match j {
                    Some(j) => format!(
                        "descriptor #{i} came back as sent #{j} ({}): order mangled",
                        labels[j]
                    ),
                    None => format!(
                        "descriptor #{i} ({}) is not the descriptor sent (kcmp)",
                        labels[i]
                    ),
                });
            }
            Sameness::Unknown(why) => unknown = Some(why.to_string()),
        }
    }
    Ok(unknown)
}

/// Receives until `want` descriptors arrived (several messages for
/// implementations that carry one per message).
fn recv_all(
    p: &mut dyn Implementation,
    sock: &OwnedFd,
    want: usize,
    s: &Settings,
) -> Result<(Vec<u8>, Vec<OwnedFd>, usize), String> {
    let mut fds = Vec::new();
    let mut bytes = Vec::new();
    let mut messages = 0;
    let mut buf = vec![0u8; 4096];
    let end = Instant::now() + s.timeout;
    while fds.len() < want || messages == 0 {
        if sys::poll_in(sock.as_fd(), Duration::from_millis(50)).ctx("poll")? == 0 {
            ensure!(
                Instant::now() < end,
                "only {} of {want} descriptors arrived within {:?}",
                fds.len(),
                s.timeout
            );
            continue;
        }
        let r = p.recv(sock.as_fd(), &mut buf, want.max(1)).ctx("receive")?;
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

/// Every crates case, for every adapter.
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
            roundtrip(i, s, SocketKind::Stream)
        });
        add("roundtrip/seqpacket", |i, s| {
            roundtrip(i, s, SocketKind::SeqPacket)
        });
        add("roundtrip/dgram", |i, s| {
            roundtrip(i, s, SocketKind::Datagram)
        });
        add("payload-kept", payload_kept);
        add("several-per-message", several);
        add("all-kinds", all_kinds);
        add("exact-capacity", exact_capacity);
        add("max-253", max_253);
        add("refuse-254", refuse_254);
        add("cloexec-across-exec", cloexec);
        add("truncation-leak", truncation_leak);
        add("truncation-reported", truncation_reported);
        add("creds-beside-rights", creds_beside_rights);
        add("payload-truncation", payload_truncation);
        add("empty-payload-stream", empty_payload_stream);
    }
    v
}

fn roundtrip(i: usize, s: &Settings, kind: SocketKind) -> CaseResult {
    let mut p = passer(i)?;
    let fx = FdKind::File.open().ctx("file")?;
    let (a, b) = pair(kind)?;
    p.send(a.as_fd(), b"hello", &[fx.as_fd()]).ctx("send")?;
    let (_, fds, _) = recv_all(p.as_mut(), &b, 1, s)?;
    let unknown = check_identity(&[fx.as_fd()], &fds, &["file"])?;
    if let Some(why) = unknown {
        return Ok(Outcome::skip(format!("identity unverifiable: {why}")));
    }
    Ok(Outcome::pass(format!(
        "{kind}: the descriptor round-trips (kcmp)"
    )))
}

fn payload_kept(i: usize, s: &Settings) -> CaseResult {
    let mut p = passer(i)?;
    let fx = FdKind::File.open().ctx("file")?;
    let (a, b) = pair(SocketKind::SeqPacket)?;
    p.send(a.as_fd(), b"hello", &[fx.as_fd()]).ctx("send")?;
    let (bytes, fds, _) = recv_all(p.as_mut(), &b, 1, s)?;
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

fn several(i: usize, s: &Settings) -> CaseResult {
    let mut p = passer(i)?;
    let fx: Vec<Fixture> = [
        FdKind::File,
        FdKind::PipeRead,
        FdKind::DevNull,
        FdKind::MemFd,
    ]
    .iter()
    .map(|k| k.open().ctx("fixture"))
    .collect::<Result<_, _>>()?;
    let fds: Vec<BorrowedFd<'_>> = fx.iter().map(|f| f.as_fd()).collect();
    let labels: Vec<&str> = fx.iter().map(|f| f.kind.name()).collect();
    let (a, b) = pair(SocketKind::SeqPacket)?;
    if let Err(e) = p.send(a.as_fd(), b"four", &fds) {
        return Err(format!("refused to send 4 descriptors in one call: {e}"));
    }
    let (_, got, messages) = recv_all(p.as_mut(), &b, 4, s)?;
    check_identity(&fds, &got, &labels)?;
    ensure!(
        messages == 1,
        "4 descriptors needed {messages} messages: the API carries {} per message",
        p.max_fds_per_message()
    );
    Ok(Outcome::pass(
        "4 descriptors in one message, in order (kcmp)",
    ))
}

fn all_kinds(i: usize, s: &Settings) -> CaseResult {
    let mut p = passer(i)?;
    let fx: Vec<Fixture> = FdKind::ALL
        .iter()
        .map(|k| k.open().ctx("fixture"))
        .collect::<Result<_, _>>()?;
    let fds: Vec<BorrowedFd<'_>> = fx.iter().map(|f| f.as_fd()).collect();
    let labels: Vec<&str> = fx.iter().map(|f| f.kind.name()).collect();
    let (a, b) = pair(SocketKind::Stream)?;
    p.send(a.as_fd(), b"kinds", &fds).ctx("send")?;
    let (_, got, messages) = recv_all(p.as_mut(), &b, fds.len(), s)?;
    if let Some(why) = check_identity(&fds, &got, &labels)? {
        return Ok(Outcome::skip(format!("identity unverifiable: {why}")));
    }
    Ok(Outcome::pass(format!(
        "{} kinds ({}) round-trip in order, {messages} message(s)",
        fds.len(),
        labels.join(" ")
    )))
}

fn exact_capacity(i: usize, s: &Settings) -> CaseResult {
    let mut p = passer(i)?;
    let n = 3;
    let fx: Vec<Fixture> = (0..n)
        .map(|_| FdKind::DevNull.open().ctx("fixture"))
        .collect::<Result<_, _>>()?;
    let raw: Vec<RawFd> = fx.iter().map(|f| f.fd.as_raw_fd()).collect();
    let (a, b) = pair(SocketKind::SeqPacket)?;
    sys::sendmsg(a.as_fd(), b"e", &sys::rights_cmsg(&raw), 0).ctx("sendmsg")?;
    wait_readable(&b, s)?;
    let mut buf = [0u8; 16];
    let o = observe_recv(p.as_mut(), &b, &mut buf, n)?;
    ensure!(
        o.leaked.is_empty(),
        "leaked {} with a capacity of exactly {n}: {}",
        o.leaked.len(),
        list(&o.leaked)
    );
    let r = o
        .result
        .map_err(|e| format!("{n} descriptors into a capacity of {n}: error {e}"))?;
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

fn max_253(i: usize, s: &Settings) -> CaseResult {
    let mut p = passer(i)?;
    let null = FdKind::DevNull.open().ctx("/dev/null")?;
    let fds = vec![null.as_fd(); inflight::SCM_MAX_FD];
    let (a, b) = pair(SocketKind::SeqPacket)?;
    p.send(a.as_fd(), b"m", &fds).ctx("send of 253")?;
    let (_, got, messages) = recv_all(p.as_mut(), &b, fds.len(), s)?;
    ensure!(got.len() == 253, "253 sent, {} received", got.len());
    ensure!(
        got.iter()
            .all(|g| same_file(null.as_fd(), g.as_fd()) != Sameness::Different),
        "a received descriptor is another file"
    );
    Ok(Outcome::pass(format!(
        "253 descriptors sent and received ({messages} message(s))"
    )))
}

fn refuse_254(i: usize, s: &Settings) -> CaseResult {
    let mut p = passer(i)?;
    let null = FdKind::DevNull.open().ctx("/dev/null")?;
    let fds = vec![null.as_fd(); 254];
    let (a, b) = pair(SocketKind::SeqPacket)?;
    let before = FdSnapshot::take().ctx("/proc/self/fd")?;
    let sent = p.send(a.as_fd(), b"m", &fds);
    let after = FdSnapshot::take().ctx("/proc/self/fd")?;
    let leaked = after.leaked_since(&before);
    ensure!(leaked.is_empty(), "send of 254 leaked {}", list(&leaked));
    match sent {
        Err(e) => {
            let q = sys::poll_in(b.as_fd(), Duration::ZERO).ctx("poll")?;
            ensure!(q == 0, "send of 254 failed ({e}) but something was queued");
            Ok(Outcome::pass(format!(
                "send of 254 refused: {e}; nothing queued"
            )))
        }
        Ok(_) => {
            // Accepted: it must then have split them; all must arrive.
            let (_, got, messages) = recv_all(p.as_mut(), &b, 254, s)?;
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

fn cloexec(i: usize, s: &Settings) -> CaseResult {
    let mut p = passer(i)?;
    let fx = FdKind::DevNull.open().ctx("/dev/null")?;
    let (a, b) = pair(SocketKind::Stream)?;
    p.send(a.as_fd(), b"c", &[fx.as_fd()]).ctx("send")?;
    let (_, got, _) = recv_all(p.as_mut(), &b, 1, s)?;
    let g = &got[0];
    let flag = is_cloexec(g.as_fd()).ctx("F_GETFD")?;
    // Proof by exec: does a freshly exec'd child have the descriptor?
    let exe = std::env::current_exe().ctx("current_exe")?;
    let out = std::process::Command::new(exe)
        .args(["__child", "fd-probe", &g.as_raw_fd().to_string()])
        .stdin(std::process::Stdio::null())
        .output()
        .ctx("fork+exec of the fd probe")?;
    let seen = String::from_utf8_lossy(&out.stdout).trim().to_string();
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

/// Eight descriptors arrive where the receive has capacity for two.
const SENT: usize = 8;

fn truncated(i: usize, s: &Settings) -> Result<(Observed, usize), String> {
    let mut p = passer(i)?;
    let fx: Vec<Fixture> = (0..SENT)
        .map(|_| FdKind::DevNull.open().ctx("fixture"))
        .collect::<Result<_, _>>()?;
    let raw: Vec<RawFd> = fx.iter().map(|f| f.fd.as_raw_fd()).collect();
    let (a, b) = pair(SocketKind::SeqPacket)?;
    sys::sendmsg(a.as_fd(), b"t", &sys::rights_cmsg(&raw), 0).ctx("sendmsg")?;
    wait_readable(&b, s)?;
    let mut buf = [0u8; 16];
    let cap = 2usize.min(p.max_fds_per_message());
    let o = observe_recv(p.as_mut(), &b, &mut buf, cap)?;
    Ok((o, cap))
}

fn truncation_leak(i: usize, s: &Settings) -> CaseResult {
    let (o, cap) = truncated(i, s)?;
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

fn truncation_reported(i: usize, s: &Settings) -> CaseResult {
    let (o, cap) = truncated(i, s)?;
    match &o.result {
        Err(e) => Ok(Outcome::pass(format!("{SENT} descriptors into a capacity of {cap}: error {e}"))),
        Ok(r) if r.fds.len() == SENT => Ok(Outcome::pass(format!(
            "{SENT} descriptors into a capacity of {cap}: all {SENT} returned (the buffer had room to spare), nothing lost"
        ))),
        Ok(r) if r.reported_truncation == Some(true) => Ok(Outcome::pass(format!(
            "{SENT} descriptors into a capacity of {cap}: truncation reported, {} returned",
            r.fds.len()
        ))),
        Ok(r) => Err(format!(
            "{SENT} descriptors into a capacity of {cap}: {} returned and no truncation reported ({}): the caller cannot know descriptors were lost",
            r.fds.len(),
            match r.reported_truncation {
                None => "the API has no way to say so",
                _ => "reported as complete",
            }
        )),
    }
}

fn creds_beside_rights(i: usize, s: &Settings) -> CaseResult {
    let mut p = passer(i)?;
    let fx: Vec<Fixture> = (0..2)
        .map(|_| FdKind::DevNull.open().ctx("fixture"))
        .collect::<Result<_, _>>()?;
    let raw: Vec<RawFd> = fx.iter().map(|f| f.fd.as_raw_fd()).collect();
    let (a, b) = pair(SocketKind::SeqPacket)?;
    inflight::set_pass_credentials(&b, true).ctx("SO_PASSCRED")?;
    sys::sendmsg(a.as_fd(), b"c", &sys::rights_cmsg(&raw), 0).ctx("sendmsg")?;
    wait_readable(&b, s)?;
    let mut buf = [0u8; 16];
    let cap = 2usize.min(p.max_fds_per_message());
    let o = observe_recv(p.as_mut(), &b, &mut buf, cap)?;
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

fn payload_truncation(i: usize, s: &Settings) -> CaseResult {
    let mut p = passer(i)?;
    let fx = FdKind::DevNull.open().ctx("/dev/null")?;
    let (a, b) = pair(SocketKind::Datagram)?;
    let msg = [7u8; 100];
    sys::sendmsg(a.as_fd(), &msg, &sys::rights_cmsg(&[fx.fd.as_raw_fd()]), 0).ctx("sendmsg")?;
    wait_readable(&b, s)?;
    let mut buf = [0u8; 10];
    let o = observe_recv(p.as_mut(), &b, &mut buf, 1)?;
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
        Ok(r) => Err(format!(
            "100-byte datagram into 10 bytes: {} bytes, {} descriptors returned, no error: the descriptor was dropped silently",
            r.bytes,
            r.fds.len()
        )),
    }
}

fn empty_payload_stream(i: usize, s: &Settings) -> CaseResult {
    let mut p = passer(i)?;
    let (r, w) = sys::pipe().ctx("pipe")?;
    let (a, b) = pair(SocketKind::Stream)?;
    let sent = p.send(a.as_fd(), b"", &[w.as_fd()]);
    drop(w);
    match sent {
        Err(e) => Ok(Outcome::pass(format!(
            "descriptor with an empty payload on a stream socket refused: {e}"
        ))),
        Ok(n) => {
            let queued = sys::poll_in(b.as_fd(), s.timeout.min(Duration::from_millis(200)))
                .ctx("poll")?
                != 0;
            if queued {
                let mut buf = [0u8; 16];
                let got = sys::recvmsg(b.as_fd(), &mut buf, Some(256), libc::MSG_DONTWAIT)
                    .ctx("recvmsg")?;
                if got.fds.len() == 1 {
                    return Ok(Outcome::pass(format!(
                        "empty payload on a stream socket: the implementation sent {} byte(s) itself and the descriptor arrived",
                        got.bytes
                    )));
                }
            }
            let released = sys::poll_in(r.as_fd(), Duration::from_millis(200)).ctx("poll")?
                & libc::POLLHUP
                != 0;
            Err(format!(
                "descriptor with an empty payload on a stream socket: send returned Ok({n}), {} — the kernel {}",
                if queued { "something was queued" } else { "nothing was queued" },
                if released { "dropped the descriptor silently (pipe EOF)" } else { "kept it" }
            ))
        }
    }
}
