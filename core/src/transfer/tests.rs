//! The claim-and-classify step on hand-made messages: every outcome,
//! who owns what afterwards, in which order.

use std::os::fd::{AsRawFd, IntoRawFd, RawFd};

use super::*;
use crate::codec::{encode, Credentials};
use crate::sys::KernelControl;

/// Closed numbers are checked through /proc: the crate's unit tests
/// that open descriptors share one lock.
use crate::sys::tests::SERIAL;

fn released(n: usize) -> Vec<RawFd> {
    (0..n)
        .map(|_| OwnedFd::from(std::fs::File::open("/dev/null").unwrap()).into_raw_fd())
        .collect()
}

fn is_open(fd: RawFd) -> bool {
    std::fs::symlink_metadata(format!("/proc/self/fd/{fd}")).is_ok()
}

fn numbers<'a>(fds: impl IntoIterator<Item = &'a OwnedFd>) -> Vec<RawFd> {
    fds.into_iter().map(AsRawFd::as_raw_fd).collect()
}

/// `n` descriptors in one SCM_RIGHTS (credentials first when `creds`),
/// classified with `flags` and capacity `N`; 7 payload bytes.
fn classify<const N: usize>(
    n: usize,
    creds: bool,
    flags: libc::c_int,
) -> (Vec<RawFd>, Result<Received<FdArray<N>>, Error>) {
    let raw = released(n);
    let c = Credentials {
        pid: 1,
        uid: 2,
        gid: 3,
    };
    let mut msgs = Vec::new();
    if creds {
        msgs.push(ControlMessage::Credentials(c));
    }
    msgs.push(ControlMessage::Rights(FdList::Raw(&raw)));
    let mut buf = vec![0u8; 2048];
    let bytes = encode(&msgs, &mut buf).unwrap();
    let got = finish(
        KernelControl::received(bytes, 7, flags),
        FdArray::<N>::new(),
        true,
    );
    (raw, got)
}

#[test]
fn within_capacity_is_delivered_in_order_with_credentials() {
    let _g = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let (raw, got) = classify::<4>(3, true, 0);
    let r = got.unwrap();
    assert_eq!((r.bytes, numbers(&r.fds)), (7, raw.clone()));
    let c = r.credentials.unwrap();
    assert_eq!((c.pid, c.uid, c.gid), (1, 2, 3));
    drop(r);
    assert!(raw.iter().all(|&fd| !is_open(fd)), "closed with the result");
}

#[test]
fn exactly_the_capacity_is_not_truncation() {
    let _g = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let (raw, got) = classify::<3>(3, false, 0);
    assert_eq!(numbers(&got.unwrap().fds), raw);
}

#[test]
fn more_than_the_capacity_is_control_buffer_full_with_every_fd() {
    let _g = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let (raw, got) = classify::<2>(5, false, 0);
    let e = got.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ControlBufferFull);
    assert_eq!((e.bytes(), e.capacity()), (7, 2));
    assert_eq!(numbers(e.fds()), raw, "all of them, in order");
    drop(e);
    assert!(raw.iter().all(|&fd| !is_open(fd)), "closed with the error");
}

#[test]
fn ctrunc_at_capacity_is_control_buffer_full() {
    let _g = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let (raw, got) = classify::<2>(2, false, libc::MSG_CTRUNC);
    let e = got.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ControlBufferFull);
    assert_eq!(numbers(e.fds()), raw);
}

#[test]
fn ctrunc_below_capacity_is_receiver_limit() {
    let _g = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let (raw, got) = classify::<4>(2, false, libc::MSG_CTRUNC);
    let e = got.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ReceiverLimit);
    assert_eq!((e.bytes(), e.capacity()), (7, 4));
    assert_eq!(numbers(e.fds()), raw);
}

#[test]
fn trunc_is_payload_truncated_with_the_fds() {
    let _g = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let (raw, got) = classify::<4>(2, false, libc::MSG_TRUNC);
    let e = got.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PayloadTruncated);
    assert_eq!(e.bytes(), 7);
    assert_eq!(numbers(e.fds()), raw);
}

#[test]
fn ctrunc_wins_over_trunc() {
    let _g = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let (_, got) = classify::<4>(1, false, libc::MSG_CTRUNC | libc::MSG_TRUNC);
    assert_eq!(got.unwrap_err().kind(), ErrorKind::ReceiverLimit);
}

#[test]
fn the_vec_sink_bounds_like_the_array() {
    let _g = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let raw = released(3);
    let mut buf = vec![0u8; 256];
    let bytes = encode(&[ControlMessage::Rights(FdList::Raw(&raw))], &mut buf).unwrap();
    let sink = BoundedVec {
        vec: Vec::new(),
        cap: 2,
    };
    let e = finish(KernelControl::received(bytes, 1, 0), sink, true)
        .err()
        .unwrap();
    assert_eq!(e.kind(), ErrorKind::ControlBufferFull);
    assert_eq!((numbers(e.fds()), e.capacity()), (raw, 2));
}

/// MSG_CTRUNC with the Vec sink: full at its bound is
/// ControlBufferFull, below it ReceiverLimit (as for the array).
#[test]
fn the_vec_sink_classifies_ctrunc_like_the_array() {
    let _g = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    for (cap, want) in [
        (2, ErrorKind::ControlBufferFull),
        (4, ErrorKind::ReceiverLimit),
    ] {
        let raw = released(2);
        let mut buf = vec![0u8; 256];
        let msgs = [ControlMessage::Rights(FdList::Raw(&raw))];
        let bytes = encode(&msgs, &mut buf).unwrap();
        let sink = BoundedVec {
            vec: Vec::new(),
            cap,
        };
        let e = finish(
            KernelControl::received(bytes, 1, libc::MSG_CTRUNC),
            sink,
            true,
        )
        .err()
        .unwrap();
        assert_eq!(e.kind(), want, "capacity {cap}");
        assert_eq!(numbers(e.fds()), raw);
    }
}
