//! The errors of a send or receive: refused before the system call, the
//! system call's own (a dead peer, nothing queued, a closed descriptor),
//! and their conversions; each leaks nothing. Every test takes the test
//! kit's lock (`serial`) and checks the descriptor table with its leak
//! guard.

mod common;

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd};

use common::*;
use inflight::{ErrorKind, RecvOptions, SendOptions, SocketKind};

#[test]
fn max_fds_works_and_one_more_is_refused_before_the_syscall() {
    let s = serial();
    s.check("253/254", || {
        let (a, b) = inflight::socketpair(SocketKind::SeqPacket).unwrap();
        let f = std::fs::File::open("/dev/null").unwrap();
        let fds = vec![f.as_fd(); 254];
        let e = inflight::send_fds(&a, b"x", &fds).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::TooManyFds);
        assert!(e.io_error().is_none(), "refused before the system call");
        // Nothing was queued.
        let e = inflight::recv_with::<1>(
            &b,
            &mut [IoSliceMut::new(&mut [0u8; 1])],
            &RecvOptions::new().nonblocking(true),
        )
        .unwrap_err();
        assert!(e.is_would_block(), "{e:?}");
        inflight::send_fds(&a, b"x", &fds[..253]).unwrap();
        let got = inflight::recv_fds::<253>(&b, &mut [0u8; 1]).unwrap();
        assert_eq!(got.fds.len(), 253);
        for fd in got.fds.iter() {
            assert_same(fd.as_fd(), f.as_fd());
        }
    });
}

#[test]
fn empty_payload_with_fds_refused_on_stream_only() {
    let s = serial();
    s.check("empty payload", || {
        let f = std::fs::File::open("/dev/null").unwrap();
        let (a, _b) = inflight::socketpair(SocketKind::Stream).unwrap();
        let e = inflight::send_fds(&a, b"", &[f.as_fd()]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::EmptyPayloadOnStream);
        // Vectored with only empty slices is empty too.
        let e =
            inflight::send_fds_vectored(&a, &[IoSlice::new(b""), IoSlice::new(b"")], &[f.as_fd()])
                .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::EmptyPayloadOnStream);
        // An empty payload without descriptors is just a zero-length write.
        assert_eq!(inflight::send_fds(&a, b"", &[]).unwrap(), 0);
        for kind in [SocketKind::SeqPacket, SocketKind::Datagram] {
            let (a, b) = inflight::socketpair(kind).unwrap();
            inflight::send_fds(&a, b"", &[f.as_fd()]).unwrap();
            let got = inflight::recv_fds::<1>(&b, &mut [0u8; 4]).unwrap();
            assert_eq!((got.bytes, got.fds.len()), (0, 1), "{kind}");
        }
    });
}

#[test]
fn nonblocking_empty_socket_is_would_block() {
    let _g = serial();
    let (a, b) = inflight::socketpair(SocketKind::Stream).unwrap();
    let e = inflight::recv_with::<1>(
        &b,
        &mut [IoSliceMut::new(&mut [0u8; 1])],
        &RecvOptions::new().nonblocking(true),
    )
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io);
    assert!(e.is_would_block());
    inflight::set_nonblocking(&b, true).unwrap();
    let e = inflight::recv_fds::<1>(&b, &mut [0u8; 1]).unwrap_err();
    assert!(e.is_would_block(), "socket in non-blocking mode");
    // Fill the sender's buffer: the send must say WouldBlock, not block.
    inflight::set_nonblocking(&a, true).unwrap();
    let chunk = vec![0u8; 65536];
    let mut saw = false;
    for _ in 0..10_000 {
        match inflight::send_fds(&a, &chunk, &[]) {
            Ok(_) => continue,
            Err(e) => {
                assert!(e.is_would_block(), "{e:?}");
                let io: std::io::Error = e.into();
                assert_eq!(io.kind(), std::io::ErrorKind::WouldBlock);
                saw = true;
                break;
            }
        }
    }
    assert!(saw, "a full socket buffer reports WouldBlock");
}

#[test]
fn dead_peer_is_epipe() {
    let s = serial();
    s.check("EPIPE", || {
        for kind in [SocketKind::Stream, SocketKind::SeqPacket] {
            let (a, b) = inflight::socketpair(kind).unwrap();
            drop(b);
            let f = file_with(b"e", 0);
            let e = inflight::send_fds(&a, b"x", &[f.as_fd()]).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Io);
            assert_eq!(
                e.io_error().unwrap().raw_os_error(),
                Some(libc::EPIPE),
                "{kind}"
            );
        }
    });
}

/// Rust programs ignore SIGPIPE at startup, which would hide a missing
/// MSG_NOSIGNAL; a child restores the default disposition first.
#[test]
fn dead_peer_does_not_raise_sigpipe() {
    if std::env::var_os("INFLIGHT_SIGPIPE_CHILD").is_some() {
        // SAFETY: signal(2) with SIG_DFL installs no handler code; the call
        // only changes this process's disposition for SIGPIPE.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
        let (a, b) = inflight::socketpair(SocketKind::Stream).unwrap();
        drop(b);
        let f = std::fs::File::open("/dev/null").unwrap();
        let e = inflight::send_fds(&a, b"x", &[f.as_fd()]).unwrap_err();
        assert_eq!(e.io_error().unwrap().raw_os_error(), Some(libc::EPIPE));
        // A non-blocking send adds MSG_DONTWAIT and keeps MSG_NOSIGNAL.
        let opts = SendOptions::new().nonblocking(true);
        let e = inflight::send_with(&a, &[IoSlice::new(b"x")], &[f.as_fd()], &opts).unwrap_err();
        assert_eq!(e.io_error().unwrap().raw_os_error(), Some(libc::EPIPE));
        println!("child: EPIPE without SIGPIPE");
        return;
    }
    let _g = serial();
    let out = run_in_child("dead_peer_does_not_raise_sigpipe", "INFLIGHT_SIGPIPE_CHILD");
    let stdout = String::from_utf8_lossy(&out.stdout);
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        out.status.signal(),
        None,
        "child killed by a signal: {:?}",
        out.status
    );
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("child: EPIPE without SIGPIPE"), "{stdout}");
}

#[test]
fn closed_descriptor_fails_the_whole_send_and_queues_nothing() {
    let s = serial();
    s.check("EBADF", || {
        let (a, b) = inflight::socketpair(SocketKind::SeqPacket).unwrap();
        let f = file_with(b"b", 0);
        let closed = std::fs::File::open("/dev/null").unwrap();
        let raw = closed.as_raw_fd();
        drop(closed);
        // A BorrowedFd of a closed number can only be made unsafely; this is
        // the caller's bug the kernel catches with EBADF.
        // SAFETY: `borrow_raw` requires the number to stay open for the
        // borrow; it does not, deliberately, and the borrow is only handed to
        // sendmsg, which reports EBADF without touching anything else
        // (nothing else in this serialised test opens a descriptor meanwhile,
        // so the number is not reused).
        let bad = unsafe { std::os::fd::BorrowedFd::borrow_raw(raw) };
        let e = inflight::send_fds(&a, b"x", &[f.as_fd(), bad]).unwrap_err();
        assert_eq!(
            e.io_error().and_then(|e| e.raw_os_error()),
            Some(libc::EBADF)
        );
        let e = inflight::recv_with::<2>(
            &b,
            &mut [IoSliceMut::new(&mut [0u8; 1])],
            &RecvOptions::new().nonblocking(true),
        )
        .unwrap_err();
        assert!(e.is_would_block(), "nothing queued: {e:?}");
    });
}

#[test]
fn error_converts_to_io_error_and_back() {
    let s = serial();
    s.check("conversion", || {
        let (a, b) = inflight::socketpair(SocketKind::SeqPacket).unwrap();
        let f = file_with(b"c", 0);
        inflight::send_fds(&a, b"x", &[f.as_fd(), f.as_fd(), f.as_fd()]).unwrap();
        let e = inflight::recv_fds::<1>(&b, &mut [0u8; 1]).unwrap_err();
        assert!(e.to_string().contains("capacity 1"), "{e}");
        let io: std::io::Error = e.into();
        assert_eq!(io.kind(), std::io::ErrorKind::InvalidData);
        let inner = io
            .into_inner()
            .unwrap()
            .downcast::<inflight::Error>()
            .unwrap();
        assert_eq!(inner.kind(), ErrorKind::ControlBufferFull);
        assert_eq!(inner.fds().len(), 3, "descriptors survive the conversion");
    });
}
