//! Running a [`CasePlan`] over a real socket pair: the sender sends every
//! message in a row, the receiver takes them back message by message
//! (re-assembling stream bytes and checking the stream barrier on the way).

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::Duration;

use inflight::{Error, ErrorKind, Received, RecvOptions, SendOptions, SocketKind};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use crate::fds::Opened;
use crate::harness::count_ops;
use crate::plan::{CasePlan, MessagePlan};

/// How long a blocked step may wait before the case fails instead of
/// hanging.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(20);

/// A connected pair: `sender` sends, `receiver` receives.
#[derive(Debug)]
pub struct Pair {
    /// The sending end.
    pub sender: OwnedFd,
    /// The receiving end.
    pub receiver: OwnedFd,
}

impl Pair {
    /// A socket pair of `kind`, with a send timeout so that a failing
    /// receiver cannot hang a blocked sender.
    ///
    /// # Errors
    ///
    /// The system call that failed.
    pub fn new(kind: SocketKind) -> std::io::Result<Self> {
        let (sender, receiver) = inflight::socketpair(kind)?;
        let tv = nix::sys::time::TimeVal::new(STEP_TIMEOUT.as_secs() as i64, 0);
        nix::sys::socket::setsockopt(&sender, nix::sys::socket::sockopt::SendTimeout, &tv)?;
        nix::sys::socket::setsockopt(&receiver, nix::sys::socket::sockopt::ReceiveTimeout, &tv)?;
        Ok(Pair { sender, receiver })
    }
}

fn wait_for(fd: BorrowedFd<'_>, flags: PollFlags) -> Result<(), String> {
    let mut fds = [PollFd::new(fd, flags)];
    let ms = u16::try_from(STEP_TIMEOUT.as_millis()).unwrap_or(u16::MAX);
    let timeout = PollTimeout::from(ms);
    match poll(&mut fds, timeout) {
        Ok(0) => Err(format!("timed out waiting for {flags:?}")),
        Ok(_) => Ok(()),
        Err(e) => Err(format!("poll: {e}")),
    }
}

/// Sends `payload` with `fds` in one `sendmsg`, then (on a stream socket,
/// after a short write) the rest of the payload without descriptors.
/// Non-blocking sends wait with `poll` after `WouldBlock`.
///
/// # Errors
///
/// The first send error, or a poll timeout.
pub fn send_message(
    sock: BorrowedFd<'_>,
    payload: &[u8],
    fds: &[BorrowedFd<'_>],
    nonblocking: bool,
) -> Result<(), String> {
    let opts = SendOptions::new().nonblocking(nonblocking);
    let mut sent = 0;
    let mut first = true;
    while first || sent < payload.len() {
        let with = if first { fds } else { &[][..] };
        count_ops(1);
        match inflight::send_with(&sock, &[IoSlice::new(&payload[sent..])], with, &opts) {
            Ok(n) => {
                sent += n;
                first = false;
            }
            Err(e) if e.is_would_block() => wait_for(sock, PollFlags::POLLOUT)?,
            Err(e) => return Err(format!("send: {e}")),
        }
    }
    Ok(())
}

/// One receive with `capacity` descriptors into `buf`, retrying after
/// `poll` when non-blocking and nothing is queued yet.
///
/// # Errors
///
/// The receive error (truncation kinds carry their descriptors), or an
/// `Io` error for a poll timeout.
pub fn recv_message(
    sock: BorrowedFd<'_>,
    buf: &mut [u8],
    capacity: usize,
    opts: &RecvOptions,
    nonblocking: bool,
) -> Result<Received<Vec<OwnedFd>>, Error> {
    let opts = opts.nonblocking(nonblocking);
    loop {
        count_ops(1);
        match inflight::recv_vec_with(&sock, &mut [IoSliceMut::new(buf)], capacity, &opts) {
            Err(e) if e.is_would_block() => {
                wait_for(sock, PollFlags::POLLIN).map_err(|m| {
                    Error::from(std::io::Error::new(std::io::ErrorKind::TimedOut, m))
                })?;
            }
            other => return other,
        }
    }
}

/// The descriptors of `m`, borrowed from the pool.
pub fn borrow_fds<'a>(
    m: &MessagePlan,
    pool: &'a [Opened],
    sender: BorrowedFd<'a>,
) -> Vec<BorrowedFd<'a>> {
    m.fds.iter().map(|&i| pool[i].fd(sender)).collect()
}

/// Sends every message of `plan` in order.
///
/// # Errors
///
/// Which message failed and why.
pub fn send_plan(plan: &CasePlan, pool: &[Opened], sender: BorrowedFd<'_>) -> Result<(), String> {
    for (i, m) in plan.messages.iter().enumerate() {
        let fds = borrow_fds(m, pool, sender);
        send_message(sender, &m.payload(), &fds, plan.send_nonblocking)
            .map_err(|e| format!("message {i}: {e}"))?;
    }
    Ok(())
}

/// `(pid, uid, gid)`, as `SCM_CREDENTIALS` carries them.
pub type Ids = (libc::pid_t, libc::uid_t, libc::gid_t);

/// What the receiver got for one message.
#[derive(Debug)]
pub struct Delivered {
    /// The payload bytes (re-assembled on a stream socket).
    pub payload: Vec<u8>,
    /// The descriptors, in arrival order.
    pub fds: Vec<OwnedFd>,
    /// The credentials of the receive that returned the message's first
    /// byte (`SO_PASSCRED`).
    pub credentials: Option<Ids>,
    /// The process a pidfd of that receive names (`SO_PASSPIDFD`; the
    /// pidfd itself is closed).
    pub pidfd_pid: Option<i32>,
}

impl Delivered {
    fn empty(capacity: usize) -> Self {
        Delivered {
            payload: Vec::with_capacity(capacity),
            fds: Vec::new(),
            credentials: None,
            pidfd_pid: None,
        }
    }
}

/// The `Pid:` a pidfd's `/proc/self/fdinfo` entry names.
///
/// # Errors
///
/// When the entry cannot be read or has no `Pid:` line (not a pidfd).
pub fn pidfd_pid(fd: BorrowedFd<'_>) -> Result<i32, String> {
    use std::os::fd::AsRawFd;
    let path = format!("/proc/self/fdinfo/{}", fd.as_raw_fd());
    let info = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    info.lines()
        .find_map(|l| l.strip_prefix("Pid:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| format!("{path} has no Pid: line (not a pidfd?)"))
}

/// `(pid, uid, gid)` of received credentials, and the process of a
/// received pidfd.
fn extras(r: &Received<Vec<OwnedFd>>) -> Result<(Option<Ids>, Option<i32>), String> {
    let creds = r.credentials.map(|c| (c.pid, c.uid, c.gid));
    let pid = r.pidfd.as_ref().map(|p| pidfd_pid(p.as_fd())).transpose()?;
    Ok((creds, pid))
}

/// Receives every message of `plan` (capacities at or above the counts).
/// On a stream socket, bytes are re-assembled by offset and each receive's
/// descriptors are attributed to the message whose first byte it carried;
/// a receive that carries descriptors without the first byte of a
/// descriptor-carrying message, or the first bytes of two of them, fails.
///
/// # Errors
///
/// A description of the first receive that went wrong.
pub fn recv_plan(plan: &CasePlan, receiver: BorrowedFd<'_>) -> Result<Vec<Delivered>, String> {
    let mut out: Vec<Delivered> = plan
        .messages
        .iter()
        .map(|m| Delivered::empty(m.payload_len))
        .collect();
    if plan.kind != SocketKind::Stream {
        for (i, m) in plan.messages.iter().enumerate() {
            let mut buf = vec![0u8; m.payload_len + 16];
            let opts = RecvOptions::new().cloexec(m.cloexec);
            let r = recv_message(
                receiver,
                &mut buf,
                m.capacity(),
                &opts,
                plan.recv_nonblocking,
            )
            .map_err(|e| format!("message {i}: receive failed: {e} ({e:?})"))?;
            buf.truncate(r.bytes);
            let (credentials, pidfd_pid) = extras(&r).map_err(|e| format!("message {i}: {e}"))?;
            out[i] = Delivered {
                payload: buf,
                fds: r.fds,
                credentials,
                pidfd_pid,
            };
        }
        return Ok(out);
    }
    let starts: Vec<usize> = plan
        .messages
        .iter()
        .scan(0, |acc, m| {
            let s = *acc;
            *acc += m.payload_len;
            Some(s)
        })
        .collect();
    let total: usize = plan.messages.iter().map(|m| m.payload_len).sum();
    let mut pos = 0;
    let mut buf = vec![0u8; 64 * 1024];
    while pos < total {
        // The next descriptor-carrying message that has not started yet
        // decides capacity and CLOEXEC: only it can deliver descriptors now.
        let next = (0..plan.messages.len())
            .find(|&j| starts[j] >= pos && !plan.messages[j].fds.is_empty());
        let (cap, cloexec) = next.map_or((0, true), |j| {
            (plan.messages[j].capacity(), plan.messages[j].cloexec)
        });
        let want = (total - pos).min(buf.len());
        let opts = RecvOptions::new().cloexec(cloexec);
        let r = recv_message(
            receiver,
            &mut buf[..want],
            cap,
            &opts,
            plan.recv_nonblocking,
        )
        .map_err(|e| format!("stream bytes {pos}..: receive failed: {e} ({e:?})"))?;
        if r.bytes == 0 {
            return Err(format!("stream: end of stream at {pos} of {total} bytes"));
        }
        let range = pos..pos + r.bytes;
        let (credentials, pidfd_pid) =
            extras(&r).map_err(|e| format!("stream bytes {range:?}: {e}"))?;
        // Copy the bytes into the messages they belong to.
        for (j, m) in plan.messages.iter().enumerate() {
            if range.contains(&starts[j]) {
                out[j].credentials = credentials;
                out[j].pidfd_pid = pidfd_pid;
            }
            let (s, e) = (starts[j], starts[j] + m.payload_len);
            let lo = s.max(range.start);
            let hi = e.min(range.end);
            if lo < hi {
                out[j]
                    .payload
                    .extend_from_slice(&buf[lo - range.start..hi - range.start]);
            }
        }
        let carrying: Vec<usize> = (0..plan.messages.len())
            .filter(|&j| range.contains(&starts[j]) && !plan.messages[j].fds.is_empty())
            .collect();
        match (carrying.as_slice(), r.fds.is_empty()) {
            ([], true) => {}
            ([j], _) => {
                if r.fds.len() != plan.messages[*j].fds.len() {
                    return Err(format!(
                        "stream bytes {range:?}: {} fd(s) arrived with the first byte of message {j}, which carried {}",
                        r.fds.len(),
                        plan.messages[*j].fds.len()
                    ));
                }
                out[*j].fds = r.fds;
            }
            ([], false) => {
                return Err(format!(
                    "stream bytes {range:?}: {} fd(s) arrived without the first byte of the write that carried them",
                    r.fds.len()
                ))
            }
            (many, _) => {
                return Err(format!(
                    "stream bytes {range:?}: one receive returned the first bytes of the descriptor-carrying messages {many:?} (the barrier failed)"
                ))
            }
        }
        pos = range.end;
    }
    Ok(out)
}

/// Sends `plan` from a scoped thread while this thread receives it (so that
/// payloads larger than the socket buffers flow). The sender thread opens
/// and closes no descriptor.
///
/// # Errors
///
/// The sender's or the receiver's failure.
pub fn exchange(plan: &CasePlan, pool: &[Opened], pair: &Pair) -> Result<Vec<Delivered>, String> {
    std::thread::scope(|s| {
        let sender = pair.sender.as_fd();
        let h = s.spawn(move || send_plan(plan, pool, sender));
        let got = recv_plan(plan, pair.receiver.as_fd());
        if got.is_err() {
            // Unblock a sender waiting for room: shutting the receiver down
            // is not enough for a datagram sender blocked on its send
            // buffer; shutting the sender down wakes it (EPIPE).
            for end in [&pair.receiver, &pair.sender] {
                let _ = nix::sys::socket::shutdown(
                    std::os::fd::AsRawFd::as_raw_fd(end),
                    nix::sys::socket::Shutdown::Both,
                );
            }
        }
        let sent = h
            .join()
            .unwrap_or_else(|_| Err("the sender thread panicked".into()));
        let got = got?;
        sent?;
        Ok(got)
    })
}

/// Whether `e` is a truncation error kind.
pub fn is_truncation(e: &Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::ControlBufferFull | ErrorKind::ReceiverLimit | ErrorKind::PayloadTruncated
    )
}
