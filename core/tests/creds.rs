//! Credentials: SO_PEERCRED, SO_PASSCRED / SCM_CREDENTIALS beside rights,
//! SO_PASSPIDFD / SCM_PIDFD (skipped with a reason where the kernel lacks
//! it).

mod common;

use std::io::{IoSlice, Read};
use std::os::fd::{AsFd, AsRawFd};

use common::*;
use inflight::{Credentials, ErrorKind, SendOptions, SocketKind};

#[test]
fn peer_credentials_are_our_own_on_a_socketpair() {
    let _g = serial();
    let (a, _b) = inflight::socketpair(SocketKind::Stream).unwrap();
    assert_eq!(
        inflight::peer_credentials(&a).unwrap(),
        Credentials::current()
    );
}

#[test]
fn credentials_beside_rights_push_nothing_out() {
    let _g = serial();
    no_leak("creds", || {
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
            assert_eq!(got.credentials, Some(Credentials::current()), "{kind}");
            // Without explicit credentials the kernel attaches the sender's.
            inflight::send_fds(&a, b"x", &fds[..1]).unwrap();
            let got = inflight::recv_fds::<1>(&b, &mut [0u8; 2]).unwrap();
            assert_eq!(got.credentials, Some(Credentials::current()), "{kind}");
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
    let (a, _b) = inflight::socketpair(SocketKind::SeqPacket).unwrap();
    let mut forged = Credentials::current();
    forged.pid = if forged.pid == 1 { 2 } else { 1 };
    let res = inflight::send_with(
        &a,
        &[IoSlice::new(b"x")],
        &[],
        &SendOptions::new().credentials(forged),
    );
    // Root (CAP_SYS_ADMIN) may claim any pid; others get EPERM.
    let admin = nix::unistd::geteuid().is_root();
    match res {
        Ok(_) => assert!(admin, "an unprivileged forged pid must be refused"),
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
}

#[test]
fn pidfd_arrives_beside_rights_where_supported() {
    let _g = serial();
    if !inflight::pidfd_supported() {
        println!("skipped: SO_PASSPIDFD is not supported by this kernel (needs Linux 6.5)");
        let (a, _b) = inflight::socketpair(SocketKind::Stream).unwrap();
        let e = inflight::set_pass_pidfd(&a, true).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unsupported, "typed unsupported error");
        return;
    }
    no_leak("pidfd", || {
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
            assert!(got.credentials.is_some(), "{kind}");
            let pidfd = got.pidfd.expect("SCM_PIDFD");
            let mut info = String::new();
            std::fs::File::open(format!("/proc/self/fdinfo/{}", pidfd.as_raw_fd()))
                .unwrap()
                .read_to_string(&mut info)
                .unwrap();
            let pid_line = info
                .lines()
                .find(|l| l.starts_with("Pid:"))
                .expect("pidfd fdinfo has Pid");
            assert_eq!(
                pid_line.split_whitespace().nth(1).unwrap(),
                std::process::id().to_string(),
                "{kind}"
            );
        }
        let (a, _b) = inflight::socketpair(SocketKind::Stream).unwrap();
        let p = inflight::peer_pidfd(&a).unwrap();
        assert!(
            std::fs::read_to_string(format!("/proc/self/fdinfo/{}", p.as_raw_fd()))
                .unwrap()
                .contains("Pid:")
        );
    });
}
