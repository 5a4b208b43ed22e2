//! Control-buffer edges from gVisor's `test/syscalls/linux/socket_unix_cmsg.cc`
//! (which runs the same expectations on Linux): a NULL `msg_control` with a
//! length (`BasicFDPassNullControlMsgCtrunc`), a buffer of exactly
//! `CMSG_LEN` (`BasicFDPassUnalignedRecvNoMsgTrunc` and its two-descriptor
//! twin), truncated credentials (`CredPassTruncated*`,
//! `CredPassNoSpaceMsgCtrunc`, `CredPassNoMsgCtrunc`), `read(2)` discarding
//! descriptors (`FDPassNoRecv`, `FDPassInterspersed2`) and a stream receive
//! stopping at a control-message boundary (`FDPassNotCoalesced`,
//! `FDPassInterspersed1`).

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::time::Duration;

use anyhow::{ensure, Context as _};
use inflight::SocketKind;
use inflight_testkit::cmsg::{self, Cmsg};
use inflight_testkit::{raw, FdKind, Fixture};

use super::{describe, messages, pair, released, same, set_sol};
use crate::kernel::Battery;
use crate::runner::{CaseResult, Outcome};

/// gVisor's payload size.
const N: usize = 20;

pub(super) fn register(b: &mut Battery) {
    for k in SocketKind::ALL {
        b.one(&format!("null-control-with-length/{k}"), move |_| {
            null_control(k)
        });
        b.one(&format!("exact-cmsg-len/{k}"), move |_| exact_len(k));
        b.one(&format!("creds-truncated/{k}"), move |_| creds_truncated(k));
        b.one(&format!("read-discards-rights/{k}"), move |_| {
            read_discards(k)
        });
    }
    b.one("stream-rights-boundary", |_| stream_boundary());
    b.one("stream-plain-then-rights", |_| plain_then_rights());
}

fn data(tag: u8) -> [u8; N] {
    let mut d = [tag; N];
    d[0] = b'<';
    d[N - 1] = b'>';
    d
}

/// Sends `N` bytes tagged `tag` with `fds` in one `SCM_RIGHTS`.
fn send(sock: &OwnedFd, tag: u8, fds: &[BorrowedFd<'_>]) -> anyhow::Result<()> {
    let raw_fds: Vec<i32> = fds.iter().map(|f| f.as_raw_fd()).collect();
    let control = if fds.is_empty() {
        Vec::new()
    } else {
        Cmsg::rights(&raw_fds).to_bytes()
    };
    let n = raw::sendmsg(sock.as_fd(), &data(tag), &control, 0).context("sendmsg")?;
    ensure!(n == N, "sendmsg returned {n}, not {N}");
    Ok(())
}

fn file() -> anyhow::Result<Fixture> {
    FdKind::File.open().context("a temporary file")
}

/// `recvmsg` with `msg_control` NULL but `msg_controllen` = `len`: the
/// return value, `msg_flags` and `msg_controllen` after the call.
fn recv_null_control(
    sock: &OwnedFd,
    buf: &mut [u8],
    len: usize,
) -> std::io::Result<(usize, i32, usize)> {
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: msghdr is a plain C struct for which all-zero is valid.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = std::ptr::null_mut();
    msg.msg_controllen = len as _;
    // SAFETY: recvmsg(2) writes at most `buf.len()` bytes through the one
    // iovec (over `buf`, exclusively borrowed) and never dereferences a
    // NULL msg_control; `sock` is open.
    let r = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_DONTWAIT) };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok((r as usize, msg.msg_flags, msg.msg_controllen as usize))
}

fn null_control(k: SocketKind) -> CaseResult {
    let (r, w) = crate::sys::pipe().context("pipe")?;
    let (a, b) = pair(k)?;
    send(&a, b'n', &[w.as_fd()])?;
    drop(w);
    let mut buf = [0u8; N];
    let (n, flags, controllen) =
        recv_null_control(&b, &mut buf, cmsg::space(1)).context("recvmsg")?;
    ensure!(
        n == N && buf == data(b'n'),
        "msg_control NULL: recvmsg returned {n}"
    );
    ensure!(
        flags == libc::MSG_CTRUNC && controllen == 0,
        "msg_control NULL, msg_controllen {}: msg_flags {flags:#x} (expected exactly MSG_CTRUNC), msg_controllen {controllen} after (expected 0)",
        cmsg::space(1)
    );
    ensure!(
        released(&r, Duration::from_secs(2)),
        "the discarded pipe write end was not released (no EOF on its read end)"
    );
    Ok(Outcome::pass(format!(
        "msg_control NULL with msg_controllen CMSG_SPACE(1) = {}: {N} bytes, msg_flags exactly MSG_CTRUNC, msg_controllen 0 after, the descriptor dropped and released",
        cmsg::space(1)
    )))
}

fn exact_len(k: SocketKind) -> CaseResult {
    let f = file()?;
    let (pr, pw) = crate::sys::pipe().context("pipe")?;
    let (a, b) = pair(k)?;
    let room = cmsg::space(4) - 4;
    send(&a, b'e', &[f.as_fd()])?;
    let mut buf = [0u8; N];
    let one =
        raw::recvmsg(b.as_fd(), &mut buf, Some(room), libc::MSG_DONTWAIT).context("recvmsg")?;
    let msgs = messages(&one.control);
    ensure!(
        one.bytes == N && one.flags == 0 && one.fds.len() == 1,
        "1 descriptor into {room} bytes (CMSG_SPACE(4) - 4): returned {}, msg_flags {:#x} (expected 0), {} descriptor(s) {}",
        one.bytes,
        one.flags,
        one.fds.len(),
        describe(&msgs)
    );
    ensure!(
        msgs.first().map(|m| (m.kind, m.cmsg_len)) == Some((libc::SCM_RIGHTS, cmsg::len(4))),
        "1 descriptor into {room} bytes: {}",
        describe(&msgs)
    );
    same(f.as_fd(), one.fds[0].as_fd(), "the one descriptor")?;
    send(&a, b'e', &[f.as_fd(), pw.as_fd()])?;
    drop(pw);
    let two =
        raw::recvmsg(b.as_fd(), &mut buf, Some(room), libc::MSG_DONTWAIT).context("recvmsg")?;
    let msgs2 = messages(&two.control);
    ensure!(
        two.ctrunc()
            && two.fds.len() == 1
            && msgs2.first().map(|m| m.cmsg_len) == Some(cmsg::len(4)),
        "2 descriptors into {room} bytes: MSG_CTRUNC {}, {} descriptor(s), {}",
        two.ctrunc(),
        two.fds.len(),
        describe(&msgs2)
    );
    same(f.as_fd(), two.fds[0].as_fd(), "the first of two")?;
    ensure!(
        released(&pr, Duration::from_secs(2)),
        "the second descriptor, which did not fit, was not released"
    );
    Ok(Outcome::pass(format!(
        "a buffer of CMSG_LEN(4) = {room} bytes (no room for padding): 1 descriptor arrives with cmsg_len {} and no MSG_CTRUNC; of 2, the first arrives with MSG_CTRUNC and the second is released",
        cmsg::len(4)
    )))
}

/// One receive of explicit credentials into `room` control bytes: checks
/// `msg_flags`, `msg_controllen` and the first message's `cmsg_len`.
fn creds_into(
    a: &OwnedFd,
    b: &OwnedFd,
    room: usize,
    want: (i32, usize, usize),
) -> anyhow::Result<Vec<u8>> {
    let n = raw::sendmsg(
        a.as_fd(),
        &data(b'c'),
        &Cmsg::own_credentials().to_bytes(),
        0,
    )
    .context("sendmsg with SCM_CREDENTIALS")?;
    ensure!(n == N, "sendmsg returned {n}");
    let mut buf = [0u8; N];
    let r = raw::recvmsg(b.as_fd(), &mut buf, Some(room), libc::MSG_DONTWAIT).context("recvmsg")?;
    let msgs = messages(&r.control);
    let first = msgs.first().map(|m| (m.kind, m.cmsg_len));
    ensure!(
        r.bytes == N && buf == data(b'c'),
        "{room} control bytes: returned {} bytes",
        r.bytes
    );
    ensure!(
        (r.flags, r.controllen) == (want.0, want.1) && first == Some((libc::SCM_CREDENTIALS, want.2)),
        "{room} control bytes: msg_flags {:#x}, msg_controllen {}, {} (expected flags {:#x}, msg_controllen {}, SCM_CREDENTIALS with cmsg_len {})",
        r.flags,
        r.controllen,
        describe(&msgs),
        want.0,
        want.1,
        want.2
    );
    Ok(msgs[0].data.to_vec())
}

fn creds_truncated(k: SocketKind) -> CaseResult {
    let (a, b) = pair(k)?;
    set_sol(b.as_fd(), libc::SO_PASSCRED, true).context("SO_PASSCRED")?;
    let (pid, _, _) = cmsg::own_ids();
    let part = cmsg::space(0) + 4;
    let d = creds_into(&a, &b, part, (libc::MSG_CTRUNC, part, part))?;
    ensure!(
        d.len() == 4 && i32::from_ne_bytes(d[..4].try_into()?) == pid,
        "the 4 payload bytes that fit are {d:?}, not the pid {pid}"
    );
    let head = cmsg::space(0);
    let d = creds_into(&a, &b, head, (libc::MSG_CTRUNC, head, head))?;
    ensure!(
        d.is_empty(),
        "a header-only message carried {} bytes",
        d.len()
    );
    let full = cmsg::space(12);
    creds_into(&a, &b, full, (0, full, cmsg::len(12)))?;
    Ok(Outcome::pass(format!(
        "SCM_CREDENTIALS into {part} bytes: cmsg_len {part} (cut), the pid's 4 bytes, MSG_CTRUNC; into {head}: a header-only message (cmsg_len {head}), MSG_CTRUNC; into CMSG_SPACE(12) = {full}: cmsg_len {}, no MSG_CTRUNC",
        cmsg::len(12)
    )))
}

fn read_discards(k: SocketKind) -> CaseResult {
    let (r, w) = crate::sys::pipe().context("pipe")?;
    let (a, b) = pair(k)?;
    send(&a, b'1', &[w.as_fd()])?;
    drop(w);
    send(&a, b'2', &[])?;
    let mut buf = [0u8; N];
    let n = nix::unistd::read(&b, &mut buf).context("read(2)")?;
    ensure!(
        n == N && buf == data(b'1'),
        "read(2) returned {n} bytes {buf:?}"
    );
    ensure!(
        released(&r, Duration::from_secs(2)),
        "read(2) took the data; the descriptor that came with it was not released"
    );
    let next = raw::recvmsg(
        b.as_fd(),
        &mut buf,
        Some(cmsg::space(4) + cmsg::space(12)),
        libc::MSG_DONTWAIT,
    )
    .context("recvmsg")?;
    ensure!(
        next.bytes == N && buf == data(b'2') && next.controllen < cmsg::HEADER_LEN,
        "the next message: {} bytes, msg_controllen {} (the dropped descriptor must not come later)",
        next.bytes,
        next.controllen
    );
    for (from, to) in [(&a, &b), (&b, &a)] {
        send(from, b'p', &[])?;
        let n = nix::unistd::read(to, &mut buf).context("read(2)")?;
        ensure!(
            n == N && buf == data(b'p'),
            "the pair no longer carries data ({n} bytes)"
        );
    }
    Ok(Outcome::pass(
        "read(2) of a message with a descriptor: the data, the descriptor dropped and released; the next message came without it; the pair still works both ways",
    ))
}

fn stream_boundary() -> CaseResult {
    let (fa, fb) = (file()?, file()?);
    let (a, b) = pair(SocketKind::Stream)?;
    send(&a, b'a', &[fa.as_fd()])?;
    send(&a, b'b', &[fb.as_fd()])?;
    let mut buf = [0u8; 2 * N];
    for (tag, f) in [(b'a', &fa), (b'b', &fb)] {
        let r = raw::recvmsg(
            b.as_fd(),
            &mut buf,
            Some(cmsg::space(4)),
            libc::MSG_DONTWAIT,
        )
        .context("recvmsg")?;
        ensure!(
            r.bytes == N && buf[..N] == data(tag) && r.fds.len() == 1 && !r.ctrunc(),
            "two sends of {N} bytes with a descriptor each, a {}-byte read: {} bytes, {} descriptor(s), MSG_CTRUNC {}",
            2 * N,
            r.bytes,
            r.fds.len(),
            r.ctrunc()
        );
        same(f.as_fd(), r.fds[0].as_fd(), "each read's descriptor")?;
    }
    send(&a, b'p', &[])?;
    send(&a, b'q', &[fa.as_fd()])?;
    let mut small = [0u8; N];
    let first = raw::recvmsg(
        b.as_fd(),
        &mut small,
        Some(cmsg::space(4) + cmsg::space(12)),
        libc::MSG_DONTWAIT,
    )
    .context("recvmsg")?;
    ensure!(
        first.bytes == N && small == data(b'p') && first.controllen < cmsg::HEADER_LEN,
        "plain bytes then a send with a descriptor, a {N}-byte read: {} bytes, msg_controllen {} (rights before their data)",
        first.bytes,
        first.controllen
    );
    let rest = raw::recvmsg(
        b.as_fd(),
        &mut buf,
        Some(cmsg::space(4)),
        libc::MSG_DONTWAIT,
    )
    .context("recvmsg")?;
    ensure!(
        rest.bytes == N && rest.fds.len() == 1,
        "then: {} bytes, {} descriptor(s)",
        rest.bytes,
        rest.fds.len()
    );
    same(
        fa.as_fd(),
        rest.fds[0].as_fd(),
        "the descriptor after plain bytes",
    )?;
    Ok(Outcome::pass(format!(
        "stream: two sends with a descriptor each are not merged by a {}-byte read (each read {N} bytes with its own descriptor); plain bytes then rights: a {N}-byte read got the plain bytes alone, the next the rights with their data",
        2 * N
    )))
}

fn plain_then_rights() -> CaseResult {
    let f = file()?;
    let (a, b) = pair(SocketKind::Stream)?;
    send(&a, b'p', &[])?;
    send(&a, b'q', &[f.as_fd()])?;
    let mut buf = [0u8; 2 * N];
    let first = raw::recvmsg(
        b.as_fd(),
        &mut buf,
        Some(cmsg::space(4)),
        libc::MSG_DONTWAIT,
    )
    .context("recvmsg")?;
    if first.bytes == 2 * N {
        ensure!(
            buf[..N] == data(b'p') && buf[N..] == data(b'q') && first.fds.len() == 1,
            "a merged read of both sends: {} descriptor(s)",
            first.fds.len()
        );
        same(
            f.as_fd(),
            first.fds[0].as_fd(),
            "the merged read's descriptor",
        )?;
        return Ok(super::observed(
            "merged",
            format!("plain {N} bytes then {N} with a descriptor, one {}-byte read: all {} bytes with the descriptor (a read may run into a rights-carrying send and stops after it)", 2 * N, 2 * N),
        ));
    }
    ensure!(
        first.bytes == N && buf[..N] == data(b'p') && first.fds.is_empty(),
        "first read: {} bytes, {} descriptor(s)",
        first.bytes,
        first.fds.len()
    );
    let second = raw::recvmsg(
        b.as_fd(),
        &mut buf,
        Some(cmsg::space(4)),
        libc::MSG_DONTWAIT,
    )
    .context("recvmsg")?;
    ensure!(
        second.bytes == N && buf[..N] == data(b'q') && second.fds.len() == 1,
        "second read: {} bytes, {} descriptor(s)",
        second.bytes,
        second.fds.len()
    );
    same(
        f.as_fd(),
        second.fds[0].as_fd(),
        "the second read's descriptor",
    )?;
    Ok(super::observed(
        "split",
        format!("plain {N} bytes then {N} with a descriptor, {}-byte reads: the plain bytes alone, then the rights with their data", 2 * N),
    ))
}
