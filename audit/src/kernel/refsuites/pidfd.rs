//! The pidfd of a peer that already exited, after the kernel selftest
//! `tools/testing/selftests/net/af_unix/scm_pidfd.c` (its 2025 extension for
//! stale pidfds): a child with `SO_PASSCRED` and `SO_PASSPIDFD` on sends one
//! byte and exits with status 123; once it is reaped, the receiver turns
//! the options on and receives.
//!
//! Kernels differ, legitimately: from 6.17 the `SCM_PIDFD` is a pidfd of
//! the dead child (its exit status readable with `PIDFD_GET_INFO`); from
//! 6.5 to 6.16 the message is still there but carries a negative errno and
//! installs nothing. The case names which it saw. Its sibling asks
//! `SO_PEERPIDFD` of an accepted connection whose client was reaped
//! (`EINVAL` before 6.16, a pidfd after).

use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};

use anyhow::{bail, ensure, Context as _};
use inflight::SocketKind;
use inflight_testkit::cmsg::{self, SCM_PIDFD};
use inflight_testkit::raw;
use nix::sys::socket::{
    accept4, bind, getsockname, listen, socket, AddressFamily, Backlog, SockFlag, SockType,
    SockaddrLike, UnixAddr,
};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;

use super::{describe, errno, first_int, lacks, messages, observed, pair, set_sol};
use crate::kernel::Battery;
use crate::runner::CaseResult;

/// `SO_PASSPIDFD` (asm-generic, Linux 6.5).
const SO_PASSPIDFD: i32 = 76;
/// `SO_PEERPIDFD` (asm-generic, Linux 6.5).
const SO_PEERPIDFD: i32 = 77;

pub(super) fn register(b: &mut Battery) {
    for k in SocketKind::ALL {
        b.one(&format!("scm-pidfd-reaped-sender/{k}"), move |_| {
            reaped_sender(k)
        });
    }
    b.one("so-peerpidfd-reaped-peer", |_| reaped_peer());
}

/// Forks a child that runs `body` and exits with its status. `body` runs
/// in the child of a possibly multi-threaded process: it may only make
/// async-signal-safe calls (raw system calls; no allocation, no locks).
fn fork_child(body: impl FnOnce() -> i32) -> anyhow::Result<Pid> {
    // SAFETY: fork(2) has no preconditions; in the child only `body` runs
    // (async-signal-safe by this function's contract) and then _exit, so
    // no lock another thread held is ever taken there.
    match unsafe { libc::fork() } {
        -1 => Err(std::io::Error::last_os_error()).context("fork"),
        0 => {
            let code = body();
            // SAFETY: _exit(2) is async-signal-safe and never returns.
            unsafe { libc::_exit(code) }
        }
        pid => Ok(Pid::from_raw(pid)),
    }
}

/// Waits for `pid` (which reaps it) and returns its exit status.
fn reap(pid: Pid) -> anyhow::Result<i32> {
    match waitpid(pid, None).context("waitpid")? {
        WaitStatus::Exited(_, code) => Ok(code),
        other => bail!("the child ended with {other:?}"),
    }
}

/// `struct pidfd_info` as of Linux 6.13 (`PIDFD_INFO_SIZE_VER0`, 64 bytes);
/// the kernel fills what fits.
#[repr(C)]
#[derive(Default)]
struct PidfdInfo {
    mask: u64,
    cgroupid: u64,
    ids: [u32; 11],
    exit_code: i32,
}

/// `PIDFD_INFO_EXIT` (Linux 6.15).
const PIDFD_INFO_EXIT: u64 = 1 << 3;
/// `PIDFD_GET_INFO` = `_IOWR(0xFF, 11, struct pidfd_info)` for the 64-byte
/// structure: direction 3 (read and write) << 30, size << 16, type << 8, nr.
const PIDFD_GET_INFO: u64 = (3 << 30) | (64 << 16) | (0xFF << 8) | 11;

/// What a pidfd says about its dead process, checked: the exit status from
/// `PIDFD_GET_INFO` where the kernel has it (it must be `status`), else the
/// `Pid:` of its fdinfo (it must be -1).
fn dead_process(pidfd: &OwnedFd, status: i32) -> anyhow::Result<String> {
    let mut info = PidfdInfo {
        mask: PIDFD_INFO_EXIT,
        ..PidfdInfo::default()
    };
    // SAFETY: the ioctl writes at most size_of::<PidfdInfo>() = 64 bytes
    // (the size encoded in the request) into `info`, which we own
    // exclusively; `pidfd` is open for the call.
    let r = unsafe {
        libc::ioctl(
            pidfd.as_raw_fd(),
            PIDFD_GET_INFO as _,
            std::ptr::from_mut(&mut info),
        )
    };
    if r == 0 && info.mask & PIDFD_INFO_EXIT != 0 {
        let st = info.exit_code;
        ensure!(
            libc::WIFEXITED(st) && libc::WEXITSTATUS(st) == status,
            "PIDFD_GET_INFO: wait status {st:#x}, the process exited with {status}"
        );
        return Ok(format!("PIDFD_GET_INFO: exited with status {status}"));
    }
    let why = if r == 0 {
        "no PIDFD_INFO_EXIT".to_string()
    } else {
        errno(&std::io::Error::last_os_error())
    };
    let path = format!("/proc/self/fdinfo/{}", pidfd.as_raw_fd());
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let pid = text
        .lines()
        .find_map(|l| l.strip_prefix("Pid:"))
        .map(str::trim)
        .unwrap_or("?");
    ensure!(
        pid == "-1",
        "the pidfd's fdinfo says Pid {pid}, not -1 (a dead process)"
    );
    Ok(format!(
        "PIDFD_GET_INFO: {why}; fdinfo Pid -1 (a dead process)"
    ))
}

fn reaped_sender(k: SocketKind) -> CaseResult {
    if let Some(skip) = lacks(SO_PASSPIDFD, "SO_PASSPIDFD", "6.5")? {
        return Ok(skip);
    }
    let (mine, theirs) = pair(k)?;
    let fd = theirs.as_raw_fd();
    let child = fork_child(|| {
        let one: libc::c_int = 1;
        let len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        let opt = std::ptr::from_ref(&one).cast();
        // SAFETY: setsockopt reads `len` bytes at `opt` (a live c_int);
        // send reads 1 byte of a static; `fd` is open in this child.
        unsafe {
            libc::setsockopt(fd, libc::SOL_SOCKET, libc::SO_PASSCRED, opt, len);
            libc::setsockopt(fd, libc::SOL_SOCKET, SO_PASSPIDFD, opt, len);
            if libc::send(fd, b"y".as_ptr().cast(), 1, libc::MSG_NOSIGNAL) == 1 {
                123
            } else {
                1
            }
        }
    })?;
    drop(theirs);
    let code = reap(child)?;
    ensure!(
        code == 123,
        "the sender exited with {code}: its send failed"
    );
    set_sol(mine.as_fd(), libc::SO_PASSCRED, true).context("SO_PASSCRED")?;
    set_sol(mine.as_fd(), SO_PASSPIDFD, true).context("SO_PASSPIDFD")?;
    let room = cmsg::space(12) + cmsg::space(4);
    let mut buf = [0u8; 1];
    let r =
        raw::recvmsg(mine.as_fd(), &mut buf, Some(room), libc::MSG_DONTWAIT).context("recvmsg")?;
    let msgs = messages(&r.control);
    ensure!(
        r.bytes == 1 && buf[0] == b'y' && r.flags & (libc::MSG_CTRUNC | libc::MSG_TRUNC) == 0,
        "received {} byte(s) {:?}, flags {:#x}, {}",
        r.bytes,
        &buf[..r.bytes.min(1)],
        r.flags,
        describe(&msgs)
    );
    let creds = r.credentials.map(|c| c.0);
    ensure!(
        creds == Some(child.as_raw()),
        "SCM_CREDENTIALS pid {creds:?}, the sender was {child} ({})",
        describe(&msgs)
    );
    let Some(p) = msgs
        .iter()
        .find(|m| (m.level, m.kind) == (libc::SOL_SOCKET, SCM_PIDFD))
    else {
        bail!("no SCM_PIDFD for the reaped sender: {}", describe(&msgs));
    };
    ensure!(
        p.cmsg_len == cmsg::len(4),
        "SCM_PIDFD cmsg_len {} (CMSG_LEN(4) is {})",
        p.cmsg_len,
        cmsg::len(4)
    );
    let value = first_int(p).context("SCM_PIDFD without an int")?;
    if value < 0 {
        ensure!(
            r.pidfd.is_none(),
            "a negative SCM_PIDFD yet a descriptor was claimed"
        );
        let e = std::io::Error::from_raw_os_error(-value);
        return Ok(observed(
            "errno-payload",
            format!(
                "sender exited (123) and reaped before the receive: SCM_CREDENTIALS pid {child}, SCM_PIDFD cmsg_len {} carrying {value} ({}), no descriptor installed",
                p.cmsg_len,
                errno(&e)
            ),
        ));
    }
    let pidfd = r.pidfd.as_ref().context("SCM_PIDFD number not claimed")?;
    ensure!(
        pidfd.as_raw_fd() == value,
        "SCM_PIDFD {value} but claimed {}",
        pidfd.as_raw_fd()
    );
    let dead = dead_process(pidfd, 123)?;
    Ok(observed(
        "pidfd",
        format!("sender exited (123) and reaped before the receive: SCM_CREDENTIALS pid {child}, SCM_PIDFD a pidfd of the dead sender ({dead})"),
    ))
}

fn reaped_peer() -> CaseResult {
    if let Some(skip) = lacks(SO_PASSPIDFD, "SO_PASSPIDFD and SO_PEERPIDFD", "6.5")? {
        return Ok(skip);
    }
    let l = socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .context("socket")?;
    bind(l.as_raw_fd(), &UnixAddr::new_unnamed()).context("autobind")?;
    listen(&l, Backlog::MAXCONN).context("listen")?;
    let addr: UnixAddr = getsockname(l.as_raw_fd()).context("getsockname")?;
    let (ptr, len) = (addr.as_ptr(), addr.len());
    let child = fork_child(|| {
        // SAFETY: socket and connect read `len` bytes of `addr` (alive in
        // this child's copy of the parent's stack); the socket is closed by
        // _exit.
        unsafe {
            let s = libc::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0);
            if s >= 0 && libc::connect(s, ptr.cast(), len) == 0 {
                0
            } else {
                1
            }
        }
    })?;
    let code = reap(child)?;
    ensure!(code == 0, "the client's connect failed (exit {code})");
    let conn = accept4(&l, SockFlag::SOCK_CLOEXEC).context("accept")?;
    let mut v: RawFd = -1;
    let mut vlen = std::mem::size_of::<RawFd>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `vlen` bytes (one int) into `v`
    // and updates `vlen`; both are live locals; `conn` is open.
    let r = unsafe {
        libc::getsockopt(
            conn.as_raw_fd(),
            libc::SOL_SOCKET,
            SO_PEERPIDFD,
            std::ptr::from_mut(&mut v).cast(),
            &mut vlen,
        )
    };
    if r != 0 {
        let e = std::io::Error::last_os_error();
        let mark = match e.raw_os_error() {
            Some(libc::EINVAL) => "einval",
            Some(libc::ESRCH) => "esrch",
            _ => bail!("SO_PEERPIDFD of a reaped peer failed with {}", errno(&e)),
        };
        return Ok(observed(
            mark,
            format!("client {child} connected, exited and was reaped before the accept: SO_PEERPIDFD failed with {}", errno(&e)),
        ));
    }
    ensure!(v >= 0, "SO_PEERPIDFD succeeded with descriptor {v}");
    // SAFETY: a successful SO_PEERPIDFD installed `v` in this process for
    // us; nothing else owns it.
    let pidfd = unsafe { OwnedFd::from_raw_fd(v) };
    let dead = dead_process(&pidfd, 0)?;
    Ok(observed(
        "pidfd",
        format!("client {child} connected, exited and was reaped before the accept: SO_PEERPIDFD gave a pidfd of it ({dead})"),
    ))
}
