//! Credentials: SO_PEERCRED, SO_PASSCRED / SCM_CREDENTIALS beside rights,
//! SO_PASSPIDFD / SCM_PIDFD and SO_PASSRIGHTS. Whether the kernel has the
//! last two is asked with the test kit's raw setsockopt probe (only
//! ENOPROTOOPT means missing, reported `skipped:`), never through inflight:
//! where the kernel has them, inflight's functions must work.

mod common;

use std::io::{IoSlice, Read};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

use common::*;
use inflight::{Credentials, ErrorKind, SendOptions, SocketKind};
use inflight_testkit::probe::{self, Support};

/// This process's credentials as `SCM_CREDENTIALS` carries them (pid, real
/// uid and gid), from the test kit rather than from inflight.
fn own() -> Credentials {
    let (pid, uid, gid) = inflight_testkit::cmsg::own_ids();
    Credentials { pid, uid, gid }
}

#[test]
fn current_credentials_are_our_own() {
    assert_eq!(Credentials::current(), own());
}

#[test]
fn peer_credentials_are_our_own_on_a_socketpair() {
    let _g = serial();
    let (a, _b) = inflight::socketpair(SocketKind::Stream).unwrap();
    // SO_PEERCRED holds the effective ids of the peer at socketpair time.
    // SAFETY: getpid, geteuid and getegid take no arguments, cannot fail.
    let (pid, uid, gid) = unsafe { (libc::getpid(), libc::geteuid(), libc::getegid()) };
    assert_eq!(
        inflight::peer_credentials(&a).unwrap(),
        Credentials { pid, uid, gid }
    );
}

#[test]
fn credentials_beside_rights_push_nothing_out() {
    let s = serial();
    s.check("creds", || {
        for kind in SocketKind::ALL {
            let (a, b) = inflight::socketpair(kind).unwrap();
            inflight::set_pass_credentials(&b, true).unwrap();
            let f = file_with(b"c", 0);
            let fds = vec![f.as_fd(); 4];
            // Exactly the capacity: credentials must not cost a descriptor.
            let opts = SendOptions::new().credentials(Credentials::current());
            inflight::send_with(&a, &[IoSlice::new(b"cr")], &fds, &opts).unwrap();
            let got = inflight::recv_fds::<4>(&b, &mut [0u8; 2]).unwrap();
            assert_eq!(got.fds.len(), 4, "{kind}");
            assert_eq!(got.credentials, Some(own()), "{kind}");
            // Without explicit credentials the kernel attaches the sender's.
            inflight::send_fds(&a, b"x", &fds[..1]).unwrap();
            let got = inflight::recv_fds::<1>(&b, &mut [0u8; 2]).unwrap();
            assert_eq!(got.credentials, Some(own()), "{kind}");
            assert_eq!(got.fds.len(), 1);
        }
    });
}

#[test]
fn credentials_off_means_none_received() {
    let _g = serial();
    let (a, b) = inflight::socketpair(SocketKind::SeqPacket).unwrap();
    inflight::send_with(
        &a,
        &[IoSlice::new(b"x")],
        &[],
        &SendOptions::new().credentials(Credentials::current()),
    )
    .unwrap();
    let got = inflight::recv_fds::<0>(&b, &mut [0u8; 1]).unwrap();
    assert_eq!(got.credentials, None);
}

#[test]
fn forged_credentials_are_refused_by_the_kernel_without_privilege() {
    let _g = serial();
    let (a, b) = inflight::socketpair(SocketKind::SeqPacket).unwrap();
    inflight::set_pass_credentials(&b, true).unwrap();
    let mut forged = Credentials::current();
    forged.pid = if forged.pid == 1 { 2 } else { 1 };
    let res = inflight::send_with(
        &a,
        &[IoSlice::new(b"x")],
        &[],
        &SendOptions::new().credentials(forged),
    );
    // CAP_SYS_ADMIN may claim any existing pid; others get EPERM.
    match res {
        Ok(_) => {
            let got = inflight::recv_fds::<0>(&b, &mut [0u8; 1]).unwrap();
            assert_eq!(
                got.credentials,
                Some(forged),
                "accepted, so the claimed pid arrives as claimed (privileged sender)"
            );
        }
        Err(e) => assert_eq!(
            e.io_error().and_then(|e| e.raw_os_error()),
            Some(libc::EPERM),
            "{e:?}"
        ),
    }
    // A negative pid is refused by the encoder before the system call.
    forged.pid = -5;
    let e = inflight::send_with(
        &a,
        &[IoSlice::new(b"x")],
        &[],
        &SendOptions::new().credentials(forged),
    )
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidControl);
    assert!(e.io_error().is_none(), "refused before the system call");
}

#[test]
fn pidfd_arrives_beside_rights_where_supported() {
    let s = serial();
    if let Support::Missing(why) = probe::socket_option(probe::SO_PASSPIDFD).unwrap() {
        probe::skipped(&format!("SO_PASSPIDFD (Linux 6.5): {why}"));
        // inflight agrees, with a typed error.
        assert!(!inflight::pidfd_supported());
        let (a, _b) = inflight::socketpair(SocketKind::Stream).unwrap();
        let e = inflight::set_pass_pidfd(&a, true).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unsupported, "typed unsupported error");
        return;
    }
    assert!(inflight::pidfd_supported(), "the kernel has SO_PASSPIDFD");
    s.check("pidfd", || {
        for kind in SocketKind::ALL {
            let (a, b) = inflight::socketpair(kind).unwrap();
            inflight::set_pass_pidfd(&b, true).unwrap();
            inflight::set_pass_credentials(&b, true).unwrap();
            let f = file_with(b"p", 0);
            let fds = vec![f.as_fd(); 3];
            inflight::send_fds(&a, b"pid", &fds).unwrap();
            let got = inflight::recv_fds::<3>(&b, &mut [0u8; 3]).unwrap();
            assert_eq!(
                got.fds.len(),
                3,
                "{kind}: the pidfd pushed no descriptor out"
            );
            assert_eq!(got.credentials, Some(own()), "{kind}");
            for fd in got.fds.iter() {
                assert_same(fd.as_fd(), f.as_fd());
            }
            let pidfd = got.pidfd.expect("SCM_PIDFD");
            assert_eq!(pidfd_pid(pidfd.as_fd()), std::process::id(), "{kind}");
        }
        let (a, _b) = inflight::socketpair(SocketKind::Stream).unwrap();
        let p = inflight::peer_pidfd(&a).unwrap();
        assert_eq!(pidfd_pid(p.as_fd()), std::process::id(), "SO_PEERPIDFD");
    });
}

/// The pid a pidfd refers to, from its `/proc/self/fdinfo` `Pid:` line.
fn pidfd_pid(fd: BorrowedFd<'_>) -> u32 {
    let mut info = String::new();
    std::fs::File::open(format!("/proc/self/fdinfo/{}", fd.as_raw_fd()))
        .unwrap()
        .read_to_string(&mut info)
        .unwrap();
    let line = info
        .lines()
        .find(|l| l.starts_with("Pid:"))
        .unwrap_or_else(|| panic!("not a pidfd: {info}"));
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// With `SO_PASSRIGHTS` off the receiver refuses descriptors (the send
/// fails, nothing is queued) but not payload; back on, they arrive.
#[test]
fn pass_rights_off_refuses_descriptors_where_supported() {
    let s = serial();
    if let Support::Missing(why) = probe::socket_option(probe::SO_PASSRIGHTS).unwrap() {
        probe::skipped(&format!("SO_PASSRIGHTS (Linux 6.16): {why}"));
        let (a, _b) = inflight::socketpair(SocketKind::Stream).unwrap();
        let e = inflight::set_pass_rights(&a, false).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unsupported, "typed unsupported error");
        return;
    }
    s.check("SO_PASSRIGHTS", || {
        for kind in SocketKind::ALL {
            let (a, b) = inflight::socketpair(kind).unwrap();
            let f = file_with(b"r", 0);
            inflight::set_pass_rights(&b, false).unwrap();
            let e = inflight::send_fds(&a, b"r", &[f.as_fd()]).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Io, "{kind}: {e}");
            inflight::send_fds(&a, b"plain", &[]).unwrap();
            let got = inflight::recv_fds::<1>(&b, &mut [0u8; 8]).unwrap();
            assert_eq!(
                (got.bytes, got.fds.len()),
                (5, 0),
                "{kind}: only the payload"
            );
            inflight::set_pass_rights(&b, true).unwrap();
            inflight::send_fds(&a, b"r", &[f.as_fd()]).unwrap();
            let got = inflight::recv_fds::<1>(&b, &mut [0u8; 8]).unwrap();
            assert_eq!(got.fds.len(), 1, "{kind}: back on");
            assert_same(got.fds.get(0).unwrap(), f.as_fd());
        }
    });
}
