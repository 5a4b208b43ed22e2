//! A hostile or unusual sender: raw sendmsg calls with several SCM_RIGHTS
//! messages, credentials, odd lengths the kernel accepts, and levels it
//! ignores. The receiver must never panic or leak, and every descriptor
//! the kernel installs must come out in order.

mod common;

use std::os::fd::{AsFd, AsRawFd, RawFd};

use common::*;
use inflight::codec::{cmsg_len, ControlMessage, FdList};
use inflight::inspect::FdSnapshot;
use inflight::{Credentials, ErrorKind, SocketKind};

fn fd_bytes(fds: &[RawFd], extra: usize) -> Vec<u8> {
    let mut v: Vec<u8> = fds.iter().flat_map(|f| f.to_ne_bytes()).collect();
    v.extend(std::iter::repeat_n(0xAB, extra));
    v
}

#[test]
fn several_rights_messages_credentials_and_odd_lengths() {
    let _g = serial();
    let files: Vec<_> = (0..6u8).map(|i| file_with(&[i], 0)).collect();
    let raw: Vec<RawFd> = files.iter().map(|f| f.as_raw_fd()).collect();
    for kind in SocketKind::ALL {
        no_leak(kind.name(), || {
            let (a, b) = inflight::socketpair(kind).unwrap();
            inflight::set_pass_credentials(&b, true).unwrap();
            let odd = fd_bytes(&raw[4..6], 3); // two numbers and 3 stray bytes
            let msgs = [
                ControlMessage::Rights(FdList::Raw(&raw[0..2])),
                ControlMessage::Credentials(Credentials::current()),
                ControlMessage::Other {
                    level: 0x1234,
                    kind: 7,
                    data: b"ignored level",
                },
                ControlMessage::Rights(FdList::Raw(&raw[2..4])),
                ControlMessage::Other {
                    level: libc::SOL_SOCKET,
                    kind: libc::SCM_RIGHTS,
                    data: &odd,
                },
            ];
            raw_send(a.as_fd(), b"hostile", &msgs).expect("the kernel accepts this");
            let got = inflight::recv_fds::<8>(&b, &mut [0u8; 16]).unwrap();
            assert_eq!(got.bytes, 7);
            assert_eq!(got.fds.len(), 6, "{kind}: every SCM_RIGHTS counted");
            for (fd, f) in got.fds.iter().zip(&files) {
                assert_same(fd.as_fd(), f.as_fd());
            }
            assert_eq!(got.credentials, Some(Credentials::current()));
        });
    }
}

#[test]
fn garbage_lengths_are_refused_by_the_kernel_and_queue_nothing() {
    let _g = serial();
    let f = file_with(b"g", 0);
    let fd = f.as_raw_fd().to_ne_bytes();
    let hdr = inflight::codec::HEADER_SIZE;
    for bad_len in [0usize, 1, hdr - 1, cmsg_len(4) + 64, usize::MAX] {
        no_leak("garbage", || {
            let (a, b) = inflight::socketpair(SocketKind::SeqPacket).unwrap();
            let mut buf = vec![0u8; inflight::codec::cmsg_space(4)];
            buf[..8].copy_from_slice(&bad_len.to_ne_bytes());
            buf[8..12].copy_from_slice(&libc::SOL_SOCKET.to_ne_bytes());
            buf[12..16].copy_from_slice(&libc::SCM_RIGHTS.to_ne_bytes());
            buf[16..20].copy_from_slice(&fd);
            let res = raw_send_bytes(a.as_fd(), b"g", &buf);
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
    let _g = serial();
    let f = std::fs::File::open("/dev/null").unwrap();
    let raw = vec![f.as_raw_fd(); 100];
    let (a, b) = inflight::socketpair(SocketKind::Datagram).unwrap();
    let msgs = [
        ControlMessage::Rights(FdList::Raw(&raw[..50])),
        ControlMessage::Rights(FdList::Raw(&raw[50..])),
    ];
    raw_send(a.as_fd(), b"flood", &msgs).unwrap();
    let before = FdSnapshot::take().unwrap();
    let e = inflight::recv_fds::<2>(&b, &mut [0u8; 8]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ControlBufferFull);
    assert!(
        e.fds().len() >= 2 && e.fds().len() < 100,
        "kernel truncated: {}",
        e.fds().len()
    );
    drop(e);
    assert!(FdSnapshot::take().unwrap().leaked_since(&before).is_empty());
}
