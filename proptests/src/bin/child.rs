//! The child process of property 9 (cross-process): connects to the
//! parent's bound path, receives a socket pair end and a first batch of
//! descriptors there, a second batch over the socket pair, proves with
//! `kcmp` against the parent's pid (through the test kit, not inflight)
//! that each is the parent's open file description, and sends them all
//! back.
//!
//! Usage: `inflight-prop-child PATH stream|seqpacket`. Exit status 0 when
//! the protocol ran (the verdicts travel back to the parent, which judges);
//! 2 on a usage or protocol error, with the reason on stderr.

use std::os::fd::AsFd;
use std::os::unix::net::SocketAddr;
use std::process::ExitCode;

use inflight::SocketKind;
use inflight_testkit::oracle::kcmp_file_in;

/// A parent that dies must not leave this process waiting for ever (a
/// datagram pair has no end of stream): every receive gives up after a
/// minute.
fn bounded(sock: &impl AsFd) -> Result<(), String> {
    let tv = nix::sys::time::TimeVal::new(60, 0);
    nix::sys::socket::setsockopt(sock, nix::sys::socket::sockopt::ReceiveTimeout, &tv)
        .map_err(|e| format!("SO_RCVTIMEO: {e}"))
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let [_, path, kind] = args.as_slice() else {
        return Err("usage: inflight-prop-child PATH stream|seqpacket".into());
    };
    let kind: SocketKind = kind.parse().map_err(|e| format!("{e}"))?;
    let addr = SocketAddr::from_pathname(path).map_err(|e| format!("address: {e}"))?;
    let conn = inflight::connect(kind, &addr).map_err(|e| format!("connect: {e}"))?;
    bounded(&conn)?;
    // Message A over the path: "PARENT_PID N FD1 FD2 ..." (the parent's
    // numbers of every descriptor of both batches), with the socket pair end
    // first and then the first batch.
    let mut buf = vec![0u8; 64 * 1024];
    let a = inflight::recv_fds_vec(&conn, &mut buf, inflight::SCM_MAX_FD)
        .map_err(|e| format!("receive over the path: {e:?}"))?;
    let text = std::str::from_utf8(&buf[..a.bytes]).map_err(|e| format!("header: {e}"))?;
    let nums: Vec<i32> = text
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("header {text:?}: {e}"))?;
    let (&parent, rest) = nums.split_first().ok_or("empty header")?;
    let (&total, parent_fds) = rest.split_first().ok_or("no count")?;
    let mut got = a.fds.into_iter();
    let pair = got.next().ok_or("no socket pair end")?;
    bounded(&pair)?;
    let mut fds: Vec<_> = got.collect();
    // Message B over the socket pair: the second batch.
    let b = inflight::recv_fds_vec(&pair, &mut buf, inflight::SCM_MAX_FD)
        .map_err(|e| format!("receive over the socket pair: {e:?}"))?;
    fds.extend(b.fds);
    if fds.len() != total as usize || parent_fds.len() != fds.len() {
        return Err(format!(
            "{} descriptors arrived, the parent announced {total} ({} numbers)",
            fds.len(),
            parent_fds.len()
        ));
    }
    let me = std::process::id() as i32;
    let mut reply = String::new();
    for (fd, &theirs) in fds.iter().zip(parent_fds) {
        let mine = std::os::fd::AsRawFd::as_raw_fd(fd);
        // 'U': kcmp failed here (seccomp, no ptrace access to the parent);
        // the parent then compares from its side.
        let verdict = match kcmp_file_in(parent, theirs, me, mine) {
            Ok(true) => 'S',
            Ok(false) => 'D',
            Err(_) => 'U',
        };
        reply.push_str(&format!("{verdict}{mine} "));
    }
    if reply.is_empty() {
        reply.push('-');
    }
    let back: Vec<_> = fds.iter().map(|f| f.as_fd()).collect();
    inflight::send_fds(&pair, reply.as_bytes(), &back).map_err(|e| format!("send back: {e:?}"))?;
    // Keep the descriptors open until the parent has compared them and says
    // "done" (a datagram pair has no end of stream to wait for).
    let mut end = [0u8; 8];
    let _ = inflight::recv_fds::<0>(&pair, &mut end);
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("inflight-prop-child: {e}");
            ExitCode::from(2)
        }
    }
}
