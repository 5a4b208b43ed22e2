//! Identity: the received descriptor is a new number for the same open file
//! description (kcmp, fstat), in order, sharing offset and status flags but
//! not `FD_CLOEXEC`.

use std::io::{Read, Seek, SeekFrom};
use std::os::fd::{AsFd, AsRawFd, RawFd};

use anyhow::{ensure, Context as _};
use inflight::inspect::{file_id, is_cloexec, status_flags};
use inflight::SocketKind;
use inflight_testkit::FdKind;

use super::common::{pair, recv, send, three, transfer_one, BIG};
use crate::oracle;
use crate::runner::{CaseResult, Outcome};
use crate::sys;

pub(super) fn identity(fk: FdKind) -> CaseResult {
    let fx = fk
        .open()
        .with_context(|| format!("opening a {}", fk.name()))?;
    let (a, b) = pair(SocketKind::SeqPacket)?;
    send(&a, b"i", &[fx.fd.as_raw_fd()]).context("sendmsg")?;
    let (_, r) = recv(&b, 16, Some(BIG), 0).context("recvmsg")?;
    ensure!(
        r.fds.len() == 1,
        "sent 1 {}, received {} descriptors",
        fk.name(),
        r.fds.len()
    );
    let got = &r.fds[0];
    let (ia, ib) = (
        file_id(fx.as_fd()).context("fstat")?,
        file_id(got.as_fd()).context("fstat")?,
    );
    ensure!(ia == ib, "fstat differs: sent {ia}, received {ib}");
    ensure!(
        got.as_raw_fd() != fx.fd.as_raw_fd(),
        "received descriptor has the sender's number {}: not a new descriptor",
        got.as_raw_fd()
    );
    let (sent, received) = (fx.fd.as_raw_fd(), got.as_raw_fd());
    let same = oracle::same(fx.as_fd(), got.as_fd())
        .with_context(|| format!("fd {sent} and the received fd {received} (fstat {ib} equal)"))?;
    ensure!(
        same,
        "{} says fd {sent} and the received fd {received} are different open file descriptions (fstat {ib} equal)",
        oracle::method()
    );
    Ok(Outcome::pass(format!(
        "fd {sent} arrived as fd {received}: the same open file description ({}), fstat {ib}",
        oracle::method()
    )))
}

pub(super) fn order_repeats(k: SocketKind) -> CaseResult {
    let fx = three()?;
    let pattern = [0usize, 1, 0, 2, 1, 0];
    let fds: Vec<RawFd> = pattern.iter().map(|&i| fx[i].fd.as_raw_fd()).collect();
    let (a, b) = pair(k)?;
    send(&a, b"o", &fds).context("sendmsg")?;
    let (_, r) = recv(&b, 16, Some(BIG), 0).context("recvmsg")?;
    ensure!(
        r.fds.len() == pattern.len(),
        "sent {} descriptors, received {}",
        pattern.len(),
        r.fds.len()
    );
    let mut numbers: Vec<RawFd> = r.fds.iter().map(|f| f.as_raw_fd()).collect();
    let shown = format!("{numbers:?}");
    for (pos, (&want, got)) in pattern.iter().zip(&r.fds).enumerate() {
        for (j, f) in fx.iter().enumerate() {
            let same = oracle::same(f.as_fd(), got.as_fd())
                .with_context(|| format!("position {pos} against sent description #{j}"))?;
            ensure!(
                same == (j == want),
                "position {pos}: received fd {} {} sent description #{j} (expected #{want})",
                got.as_raw_fd(),
                if same { "is" } else { "is not" }
            );
        }
    }
    numbers.sort_unstable();
    numbers.dedup();
    ensure!(
        numbers.len() == pattern.len(),
        "repeated sends shared a descriptor number: {shown}"
    );
    Ok(Outcome::pass(format!(
        "sent [a b a c b a], received fds {shown}: order kept ({}), repeats as distinct numbers sharing one description",
        oracle::method()
    )))
}

pub(super) fn shared_offset() -> CaseResult {
    let fx = FdKind::File.open().context("tempfile")?;
    let got = transfer_one(fx.as_fd(), 0)?;
    let mut theirs = std::fs::File::from(got);
    theirs
        .seek(SeekFrom::Start(11))
        .context("lseek (receiver)")?;
    let mut mine = std::fs::File::from(fx.fd.try_clone().context("dup")?);
    let pos = mine.stream_position().context("lseek (sender)")?;
    ensure!(
        pos == 11,
        "receiver moved the offset to 11, sender sees {pos}: offset not shared"
    );
    mine.seek(SeekFrom::Start(5)).context("lseek")?;
    let mut rest = String::new();
    theirs
        .read_to_string(&mut rest)
        .context("read (receiver)")?;
    ensure!(
        rest == "ght fixture\n",
        "receiver read {rest:?} after the sender moved the offset to 5"
    );
    Ok(Outcome::pass(
        "receiver lseek(11) moved the sender's offset to 11; sender lseek(5) made the receiver read from byte 5",
    ))
}

pub(super) fn shared_status_flags() -> CaseResult {
    let fx = FdKind::PipeRead.open().context("pipe")?;
    let before = status_flags(fx.as_fd()).context("F_GETFL")?;
    ensure!(
        before & libc::O_NONBLOCK == 0,
        "fixture already non-blocking"
    );
    let got = transfer_one(fx.as_fd(), 0)?;
    sys::set_status_flags(
        got.as_fd(),
        status_flags(got.as_fd()).context("F_GETFL")? | libc::O_NONBLOCK,
    )
    .context("F_SETFL")?;
    let after = status_flags(fx.as_fd()).context("F_GETFL")?;
    ensure!(
        after & libc::O_NONBLOCK != 0,
        "receiver set O_NONBLOCK, sender's flags {after:#o} lack it: not shared"
    );
    let ap = FdKind::AppendFile.open().context("append file")?;
    let got = transfer_one(ap.as_fd(), 0)?;
    let f = status_flags(got.as_fd()).context("F_GETFL")?;
    ensure!(
        f & libc::O_APPEND != 0,
        "O_APPEND of the sender's file is missing on the received descriptor ({f:#o})"
    );
    Ok(Outcome::pass(format!(
        "O_NONBLOCK set by the receiver shows on the sender ({before:#o} -> {after:#o}); O_APPEND travels ({f:#o})"
    )))
}

pub(super) fn per_descriptor_cloexec() -> CaseResult {
    let fx = FdKind::DevNull.open().context("/dev/null")?;
    ensure!(
        is_cloexec(fx.as_fd()).context("F_GETFD")?,
        "fixture lacks FD_CLOEXEC"
    );
    let got = transfer_one(fx.as_fd(), 0)?;
    let got_flag = is_cloexec(got.as_fd()).context("F_GETFD")?;
    ensure!(
        !got_flag,
        "received descriptor has FD_CLOEXEC without MSG_CMSG_CLOEXEC: the flag travelled"
    );
    sys::set_fd_flags(got.as_fd(), libc::FD_CLOEXEC).context("F_SETFD")?;
    sys::set_fd_flags(fx.as_fd(), 0).context("F_SETFD")?;
    let (s, r) = (
        is_cloexec(fx.as_fd()).context("F_GETFD")?,
        is_cloexec(got.as_fd()).context("F_GETFD")?,
    );
    ensure!(
        !s && r,
        "FD_CLOEXEC changed on one side affected the other (sender {s}, receiver {r})"
    );
    Ok(Outcome::pass(
        "sender's FD_CLOEXEC did not travel (received without it); setting/clearing it on one side left the other unchanged",
    ))
}

pub(super) fn msg_cmsg_cloexec() -> CaseResult {
    let fx = FdKind::DevNull.open().context("/dev/null")?;
    sys::set_fd_flags(fx.as_fd(), 0).context("F_SETFD")?;
    let with = transfer_one(fx.as_fd(), libc::MSG_CMSG_CLOEXEC)?;
    let without = transfer_one(fx.as_fd(), 0)?;
    let (w, wo) = (
        is_cloexec(with.as_fd()).context("F_GETFD")?,
        is_cloexec(without.as_fd()).context("F_GETFD")?,
    );
    ensure!(
        w,
        "MSG_CMSG_CLOEXEC did not set FD_CLOEXEC on the received descriptor"
    );
    ensure!(
        !wo,
        "without MSG_CMSG_CLOEXEC the received descriptor is close-on-exec anyway"
    );
    Ok(Outcome::pass(
        "with MSG_CMSG_CLOEXEC: FD_CLOEXEC set; without: not set (inheritable across exec)",
    ))
}
