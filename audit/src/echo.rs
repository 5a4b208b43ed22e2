//! inflight's own echo program (see `PROTOCOL.md`), and deliberately broken
//! variants of it that the auditor's tests must catch.

use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use inflight::ErrorKind;

/// Deliberate protocol violations (hidden `--break MODE`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Break {
    /// Reopens each received descriptor by path (`/proc/self/fd/N`) and
    /// echoes the new one: same file, different open file description.
    Reopen,
    /// Echoes correctly but never closes its received copies.
    Leak,
    /// Echoes the descriptors in reverse order.
    Reverse,
    /// Drops the last descriptor of each message.
    Drop,
    /// Echoes all but the last payload byte of every message after the
    /// first (the auditor's start-up exchange passes).
    Truncate,
    /// Echoes correctly, but at the end of input sends an unasked message
    /// of [`UNSOLICITED`] bytes before exiting with status 0.
    Unsolicited,
}

/// The length of the message `--break unsolicited` sends at the end:
/// longer than any buffer a careless check would read it with.
pub const UNSOLICITED: usize = 4096;

/// Runs the echo loop on the socket the protocol hands over; returns the
/// process exit status.
pub fn run(brk: Option<Break>) -> i32 {
    match serve(brk) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("inflight-audit echo: {e}");
            1
        }
    }
}

/// The socket the protocol hands over (`INFLIGHT_ECHO_FD`, default 3), once
/// it is known to be an open socket; `None` (with a message) otherwise.
fn socket_from_env() -> Option<OwnedFd> {
    let fd: RawFd = std::env::var("INFLIGHT_ECHO_FD")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    // The descriptor must be an open socket before we take ownership of it.
    let probe = {
        // SAFETY: borrow_raw needs `fd` open for the borrow's lifetime; fcntl
        // below only reads its flags and the borrow ends before any close.
        let b = unsafe { BorrowedFd::borrow_raw(fd) };
        inflight::socket_kind(&b)
    };
    if let Err(e) = probe {
        eprintln!(
            "inflight-audit echo: descriptor {fd} (INFLIGHT_ECHO_FD) is not a usable socket: {e}"
        );
        return None;
    }
    // SAFETY: from_raw_fd needs an open descriptor owned by nobody else:
    // the protocol hands descriptor INFLIGHT_ECHO_FD to this process for its
    // sole use, and it was just checked to be an open socket.
    Some(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The exit status for a receive that failed: 3 for truncation (the
/// protocol's answer), 1 for anything else.
fn receive_failed(kind: &str, e: &inflight::Error) -> i32 {
    match e.kind() {
        ErrorKind::ControlBufferFull | ErrorKind::ReceiverLimit => {
            eprintln!("inflight-audit echo ({kind}): MSG_CTRUNC: {e}");
            3
        }
        ErrorKind::PayloadTruncated => {
            eprintln!("inflight-audit echo ({kind}): MSG_TRUNC: {e}");
            3
        }
        _ => {
            eprintln!("inflight-audit echo ({kind}): recvmsg: {e}");
            1
        }
    }
}

/// Applies a deliberate violation to message number `nth` (from 0) about
/// to be echoed: its descriptors and its payload length.
fn misbehave(
    brk: Option<Break>,
    nth: usize,
    fds: Vec<OwnedFd>,
    len: usize,
) -> (Vec<OwnedFd>, usize) {
    let mut fds = fds;
    let mut len = len;
    match brk {
        Some(Break::Reopen) => fds = fds.into_iter().map(reopen).collect(),
        Some(Break::Reverse) => fds.reverse(),
        Some(Break::Drop) => {
            fds.pop();
        }
        Some(Break::Truncate) if nth > 0 && len > 1 => len -= 1,
        _ => {}
    }
    (fds, len)
}

/// Sends `payload` and `fds` back: the descriptors with the first write
/// (a stream socket may take a large payload in several).
fn echo(sock: &OwnedFd, payload: &[u8], fds: &[OwnedFd]) -> std::io::Result<()> {
    let borrowed: Vec<BorrowedFd<'_>> = fds.iter().map(|f| f.as_fd()).collect();
    let mut sent = inflight::send_fds(sock, payload, &borrowed)?;
    while sent < payload.len() {
        sent += inflight::send_fds(sock, &payload[sent..], &[])?;
    }
    Ok(())
}

fn serve(brk: Option<Break>) -> std::io::Result<i32> {
    let kind = std::env::var("INFLIGHT_ECHO_TYPE").unwrap_or_else(|_| "?".into());
    let Some(sock) = socket_from_env() else {
        return Ok(2);
    };
    let mut buf = vec![0u8; 65536];
    let mut leaked: Vec<OwnedFd> = Vec::new();
    let mut nth = 0usize;
    loop {
        let got = match inflight::recv_fds_vec(&sock, &mut buf, inflight::SCM_MAX_FD) {
            Ok(got) => got,
            Err(e) => return Ok(receive_failed(&kind, &e)),
        };
        if got.bytes == 0 && got.fds.is_empty() {
            if brk == Some(Break::Unsolicited) {
                echo(&sock, &[b'u'; UNSOLICITED], &[])?;
            }
            let _ = std::io::stdout().flush();
            return Ok(0);
        }
        let (mut fds, len) = misbehave(brk, nth, got.fds, got.bytes);
        nth += 1;
        echo(&sock, &buf[..len], &fds)?;
        if brk == Some(Break::Leak) {
            leaked.append(&mut fds);
        }
        drop(fds);
    }
}

/// Opens `/proc/self/fd/N` anew (a new open file description of the same
/// file); falls back to the descriptor itself where the kernel refuses
/// (sockets, anonymous inodes).
fn reopen(fd: OwnedFd) -> OwnedFd {
    use std::os::fd::AsRawFd;
    let path = format!("/proc/self/fd/{}", fd.as_raw_fd());
    let opts = [(true, true), (true, false), (false, true)];
    for (r, w) in opts {
        if let Ok(f) = std::fs::OpenOptions::new().read(r).write(w).open(&path) {
            return f.into();
        }
    }
    fd
}
