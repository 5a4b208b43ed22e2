//! Limits: `SCM_MAX_FD` (253 allowed, 254 refused), a bad descriptor
//! failing the whole send, and a receiver at `RLIMIT_NOFILE`.

use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure, Context as _};
use inflight::inspect::FdSnapshot;
use inflight::SocketKind;

use inflight_testkit::raw;

use super::common::{
    errno_name, hung_up, pair, payload_for, queue_state, recv, rights, send, three, BIG, SCM_MAX_FD,
};
use crate::oracle;
use crate::runner::{CaseResult, Outcome, Settings};
use crate::sys::{self};

pub(super) fn max_fds(k: SocketKind, split: &[usize]) -> CaseResult {
    let null = std::fs::File::open("/dev/null").context("/dev/null")?;
    let total: usize = split.iter().sum();
    let mut control = Vec::new();
    for &n in split {
        control.extend(rights(&vec![null.as_raw_fd(); n]));
    }
    let (a, b) = pair(k)?;
    let how = if split.len() == 1 {
        format!("{total} in one SCM_RIGHTS")
    } else {
        format!("{total} as {split:?} in two SCM_RIGHTS")
    };
    let sent = raw::sendmsg(a.as_fd(), b"m", &control, libc::MSG_DONTWAIT);
    let after = queue_state(&b);
    if total <= SCM_MAX_FD {
        let n = sent.with_context(|| format!("sendmsg of {how} (must be accepted)"))?;
        ensure!(n == 1, "sendmsg returned {n}");
        let whole = format!("a message of 1 byte(s) with {total} descriptor(s)");
        ensure!(
            after == whole,
            "{how}: accepted, then a receive found {after} (expected {whole})"
        );
        // queue_state consumed the message: send again and look closely.
        raw::sendmsg(a.as_fd(), b"m", &control, libc::MSG_DONTWAIT).context("second sendmsg")?;
        all_installed(&b, &null, split, &how)
    } else {
        refused(sent, &how, &after)
    }
}

/// A send of at most `SCM_MAX_FD` descriptors (as `split` in as many
/// `SCM_RIGHTS`) was accepted: the payload and all the descriptors arrive,
/// each a duplicate of `null`, without `MSG_CTRUNC`, in one `SCM_RIGHTS`
/// (Linux merges them) or in as many as were sent.
fn all_installed(b: &OwnedFd, null: &std::fs::File, split: &[usize], how: &str) -> CaseResult {
    let total: usize = split.iter().sum();
    let (p, r) = recv(b, 16, Some(BIG), 0).context("recvmsg")?;
    ensure!(
        p == b"m" && r.fds.len() == total && !r.ctrunc(),
        "{how}: received payload {p:?}, {} descriptors, MSG_CTRUNC {}",
        r.fds.len(),
        r.ctrunc()
    );
    let rights = r
        .order
        .iter()
        .filter(|o| **o == (libc::SOL_SOCKET, libc::SCM_RIGHTS))
        .count();
    ensure!(
        rights == r.order.len() && (rights == 1 || rights == split.len()),
        "{how}: delivered as {} control message(s), {rights} of them SCM_RIGHTS: expected 1 (merged) or {} SCM_RIGHTS",
        r.order.len(),
        split.len()
    );
    for (i, f) in r.fds.iter().enumerate() {
        ensure!(
            oracle::same(null.as_fd(), f.as_fd()).with_context(|| format!("descriptor #{i}"))?,
            "{how}: descriptor #{i} is not the /dev/null sent"
        );
    }
    let merged = if rights == 1 && split.len() > 1 {
        " (merged)"
    } else {
        ""
    };
    Ok(Outcome::pass(format!(
        "{how}: accepted, all {total} installed (each the /dev/null sent), no MSG_CTRUNC, delivered as {rights} SCM_RIGHTS message(s){merged}"
    )))
}

/// A send of more than `SCM_MAX_FD` descriptors must fail with `EINVAL`
/// and queue nothing.
fn refused(sent: std::io::Result<usize>, how: &str, after: &str) -> CaseResult {
    let e = match sent {
        Ok(n) => bail!("{how}: sendmsg accepted it ({n} bytes; then {after})"),
        Err(e) => e,
    };
    ensure!(
        after == "nothing queued",
        "{how}: refused with {} but then {after}",
        errno_name(&e)
    );
    ensure!(
        e.raw_os_error() == Some(libc::EINVAL),
        "{how}: refused with {} (Linux says EINVAL); nothing queued",
        errno_name(&e)
    );
    Ok(Outcome::pass(format!(
        "{how}: sendmsg refused with EINVAL, nothing queued"
    )))
}

pub(super) fn bad_descriptor(k: SocketKind) -> CaseResult {
    let fx = three()?;
    let bad: RawFd = 999_999;
    let (a, b) = pair(k)?;
    let fds = [fx[0].fd.as_raw_fd(), bad, fx[1].fd.as_raw_fd()];
    let r = send(&a, payload_for(k), &fds);
    let after = queue_state(&b);
    let neg = send(&a, payload_for(k), &[fx[2].fd.as_raw_fd(), -1]);
    let after_neg = queue_state(&b);
    match (r, neg) {
        (Err(e), Err(e2)) => {
            ensure!(
                after == "nothing queued",
                "refused with {} but then {after}",
                errno_name(&e)
            );
            ensure!(
                after_neg == "nothing queued",
                "-1 refused with {} but then {after_neg}",
                errno_name(&e2)
            );
            ensure!(
                e.raw_os_error() == Some(libc::EBADF) && e2.raw_os_error() == Some(libc::EBADF),
                "refused with {} / {} (Linux says EBADF); nothing queued",
                errno_name(&e),
                errno_name(&e2)
            );
            Ok(Outcome::pass(
                "[good, 999999, good] and [good, -1]: sendmsg failed with EBADF, nothing queued (the good ones did not travel)",
            ))
        }
        (Ok(n), _) => Err(anyhow!(
            "a send with an unopened descriptor succeeded ({n} bytes), then {after}"
        )),
        (_, Ok(n)) => Err(anyhow!(
            "a send with descriptor -1 succeeded ({n} bytes), then {after_neg}"
        )),
    }
}

pub(super) fn rlimit_nofile(s: &Settings) -> CaseResult {
    let exe = std::env::current_exe().context("current_exe")?;
    let mut child = std::process::Command::new(exe)
        .args(["__child", "rlimit"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .context("starting the child")?;
    let end = Instant::now() + s.timeout;
    while child.try_wait().context("wait")?.is_none() {
        if Instant::now() > end {
            let _ = child.kill();
            let _ = child.wait();
            return Err(anyhow!("the child did not finish within {:?}", s.timeout));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let out = child.wait_with_output().context("child output")?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
    let field = |key: &str| -> Option<i64> {
        text.split_whitespace()
            .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
            .and_then(|v| v.parse().ok())
    };
    let (Some(sent), Some(room), Some(got), Some(ctrunc), Some(released), Some(bytes)) = (
        field("sent"),
        field("room"),
        field("delivered"),
        field("ctrunc"),
        field("released"),
        field("bytes"),
    ) else {
        return Err(anyhow!(
            "child said {text:?} (stderr {err:?}, {})",
            out.status
        ));
    };
    ensure!(
        got == room && ctrunc == 1 && released == sent - room && bytes == 1,
        "receiver with room for {room} below RLIMIT_NOFILE, {sent} sent: {got} installed, MSG_CTRUNC {ctrunc}, {released} released, recvmsg returned {bytes}"
    );
    Ok(Outcome::pass(format!(
        "receiver (child process) with room for {room} descriptors below RLIMIT_NOFILE got {sent}: recvmsg succeeded with the payload, {got} installed, MSG_CTRUNC set, the other {released} released (pipe EOF)"
    )))
}

/// The child side of `kernel/rlimit-nofile`: receives 8 descriptors with
/// room for only 3 below `RLIMIT_NOFILE` and prints what happened.
pub fn rlimit_child() -> i32 {
    match rlimit_child_inner() {
        Ok(line) => {
            println!("{line}");
            0
        }
        Err(e) => {
            eprintln!("{e:#}");
            1
        }
    }
}

fn rlimit_child_inner() -> anyhow::Result<String> {
    const SENT: usize = 8;
    const ROOM: usize = 3;
    let (a, b) = pair(SocketKind::Datagram)?;
    let pipes: Vec<(OwnedFd, OwnedFd)> = (0..SENT)
        .map(|_| sys::pipe())
        .collect::<Result<_, _>>()
        .context("pipe")?;
    let writers: Vec<RawFd> = pipes.iter().map(|p| p.1.as_raw_fd()).collect();
    send(&a, b"r", &writers).context("sendmsg")?;
    let readers: Vec<OwnedFd> = pipes.into_iter().map(|(r, _)| r).collect();
    // Choose a limit with exactly ROOM free descriptor numbers below it.
    let open = FdSnapshot::take().context("/proc/self/fd")?;
    let mut free = 0;
    let mut limit = 0;
    while free < ROOM {
        if !open.contains(limit as RawFd) {
            free += 1;
        }
        limit += 1;
    }
    let (soft, hard) = sys::nofile_limit().context("getrlimit")?;
    sys::set_nofile_limit(limit as u64, hard).context("setrlimit")?;
    let got = recv(&b, 16, Some(BIG), 0);
    sys::set_nofile_limit(soft, hard).context("setrlimit (restore)")?;
    let (_, r) = got.context("recvmsg at the limit")?;
    let delivered = r.fds.len();
    let released = readers
        .iter()
        .skip(delivered)
        .filter(|rd| hung_up(rd, Duration::from_secs(2)))
        .count();
    Ok(format!(
        "sent={SENT} room={ROOM} limit={limit} delivered={delivered} ctrunc={} released={released} bytes={}",
        u8::from(r.ctrunc()),
        r.bytes
    ))
}
