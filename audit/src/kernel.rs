//! The kernel battery: what the running kernel really does with
//! `SCM_RIGHTS`, each case with its evidence.
//!
//! Every case runs on this thread and checks, besides its own question, that
//! the auditor's descriptor table is the same afterwards (nothing the kernel
//! installed stays open unnoticed).

use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use inflight::codec::cmsg_space;
use inflight::inspect::{file_id, is_cloexec, same_file, status_flags, FdSnapshot, Sameness};
use inflight::{Credentials, ErrorKind, SocketKind};
use inflight_impls::{FdKind, Fixture};

use crate::ensure;
use crate::runner::{Case, CaseResult, Context, Outcome, Settings};
use crate::sys::{self, RawRecv};

const HDR: usize = std::mem::size_of::<libc::cmsghdr>();

/// A control buffer big enough for anything: 253 descriptors, credentials,
/// a pidfd, and slack.
const BIG: usize = inflight::codec::space_for(inflight::SCM_MAX_FD) + 64;

/// A case whose descriptor table must be unchanged afterwards.
fn case(name: String, body: impl FnOnce(&Settings) -> CaseResult + 'static) -> Case {
    Case::new(name, move |s: &Settings| {
        let before = FdSnapshot::take().ctx("reading /proc/self/fd")?;
        let result = body(s);
        let after = FdSnapshot::take().ctx("reading /proc/self/fd")?;
        let leaked = after.leaked_since(&before);
        if !leaked.is_empty() {
            let list: Vec<String> = leaked.iter().take(5).map(|f| f.to_string()).collect();
            return Err(format!(
                "{} descriptor(s) stayed open after the case: {} (case result: {result:?})",
                leaked.len(),
                list.join(", ")
            ));
        }
        result
    })
}

fn pair(kind: SocketKind) -> Result<(OwnedFd, OwnedFd), String> {
    inflight::socketpair(kind).ctx("socketpair")
}

fn raws(fds: &[&OwnedFd]) -> Vec<RawFd> {
    fds.iter().map(|f| f.as_raw_fd()).collect()
}

/// `sendmsg` with one `SCM_RIGHTS` message (none when `fds` is empty).
fn send(sock: &OwnedFd, payload: &[u8], fds: &[RawFd]) -> std::io::Result<usize> {
    let control = if fds.is_empty() {
        Vec::new()
    } else {
        sys::rights_cmsg(fds)
    };
    sys::sendmsg(sock.as_fd(), payload, &control, 0)
}

/// A non-blocking `recvmsg`: payload and everything that came with it.
fn recv(
    sock: &OwnedFd,
    buflen: usize,
    control: Option<usize>,
    flags: i32,
) -> std::io::Result<(Vec<u8>, RawRecv)> {
    let mut buf = vec![0u8; buflen];
    let r = sys::recvmsg(sock.as_fd(), &mut buf, control, flags | libc::MSG_DONTWAIT)?;
    buf.truncate(r.bytes.min(buflen));
    Ok((buf, r))
}

/// What a non-blocking receive finds: "nothing queued", "end of stream" or
/// a description of a message.
fn queue_state(sock: &OwnedFd) -> String {
    match recv(sock, 4096, Some(BIG), 0) {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => "nothing queued".into(),
        Err(e) => format!("recvmsg error {e}"),
        Ok((_, r)) if r.bytes == 0 && r.fds.is_empty() => "end of stream".into(),
        Ok((_, r)) => format!(
            "a message of {} byte(s) with {} descriptor(s)",
            r.bytes,
            r.fds.len()
        ),
    }
}

/// The read end of a pipe sees end-of-file: every write end is closed
/// (including copies that were in flight).
fn hung_up(r: &OwnedFd, wait: Duration) -> bool {
    let end = Instant::now() + wait;
    loop {
        let rev = sys::poll_in(r.as_fd(), Duration::from_millis(5)).unwrap_or(0);
        if rev & libc::POLLHUP != 0 {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
    }
}

fn errno_name(e: &std::io::Error) -> String {
    let n = e.raw_os_error().unwrap_or(0);
    let name = match n {
        libc::EINVAL => "EINVAL",
        libc::EBADF => "EBADF",
        libc::EPERM => "EPERM",
        libc::EAGAIN => "EAGAIN",
        libc::EMFILE => "EMFILE",
        libc::ETOOMANYREFS => "ETOOMANYREFS",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::ENOPROTOOPT => "ENOPROTOOPT",
        _ => return format!("errno {n} ({e})"),
    };
    name.to_string()
}

fn payload_for(kind: SocketKind) -> &'static [u8] {
    let _ = kind;
    b"x"
}

/// Every kernel case.
pub fn cases() -> Vec<Case> {
    let mut v = Vec::new();
    for fk in FdKind::ALL {
        v.push(case(format!("kernel/identity/{}", fk.name()), move |_| {
            identity(fk)
        }));
    }
    for k in SocketKind::ALL {
        v.push(case(format!("kernel/order-repeats/{k}"), move |_| {
            order_repeats(k)
        }));
    }
    v.push(case("kernel/shared-offset".into(), |_| shared_offset()));
    v.push(case("kernel/shared-status-flags".into(), |_| {
        shared_status_flags()
    }));
    v.push(case("kernel/per-descriptor-cloexec".into(), |_| {
        per_descriptor_cloexec()
    }));
    v.push(case("kernel/msg-cmsg-cloexec".into(), |_| {
        msg_cmsg_cloexec()
    }));
    for k in SocketKind::ALL {
        v.push(case(format!("kernel/in-flight-survival/{k}"), move |_| {
            in_flight_survival(k)
        }));
    }
    for k in SocketKind::ALL {
        v.push(case(format!("kernel/scm-max-fd/253/{k}"), move |_| {
            max_fds(k, &[253])
        }));
        v.push(case(format!("kernel/scm-max-fd/254/{k}"), move |_| {
            max_fds(k, &[254])
        }));
        v.push(case(
            format!("kernel/scm-max-fd/253-split/{k}"),
            move |_| max_fds(k, &[126, 127]),
        ));
        v.push(case(
            format!("kernel/scm-max-fd/254-split/{k}"),
            move |_| max_fds(k, &[127, 127]),
        ));
    }
    for k in SocketKind::ALL {
        v.push(case(format!("kernel/bad-descriptor/{k}"), move |_| {
            bad_descriptor(k)
        }));
    }
    for k in SocketKind::ALL {
        for n in [1usize, 3, 8] {
            v.push(case(
                format!("kernel/ctrunc-arithmetic/{k}/n{n}"),
                move |s| ctrunc_arithmetic(k, n, s),
            ));
        }
    }
    for k in SocketKind::ALL {
        v.push(case(format!("kernel/no-control-buffer/{k}"), move |s| {
            no_control_buffer(k, s)
        }));
    }
    v.push(case("kernel/rlimit-nofile".into(), rlimit_nofile));
    v.push(case("kernel/stream-record-boundary".into(), |_| {
        stream_record_boundary()
    }));
    for k in SocketKind::ALL {
        v.push(case(format!("kernel/empty-payload/{k}"), move |s| {
            empty_payload(k, s)
        }));
    }
    for k in [SocketKind::SeqPacket, SocketKind::Datagram] {
        v.push(case(format!("kernel/payload-truncation/{k}"), move |_| {
            payload_truncation(k)
        }));
    }
    v.push(case("kernel/partial-read/stream".into(), |_| {
        partial_read_stream()
    }));
    for k in SocketKind::ALL {
        v.push(case(format!("kernel/msg-peek/{k}"), move |_| msg_peek(k)));
    }
    v.push(case("kernel/msg-peek/stream-lookahead".into(), |_| {
        peek_lookahead_stream()
    }));
    for k in SocketKind::ALL {
        v.push(case(format!("kernel/queued-after-close/{k}"), move |_| {
            queued_after_close(k)
        }));
    }
    for k in SocketKind::ALL {
        v.push(case(
            format!("kernel/passcred-beside-rights/{k}"),
            move |_| passcred(k),
        ));
    }
    for k in SocketKind::ALL {
        v.push(case(format!("kernel/scm-pidfd/{k}"), move |_| pidfd(k)));
    }
    v.push(case("kernel/gc-cycle".into(), gc_cycle));
    for k in SocketKind::ALL {
        v.push(case(format!("kernel/so-passrights/{k}"), move |_| {
            passrights(k)
        }));
    }
    v
}

fn identity(fk: FdKind) -> CaseResult {
    let fx = fk.open().ctx(&format!("opening a {}", fk.name()))?;
    let (a, b) = pair(SocketKind::SeqPacket)?;
    send(&a, b"i", &[fx.fd.as_raw_fd()]).ctx("sendmsg")?;
    let (_, r) = recv(&b, 16, Some(BIG), 0).ctx("recvmsg")?;
    ensure!(
        r.fds.len() == 1,
        "sent 1 {}, received {} descriptors",
        fk.name(),
        r.fds.len()
    );
    let got = &r.fds[0];
    let (ia, ib) = (
        file_id(fx.as_fd()).ctx("fstat")?,
        file_id(got.as_fd()).ctx("fstat")?,
    );
    ensure!(ia == ib, "fstat differs: sent {ia}, received {ib}");
    ensure!(
        got.as_raw_fd() != fx.fd.as_raw_fd(),
        "received descriptor has the sender's number {}: not a new descriptor",
        got.as_raw_fd()
    );
    match same_file(fx.as_fd(), got.as_fd()) {
        Sameness::Same => Ok(Outcome::pass(format!(
            "fd {} arrived as fd {}: kcmp(KCMP_FILE)=0 (same open file description), fstat {ib}",
            fx.fd.as_raw_fd(),
            got.as_raw_fd()
        ))),
        Sameness::Different => Err(format!(
            "kcmp says fd {} and the received fd {} are different open file descriptions (fstat {ib} equal)",
            fx.fd.as_raw_fd(),
            got.as_raw_fd()
        )),
        Sameness::Unknown(why) => Ok(Outcome::skip(format!(
            "cannot prove the same open file description: {why}; fstat {ib} equal"
        ))),
    }
}

/// Three distinct descriptions: a file, a pipe read end, /dev/null.
fn three() -> Result<Vec<Fixture>, String> {
    [FdKind::File, FdKind::PipeRead, FdKind::DevNull]
        .iter()
        .map(|k| k.open().ctx("opening a fixture"))
        .collect()
}

fn order_repeats(k: SocketKind) -> CaseResult {
    let fx = three()?;
    let pattern = [0usize, 1, 0, 2, 1, 0];
    let fds: Vec<RawFd> = pattern.iter().map(|&i| fx[i].fd.as_raw_fd()).collect();
    let (a, b) = pair(k)?;
    send(&a, b"o", &fds).ctx("sendmsg")?;
    let (_, r) = recv(&b, 16, Some(BIG), 0).ctx("recvmsg")?;
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
            let s = same_file(f.as_fd(), got.as_fd());
            if let Sameness::Unknown(why) = s {
                return Ok(Outcome::skip(format!("kcmp unavailable: {why}")));
            }
            ensure!(
                (s == Sameness::Same) == (j == want),
                "position {pos}: received fd {} {} sent description #{j} (expected #{want})",
                got.as_raw_fd(),
                if s == Sameness::Same { "is" } else { "is not" }
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
        "sent [a b a c b a], received fds {shown}: order kept (kcmp), repeats as distinct numbers sharing one description"
    )))
}

fn transfer_one(fd: BorrowedFd<'_>, flags: i32) -> Result<OwnedFd, String> {
    let (a, b) = pair(SocketKind::Stream)?;
    send(&a, b"1", &[fd.as_raw_fd()]).ctx("sendmsg")?;
    let (_, mut r) = recv(&b, 16, Some(BIG), flags).ctx("recvmsg")?;
    ensure!(
        r.fds.len() == 1,
        "expected 1 descriptor, got {}",
        r.fds.len()
    );
    Ok(r.fds.remove(0))
}

fn shared_offset() -> CaseResult {
    let fx = FdKind::File.open().ctx("tempfile")?;
    let got = transfer_one(fx.as_fd(), 0)?;
    let mut theirs = std::fs::File::from(got);
    theirs.seek(SeekFrom::Start(11)).ctx("lseek (receiver)")?;
    let mut mine = std::fs::File::from(fx.fd.try_clone().ctx("dup")?);
    let pos = mine.stream_position().ctx("lseek (sender)")?;
    ensure!(
        pos == 11,
        "receiver moved the offset to 11, sender sees {pos}: offset not shared"
    );
    mine.seek(SeekFrom::Start(5)).ctx("lseek")?;
    let mut rest = String::new();
    theirs.read_to_string(&mut rest).ctx("read (receiver)")?;
    ensure!(
        rest == "ght fixture\n",
        "receiver read {rest:?} after the sender moved the offset to 5"
    );
    Ok(Outcome::pass(
        "receiver lseek(11) moved the sender's offset to 11; sender lseek(5) made the receiver read from byte 5",
    ))
}

fn shared_status_flags() -> CaseResult {
    let fx = FdKind::PipeRead.open().ctx("pipe")?;
    let before = status_flags(fx.as_fd()).ctx("F_GETFL")?;
    ensure!(
        before & libc::O_NONBLOCK == 0,
        "fixture already non-blocking"
    );
    let got = transfer_one(fx.as_fd(), 0)?;
    sys::set_status_flags(
        got.as_fd(),
        status_flags(got.as_fd()).ctx("F_GETFL")? | libc::O_NONBLOCK,
    )
    .ctx("F_SETFL")?;
    let after = status_flags(fx.as_fd()).ctx("F_GETFL")?;
    ensure!(
        after & libc::O_NONBLOCK != 0,
        "receiver set O_NONBLOCK, sender's flags {after:#o} lack it: not shared"
    );
    let ap = FdKind::AppendFile.open().ctx("append file")?;
    let got = transfer_one(ap.as_fd(), 0)?;
    let f = status_flags(got.as_fd()).ctx("F_GETFL")?;
    ensure!(
        f & libc::O_APPEND != 0,
        "O_APPEND of the sender's file is missing on the received descriptor ({f:#o})"
    );
    Ok(Outcome::pass(format!(
        "O_NONBLOCK set by the receiver shows on the sender ({before:#o} -> {after:#o}); O_APPEND travels ({f:#o})"
    )))
}

fn per_descriptor_cloexec() -> CaseResult {
    let fx = FdKind::DevNull.open().ctx("/dev/null")?;
    ensure!(
        is_cloexec(fx.as_fd()).ctx("F_GETFD")?,
        "fixture lacks FD_CLOEXEC"
    );
    let got = transfer_one(fx.as_fd(), 0)?;
    let got_flag = is_cloexec(got.as_fd()).ctx("F_GETFD")?;
    ensure!(
        !got_flag,
        "received descriptor has FD_CLOEXEC without MSG_CMSG_CLOEXEC: the flag travelled"
    );
    sys::set_fd_flags(got.as_fd(), libc::FD_CLOEXEC).ctx("F_SETFD")?;
    sys::set_fd_flags(fx.as_fd(), 0).ctx("F_SETFD")?;
    let (s, r) = (
        is_cloexec(fx.as_fd()).ctx("F_GETFD")?,
        is_cloexec(got.as_fd()).ctx("F_GETFD")?,
    );
    ensure!(
        !s && r,
        "FD_CLOEXEC changed on one side affected the other (sender {s}, receiver {r})"
    );
    Ok(Outcome::pass(
        "sender's FD_CLOEXEC did not travel (received without it); setting/clearing it on one side left the other unchanged",
    ))
}

fn msg_cmsg_cloexec() -> CaseResult {
    let fx = FdKind::DevNull.open().ctx("/dev/null")?;
    sys::set_fd_flags(fx.as_fd(), 0).ctx("F_SETFD")?;
    let with = transfer_one(fx.as_fd(), libc::MSG_CMSG_CLOEXEC)?;
    let without = transfer_one(fx.as_fd(), 0)?;
    let (w, wo) = (
        is_cloexec(with.as_fd()).ctx("F_GETFD")?,
        is_cloexec(without.as_fd()).ctx("F_GETFD")?,
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

fn in_flight_survival(k: SocketKind) -> CaseResult {
    let (r, w) = sys::pipe().ctx("pipe")?;
    let (a, b) = pair(k)?;
    send(&a, payload_for(k), &[r.as_raw_fd()]).ctx("sendmsg")?;
    let number = r.as_raw_fd();
    drop(r);
    (&std::fs::File::from(w.try_clone().ctx("dup")?))
        .write_all(b"still here")
        .ctx("write")?;
    let (_, mut got) = recv(&b, 16, Some(BIG), 0).ctx("recvmsg")?;
    ensure!(
        got.fds.len() == 1,
        "expected 1 descriptor, got {}",
        got.fds.len()
    );
    let mut text = String::new();
    let mut f = std::fs::File::from(got.fds.remove(0));
    sys::set_status_flags(f.as_fd(), libc::O_NONBLOCK).ctx("F_SETFL")?;
    let mut buf = [0u8; 32];
    let n = f.read(&mut buf).ctx("read")?;
    text.push_str(&String::from_utf8_lossy(&buf[..n]));
    ensure!(
        text == "still here",
        "read {text:?} from the received read end"
    );
    Ok(Outcome::pass(format!(
        "pipe read end fd {number} closed by the sender while in flight; the received copy read \"still here\""
    )))
}

fn max_fds(k: SocketKind, split: &[usize]) -> CaseResult {
    let null = std::fs::File::open("/dev/null").ctx("/dev/null")?;
    let total: usize = split.iter().sum();
    let mut control = Vec::new();
    for &n in split {
        control.extend(sys::rights_cmsg(&vec![null.as_raw_fd(); n]));
    }
    let (a, b) = pair(k)?;
    let how = if split.len() == 1 {
        format!("{total} in one SCM_RIGHTS")
    } else {
        format!("{total} as {split:?} in two SCM_RIGHTS")
    };
    let sent = sys::sendmsg(a.as_fd(), b"m", &control, libc::MSG_DONTWAIT);
    let after = queue_state(&b);
    if total <= inflight::SCM_MAX_FD {
        let n = sent.ctx(&format!("sendmsg of {how} (must be accepted)"))?;
        ensure!(n == 1, "sendmsg returned {n}");
        // queue_state consumed the message: send again and look closely.
        sys::sendmsg(a.as_fd(), b"m", &control, libc::MSG_DONTWAIT).ctx("second sendmsg")?;
        let (_, r) = recv(&b, 16, Some(BIG), 0).ctx("recvmsg")?;
        ensure!(
            r.fds.len() == total && !r.ctrunc(),
            "{how}: received {} descriptors, MSG_CTRUNC {} ({after} before)",
            r.fds.len(),
            r.ctrunc()
        );
        let rights = r
            .order
            .iter()
            .filter(|o| **o == (libc::SOL_SOCKET, libc::SCM_RIGHTS))
            .count();
        Ok(Outcome::pass(format!(
            "{how}: accepted, all {total} installed, no MSG_CTRUNC, delivered as {rights} SCM_RIGHTS message(s)"
        )))
    } else {
        match sent {
            Ok(n) => Err(format!(
                "{how}: sendmsg accepted it ({n} bytes; then {after})"
            )),
            Err(e) => {
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
        }
    }
}

fn bad_descriptor(k: SocketKind) -> CaseResult {
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
        (Ok(n), _) => Err(format!(
            "a send with an unopened descriptor succeeded ({n} bytes), then {after}"
        )),
        (_, Ok(n)) => Err(format!(
            "a send with descriptor -1 succeeded ({n} bytes), then {after_neg}"
        )),
    }
}

/// What the kernel's `scm_detach_fds` arithmetic predicts for `n`
/// descriptors and a control buffer of `len` bytes: installed count,
/// `MSG_CTRUNC`, and the resulting `msg_controllen`.
fn predicted(n: usize, len: usize) -> (usize, bool, usize) {
    let room = if len > HDR { (len - HDR) / 4 } else { 0 };
    let k = room.min(n);
    let used = if k > 0 { cmsg_space(4 * k).min(len) } else { 0 };
    (k, k < n, used)
}

fn ctrunc_arithmetic(k: SocketKind, n: usize, s: &Settings) -> CaseResult {
    let top = cmsg_space(4 * n);
    let mut steps = Vec::new();
    let mut last = usize::MAX;
    for len in 0..=top {
        let pipes: Vec<(OwnedFd, OwnedFd)> = (0..n)
            .map(|_| sys::pipe())
            .collect::<Result<_, _>>()
            .ctx("pipe")?;
        let (a, b) = pair(k)?;
        let writers: Vec<RawFd> = pipes.iter().map(|p| p.1.as_raw_fd()).collect();
        send(&a, b"t", &writers).ctx("sendmsg")?;
        let readers: Vec<OwnedFd> = pipes.into_iter().map(|(r, _w)| r).collect();
        let (bytes, r) = recv(&b, 16, Some(len), 0).ctx("recvmsg")?;
        let (want, want_trunc, want_len) = predicted(n, len);
        ensure!(
            (r.fds.len(), r.ctrunc(), r.controllen) == (want, want_trunc, want_len),
            "control buffer of {len} bytes: got {} descriptor(s), MSG_CTRUNC {}, msg_controllen {}; expected {want}, {want_trunc}, {want_len}",
            r.fds.len(),
            r.ctrunc(),
            r.controllen
        );
        ensure!(
            bytes == b"t",
            "payload {bytes:?} with a {len}-byte control buffer"
        );
        for (i, got) in r.fds.iter().enumerate() {
            let (x, y) = (
                file_id(got.as_fd()).ctx("fstat")?,
                file_id(readers[i].as_fd()).ctx("fstat")?,
            );
            ensure!(
                x.ino == y.ino,
                "buffer {len}: descriptor #{i} is not pipe #{i}'s write end ({x} vs {y})"
            );
        }
        // The discarded descriptors must have been released by the kernel.
        for (i, rd) in readers.iter().enumerate().skip(want) {
            ensure!(
                hung_up(rd, s.timeout.min(Duration::from_secs(2))),
                "buffer {len}: pipe #{i}'s write end was discarded but not released (no EOF on its read end)"
            );
        }
        ensure!(
            queue_state(&b) == "nothing queued" || k == SocketKind::Stream,
            "buffer {len}: message still queued"
        );
        if want != last {
            steps.push(format!("{len}→{want}"));
            last = want;
        }
    }
    Ok(Outcome::pass(format!(
        "{} buffer sizes 0..={top}: installed = min({n}, (len-{HDR})/4) [len→count {}], MSG_CTRUNC iff fewer, msg_controllen = min(len, CMSG_SPACE); discarded write ends released (pipe EOF), nothing leaked",
        top + 1,
        steps.join(" ")
    )))
}

fn no_control_buffer(k: SocketKind, s: &Settings) -> CaseResult {
    let (r1, w1) = sys::pipe().ctx("pipe")?;
    let (r2, w2) = sys::pipe().ctx("pipe")?;
    let (a, b) = pair(k)?;
    send(&a, b"hi", &raws(&[&w1, &w2])).ctx("sendmsg")?;
    drop((w1, w2));
    let (bytes, r) = recv(&b, 16, None, 0).ctx("recvmsg")?;
    ensure!(bytes == b"hi", "payload {bytes:?}");
    ensure!(
        r.fds.is_empty() && r.ctrunc(),
        "{} descriptors, MSG_CTRUNC {}",
        r.fds.len(),
        r.ctrunc()
    );
    let wait = s.timeout.min(Duration::from_secs(2));
    ensure!(
        hung_up(&r1, wait) && hung_up(&r2, wait),
        "the discarded write ends were not released (no pipe EOF)"
    );
    Ok(Outcome::pass(
        "msg_control NULL: payload \"hi\" delivered, MSG_CTRUNC set, both descriptors discarded and released (pipe EOF)",
    ))
}

fn rlimit_nofile(s: &Settings) -> CaseResult {
    let exe = std::env::current_exe().ctx("current_exe")?;
    let mut child = std::process::Command::new(exe)
        .args(["__child", "rlimit"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .ctx("starting the child")?;
    let end = Instant::now() + s.timeout;
    while child.try_wait().ctx("wait")?.is_none() {
        if Instant::now() > end {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("the child did not finish within {:?}", s.timeout));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let out = child.wait_with_output().ctx("child output")?;
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
        return Err(format!(
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

fn stream_record_boundary() -> CaseResult {
    let fx = three()?;
    let (a, b) = pair(SocketKind::Stream)?;
    send(&a, b"ab", &[fx[0].fd.as_raw_fd()]).ctx("sendmsg 1")?;
    send(&a, b"cd", &[fx[1].fd.as_raw_fd()]).ctx("sendmsg 2")?;
    let (p1, r1) = recv(&b, 64, Some(BIG), 0).ctx("recvmsg 1")?;
    let (p2, r2) = recv(&b, 64, Some(BIG), 0).ctx("recvmsg 2")?;
    ensure!(
        p1 == b"ab" && r1.fds.len() == 1 && p2 == b"cd" && r2.fds.len() == 1,
        "two writes with descriptors read as {:?}+{} fd and {:?}+{} fd: a receive merged them",
        String::from_utf8_lossy(&p1),
        r1.fds.len(),
        String::from_utf8_lossy(&p2),
        r2.fds.len()
    );
    // Observation: a write without descriptors, then one with.
    send(&a, b"ef", &[]).ctx("sendmsg 3")?;
    send(&a, b"gh", &[fx[2].fd.as_raw_fd()]).ctx("sendmsg 4")?;
    let (p3, r3) = recv(&b, 64, Some(BIG), 0).ctx("recvmsg 3")?;
    let rest = recv(&b, 64, Some(BIG), 0).map(|(p, r)| (p, r.fds.len()));
    let note = match rest {
        Ok((p4, n4)) => format!(
            "\"ef\" (no fd) then \"gh\"+fd read as {:?}+{} fd, then {:?}+{} fd",
            String::from_utf8_lossy(&p3),
            r3.fds.len(),
            String::from_utf8_lossy(&p4),
            n4
        ),
        Err(_) => format!(
            "\"ef\" (no fd) then \"gh\"+fd read as one {:?}+{} fd",
            String::from_utf8_lossy(&p3),
            r3.fds.len()
        ),
    };
    Ok(Outcome::pass(format!(
        "\"ab\"+fd then \"cd\"+fd read as two receives, one descriptor each (a receive stops after descriptors); observed: {note}"
    )))
}

fn empty_payload(k: SocketKind, s: &Settings) -> CaseResult {
    let (r, w) = sys::pipe().ctx("pipe")?;
    let (a, b) = pair(k)?;
    let sent = send(&a, b"", &[w.as_raw_fd()]);
    drop(w);
    let wait = s.timeout.min(Duration::from_secs(2));
    if k == SocketKind::Stream {
        let n = sent.ctx("sendmsg of 0 bytes with a descriptor")?;
        let q = queue_state(&b);
        ensure!(q == "nothing queued", "sendmsg returned {n}, then {q}");
        ensure!(
            hung_up(&r, wait),
            "the descriptor was neither delivered nor released"
        );
        return Ok(Outcome::pass(format!(
            "stream: sendmsg of 0 bytes with a descriptor returned {n} and queued nothing: the descriptor was silently dropped (released: pipe EOF)"
        )));
    }
    let n = sent.ctx("sendmsg of 0 bytes with a descriptor")?;
    let (bytes, got) = recv(&b, 16, Some(BIG), 0).ctx("recvmsg")?;
    ensure!(
        bytes.is_empty() && got.fds.len() == 1,
        "{k}: received {} bytes and {} descriptors",
        bytes.len(),
        got.fds.len()
    );
    let (x, y) = (
        file_id(got.fds[0].as_fd()).ctx("fstat")?,
        file_id(r.as_fd()).ctx("fstat")?,
    );
    ensure!(x.ino == y.ino, "received descriptor is not the pipe");
    Ok(Outcome::pass(format!(
        "{k}: sendmsg returned {n}; recvmsg returned 0 bytes with the descriptor (0 bytes is not end of file here)"
    )))
}

fn payload_truncation(k: SocketKind) -> CaseResult {
    let fx = FdKind::DevNull.open().ctx("/dev/null")?;
    let (a, b) = pair(k)?;
    let msg: Vec<u8> = (0..100u8).collect();
    send(&a, &msg, &[fx.fd.as_raw_fd()]).ctx("sendmsg")?;
    let (bytes, r) = recv(&b, 10, Some(BIG), 0).ctx("recvmsg")?;
    ensure!(
        r.trunc(),
        "{k}: 100 bytes into a 10-byte buffer without MSG_TRUNC"
    );
    ensure!(bytes == msg[..10], "{k}: got {:?}", bytes);
    ensure!(
        r.fds.len() == 1,
        "{k}: descriptors lost with the truncated payload ({} arrived)",
        r.fds.len()
    );
    ensure!(
        same_file(fx.as_fd(), r.fds[0].as_fd()) != Sameness::Different,
        "wrong descriptor"
    );
    let q = queue_state(&b);
    ensure!(
        q == "nothing queued",
        "{k}: after the truncated message: {q}"
    );
    Ok(Outcome::pass(format!(
        "{k}: 100 bytes into 10: MSG_TRUNC, 10 bytes, the descriptor delivered; the tail discarded (nothing queued)"
    )))
}

fn partial_read_stream() -> CaseResult {
    let fx = FdKind::DevNull.open().ctx("/dev/null")?;
    let (a, b) = pair(SocketKind::Stream)?;
    let msg: Vec<u8> = (0..100u8).collect();
    send(&a, &msg, &[fx.fd.as_raw_fd()]).ctx("sendmsg")?;
    let (p1, r1) = recv(&b, 10, Some(BIG), 0).ctx("recvmsg")?;
    let (p2, r2) = recv(&b, 200, Some(BIG), 0).ctx("recvmsg")?;
    ensure!(
        p1 == msg[..10] && r1.fds.len() == 1 && !r1.trunc() && p2 == msg[10..] && r2.fds.is_empty(),
        "10 then 200: {}+{} fd (MSG_TRUNC {}), {}+{} fd",
        p1.len(),
        r1.fds.len(),
        r1.trunc(),
        p2.len(),
        r2.fds.len()
    );
    Ok(Outcome::pass(
        "stream: 100 bytes read as 10 (with the descriptor, no MSG_TRUNC) and 90 (none): nothing lost",
    ))
}

fn msg_peek(k: SocketKind) -> CaseResult {
    let fx = FdKind::File.open().ctx("file")?;
    let (a, b) = pair(k)?;
    send(&a, b"pk", &[fx.fd.as_raw_fd()]).ctx("sendmsg")?;
    let (_, p1) = recv(&b, 16, Some(BIG), libc::MSG_PEEK).ctx("peek 1")?;
    let (_, p2) = recv(&b, 16, Some(BIG), libc::MSG_PEEK).ctx("peek 2")?;
    let (_, r) = recv(&b, 16, Some(BIG), 0).ctx("recvmsg")?;
    ensure!(
        p1.fds.len() == 1 && p2.fds.len() == 1 && r.fds.len() == 1,
        "peek, peek, receive: {}, {}, {} descriptors",
        p1.fds.len(),
        p2.fds.len(),
        r.fds.len()
    );
    let nums = [
        p1.fds[0].as_raw_fd(),
        p2.fds[0].as_raw_fd(),
        r.fds[0].as_raw_fd(),
    ];
    ensure!(
        nums[0] != nums[1] && nums[1] != nums[2] && nums[0] != nums[2],
        "numbers {nums:?} repeat"
    );
    for f in [&p1.fds[0], &p2.fds[0], &r.fds[0]] {
        ensure!(
            same_file(fx.as_fd(), f.as_fd()) != Sameness::Different,
            "a peeked descriptor is another file"
        );
    }
    Ok(Outcome::pass(format!(
        "peek, peek, receive installed fds {nums:?}: a new duplicate each time (each must be closed)"
    )))
}

/// A stream peek whose buffer fills before a later write that carries
/// descriptors: Linux's `unix_stream_read_generic` walks on in 0-byte steps
/// and duplicates that write's descriptors into the peek, although none of
/// its bytes were copied; a plain read of the same size gets none. Reported
/// either way (a peer that peeks to size a buffer must expect it); a failure
/// is only a plain read that crosses the boundary, or a wrong file.
fn peek_lookahead_stream() -> CaseResult {
    let fx = FdKind::File.open().ctx("file")?;
    let (a, b) = pair(SocketKind::Stream)?;
    send(&a, b"aaaa", &[]).ctx("sendmsg 1")?;
    send(&a, b"bbbb", &[fx.fd.as_raw_fd()]).ctx("sendmsg 2")?;
    let (pb, p) = recv(&b, 2, Some(BIG), libc::MSG_PEEK).ctx("peek")?;
    let (rb, r) = recv(&b, 2, Some(BIG), 0).ctx("recvmsg")?;
    ensure!(
        r.fds.is_empty(),
        "a 2-byte read of the first (descriptor-less) write returned {} descriptor(s) of the second",
        r.fds.len()
    );
    for f in &p.fds {
        ensure!(
            same_file(fx.as_fd(), f.as_fd()) != Sameness::Different,
            "the peeked descriptor is another file"
        );
    }
    let what = if p.fds.is_empty() {
        "no descriptor (the peek stopped with the buffer)"
    } else {
        "the second write's descriptor (the peek looked ahead past a full buffer)"
    };
    Ok(Outcome::pass(format!(
        "writes \"aaaa\" and \"bbbb\"+fd; a 2-byte MSG_PEEK returned {:?} with {what}; a 2-byte read returned {:?} with none",
        String::from_utf8_lossy(&pb),
        String::from_utf8_lossy(&rb)
    )))
}

fn queued_after_close(k: SocketKind) -> CaseResult {
    let fx = three()?;
    let (a, b) = pair(k)?;
    send(&a, b"q1", &[fx[0].fd.as_raw_fd(), fx[1].fd.as_raw_fd()]).ctx("sendmsg 1")?;
    send(&a, b"q2", &[fx[2].fd.as_raw_fd()]).ctx("sendmsg 2")?;
    drop(a);
    let (p1, r1) = recv(&b, 16, Some(BIG), 0).ctx("recvmsg 1")?;
    let (p2, r2) = recv(&b, 16, Some(BIG), 0).ctx("recvmsg 2")?;
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
            same_file(f.as_fd(), g.as_fd()) != Sameness::Different,
            "wrong descriptor after close"
        );
    }
    let tail = queue_state(&b);
    Ok(Outcome::pass(format!(
        "sender's socket closed with 2 messages queued: both received with their 3 descriptors; then {tail}"
    )))
}

fn passcred(k: SocketKind) -> CaseResult {
    let fx = three()?;
    let (a, b) = pair(k)?;
    inflight::set_pass_credentials(&b, true).ctx("SO_PASSCRED")?;
    let fds = [fx[0].fd.as_raw_fd(), fx[1].fd.as_raw_fd()];
    send(&a, b"c", &fds).ctx("sendmsg")?;
    let (_, r) = recv(&b, 16, Some(BIG), 0).ctx("recvmsg")?;
    let order: Vec<String> = r.order.iter().map(|&(l, t)| sys::cmsg_name(l, t)).collect();
    ensure!(
        r.fds.len() == 2 && !r.ctrunc(),
        "with room for all: {} descriptors, MSG_CTRUNC {}",
        r.fds.len(),
        r.ctrunc()
    );
    let me = Credentials::current();
    ensure!(
        r.creds == Some(me),
        "credentials {:?}, expected {me:?}",
        r.creds
    );
    // A buffer sized for the rights alone, as many callers size it.
    send(&a, b"c", &fds).ctx("sendmsg")?;
    let small = cmsg_space(8);
    let (_, r2) = recv(&b, 16, Some(small), 0).ctx("recvmsg")?;
    let order2: Vec<String> = r2
        .order
        .iter()
        .map(|&(l, t)| sys::cmsg_name(l, t))
        .collect();
    ensure!(
        r2.fds.len() == 2 || r2.ctrunc(),
        "buffer CMSG_SPACE(8): {} descriptors without MSG_CTRUNC",
        r2.fds.len()
    );
    Ok(Outcome::pass(format!(
        "SO_PASSCRED on: order [{}], credentials pid {} uid {} gid {}; with a buffer of CMSG_SPACE(2 fds) = {small} bytes: [{}], {} of 2 descriptors, MSG_CTRUNC {}",
        order.join(", "),
        me.pid,
        me.uid,
        me.gid,
        order2.join(", "),
        r2.fds.len(),
        r2.ctrunc()
    )))
}

fn pidfd(k: SocketKind) -> CaseResult {
    let fx = FdKind::DevNull.open().ctx("/dev/null")?;
    let (a, b) = pair(k)?;
    match inflight::set_pass_pidfd(&b, true) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::Unsupported => {
            return Ok(Outcome::skip(format!(
                "SO_PASSPIDFD is unknown to this kernel ({e}); SCM_PIDFD needs Linux 6.5+"
            )))
        }
        Err(e) => return Err(format!("SO_PASSPIDFD: {e}")),
    }
    send(&a, b"p", &[fx.fd.as_raw_fd()]).ctx("sendmsg")?;
    let (_, r) = recv(&b, 16, Some(BIG), 0).ctx("recvmsg")?;
    let order: Vec<String> = r.order.iter().map(|&(l, t)| sys::cmsg_name(l, t)).collect();
    ensure!(
        r.fds.len() == 1,
        "{} descriptors beside the pidfd ({order:?})",
        r.fds.len()
    );
    let Some(p) = &r.pidfd else {
        return Err(format!(
            "SO_PASSPIDFD accepted but no SCM_PIDFD arrived ({order:?})"
        ));
    };
    let info =
        std::fs::read_to_string(format!("/proc/self/fdinfo/{}", p.as_raw_fd())).ctx("fdinfo")?;
    let pid = info
        .lines()
        .find_map(|l| l.strip_prefix("Pid:"))
        .map(|v| v.trim().to_string())
        .unwrap_or_default();
    ensure!(
        pid == std::process::id().to_string(),
        "the SCM_PIDFD refers to pid {pid:?}, the sender is {}",
        std::process::id()
    );
    let cloexec = is_cloexec(p.as_fd()).unwrap_or(false);
    Ok(Outcome::pass(format!(
        "SCM_PIDFD arrived beside the descriptor: order [{}], pidfd of pid {pid} (the sender), FD_CLOEXEC {cloexec}",
        order.join(", ")
    )))
}

fn gc_cycle(s: &Settings) -> CaseResult {
    let (r, w) = sys::pipe().ctx("pipe")?;
    let (a, b) = pair(SocketKind::Stream)?;
    // a travels to b's queue, b to a's queue, and the pipe's write end with
    // a: once both ends are closed, only the cycle holds them.
    send(&a, b"a", &[a.as_raw_fd(), w.as_raw_fd()]).ctx("sendmsg a over a")?;
    send(&b, b"b", &[b.as_raw_fd()]).ctx("sendmsg b over b")?;
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
            return Err(format!(
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

fn passrights(k: SocketKind) -> CaseResult {
    let fx = FdKind::DevNull.open().ctx("/dev/null")?;
    let (a, b) = pair(k)?;
    match inflight::set_pass_rights(&b, false) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::Unsupported => {
            return Ok(Outcome::skip(format!(
                "SO_PASSRIGHTS is unknown to this kernel ({e}); it appeared in Linux 6.16"
            )))
        }
        Err(e) => return Err(format!("SO_PASSRIGHTS: {e}")),
    }
    let refused = send(&a, b"r", &[fx.fd.as_raw_fd()]);
    let q = queue_state(&b);
    let plain = send(&a, b"plain", &[]);
    let q2 = queue_state(&b);
    inflight::set_pass_rights(&b, true).ctx("SO_PASSRIGHTS on")?;
    send(&a, b"r", &[fx.fd.as_raw_fd()]).ctx("sendmsg after SO_PASSRIGHTS on")?;
    let (_, back) = recv(&b, 16, Some(BIG), 0).ctx("recvmsg")?;
    let e = match refused {
        Ok(n) => {
            return Err(format!(
                "SO_PASSRIGHTS off: a send with a descriptor succeeded ({n} bytes), then {q}"
            ))
        }
        Err(e) => e,
    };
    ensure!(
        q == "nothing queued",
        "SO_PASSRIGHTS off: refused with {} but then {q}",
        errno_name(&e)
    );
    ensure!(
        plain.is_ok() && q2.starts_with("a message of 5"),
        "a payload-only send: {plain:?}, then {q2}"
    );
    ensure!(
        back.fds.len() == 1,
        "after SO_PASSRIGHTS back on: {} descriptors",
        back.fds.len()
    );
    Ok(Outcome::pass(format!(
        "receiver with SO_PASSRIGHTS off: sendmsg with a descriptor failed with {}, nothing queued; payload-only still delivered; back on: delivered",
        errno_name(&e)
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
            eprintln!("{e}");
            1
        }
    }
}

fn rlimit_child_inner() -> Result<String, String> {
    const SENT: usize = 8;
    const ROOM: usize = 3;
    let (a, b) = pair(SocketKind::Datagram)?;
    let pipes: Vec<(OwnedFd, OwnedFd)> = (0..SENT)
        .map(|_| sys::pipe())
        .collect::<Result<_, _>>()
        .ctx("pipe")?;
    let writers: Vec<RawFd> = pipes.iter().map(|p| p.1.as_raw_fd()).collect();
    send(&a, b"r", &writers).ctx("sendmsg")?;
    let readers: Vec<OwnedFd> = pipes.into_iter().map(|(r, _)| r).collect();
    // Choose a limit with exactly ROOM free descriptor numbers below it.
    let open = FdSnapshot::take().ctx("/proc/self/fd")?;
    let mut free = 0;
    let mut limit = 0;
    while free < ROOM {
        if !open.contains(limit as RawFd) {
            free += 1;
        }
        limit += 1;
    }
    let (soft, hard) = sys::nofile_limit().ctx("getrlimit")?;
    sys::set_nofile_limit(limit as u64, hard).ctx("setrlimit")?;
    let got = recv(&b, 16, Some(BIG), 0);
    sys::set_nofile_limit(soft, hard).ctx("setrlimit (restore)")?;
    let (_, r) = got.ctx("recvmsg at the limit")?;
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
