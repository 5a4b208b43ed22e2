//! Odd rights arrays and truncated control buffers, after CPython's
//! `Lib/test/test_socket.py` (`SCMRightsTest`): a partial `int` in the
//! middle of a send (`testFDPassPartialIntInMiddle`), a partial `int` alone
//! (`testFDPassPartialInt`), an empty array (`testFDPassEmpty`), and the
//! receive buffers of the `testCmsgTrunc*` family (`Len0Minus1`,
//! `Len0Plus1`, `Len1`, `Len2Minus1`). CPython tolerates several outcomes;
//! these cases hold Linux to its one, and also check that what did not fit
//! was released.

use std::os::fd::{AsFd, AsRawFd};
use std::time::Duration;

use anyhow::{ensure, Context as _};
use inflight::SocketKind;
use inflight_testkit::cmsg::{self, Cmsg};
use inflight_testkit::{raw, FdKind};

use super::{describe, messages, pair, released, same};
use crate::kernel::Battery;
use crate::runner::{CaseResult, Outcome};

/// A 28-byte message, as long as CPython's.
const MSG: &[u8; 28] = b"twenty-eight bytes, in-band.";

/// The `testCmsgTrunc*` buffers: name, control bytes, descriptors sent.
const TRUNC: [(&str, usize, usize); 4] = [
    ("len0-minus1", cmsg::len(0) - 1, 1),
    ("len0-plus1", cmsg::len(0) + 1, 2),
    ("len1", cmsg::len(4), 2),
    ("len2-minus1", cmsg::len(8) - 1, 2),
];

pub(super) fn register(b: &mut Battery) {
    for k in SocketKind::ALL {
        b.one(&format!("partial-int-middle/{k}"), move |_| {
            partial_middle(k)
        });
        b.one(&format!("partial-int-only/{k}"), move |_| {
            no_rights(
                k,
                &[0xAB, 0xAA, 0xFF],
                "a 3-byte SCM_RIGHTS (a partial int)",
            )
        });
        b.one(&format!("empty-rights/{k}"), move |_| {
            no_rights(k, &[], "an SCM_RIGHTS with no data (cmsg_len 16)")
        });
    }
    for (name, room, sent) in TRUNC {
        b.one(&format!("cmsg-trunc/{name}"), move |_| trunc(room, sent));
    }
}

fn partial_middle(k: SocketKind) -> CaseResult {
    let (f0, f1) = (
        FdKind::File.open().context("file")?,
        FdKind::File.open().context("file")?,
    );
    // [fd0, -0x5555] cut to 7 bytes: fd0 and 3 stray bytes; then [fd1].
    let mut first = f0.fd.as_raw_fd().to_ne_bytes().to_vec();
    first.extend_from_slice(&(-0x5555i32).to_ne_bytes()[..3]);
    let control = cmsg::concat(&[
        Cmsg::raw(libc::SOL_SOCKET, libc::SCM_RIGHTS, &first),
        Cmsg::rights(&[f1.fd.as_raw_fd()]),
    ]);
    let (a, b) = pair(k)?;
    let n = raw::sendmsg(a.as_fd(), MSG, &control, 0).context("sendmsg")?;
    ensure!(n == MSG.len(), "sendmsg returned {n}");
    let mut buf = [0u8; 64];
    let r =
        raw::recvmsg(b.as_fd(), &mut buf, Some(10240), libc::MSG_DONTWAIT).context("recvmsg")?;
    let msgs = messages(&r.control);
    ensure!(
        &buf[..r.bytes] == MSG && !r.ctrunc() && r.fds.len() == 2,
        "sent cmsg_len {} then {} ({} control bytes): received {} bytes, {} descriptor(s), MSG_CTRUNC {}, {}",
        cmsg::len(7),
        cmsg::len(4),
        control.len(),
        r.bytes,
        r.fds.len(),
        r.ctrunc(),
        describe(&msgs)
    );
    ensure!(
        msgs.len() == 1 && msgs[0].cmsg_len == cmsg::len(8),
        "the two arrays did not arrive as one SCM_RIGHTS of CMSG_LEN(8): {}",
        describe(&msgs)
    );
    same(f0.as_fd(), r.fds[0].as_fd(), "the first descriptor")?;
    same(f1.as_fd(), r.fds[1].as_fd(), "the second descriptor")?;
    Ok(Outcome::pass(format!(
        "SCM_RIGHTS of cmsg_len CMSG_LEN(7) = {} (one fd and 3 stray bytes) then one of CMSG_LEN(4): accepted; one SCM_RIGHTS of CMSG_LEN(8) arrived, both files in order, no MSG_CTRUNC",
        cmsg::len(7)
    )))
}

fn no_rights(k: SocketKind, data: &[u8], what: &str) -> CaseResult {
    let control = Cmsg::raw(libc::SOL_SOCKET, libc::SCM_RIGHTS, data).to_bytes();
    let (a, b) = pair(k)?;
    let n =
        raw::sendmsg(a.as_fd(), MSG, &control, 0).with_context(|| format!("sendmsg of {what}"))?;
    ensure!(n == MSG.len(), "sendmsg returned {n}");
    let mut buf = [0u8; 64];
    let r =
        raw::recvmsg(b.as_fd(), &mut buf, Some(10240), libc::MSG_DONTWAIT).context("recvmsg")?;
    ensure!(
        &buf[..r.bytes] == MSG && r.controllen == 0 && r.flags == 0,
        "{what}: received {} bytes, msg_controllen {}, msg_flags {:#x}",
        r.bytes,
        r.controllen,
        r.flags
    );
    Ok(Outcome::pass(format!(
        "{what}: sendmsg accepted it, the message arrived with no control data and no flags"
    )))
}

fn trunc(room: usize, sent: usize) -> CaseResult {
    let f0 = FdKind::File.open().context("file")?;
    let (pr, pw) = crate::sys::pipe().context("pipe")?;
    // One descriptor: the pipe's write end; two: the file, then it.
    let fds: Vec<i32> = if sent == 1 {
        vec![pw.as_raw_fd()]
    } else {
        vec![f0.fd.as_raw_fd(), pw.as_raw_fd()]
    };
    let (a, b) = pair(SocketKind::Stream)?;
    raw::sendmsg(a.as_fd(), MSG, &Cmsg::rights(&fds).to_bytes(), 0).context("sendmsg")?;
    drop(pw);
    let mut buf = [0u8; 64];
    let r = raw::recvmsg(b.as_fd(), &mut buf, Some(room), libc::MSG_DONTWAIT).context("recvmsg")?;
    let msgs = messages(&r.control);
    let fit = room.saturating_sub(cmsg::HEADER_LEN) / 4;
    let got = fit.min(sent);
    ensure!(
        &buf[..r.bytes] == MSG && r.ctrunc() && r.fds.len() == got,
        "{sent} descriptor(s) into {room} control bytes: {} bytes, {} descriptor(s) (expected {got}), MSG_CTRUNC {}, {}",
        r.bytes,
        r.fds.len(),
        r.ctrunc(),
        describe(&msgs)
    );
    let controllen = if got == 0 {
        ensure!(
            msgs.is_empty(),
            "no descriptor fits, yet {}",
            describe(&msgs)
        );
        0
    } else {
        ensure!(
            msgs.len() == 1 && msgs[0].cmsg_len == cmsg::len(4 * got),
            "{}",
            describe(&msgs)
        );
        same(f0.as_fd(), r.fds[0].as_fd(), "the descriptor that fitted")?;
        cmsg::space(4 * got).min(room)
    };
    ensure!(
        r.controllen == controllen,
        "msg_controllen {} after the receive, expected min(CMSG_SPACE, buffer) = {controllen}",
        r.controllen
    );
    ensure!(
        released(&pr, Duration::from_secs(2)),
        "the pipe write end, which did not fit, was not released"
    );
    Ok(Outcome::pass(format!(
        "{sent} descriptor(s) into {room} control bytes: {got} installed (the file, first), MSG_CTRUNC, msg_controllen {controllen}, the one that did not fit released"
    )))
}
