//! The child peer of property 10 (`Op::KillPeer`): holds one end of the
//! test's socket pair and sends on command until it is killed. Its stdin
//! is the control socket; the protocol is described in
//! `src/faults/peer.rs`.
//!
//! Usage: `inflight-prop-peer` (no arguments). Exit status 0 when the
//! parent went away (end of stream on the control socket) before the kill;
//! 2 on a protocol error, with the reason on stderr.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::process::ExitCode;

/// A parent that dies without closing the control socket must not leave
/// this process waiting for ever: every read gives up after a minute.
fn bounded(sock: impl AsFd) -> Result<(), String> {
    let tv = nix::sys::time::TimeVal::new(60, 0);
    nix::sys::socket::setsockopt(&sock, nix::sys::socket::sockopt::ReceiveTimeout, &tv)
        .map_err(|e| format!("SO_RCVTIMEO: {e}"))
}

/// One line of the plan: the payload and indices into the descriptors.
fn parse(line: &str) -> Result<(&[u8], Vec<usize>), String> {
    let (payload, idx) = line
        .split_once(' ')
        .ok_or_else(|| format!("plan line {line:?}"))?;
    let idx = if idx == "-" {
        Vec::new()
    } else {
        idx.split(',')
            .map(str::parse)
            .collect::<Result<_, _>>()
            .map_err(|e| format!("plan line {line:?}: {e}"))?
    };
    Ok((payload.as_bytes(), idx))
}

fn answer(ctl: BorrowedFd<'_>, byte: u8) -> Result<(), String> {
    match nix::unistd::write(ctl, &[byte]) {
        Ok(1) => Ok(()),
        other => Err(format!("answer {:?}: {other:?}", byte as char)),
    }
}

/// The next command byte, `None` at end of stream.
fn command(ctl: BorrowedFd<'_>) -> Result<Option<u8>, String> {
    let mut b = [0u8];
    match nix::unistd::read(ctl, &mut b) {
        Ok(0) => Ok(None),
        Ok(_) => Ok(Some(b[0])),
        Err(e) => Err(format!("read a command: {e}")),
    }
}

fn run() -> Result<(), String> {
    let stdin = std::io::stdin();
    let ctl = stdin.as_fd();
    bounded(ctl)?;
    let mut buf = vec![0u8; 64 * 1024];
    let setup = inflight::recv_fds_vec(&ctl, &mut buf, inflight::SCM_MAX_FD)
        .map_err(|e| format!("receive the setup: {e:?}"))?;
    let text = std::str::from_utf8(&buf[..setup.bytes]).map_err(|e| format!("plan: {e}"))?;
    // The first line counts the messages.
    let plan: Vec<(&[u8], Vec<usize>)> =
        text.lines().skip(1).map(parse).collect::<Result<_, _>>()?;
    let mut fds = setup.fds.into_iter();
    let sock = fds.next().ok_or("no socket end in the setup")?;
    let fds: Vec<OwnedFd> = fds.collect();
    answer(ctl, b'r')?;
    for (payload, idx) in plan {
        match command(ctl)? {
            None => return Ok(()),
            Some(b'g') => {}
            Some(other) => return Err(format!("command {:?}", other as char)),
        }
        let send: Vec<BorrowedFd<'_>> = idx
            .iter()
            .map(|&i| {
                fds.get(i)
                    .map(AsFd::as_fd)
                    .ok_or("index past the descriptors")
            })
            .collect::<Result<_, _>>()?;
        inflight::send_fds(&sock, payload, &send).map_err(|e| format!("send: {e:?}"))?;
        answer(ctl, b'k')?;
    }
    // Hold the socket end until the kill (or the parent's end of stream).
    let _ = command(ctl);
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("inflight-prop-peer: {e}");
            ExitCode::from(2)
        }
    }
}
