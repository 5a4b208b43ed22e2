//! The async API on tokio's socket types: readiness-driven waits, the same
//! guarantees as the blocking API, and cancellation that loses nothing.
#![cfg(feature = "tokio")]

mod common;

use std::os::fd::{AsFd, OwnedFd};
use std::time::Duration;

use common::*;
use inflight::{ErrorKind, SocketKind};
use tokio::io::unix::AsyncFd;

/// A current-thread runtime whose `block_on` fails the run after 20 s: a
/// lost wake-up in the code under test (a readiness that never clears or
/// never comes) hangs the single thread, which no timer inside it can end.
struct Rt {
    rt: tokio::runtime::Runtime,
}

impl Rt {
    fn block_on<F: std::future::Future>(&self, fut: F) -> F::Output {
        let _dog = inflight_testkit::Watchdog::new("tokio block_on", Duration::from_secs(20));
        self.rt.block_on(fut)
    }
}

fn rt() -> Rt {
    Rt {
        rt: tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap(),
    }
}

#[test]
fn stream_receive_waits_for_the_send() {
    let s = serial();
    s.check("tokio stream", || {
        rt().block_on(async {
            let (a, b) = tokio::net::UnixStream::pair().unwrap();
            let f = file_with(b"async", 0);
            let recv = async {
                let mut buf = [0u8; 8];
                let got = inflight::tokio::recv_fds::<2, _>(&b, &mut buf)
                    .await
                    .unwrap();
                (buf[..got.bytes].to_vec(), got.fds)
            };
            let send = async {
                tokio::time::sleep(Duration::from_millis(20)).await;
                inflight::tokio::send_fds(&a, b"later", &[f.as_fd()])
                    .await
                    .unwrap()
            };
            let ((bytes, fds), sent) = tokio::join!(recv, send);
            assert_eq!(sent, 5);
            assert_eq!(bytes, b"later");
            assert_same(fds.get(0).unwrap(), f.as_fd());
        });
    });
}

#[test]
fn datagram_and_seqpacket_through_asyncfd() {
    let s = serial();
    s.check("tokio dgram/seqpacket", || {
        rt().block_on(async {
            let (a, b) = tokio::net::UnixDatagram::pair().unwrap();
            let f = file_with(b"d", 0);
            inflight::tokio::send_fds(&a, b"dg", &[f.as_fd(), f.as_fd()])
                .await
                .unwrap();
            let got = inflight::tokio::recv_fds_vec(&b, &mut [0u8; 2], 4)
                .await
                .unwrap();
            assert_eq!(got.fds.len(), 2);
            for fd in &got.fds {
                assert_same(fd.as_fd(), f.as_fd());
            }

            let (x, y) = inflight::socketpair(SocketKind::SeqPacket).unwrap();
            inflight::set_nonblocking(&x, true).unwrap();
            inflight::set_nonblocking(&y, true).unwrap();
            // SAFETY: `register` requires that `as_raw_fd()` keeps returning
            // one open descriptor for the AsyncFd's lifetime: an OwnedFd
            // owns its descriptor and never changes it.
            let (x, y): (AsyncFd<OwnedFd>, AsyncFd<OwnedFd>) =
                unsafe { (AsyncFd::register(x).unwrap(), AsyncFd::register(y).unwrap()) };
            inflight::tokio::send_fds(&x, b"sp", &[f.as_fd()])
                .await
                .unwrap();
            let got = inflight::tokio::recv_fds::<1, _>(&y, &mut [0u8; 2])
                .await
                .unwrap();
            assert_same(got.fds.get(0).unwrap(), f.as_fd());
            // Truncation errors come through unchanged, descriptors inside.
            inflight::tokio::send_fds(&x, b"sp", &[f.as_fd(), f.as_fd(), f.as_fd()])
                .await
                .unwrap();
            let e = inflight::tokio::recv_fds::<1, _>(&y, &mut [0u8; 2])
                .await
                .unwrap_err();
            assert_eq!(e.kind(), ErrorKind::ControlBufferFull);
            assert_eq!(e.fds().len(), 3);
        });
    });
}

#[test]
fn cancelled_receive_consumes_nothing() {
    let s = serial();
    s.check("tokio cancel", || {
        rt().block_on(async {
            let (a, b) = tokio::net::UnixStream::pair().unwrap();
            let mut buf = [0u8; 4];
            // Nothing queued: the receive waits and is cancelled by the timeout.
            let r = tokio::time::timeout(
                Duration::from_millis(20),
                inflight::tokio::recv_fds::<1, _>(&b, &mut buf),
            )
            .await;
            assert!(r.is_err(), "timed out");
            let f = file_with(b"c", 0);
            inflight::tokio::send_fds(&a, b"c", &[f.as_fd()])
                .await
                .unwrap();
            let got = inflight::tokio::recv_fds::<1, _>(&b, &mut buf)
                .await
                .unwrap();
            assert_eq!(got.bytes, 1);
            assert_same(got.fds.get(0).unwrap(), f.as_fd());
        });
    });
}

#[test]
fn async_send_on_a_full_socket_waits_instead_of_failing() {
    let s = serial();
    s.check("tokio full socket", || {
        rt().block_on(async {
            let (a, b) = tokio::net::UnixStream::pair().unwrap();
            let chunk = vec![7u8; 1 << 16];
            // Fill the buffer until a send would block.
            loop {
                match inflight::send_fds(&a, &chunk, &[]) {
                    Ok(_) => continue,
                    Err(e) if e.is_would_block() => break,
                    Err(e) => panic!("{e}"),
                }
            }
            let mut sink = vec![0u8; 1 << 20];
            let drain = async {
                tokio::time::sleep(Duration::from_millis(20)).await;
                let mut total = 0;
                while total < 1 << 16 {
                    let got = inflight::tokio::recv_fds::<0, _>(&b, &mut sink)
                        .await
                        .unwrap();
                    total += got.bytes;
                }
            };
            let f = file_with(b"w", 0);
            let fds = [f.as_fd()];
            let (sent, ()) = tokio::join!(inflight::tokio::send_fds(&a, b"x", &fds), drain);
            assert_eq!(sent.unwrap(), 1);
            // The rest of the data, then the byte that carried the
            // descriptor (a barrier: never merged with what follows).
            loop {
                let got = inflight::tokio::recv_fds::<1, _>(&b, &mut sink)
                    .await
                    .unwrap();
                assert!(got.bytes > 0, "end of stream before the descriptor");
                if sink[got.bytes - 1] == b'x' {
                    let fd = got.fds.get(0).expect("the descriptor rides with its byte");
                    assert_same(fd, f.as_fd());
                    break;
                }
                assert_eq!(got.fds.len(), 0);
                assert!(sink[..got.bytes].iter().all(|&c| c == 7));
            }
        });
    });
}
