//! inflight's typed `Unsupported` paths, taken where the running kernel
//! lacks an option and only there. Each test first asks the kernel itself
//! (the test kit's raw `setsockopt`/`getsockopt`; only `ENOPROTOOPT` means
//! the option is unknown), then holds inflight to the same answer:
//! `ErrorKind::Unsupported` where the kernel lacks it, a working call where
//! it has it. Each says which path it took on standard error
//! (`unsupported path taken: ...` / `supported path taken: ...`), which the
//! kernel matrix (`inflight-audit kernels`) shows per kernel: on a host
//! with every feature only the supported paths can run, on Linux 6.1 the
//! unsupported ones.

use std::io::Write as _;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use inflight::{ErrorKind, SocketKind};
use inflight_testkit::probe::{self, Support};
use inflight_testkit::{serial, sockopt};
use nix::sys::socket::{
    accept, bind, getsockname, listen, socket, AddressFamily, Backlog, SockFlag, SockType,
    SockaddrLike, UnixAddr,
};

/// `SO_PEERPIDFD` (asm-generic; Linux 6.5).
const SO_PEERPIDFD: i32 = 77;

/// Says which path a test took, where libtest does not capture it.
fn took(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// The pid in a pidfd's `/proc/self/fdinfo` (`-1` once the process is
/// gone).
fn pidfd_pid(fd: BorrowedFd<'_>) -> i64 {
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.as_raw_fd())).unwrap();
    let line = info
        .lines()
        .find_map(|l| l.strip_prefix("Pid:"))
        .unwrap_or_else(|| panic!("not a pidfd: {info}"));
    line.trim().parse().unwrap()
}

/// `getsockopt(SO_PEERPIDFD)` asked raw: `None` when the kernel does not
/// know the option (`ENOPROTOOPT`), else the pidfd it installed.
fn raw_peer_pidfd(sock: BorrowedFd<'_>) -> Option<std::io::Result<OwnedFd>> {
    match sockopt::get_int(sock, libc::SOL_SOCKET, SO_PEERPIDFD) {
        Err(e) if e.raw_os_error() == Some(libc::ENOPROTOOPT) => None,
        Err(e) => Some(Err(e)),
        // SAFETY: a successful SO_PEERPIDFD installed this descriptor in
        // this process for this call; nothing else owns it.
        Ok(fd) => Some(Ok(unsafe { OwnedFd::from_raw_fd(fd) })),
    }
}

#[test]
fn so_passpidfd_unsupported_exactly_where_the_kernel_lacks_it() {
    let s = serial();
    let (a, _b) = inflight::socketpair(SocketKind::Datagram).unwrap();
    match probe::socket_option(probe::SO_PASSPIDFD).unwrap() {
        Support::Missing(why) => {
            let e = inflight::set_pass_pidfd(&a, true).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
            assert!(!inflight::pidfd_supported());
            took(&format!(
                "unsupported path taken: SO_PASSPIDFD ({why}): set_pass_pidfd gave ErrorKind::Unsupported ({e}), pidfd_supported() false"
            ));
        }
        Support::Present => s.check("SO_PASSPIDFD", || {
            inflight::set_pass_pidfd(&a, true).unwrap();
            let on = sockopt::get_int(a.as_fd(), libc::SOL_SOCKET, probe::SO_PASSPIDFD).unwrap();
            inflight::set_pass_pidfd(&a, false).unwrap();
            let off = sockopt::get_int(a.as_fd(), libc::SOL_SOCKET, probe::SO_PASSPIDFD).unwrap();
            assert_eq!((on, off), (1, 0), "the option as the kernel reads it back");
            assert!(inflight::pidfd_supported());
            took("supported path taken: SO_PASSPIDFD: set_pass_pidfd turned it on and off (read back raw)");
        }),
    }
}

#[test]
fn so_peerpidfd_unsupported_exactly_where_the_kernel_lacks_it() {
    let s = serial();
    let (a, _b) = inflight::socketpair(SocketKind::Stream).unwrap();
    match raw_peer_pidfd(a.as_fd()) {
        None => {
            let e = inflight::peer_pidfd(&a).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
            took(&format!(
                "unsupported path taken: SO_PEERPIDFD (ENOPROTOOPT from the kernel): peer_pidfd gave ErrorKind::Unsupported ({e})"
            ));
        }
        Some(raw) => {
            drop(raw.expect("raw SO_PEERPIDFD on a socketpair"));
            s.check("SO_PEERPIDFD", || {
            let p = inflight::peer_pidfd(&a).unwrap();
            assert_eq!(pidfd_pid(p.as_fd()), i64::from(std::process::id()));
            took("supported path taken: SO_PEERPIDFD: peer_pidfd gave a pidfd of this process (the socketpair's creator)");
            });
        }
    }
}

#[test]
fn so_passrights_unsupported_exactly_where_the_kernel_lacks_it() {
    let s = serial();
    let (a, _b) = inflight::socketpair(SocketKind::Stream).unwrap();
    match probe::socket_option(probe::SO_PASSRIGHTS).unwrap() {
        Support::Missing(why) => {
            let e = inflight::set_pass_rights(&a, false).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
            took(&format!(
                "unsupported path taken: SO_PASSRIGHTS ({why}): set_pass_rights gave ErrorKind::Unsupported ({e})"
            ));
        }
        Support::Present => s.check("SO_PASSRIGHTS", || {
            inflight::set_pass_rights(&a, false).unwrap();
            let off = sockopt::get_int(a.as_fd(), libc::SOL_SOCKET, probe::SO_PASSRIGHTS).unwrap();
            inflight::set_pass_rights(&a, true).unwrap();
            let on = sockopt::get_int(a.as_fd(), libc::SOL_SOCKET, probe::SO_PASSRIGHTS).unwrap();
            assert_eq!((off, on), (0, 1), "the option as the kernel reads it back");
            took("supported path taken: SO_PASSRIGHTS: set_pass_rights turned it off and on (read back raw)");
        }),
    }
}

/// A kernel that has `SO_PEERPIDFD` but cannot give a pidfd of a peer that
/// was reaped answers `EINVAL` (6.5 to 6.15); that is not "unsupported".
#[test]
fn peer_pidfd_of_a_reaped_peer_is_never_unsupported() {
    let _s = serial();
    let (probe_a, _probe_b) = inflight::socketpair(SocketKind::Stream).unwrap();
    if raw_peer_pidfd(probe_a.as_fd()).is_none() {
        probe::skipped("SO_PEERPIDFD is unknown to this kernel (ENOPROTOOPT; Linux 6.5)");
        return;
    }
    let l = socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .unwrap();
    // An address of the family alone: the kernel picks an abstract name.
    bind(l.as_raw_fd(), &UnixAddr::new_unnamed()).unwrap();
    listen(&l, Backlog::MAXCONN).unwrap();
    let addr: UnixAddr = getsockname(l.as_raw_fd()).unwrap();
    let (ptr, len) = (addr.as_ptr(), addr.len());
    // SAFETY: fork has no preconditions; the child makes only
    // async-signal-safe system calls (socket, connect) and _exits.
    let child = unsafe { libc::fork() };
    if child == 0 {
        // SAFETY: connect reads `len` bytes at `ptr` (`addr`, in this
        // child's copy of the parent's stack); _exit never returns.
        unsafe {
            let s = libc::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0);
            let ok = s >= 0 && libc::connect(s, ptr.cast(), len) == 0;
            libc::_exit(if ok { 0 } else { 1 });
        }
    }
    assert!(child > 0, "fork failed");
    let status = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(child), None).unwrap();
    assert_eq!(
        status,
        nix::sys::wait::WaitStatus::Exited(nix::unistd::Pid::from_raw(child), 0),
        "the client connected and exited"
    );
    let conn = accept(&l).unwrap();
    match inflight::peer_pidfd(&conn) {
        Ok(p) => {
            assert_eq!(pidfd_pid(p.as_fd()), -1, "a pidfd of the reaped client");
            took(
                "supported path taken: SO_PEERPIDFD of a reaped peer: a pidfd of the dead process",
            );
        }
        Err(e) => {
            assert_ne!(
                e.kind(),
                ErrorKind::Unsupported,
                "the kernel has SO_PEERPIDFD; its refusal for a reaped peer ({e}) is not `Unsupported`"
            );
            took(&format!(
                "supported path taken: SO_PEERPIDFD of a reaped peer: refused by the kernel ({e}), not reported as Unsupported"
            ));
        }
    }
}
