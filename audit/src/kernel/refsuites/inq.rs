//! `SO_INQ` / `SCM_INQ` on unix streams (Linux 6.17), after the kernel
//! selftest `tools/testing/selftests/net/af_unix/scm_inq.c`: with `SO_INQ`
//! on, every receive carries the bytes still queued, which must agree with
//! `ioctl(SIOCINQ)` read right after it, also inside a partly read send.
//! Datagram and seqpacket sockets refuse the option.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use anyhow::{bail, ensure, Context as _};
use inflight::SocketKind;
use inflight_testkit::cmsg;
use inflight_testkit::raw;
use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};

use super::{errno, first_int, messages, set_sol};
use crate::kernel::Battery;
use crate::runner::{CaseResult, Outcome};

/// `SO_INQ` (asm-generic, Linux 6.17); `SCM_INQ` is the same number.
const SO_INQ: i32 = 84;

pub(super) fn register(b: &mut Battery) {
    b.one("so-inq/basic", |_| basic());
    b.one("so-inq/partial-read", |_| partial_read());
    for k in [SocketKind::SeqPacket, SocketKind::Datagram] {
        b.one(&format!("so-inq/refused/{k}"), move |_| refused(k));
    }
}

/// Whether the kernel knows `SO_INQ`, asked of a stream socket (the only
/// type that takes it): `None` when it does, else the skip.
fn missing() -> anyhow::Result<Option<Outcome>> {
    let (a, _b) = socketpair(
        AddressFamily::Unix,
        SockType::Stream,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .context("socketpair")?;
    match set_sol(a.as_fd(), SO_INQ, true) {
        Ok(()) => Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::ENOPROTOOPT) => Ok(Some(Outcome::skip(format!(
            "the kernel lacks SO_INQ (a unix stream socket refuses it with ENOPROTOOPT: {e}); it appeared in Linux 6.17"
        )))),
        Err(e) => Err(e).context("SO_INQ on a unix stream socket"),
    }
}

/// A non-blocking stream pair, `SO_INQ` on the receiving end.
fn inq_pair() -> anyhow::Result<(OwnedFd, OwnedFd)> {
    let flags = SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK;
    let (tx, rx) =
        socketpair(AddressFamily::Unix, SockType::Stream, None, flags).context("socketpair")?;
    set_sol(rx.as_fd(), SO_INQ, true).context("SO_INQ")?;
    Ok((tx, rx))
}

/// `ioctl(SIOCINQ)`: bytes queued for reading.
fn siocinq(fd: &OwnedFd) -> anyhow::Result<i32> {
    let mut n: libc::c_int = -1;
    // SAFETY: SIOCINQ (FIONREAD) writes one int into `n`, a live local;
    // `fd` is open for the call.
    let r = unsafe {
        libc::ioctl(
            fd.as_raw_fd(),
            libc::FIONREAD as _,
            std::ptr::from_mut(&mut n),
        )
    };
    if r != 0 {
        return Err(std::io::Error::last_os_error()).context("ioctl(SIOCINQ)");
    }
    Ok(n)
}

/// One 256-byte receive with a `CMSG_SPACE(4)` control buffer: the
/// `SCM_INQ` value, checked against `SIOCINQ` right after.
fn receive(rx: &OwnedFd, at: &str) -> anyhow::Result<i32> {
    let mut buf = [0u8; 256];
    let r = raw::recvmsg(rx.as_fd(), &mut buf, Some(cmsg::space(4)), 0)
        .with_context(|| format!("recvmsg {at}"))?;
    ensure!(r.bytes == 256, "recvmsg {at} returned {}, not 256", r.bytes);
    let msgs = messages(&r.control);
    let Some(first) = msgs.first() else {
        bail!("recvmsg {at}: no control message (SO_INQ is on)");
    };
    ensure!(
        (first.level, first.kind, first.cmsg_len) == (libc::SOL_SOCKET, SO_INQ, cmsg::len(4)),
        "recvmsg {at}: first control message is {} with cmsg_len {}, expected SCM_INQ with {}",
        cmsg::cmsg_name(first.level, first.kind),
        first.cmsg_len,
        cmsg::len(4)
    );
    let inq = first_int(first).context("SCM_INQ without an int")?;
    let queued = siocinq(rx)?;
    ensure!(
        inq == queued,
        "recvmsg {at}: SCM_INQ says {inq} bytes queued, SIOCINQ right after says {queued}"
    );
    Ok(inq)
}

fn basic() -> CaseResult {
    if let Some(skip) = missing()? {
        return Ok(skip);
    }
    let (tx, rx) = inq_pair()?;
    ensure!(siocinq(&rx)? == 0, "SIOCINQ of an empty socket is not 0");
    for i in 0..100 {
        let n =
            raw::sendmsg(tx.as_fd(), &[0u8; 256], &[], 0).with_context(|| format!("send {i}"))?;
        ensure!(n == 256, "send {i} returned {n}");
    }
    let mut seen = Vec::new();
    for i in 0..100 {
        let inq = receive(&rx, &format!("{i}"))?;
        ensure!(
            inq == 256 * (99 - i),
            "receive {i}: SCM_INQ {inq}, expected {}",
            256 * (99 - i)
        );
        seen.push(inq);
    }
    Ok(Outcome::pass(format!(
        "100 sends of 256 bytes, 100 receives: each SCM_INQ (cmsg_len CMSG_LEN(4)) equals SIOCINQ right after: {}, {}, ..., {}",
        seen[0], seen[1], seen[99]
    )))
}

fn partial_read() -> CaseResult {
    if let Some(skip) = missing()? {
        return Ok(skip);
    }
    let (tx, rx) = inq_pair()?;
    let n = raw::sendmsg(tx.as_fd(), &[0u8; 768], &[], 0).context("send")?;
    ensure!(n == 768, "send returned {n}");
    let mut seen = Vec::new();
    for (i, want) in [512, 256, 0].into_iter().enumerate() {
        let inq = receive(&rx, &format!("{i}"))?;
        ensure!(
            inq == want,
            "read {i} of 256 from one 768-byte send: SCM_INQ {inq}, expected {want}"
        );
        seen.push(inq);
    }
    Ok(Outcome::pass(format!(
        "one send of 768 bytes read 256 at a time: SCM_INQ {seen:?}, each equal to SIOCINQ right after"
    )))
}

fn refused(k: SocketKind) -> CaseResult {
    if let Some(skip) = missing()? {
        return Ok(skip);
    }
    let (a, _b) = super::pair(k)?;
    match set_sol(a.as_fd(), SO_INQ, true) {
        Ok(()) => bail!("a {k} socket accepted SO_INQ (only streams take it)"),
        Err(e) if e.raw_os_error() == Some(libc::ENOPROTOOPT) => Ok(Outcome::pass(format!(
            "the kernel knows SO_INQ (a stream takes it), a {k} socket refuses it with ENOPROTOOPT"
        ))),
        Err(e) => bail!(
            "a {k} socket refused SO_INQ with {} (the selftest expects ENOPROTOOPT)",
            errno(&e)
        ),
    }
}
