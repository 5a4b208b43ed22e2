//! The batch API (`sendmmsg`/`recvmmsg`): round trips, a truncated message
//! in the middle of a batch, partial sends, checks before the system call,
//! and no leaked descriptor on any path (every test holds the test kit's
//! lock and checks the descriptor table with its leak guard).

#![cfg(target_os = "linux")]

mod common;

use std::io::IoSliceMut;
use std::os::fd::{AsFd, BorrowedFd};

use common::{assert_same, cloexec, opened_by, serial};
use inflight::batch::{Message, RecvBatch, SendBatch};
use inflight::{socketpair, ErrorKind, RecvOptions, SocketKind};

fn files(n: usize) -> Vec<std::fs::File> {
    (0..n).map(|_| tempfile::tempfile().unwrap()).collect()
}

fn borrowed(files: &[std::fs::File]) -> Vec<BorrowedFd<'_>> {
    files.iter().map(|f| f.as_fd()).collect()
}

#[test]
fn round_trip_every_kind() {
    let s = serial();
    for kind in SocketKind::ALL {
        s.check(kind.name(), || {
            let (tx, rx) = socketpair(kind).unwrap();
            let fs = files(16);
            let b = borrowed(&fs);
            // Payloads of 1..=8 bytes, so that each message's count is its own.
            let payloads: Vec<Vec<u8>> = (0..8u8)
                .map(|i| vec![b'a' + i; usize::from(i) + 1])
                .collect();
            let msgs: Vec<Message<'_>> = (0..8)
                .map(|i| Message::new(&payloads[i], &b[2 * i..2 * i + 2]))
                .collect();
            let mut sb = SendBatch::<8, 2>::new();
            assert_eq!(sb.send(&tx, &msgs).unwrap(), 8, "{}", kind.name());
            for i in 0..8 {
                assert_eq!(sb.bytes_sent(i), i + 1, "bytes_sent({i})");
            }
            assert_eq!(sb.bytes_sent(8), 0, "past M");

            let mut storage = [[0u8; 16]; 8];
            let mut got = Vec::new();
            let mut rb = RecvBatch::<8, 2>::new();
            // A stream may hand the messages over in more than one call.
            while got.len() < 8 {
                let mut bufs = storage.each_mut().map(|s| IoSliceMut::new(s));
                let msgs = rb.recv(&rx, &mut bufs, &RecvOptions::new()).unwrap();
                assert!(msgs.received() >= 1);
                for m in msgs {
                    let m = m.unwrap();
                    assert_eq!(m.bytes, got.len() + 1, "{}", kind.name());
                    got.push(m.fds);
                }
            }
            assert_eq!(got.len(), 8, "{}", kind.name());
            for (i, arr) in got.iter().enumerate() {
                assert_eq!(arr.len(), 2);
                for (j, fd) in arr.iter().enumerate() {
                    assert_same(b[2 * i + j], fd.as_fd());
                    assert!(cloexec(fd.as_fd()));
                }
            }
        });
    }
}

/// The payloads land in their own buffers, in order.
#[test]
fn payloads_in_order() {
    let s = serial();
    s.check("payloads", || {
        let (tx, rx) = socketpair(SocketKind::SeqPacket).unwrap();
        let msgs = [
            Message::new(b"one", &[]),
            Message::new(b"two!", &[]),
            Message::new(b"three", &[]),
        ];
        assert_eq!(SendBatch::<4, 1>::new().send(&tx, &msgs).unwrap(), 3);
        let mut storage = [[0u8; 8]; 4];
        let mut bufs = storage.each_mut().map(|s| IoSliceMut::new(s));
        let mut rb = RecvBatch::<4, 1>::new();
        let lens: Vec<usize> = rb
            .recv(&rx, &mut bufs, &RecvOptions::new())
            .unwrap()
            .map(|m| m.unwrap().bytes)
            .collect();
        assert_eq!(lens, [3, 4, 5]);
        assert_eq!(&storage[0][..3], b"one");
        assert_eq!(&storage[1][..4], b"two!");
        assert_eq!(&storage[2][..5], b"three");
    });
}

/// A message with far more descriptors than the batch has room for, in the
/// middle of a batch: that message alone fails, with the descriptors that
/// arrived in its error; the messages around it are intact; nothing leaks.
#[test]
fn truncated_message_in_the_middle() {
    let s = serial();
    for kind in [SocketKind::SeqPacket, SocketKind::Datagram] {
        s.check(kind.name(), || {
            let (tx, rx) = socketpair(kind).unwrap();
            let fs = files(40);
            let b = borrowed(&fs);
            inflight::send_fds(&tx, b"a", &b[..1]).unwrap();
            inflight::send_fds(&tx, b"b", &b[1..40]).unwrap();
            inflight::send_fds(&tx, b"c", &b[..2]).unwrap();

            let mut storage = [[0u8; 4]; 4];
            let mut bufs = storage.each_mut().map(|s| IoSliceMut::new(s));
            let mut rb = RecvBatch::<4, 2>::new();
            let mut msgs = rb.recv(&rx, &mut bufs, &RecvOptions::new()).unwrap();
            assert_eq!(msgs.received(), 3);

            let first = msgs.next().unwrap().unwrap();
            assert_eq!(first.fds.len(), 1);
            assert_same(b[0], first.fds.get(0).unwrap());

            let mut err = msgs.next().unwrap().unwrap_err();
            assert_eq!(err.kind(), ErrorKind::ControlBufferFull, "{err}");
            assert_eq!(err.bytes(), 1);
            assert_eq!(err.capacity(), 2);
            let arrived = err.take_fds();
            assert!(
                arrived.len() >= 2 && arrived.len() < 39,
                "{}",
                arrived.len()
            );
            for (sent, got) in b[1..].iter().zip(&arrived) {
                assert_same(*sent, got.as_fd());
            }

            let third = msgs.next().unwrap().unwrap();
            assert_eq!(third.fds.len(), 2);
            assert_same(b[0], third.fds.get(0).unwrap());
            assert_same(b[1], third.fds.get(1).unwrap());
            assert!(msgs.next().is_none());
        });
    }
}

/// A datagram longer than its buffer, in the middle of a batch:
/// `PayloadTruncated` for that message, with its descriptors.
#[test]
fn payload_truncated_in_the_middle() {
    let s = serial();
    s.check("payload", || {
        let (tx, rx) = socketpair(SocketKind::Datagram).unwrap();
        let fs = files(3);
        let b = borrowed(&fs);
        let msgs = [
            Message::new(b"ok", &b[..1]),
            Message::new(b"far too long", &b[1..2]),
            Message::new(b"ok", &b[2..3]),
        ];
        assert_eq!(SendBatch::<3, 1>::new().send(&tx, &msgs).unwrap(), 3);
        let mut storage = [[0u8; 4]; 3];
        let mut bufs = storage.each_mut().map(|s| IoSliceMut::new(s));
        let mut rb = RecvBatch::<3, 1>::new();
        let results: Vec<_> = rb
            .recv(&rx, &mut bufs, &RecvOptions::new())
            .unwrap()
            .collect();
        assert_eq!(results.len(), 3);
        assert_eq!(results[0].as_ref().unwrap().fds.len(), 1);
        let e = results[1].as_ref().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::PayloadTruncated);
        assert_eq!(e.fds().len(), 1);
        assert_same(b[1], e.fds()[0].as_fd());
        assert_eq!(results[2].as_ref().unwrap().fds.len(), 1);
    });
}

/// Dropping the result without taking the messages (or after taking some)
/// closes every descriptor that arrived.
#[test]
fn dropping_untaken_messages_closes_them() {
    let s = serial();
    for take in 0..=3 {
        s.check(&format!("take {take}"), || {
            let (tx, rx) = socketpair(SocketKind::SeqPacket).unwrap();
            let fs = files(3);
            let b = borrowed(&fs);
            let msgs = [
                Message::new(b"1", &b[..1]),
                Message::new(b"2", &b[..2]),
                Message::new(b"3", &b[..3]),
            ];
            assert_eq!(SendBatch::<3, 3>::new().send(&tx, &msgs).unwrap(), 3);
            let mut storage = [[0u8; 4]; 3];
            let mut bufs = storage.each_mut().map(|s| IoSliceMut::new(s));
            let mut rb = RecvBatch::<3, 3>::new();
            let (it, installed) =
                opened_by(&s, || rb.recv(&rx, &mut bufs, &RecvOptions::new()).unwrap());
            let mut it = it;
            // The kernel installed all six on receive.
            assert_eq!(installed, 6);
            let taken: Vec<_> = it.by_ref().take(take).map(Result::unwrap).collect();
            assert_eq!(taken.len(), take);
            drop(it);
            drop(taken);
        });
    }
}

/// At most `M` messages go per call; a socket that fills up takes part of a
/// batch, and the rest goes with later calls, each message with its own
/// descriptor.
#[test]
fn partial_sends() {
    let s = serial();
    s.check("partial", || {
        let (tx, rx) = socketpair(SocketKind::Datagram).unwrap();
        let fs = files(1);
        let b = borrowed(&fs);
        let payload = [7u8; 512];
        let msgs: Vec<Message<'_>> = (0..16).map(|_| Message::new(&payload, &b)).collect();
        // More messages than the batch holds: only M go.
        let mut sb = SendBatch::<4, 1>::new();
        assert_eq!(sb.send(&tx, &msgs).unwrap(), 4);
        let mut queued = 4;

        // Fill the socket without blocking.
        let mut sb = SendBatch::<16, 1>::new();
        sb.nonblocking(true);
        loop {
            match sb.send(&tx, &msgs) {
                Ok(n) => {
                    assert!((1..=16).contains(&n));
                    queued += n;
                }
                Err(e) => {
                    assert!(e.is_would_block(), "{e}");
                    break;
                }
            }
        }
        // Make room for three, then send sixteen: the kernel takes some but
        // not all, and says how many.
        let mut buf = [0u8; 512];
        for _ in 0..3 {
            let r = inflight::recv_fds::<1>(&rx, &mut buf).unwrap();
            assert_eq!(r.fds.len(), 1);
            queued -= 1;
        }
        let n = sb.send(&tx, &msgs).unwrap();
        assert!((1..16).contains(&n), "{n}");
        queued += n;

        // Every queued message arrives with its descriptor.
        inflight::set_nonblocking(&rx, true).unwrap();
        let mut count = 0;
        let mut storage = [[0u8; 512]; 8];
        let mut rb = RecvBatch::<8, 1>::new();
        loop {
            let mut bufs = storage.each_mut().map(|s| IoSliceMut::new(s));
            match rb.recv(&rx, &mut bufs, &RecvOptions::new()) {
                Ok(msgs) => {
                    for m in msgs {
                        let m = m.unwrap();
                        assert_eq!((m.bytes, m.fds.len()), (512, 1));
                        assert_same(b[0], m.fds.get(0).unwrap());
                        count += 1;
                    }
                }
                Err(e) => {
                    assert!(e.is_would_block(), "{e}");
                    break;
                }
            }
        }
        assert_eq!(count, queued);
    });
}

/// The checks run before the system call, and nothing is sent when one
/// fails.
#[test]
fn checks_before_sending() {
    let s = serial();
    s.check("checks", || {
        let (tx, rx) = socketpair(SocketKind::Stream).unwrap();
        inflight::set_nonblocking(&rx, true).unwrap();
        let fs = files(3);
        let b = borrowed(&fs);
        let mut sb = SendBatch::<4, 2>::new();

        let e = sb
            .send(&tx, &[Message::new(b"a", &b[..1]), Message::new(b"b", &b)])
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::TooManyFds);
        assert!(e.to_string().contains("message 1"), "{e}");

        let e = sb
            .send(
                &tx,
                &[Message::new(b"a", &b[..1]), Message::new(b"", &b[..1])],
            )
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::EmptyPayloadOnStream);

        let e = inflight::recv_fds::<4>(&rx, &mut [0u8; 8]).unwrap_err();
        assert!(e.is_would_block(), "nothing was sent: {e}");
        assert_eq!(sb.send(&tx, &[]).unwrap(), 0);
    });
}

#[test]
fn peek_is_refused_and_empty_socket_would_block() {
    let s = serial();
    s.check("peek", || {
        let (_tx, rx) = socketpair(SocketKind::SeqPacket).unwrap();
        let mut storage = [[0u8; 4]; 2];
        let mut bufs = storage.each_mut().map(|s| IoSliceMut::new(s));
        let mut rb = RecvBatch::<2, 1>::new();
        let e = rb
            .recv(&rx, &mut bufs, &RecvOptions::new().peek(true))
            .err()
            .unwrap();
        assert_eq!(e.kind(), ErrorKind::Unsupported);
        let e = rb
            .recv(&rx, &mut bufs, &RecvOptions::new().nonblocking(true))
            .err()
            .unwrap();
        assert!(e.is_would_block(), "{e}");
    });
}

/// `cloexec(false)` reaches every message of the batch.
#[test]
fn cloexec_off_for_the_whole_batch() {
    let s = serial();
    s.check("cloexec", || {
        let (tx, rx) = socketpair(SocketKind::SeqPacket).unwrap();
        let fs = files(2);
        let b = borrowed(&fs);
        let msgs = [Message::new(b"x", &b[..1]), Message::new(b"y", &b[1..])];
        SendBatch::<2, 1>::new().send(&tx, &msgs).unwrap();
        let mut storage = [[0u8; 4]; 2];
        let mut bufs = storage.each_mut().map(|s| IoSliceMut::new(s));
        let mut rb = RecvBatch::<2, 1>::new();
        let mut n = 0;
        for m in rb
            .recv(&rx, &mut bufs, &RecvOptions::new().cloexec(false))
            .unwrap()
        {
            let m = m.unwrap();
            let fd = m.fds.get(0).unwrap();
            assert!(!cloexec(fd));
            // Message n carries the descriptor sent with message n.
            assert_same(b[n], fd);
            n += 1;
        }
        assert_eq!(n, 2);
    });
}
