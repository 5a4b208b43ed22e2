//! A hostile or unusual sender: raw sendmsg calls with several SCM_RIGHTS
//! messages, credentials, odd lengths the kernel accepts, and levels it
//! ignores. The receiver must never panic or leak, and every descriptor
//! the kernel installs must come out in order.

mod common;

use std::os::fd::{AsFd, AsRawFd, RawFd};

use common::*;
use inflight::{Credentials, ErrorKind, SocketKind};
use inflight_testkit::cmsg::{self, Cmsg};
use inflight_testkit::raw;

#[test]
fn several_rights_messages_credentials_and_odd_lengths() {
    let s = serial();
    let files: Vec<_> = (0..6u8).map(|i| file_with(&[i], 0)).collect();
    let fds: Vec<RawFd> = files.iter().map(|f| f.as_raw_fd()).collect();
    let (pid, uid, gid) = cmsg::own_ids();
    for kind in SocketKind::ALL {
        s.check(kind.name(), || {
            let (a, b) = inflight::socketpair(kind).unwrap();
            inflight::set_pass_credentials(&b, true).unwrap();
            // Two numbers and 3 stray bytes.
            let mut odd = Cmsg::rights(&fds[4..6]);
            odd.data.extend([0xAB; 3]);
            let control = cmsg::concat(&[
                Cmsg::rights(&fds[0..2]),
                Cmsg::credentials(pid, uid, gid),
                Cmsg::raw(0x1234, 7, b"ignored level"),
                Cmsg::rights(&fds[2..4]),
                odd,
            ]);
            raw::sendmsg(a.as_fd(), b"hostile", &control, 0).expect("the kernel accepts this");
            let got = inflight::recv_fds::<8>(&b, &mut [0u8; 16]).unwrap();
            assert_eq!(got.bytes, 7);
            assert_eq!(got.fds.len(), 6, "{kind}: every SCM_RIGHTS counted");
            for (fd, f) in got.fds.iter().zip(&files) {
                assert_same(fd.as_fd(), f.as_fd());
            }
            assert_eq!(got.credentials, Some(Credentials { pid, uid, gid }));
        });
    }
}

#[test]
fn garbage_lengths_are_refused_by_the_kernel_and_queue_nothing() {
    let s = serial();
    let f = file_with(b"g", 0);
    for bad_len in [
        0usize,
        1,
        cmsg::HEADER_LEN - 1,
        cmsg::len(4) + 64,
        usize::MAX,
    ] {
        s.check(&format!("cmsg_len {bad_len}"), || {
            let (a, b) = inflight::socketpair(SocketKind::SeqPacket).unwrap();
            let control = Cmsg::rights(&[f.as_raw_fd()]).with_len(bad_len).to_bytes();
            let res = raw::sendmsg(a.as_fd(), b"g", &control, 0);
            let queued = inflight::recv_with::<4>(
                &b,
                &mut [std::io::IoSliceMut::new(&mut [0u8; 4])],
                &inflight::RecvOptions::new().nonblocking(true),
            );
            match res {
                // Linux accepts a control buffer whose first header is too
                // short for a header only by ignoring it entirely.
                Ok(_) => {
                    let got = queued.unwrap();
                    assert_eq!(
                        got.fds.len(),
                        0,
                        "cmsg_len {bad_len}: no descriptor from a malformed header"
                    );
                }
                Err(e) => {
                    assert_eq!(e.raw_os_error(), Some(libc::EINVAL), "cmsg_len {bad_len}");
                    assert!(queued.unwrap_err().is_would_block());
                }
            }
        });
    }
}

#[test]
fn hostile_flood_over_capacity_is_reported_and_closed() {
    let s = serial();
    let f = std::fs::File::open("/dev/null").unwrap();
    let fds = vec![f.as_raw_fd(); 100];
    let (a, b) = inflight::socketpair(SocketKind::Datagram).unwrap();
    let control = cmsg::concat(&[Cmsg::rights(&fds[..50]), Cmsg::rights(&fds[50..])]);
    raw::sendmsg(a.as_fd(), b"flood", &control, 0).unwrap();
    s.check("flood", || {
        let e = inflight::recv_fds::<2>(&b, &mut [0u8; 8]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ControlBufferFull);
        assert!(
            e.fds().len() >= 2 && e.fds().len() < 100,
            "kernel truncated: {}",
            e.fds().len()
        );
        for fd in e.fds() {
            assert_same(fd.as_fd(), f.as_fd());
        }
    });
}
