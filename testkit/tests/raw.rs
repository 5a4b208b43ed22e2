//! The builder's bytes are what the kernel accepts, and `raw::recvmsg`
//! hands over (or closes) everything the kernel installs. Every test runs
//! inside a leak guard.

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use inflight_testkit::cmsg::{self, Cmsg, SCM_PIDFD};
use inflight_testkit::raw::{self, UnixDest};
use inflight_testkit::{same_description, FdKind, LeakGuard, Sameness};
use nix::sys::socket::{self as sock, sockopt, AddressFamily, SockFlag, SockType};

fn pair(ty: SockType) -> (OwnedFd, OwnedFd) {
    sock::socketpair(AddressFamily::Unix, ty, None, SockFlag::SOCK_CLOEXEC).unwrap()
}

#[test]
fn rights_and_credentials_arrive() {
    LeakGuard::check("rights and credentials", || {
        for ty in [SockType::Stream, SockType::Datagram, SockType::SeqPacket] {
            let (a, b) = pair(ty);
            sock::setsockopt(&b, sockopt::PassCred, &true).unwrap();
            let sent = [
                FdKind::EventFd.open().unwrap(),
                FdKind::File.open().unwrap(),
            ];
            let (pid, uid, gid) = cmsg::own_ids();
            let control = cmsg::concat(&[
                Cmsg::rights(&[sent[0].fd.as_raw_fd(), sent[1].fd.as_raw_fd()]),
                Cmsg::own_credentials(),
            ]);
            let n = raw::sendmsg(a.as_fd(), b"hello", &control, 0).unwrap();
            assert_eq!(n, 5);
            let mut buf = [0u8; 16];
            let r = raw::recvmsg(b.as_fd(), &mut buf, Some(256), libc::MSG_CMSG_CLOEXEC).unwrap();
            assert_eq!(&buf[..r.bytes], b"hello", "{ty:?}");
            assert!(!r.ctrunc() && !r.trunc(), "{ty:?}: {r:?}");
            assert_eq!(r.fds.len(), 2, "{ty:?}: {r:?}");
            for (got, want) in r.fds.iter().zip(&sent) {
                assert_eq!(same_description(got.as_fd(), want.as_fd()), Sameness::Same);
            }
            assert_eq!(r.credentials, Some((pid, uid, gid)), "{ty:?}");
            let mut kinds = r.order.clone();
            kinds.sort_unstable();
            assert_eq!(
                kinds,
                [
                    (libc::SOL_SOCKET, libc::SCM_RIGHTS),
                    (libc::SOL_SOCKET, libc::SCM_CREDENTIALS)
                ],
                "{ty:?}"
            );
            assert_eq!(r.controllen, r.control.len());
            assert_eq!(r.controllen, cmsg::space(8) + cmsg::space(12));
        }
    });
}

#[test]
fn a_short_control_buffer_keeps_what_fits_and_closes_nothing_twice() {
    LeakGuard::check("short control buffers", || {
        let (a, b) = pair(SockType::SeqPacket);
        let f = FdKind::DevNull.open().unwrap();
        let fds = [f.fd.as_raw_fd(); 3];
        let control = Cmsg::rights(&fds).to_bytes();
        // No buffer at all: msg_control NULL, everything discarded.
        raw::sendmsg(a.as_fd(), b"x", &control, 0).unwrap();
        let r = raw::recvmsg(b.as_fd(), &mut [0u8; 4], None, 0).unwrap();
        assert!(r.ctrunc() && r.fds.is_empty() && r.controllen == 0, "{r:?}");
        // Room for exactly one descriptor.
        raw::sendmsg(a.as_fd(), b"x", &control, 0).unwrap();
        let r = raw::recvmsg(b.as_fd(), &mut [0u8; 4], Some(cmsg::len(4)), 0).unwrap();
        assert!(r.ctrunc(), "{r:?}");
        assert_eq!(r.fds.len(), 1, "{r:?}");
        assert_eq!(r.controllen, cmsg::len(4));
        // Zero bytes, but a pointer: nothing fits.
        raw::sendmsg(a.as_fd(), b"x", &control, 0).unwrap();
        let r = raw::recvmsg(b.as_fd(), &mut [0u8; 4], Some(0), 0).unwrap();
        assert!(r.ctrunc() && r.fds.is_empty(), "{r:?}");
        // A payload too long for the buffer.
        raw::sendmsg(a.as_fd(), b"abcdef", &[], 0).unwrap();
        let r = raw::recvmsg(b.as_fd(), &mut [0u8; 2], Some(64), 0).unwrap();
        assert!(r.trunc() && !r.ctrunc() && r.order.is_empty(), "{r:?}");
    });
}

#[test]
fn peeked_descriptors_are_claimed_too() {
    LeakGuard::check("MSG_PEEK", || {
        let (a, b) = pair(SockType::Datagram);
        let f = FdKind::MemFd.open().unwrap();
        let control = Cmsg::rights(&[f.fd.as_raw_fd()]).to_bytes();
        raw::sendmsg(a.as_fd(), b"p", &control, 0).unwrap();
        let peeked = raw::recvmsg(b.as_fd(), &mut [0u8; 1], Some(64), libc::MSG_PEEK).unwrap();
        let got = raw::recvmsg(b.as_fd(), &mut [0u8; 1], Some(64), 0).unwrap();
        assert_eq!((peeked.fds.len(), got.fds.len()), (1, 1));
        assert_ne!(peeked.fds[0].as_raw_fd(), got.fds[0].as_raw_fd());
    });
}

#[test]
fn the_kernel_refuses_what_the_builder_lies_about() {
    LeakGuard::check("lies", || {
        let (a, b) = pair(SockType::Stream);
        let f = FdKind::DevNull.open().unwrap();
        let rights = Cmsg::rights(&[f.fd.as_raw_fd()]);
        let long = rights.clone().with_len(cmsg::len(4) + 64).to_bytes();
        let e = raw::sendmsg(a.as_fd(), b"x", &long, 0).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EINVAL), "{e}");
        let bad = Cmsg::rights(&[1 << 30]).to_bytes();
        let e = raw::sendmsg(a.as_fd(), b"x", &bad, 0).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EBADF), "{e}");
        // A buffer shorter than a header holds no message: accepted, and
        // nothing but the payload arrives.
        assert_eq!(raw::sendmsg(b.as_fd(), b"x", &[1, 2, 3], 0).unwrap(), 1);
        let r = raw::recvmsg(a.as_fd(), &mut [0u8; 4], Some(64), 0).unwrap();
        assert_eq!((r.bytes, r.order.len(), r.controllen), (1, 0, 0), "{r:?}");
    });
}

#[test]
fn vectored_and_addressed_sends() {
    LeakGuard::check("sendmsg_to", || {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        let abs = format!("inflight-testkit-{}", std::process::id());
        let bound = [UnixDest::Path(&path), UnixDest::Abstract(abs.as_bytes())];
        for dest in bound {
            let rx = sock::socket(
                AddressFamily::Unix,
                SockType::Datagram,
                SockFlag::SOCK_CLOEXEC,
                None,
            )
            .unwrap();
            let addr = match dest {
                UnixDest::Path(p) => sock::UnixAddr::new(p).unwrap(),
                UnixDest::Abstract(n) => sock::UnixAddr::new_abstract(n).unwrap(),
            };
            sock::bind(rx.as_raw_fd(), &addr).unwrap();
            let tx = sock::socket(
                AddressFamily::Unix,
                SockType::Datagram,
                SockFlag::SOCK_CLOEXEC,
                None,
            )
            .unwrap();
            let f = FdKind::TimerFd.open().unwrap();
            let control = Cmsg::rights(&[f.fd.as_raw_fd()]).to_bytes();
            let iov = [IoSlice::new(b"ab"), IoSlice::new(b"cd")];
            let n = raw::sendmsg_to(tx.as_fd(), Some(dest), &iov, &control, 0).unwrap();
            assert_eq!(n, 4);
            let (mut x, mut y) = ([0u8; 1], [0u8; 8]);
            let mut bufs = [IoSliceMut::new(&mut x), IoSliceMut::new(&mut y)];
            let r = raw::recvmsg_vectored(rx.as_fd(), &mut bufs, Some(64), 0).unwrap();
            assert_eq!(r.bytes, 4);
            assert_eq!((&x, &y[..3]), (b"a", &b"bcd"[..]));
            assert_eq!(r.fds.len(), 1);
            assert_eq!(
                same_description(r.fds[0].as_fd(), f.as_fd()),
                Sameness::Same
            );
        }
        let too_long = "x".repeat(200);
        let e = raw::sendmsg_to(
            a_socket().as_fd(),
            Some(UnixDest::Path(too_long.as_ref())),
            &[],
            &[],
            0,
        )
        .unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
    });
}

fn a_socket() -> OwnedFd {
    pair(SockType::Datagram).0
}

#[test]
fn a_pidfd_is_claimed() {
    LeakGuard::check("SCM_PIDFD", || {
        let (a, b) = pair(SockType::Stream);
        const SO_PASSPIDFD: i32 = 76;
        let on: libc::c_int = 1;
        // SAFETY: setsockopt(2) reads `size_of::<c_int>()` bytes from a
        // live local; `b` is an open socket.
        let r = unsafe {
            libc::setsockopt(
                b.as_raw_fd(),
                libc::SOL_SOCKET,
                SO_PASSPIDFD,
                std::ptr::from_ref(&on).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if r != 0 {
            let e = std::io::Error::last_os_error();
            println!("skipped: SO_PASSPIDFD is not supported here: {e}");
            return;
        }
        raw::sendmsg(a.as_fd(), b"x", &[], 0).unwrap();
        let r = raw::recvmsg(b.as_fd(), &mut [0u8; 1], Some(64), 0).unwrap();
        assert!(r.order.contains(&(libc::SOL_SOCKET, SCM_PIDFD)), "{r:?}");
        let pidfd = r.pidfd.as_ref().expect("a pidfd");
        let info =
            std::fs::read_to_string(format!("/proc/self/fdinfo/{}", pidfd.as_raw_fd())).unwrap();
        let pid = format!("Pid:\t{}", std::process::id());
        assert!(info.lines().any(|l| l == pid), "{info}");
    });
}
