//! Sending and receiving: each behaviour of the crate root API, with leak
//! checks. Every test takes the test kit's lock (`serial`) and checks the
//! descriptor table with its leak guard.

mod common;

use std::io::{IoSlice, IoSliceMut, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::{SocketAddr, UnixDatagram, UnixListener, UnixStream};

use common::*;
use inflight::{ErrorKind, RecvOptions, SendOptions, SocketKind};

#[test]
fn every_kind_delivers_same_description_in_order() {
    let s = serial();
    for kind in SocketKind::ALL {
        s.check(kind.name(), || {
            let (a, b) = inflight::socketpair(kind).unwrap();
            let files: Vec<_> = (0..5u8).map(|i| file_with(&[i; 3], 0)).collect();
            let sent = inflight::send_fds(&a, b"payload", &borrow_all(&files)).unwrap();
            assert_eq!(sent, 7);
            let mut buf = [0u8; 64];
            let got = inflight::recv_fds::<8>(&b, &mut buf).unwrap();
            assert_eq!(&buf[..got.bytes], b"payload", "{kind}");
            assert_eq!(got.fds.len(), 5, "{kind}");
            for (i, (fd, orig)) in got.fds.iter().zip(&files).enumerate() {
                assert_same(fd.as_fd(), orig.as_fd());
                assert_eq!(read_all(fd.as_fd()), vec![i as u8; 3], "order on {kind}");
            }
        });
    }
}

#[test]
fn duplicates_arrive_as_distinct_descriptors_of_one_file() {
    let s = serial();
    s.check("duplicates", || {
        let (a, b) = inflight::socketpair(SocketKind::SeqPacket).unwrap();
        let f = file_with(b"x", 0);
        let g = file_with(b"y", 0);
        inflight::send_fds(&a, b"d", &[f.as_fd(), g.as_fd(), f.as_fd(), f.as_fd()]).unwrap();
        let got = inflight::recv_fds_vec(&b, &mut [0u8; 4], 16).unwrap();
        let fds = got.fds;
        assert_eq!(fds.len(), 4);
        let nums: std::collections::BTreeSet<_> = fds.iter().map(|f| f.as_raw_fd()).collect();
        assert_eq!(nums.len(), 4, "each arrival is its own descriptor");
        assert_same(fds[0].as_fd(), f.as_fd());
        assert_same(fds[1].as_fd(), g.as_fd());
        assert_same(fds[2].as_fd(), f.as_fd());
        assert_same(fds[3].as_fd(), f.as_fd());
        assert_different(fds[0].as_fd(), fds[1].as_fd());
    });
}

#[test]
fn offset_and_status_flags_shared_cloexec_not() {
    let s = serial();
    s.check("sharing", || {
        let (a, b) = inflight::socketpair(SocketKind::Stream).unwrap();
        let f = file_with(b"0123456789", 2);
        // The sender's descriptor is close-on-exec (std opens so); receive
        // without MSG_CMSG_CLOEXEC: the flag must not travel.
        assert!(cloexec(f.as_fd()));
        inflight::send_fds(&a, b"s", &[f.as_fd()]).unwrap();
        let got = inflight::recv_with::<1>(
            &b,
            &mut [IoSliceMut::new(&mut [0u8; 1])],
            &RecvOptions::new().cloexec(false),
        )
        .unwrap();
        let r = got.fds.get(0).unwrap();
        assert!(!cloexec(r), "FD_CLOEXEC is per descriptor");
        assert_eq!(offset(r), 2, "offset arrives");
        // Moving the offset through one moves the other.
        nix::unistd::lseek(r, 7, nix::unistd::Whence::SeekSet).unwrap();
        assert_eq!(offset(f.as_fd()), 7);
        (&f).write_all(b"ab").unwrap();
        assert_eq!(offset(r), 9);
        // Status flags belong to the description.
        use nix::fcntl::{fcntl, FcntlArg, OFlag};
        fcntl(r, FcntlArg::F_SETFL(OFlag::O_APPEND | OFlag::O_NONBLOCK)).unwrap();
        let fl = status_flags(f.as_fd());
        assert_ne!(fl & libc::O_APPEND, 0);
        assert_ne!(fl & libc::O_NONBLOCK, 0);
    });
}

#[test]
fn received_descriptors_are_cloexec_by_default() {
    let s = serial();
    s.check("cloexec", || {
        let (a, b) = inflight::socketpair(SocketKind::Datagram).unwrap();
        let (r, w) = pipe();
        nix::fcntl::fcntl(
            r.as_fd(),
            nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty()),
        )
        .unwrap();
        assert!(!cloexec(r.as_fd()));
        inflight::send_fds(&a, b"c", &[r.as_fd(), w.as_fd()]).unwrap();
        let got = inflight::recv_fds::<2>(&b, &mut [0u8; 1]).unwrap();
        for fd in got.fds.iter() {
            assert!(cloexec(fd.as_fd()), "MSG_CMSG_CLOEXEC by default");
        }
    });
}

#[test]
fn in_flight_descriptor_survives_sender_close() {
    let s = serial();
    s.check("in flight", || {
        let (a, b) = inflight::socketpair(SocketKind::Stream).unwrap();
        let (r, w) = pipe();
        inflight::send_fds(&a, b"w", &[w.as_fd()]).unwrap();
        drop(w); // only the in-flight reference keeps the write end alive
        nix::fcntl::fcntl(
            r.as_fd(),
            nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
        )
        .unwrap();
        let mut rf = std::fs::File::from(r);
        let mut byte = [0u8; 1];
        let e = rf.read(&mut byte).unwrap_err();
        assert_eq!(
            e.kind(),
            std::io::ErrorKind::WouldBlock,
            "no EOF while the write end is in flight"
        );
        let got = inflight::recv_fds::<1>(&b, &mut [0u8; 1]).unwrap();
        let w2 = got.fds.into_iter().next().unwrap();
        std::fs::File::from(w2.try_clone().unwrap())
            .write_all(b"z")
            .unwrap();
        assert_eq!(rf.read(&mut byte).unwrap(), 1);
        assert_eq!(&byte, b"z");
        drop(w2);
        assert_eq!(
            rf.read(&mut byte).unwrap(),
            0,
            "EOF once the receiver closes it"
        );
    });
}

#[test]
fn vectored_send_and_receive() {
    let s = serial();
    s.check("vectored", || {
        let (a, b) = inflight::socketpair(SocketKind::SeqPacket).unwrap();
        let f = file_with(b"v", 0);
        let n = inflight::send_fds_vectored(
            &a,
            &[IoSlice::new(b"ab"), IoSlice::new(b"cde")],
            &[f.as_fd()],
        )
        .unwrap();
        assert_eq!(n, 5);
        let (mut x, mut y) = ([0u8; 3], [0u8; 3]);
        let got = inflight::recv_fds_vectored::<1>(
            &b,
            &mut [IoSliceMut::new(&mut x), IoSliceMut::new(&mut y)],
        )
        .unwrap();
        assert_eq!(got.bytes, 5);
        assert_eq!((&x, &y[..2]), (b"abc", &b"de"[..]));
        assert_same(got.fds.get(0).unwrap(), f.as_fd());
    });
}

/// For every capacity 0..=n (and past n), truncation leaks nothing: the
/// descriptors that arrive are all in the result or the error, the error
/// kind is ControlBufferFull exactly when the peer sent more than the
/// capacity, and dropping the error closes them.
#[test]
fn truncation_leaks_nothing_for_every_capacity() {
    let s = serial();
    const N: usize = 24;
    let files: Vec<_> = (0..N).map(|i| file_with(&[i as u8], 0)).collect();
    let fds = borrow_all(&files);
    for kind in SocketKind::ALL {
        for cap in 0..=N + 2 {
            s.check(&format!("{kind} cap {cap}"), || {
                let (a, b) = inflight::socketpair(kind).unwrap();
                inflight::send_fds(&a, b"t", &fds).unwrap();
                let (res, arrived) =
                    opened_by(&s, || inflight::recv_fds_vec(&b, &mut [0u8; 1], cap));
                match res {
                    Ok(got) => {
                        assert!(cap >= N, "{kind} cap {cap}: success only with room for all");
                        assert_eq!(got.fds.len(), N);
                        assert_eq!(arrived, N);
                        for (fd, f) in got.fds.iter().zip(&files) {
                            assert_same(fd.as_fd(), f.as_fd());
                        }
                    }
                    Err(mut e) => {
                        assert!(cap < N, "{kind} cap {cap}: {e}");
                        assert_eq!(e.kind(), ErrorKind::ControlBufferFull, "{kind} cap {cap}");
                        assert_eq!(e.capacity(), cap);
                        // Every installed descriptor is in the error, in order.
                        assert_eq!(e.fds().len(), arrived, "{kind} cap {cap}");
                        assert!(e.fds().len() >= cap, "at least the capacity arrived");
                        let taken = e.take_fds();
                        for (i, fd) in taken.iter().enumerate() {
                            assert_same(fd.as_fd(), files[i].as_fd());
                        }
                    }
                }
                // Dropping the error (and what was taken) closed them all:
                // the guard around this case checks.
            });
        }
    }
}

#[test]
fn fixed_capacity_surplus_is_reported_with_every_descriptor() {
    let s = serial();
    s.check("surplus", || {
        let (a, b) = inflight::socketpair(SocketKind::SeqPacket).unwrap();
        let f = file_with(b"s", 0);
        // Two descriptors into room for one: CMSG_SPACE rounding and the
        // room for credentials let the kernel install both; the crate must
        // still report the capacity overrun and hand both back.
        inflight::send_fds(&a, b"s", &[f.as_fd(), f.as_fd()]).unwrap();
        let mut e = inflight::recv_fds::<1>(&b, &mut [0u8; 1]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ControlBufferFull);
        assert_eq!(e.fds().len(), 2);
        assert_eq!(e.take_fds().len(), 2);
        // Capacity 0 with one descriptor sent.
        inflight::send_fds(&a, b"s", &[f.as_fd()]).unwrap();
        let e = inflight::recv_fds::<0>(&b, &mut [0u8; 1]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ControlBufferFull);
        assert_eq!(e.bytes(), 1, "the payload still arrived");
    });
}

#[test]
fn datagram_payload_truncation_keeps_descriptors() {
    let s = serial();
    s.check("MSG_TRUNC", || {
        for kind in [SocketKind::Datagram, SocketKind::SeqPacket] {
            let (a, b) = inflight::socketpair(kind).unwrap();
            let f = file_with(b"t", 0);
            inflight::send_fds(&a, b"0123456789", &[f.as_fd()]).unwrap();
            let mut buf = [0u8; 4];
            let mut e = inflight::recv_fds::<2>(&b, &mut buf).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::PayloadTruncated, "{kind}");
            assert_eq!(e.bytes(), 4);
            assert_eq!(&buf, b"0123");
            let fds = e.take_fds();
            assert_eq!(fds.len(), 1);
            assert_same(fds[0].as_fd(), f.as_fd());
        }
    });
}

#[test]
fn peek_installs_fresh_duplicates_each_time_and_leaks_none() {
    let s = serial();
    s.check("peek", || {
        for kind in SocketKind::ALL {
            let (a, b) = inflight::socketpair(kind).unwrap();
            let f = file_with(b"p", 0);
            inflight::send_fds(&a, b"pk", &[f.as_fd()]).unwrap();
            let mut buf = [0u8; 2];
            let p1 = inflight::peek_fds::<1>(&b, &mut buf).unwrap();
            let p2 = inflight::peek_fds::<1>(&b, &mut buf).unwrap();
            let (x, y) = (p1.fds.get(0).unwrap(), p2.fds.get(0).unwrap());
            assert_ne!(
                x.as_raw_fd(),
                y.as_raw_fd(),
                "{kind}: a fresh duplicate per peek"
            );
            assert_same(x, f.as_fd());
            assert_same(y, f.as_fd());
            drop((p1, p2));
            let got = inflight::recv_fds::<1>(&b, &mut buf).unwrap();
            assert_eq!(&buf[..got.bytes], b"pk");
            assert_same(got.fds.get(0).unwrap(), f.as_fd());
        }
    });
}

#[test]
fn stream_never_merges_two_descriptor_carrying_writes() {
    let s = serial();
    s.check("stream barrier", || {
        let (a, b) = inflight::socketpair(SocketKind::Stream).unwrap();
        let f = file_with(b"1", 0);
        let g = file_with(b"2", 0);
        inflight::send_fds(&a, b"aa", &[]).unwrap();
        inflight::send_fds(&a, b"bb", &[f.as_fd()]).unwrap();
        inflight::send_fds(&a, b"cc", &[g.as_fd()]).unwrap();
        inflight::send_fds(&a, b"dd", &[]).unwrap();
        let mut buf = [0u8; 64];
        let mut seen = Vec::new();
        while seen
            .iter()
            .map(|(s, _): &(Vec<u8>, usize)| s.len())
            .sum::<usize>()
            < 8
        {
            let got = inflight::recv_fds::<4>(&b, &mut buf).unwrap();
            seen.push((buf[..got.bytes].to_vec(), got.fds.len()));
            let bytes = &buf[..got.bytes];
            let has = |pat: &[u8]| bytes.windows(2).any(|w| w == pat);
            if got.fds.len() == 1 {
                // The descriptor rides with the bytes of the write that
                // carried it, which may come after data-only bytes.
                let want = if has(b"bb") { &f } else { &g };
                assert!(
                    has(b"bb") != has(b"cc"),
                    "one carrier per receive: {bytes:?}"
                );
                assert_same(got.fds.get(0).unwrap(), want.as_fd());
            }
        }
        let with_fds: Vec<_> = seen.iter().filter(|(_, n)| *n > 0).collect();
        assert_eq!(
            with_fds.len(),
            2,
            "two receives carried descriptors: {seen:?}"
        );
        assert!(with_fds.iter().all(|(_, n)| *n == 1), "{seen:?}");
        let carries = |v: &[u8], pat: &[u8]| v.windows(2).any(|w| w == pat);
        assert!(
            carries(&with_fds[0].0, b"bb") && carries(&with_fds[1].0, b"cc"),
            "{seen:?}"
        );
    });
}

#[test]
fn std_socket_types_and_addresses() {
    let s = serial();
    s.check("std types", || {
        let dir = tempfile::tempdir().unwrap();
        let f = file_with(b"std", 0);
        // Stream over a filesystem path, with std's types.
        let path = dir.path().join("s.sock");
        let l = UnixListener::bind(&path).unwrap();
        let c = UnixStream::connect(&path).unwrap();
        let (s, _) = l.accept().unwrap();
        inflight::send_fds(&c, b"p", &[f.as_fd()]).unwrap();
        let got = inflight::recv_fds::<1>(&s, &mut [0u8; 1]).unwrap();
        assert_same(got.fds.get(0).unwrap(), f.as_fd());
        // Unconnected datagram to a path (sendto).
        let dpath = dir.path().join("d.sock");
        let rx = UnixDatagram::bind(&dpath).unwrap();
        let tx = UnixDatagram::unbound().unwrap();
        let addr = SocketAddr::from_pathname(&dpath).unwrap();
        inflight::send_fds_to(&tx, b"dg", &[f.as_fd()], &addr).unwrap();
        let got = inflight::recv_fds::<1>(&rx, &mut [0u8; 2]).unwrap();
        assert_eq!(got.bytes, 2);
        assert_same(got.fds.get(0).unwrap(), f.as_fd());
        // Abstract namespace, datagram, with the crate's socket helpers.
        use std::os::linux::net::SocketAddrExt;
        let name = format!("inflight-test-{}", std::process::id());
        let aaddr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let arx = inflight::bind(SocketKind::Datagram, &aaddr).unwrap();
        let atx = inflight::unbound(SocketKind::Datagram).unwrap();
        inflight::send_with(
            &atx,
            &[IoSlice::new(b"ab")],
            &[f.as_fd()],
            &SendOptions::new().to(&aaddr),
        )
        .unwrap();
        let got = inflight::recv_fds::<1>(&arx, &mut [0u8; 2]).unwrap();
        assert_same(got.fds.get(0).unwrap(), f.as_fd());
        // Seqpacket over an abstract name: bind, connect, accept.
        let sname = format!("inflight-test-sp-{}", std::process::id());
        let saddr = SocketAddr::from_abstract_name(sname.as_bytes()).unwrap();
        let sl = inflight::bind(SocketKind::SeqPacket, &saddr).unwrap();
        let sc = inflight::connect(SocketKind::SeqPacket, &saddr).unwrap();
        let ss: OwnedFd = inflight::accept(&sl).unwrap();
        assert_eq!(inflight::socket_kind(&ss).unwrap(), SocketKind::SeqPacket);
        inflight::send_fds(&sc, b"q", &[f.as_fd()]).unwrap();
        let got = inflight::recv_fds::<1>(&ss, &mut [0u8; 1]).unwrap();
        assert_same(got.fds.get(0).unwrap(), f.as_fd());
    });
}

#[test]
fn the_sending_socket_itself_can_be_sent() {
    let s = serial();
    s.check("self", || {
        let (a, b) = inflight::socketpair(SocketKind::Stream).unwrap();
        inflight::send_fds(&a, b"me", &[a.as_fd(), b.as_fd()]).unwrap();
        let got = inflight::recv_fds::<2>(&b, &mut [0u8; 2]).unwrap();
        assert_same(got.fds.get(0).unwrap(), a.as_fd());
        assert_same(got.fds.get(1).unwrap(), b.as_fd());
    });
}
