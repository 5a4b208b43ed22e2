//! EINTR is retried: a signal handler installed without SA_RESTART
//! interrupts a blocking receive, which must carry on and return the
//! message. Its own test binary, because signal dispositions are
//! process-wide.

use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use inflight::batch::{Message, RecvBatch, SendBatch};
use inflight::{RecvOptions, SocketKind};
use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};

static HANDLED: AtomicUsize = AtomicUsize::new(0);

extern "C" fn count(_: libc::c_int) {
    HANDLED.fetch_add(1, Ordering::SeqCst);
}

/// Signal dispositions and the count are process-wide: one test at a time.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs `blocked` in a thread, interrupts it three times with SIGUSR1 (no
/// SA_RESTART, so the kernel returns EINTR from the blocking call), then
/// calls `release` so the call can complete; returns what `blocked`
/// returned and asserts the signals arrived.
fn interrupted_three_times<R: Send + 'static>(
    blocked: impl FnOnce() -> R + Send + 'static,
    release: impl FnOnce(),
) -> R {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    HANDLED.store(0, Ordering::SeqCst);
    let action = SigAction::new(
        SigHandler::Handler(count),
        SaFlags::empty(),
        SigSet::empty(),
    );
    // SAFETY: sigaction requires the handler to be async-signal-safe: it
    // only increments an atomic.
    unsafe { sigaction(Signal::SIGUSR1, &action) }.unwrap();

    let (tx, rx) = mpsc::channel();
    let worker = std::thread::spawn(move || {
        // SAFETY: pthread_self has no preconditions.
        let me = unsafe { libc::pthread_self() };
        // As a number: pthread_t is an integer in glibc but a pointer (not
        // Send) in musl.
        tx.send(me as usize).unwrap();
        blocked()
    });
    let thread = rx.recv().unwrap() as libc::pthread_t;
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(30));
        // SAFETY: pthread_kill needs a live thread id: the worker thread is
        // alive until `release` lets its call complete.
        assert_eq!(unsafe { libc::pthread_kill(thread, libc::SIGUSR1) }, 0);
    }
    std::thread::sleep(Duration::from_millis(30));
    release();
    let got = worker.join().unwrap();
    assert_eq!(
        HANDLED.load(Ordering::SeqCst),
        3,
        "the signals were delivered"
    );
    got
}

/// Sends "late" with one descriptor.
fn send_late(a: &OwnedFd) {
    let f = std::fs::File::open("/dev/null").unwrap();
    inflight::send_fds(a, b"late", &[f.as_fd()]).unwrap();
}

#[test]
fn blocking_receive_survives_a_signal() {
    let (a, b) = inflight::socketpair(SocketKind::SeqPacket).unwrap();
    let got = interrupted_three_times(
        move || {
            let mut buf = [0u8; 4];
            let got = inflight::recv_fds::<1>(&b, &mut buf).map_err(|e| e.to_string())?;
            assert_eq!(&buf, b"late");
            Ok::<_, String>((got.bytes, got.fds.len()))
        },
        || send_late(&a),
    );
    assert_eq!(got, Ok((4, 1)), "EINTR was retried, not returned");
}

#[test]
fn blocking_batch_receive_survives_a_signal() {
    let (a, b) = inflight::socketpair(SocketKind::SeqPacket).unwrap();
    let got = interrupted_three_times(
        move || {
            let mut storage = [[0u8; 4]; 2];
            let mut bufs = storage.each_mut().map(|s| std::io::IoSliceMut::new(s));
            let mut rb = RecvBatch::<2, 1>::new();
            let mut msgs = rb
                .recv(&b, &mut bufs, &RecvOptions::new())
                .map_err(|e| e.to_string())?;
            let first = msgs
                .next()
                .ok_or("no message")?
                .map_err(|e| e.to_string())?;
            Ok::<_, String>((first.bytes, first.fds.len()))
        },
        || send_late(&a),
    );
    assert_eq!(got, Ok((4, 1)), "EINTR was retried, not returned");
}

/// A seqpacket pair whose sending end (`a`) is blocking and whose buffer
/// is full: how many 512-byte messages filled it.
fn full_pair() -> (OwnedFd, OwnedFd, usize) {
    let (a, b) = inflight::socketpair(SocketKind::SeqPacket).unwrap();
    inflight::set_nonblocking(&a, true).unwrap();
    let mut filled = 0;
    loop {
        match inflight::send_fds(&a, &[7u8; 512], &[]) {
            Ok(_) => filled += 1,
            Err(e) if e.is_would_block() => break,
            Err(e) => panic!("filling the buffer: {e}"),
        }
    }
    inflight::set_nonblocking(&a, false).unwrap();
    (a, b, filled)
}

/// Receives `filled` 512-byte messages, then "late" with one descriptor.
fn drain_then_late(b: &OwnedFd, filled: usize) {
    let mut buf = [0u8; 512];
    for _ in 0..filled {
        inflight::recv_fds::<1>(b, &mut buf).unwrap();
    }
}

fn assert_late_arrives(b: &OwnedFd) {
    let mut buf = [0u8; 4];
    let last = inflight::recv_fds::<1>(b, &mut buf).unwrap();
    assert_eq!((&buf, last.fds.len()), (b"late", 1));
}

/// A send blocked on a full socket buffer, interrupted, carries on once
/// the receiver reads.
#[test]
fn blocking_send_survives_a_signal() {
    let (a, b, filled) = full_pair();
    let got = interrupted_three_times(
        move || {
            let f = std::fs::File::open("/dev/null").unwrap();
            inflight::send_fds(&a, b"late", &[f.as_fd()]).map_err(|e| e.to_string())
        },
        || drain_then_late(&b, filled),
    );
    assert_eq!(got, Ok(4), "EINTR was retried, not returned");
    assert_late_arrives(&b);
}

/// The same for a batch send (`sendmmsg`).
#[test]
fn blocking_batch_send_survives_a_signal() {
    let (a, b, filled) = full_pair();
    let got = interrupted_three_times(
        move || {
            let f = std::fs::File::open("/dev/null").unwrap();
            let fds = [f.as_fd()];
            SendBatch::<1, 1>::new()
                .send(&a, &[Message::new(b"late", &fds)])
                .map_err(|e| e.to_string())
        },
        || drain_then_late(&b, filled),
    );
    assert_eq!(got, Ok(1), "EINTR was retried, not returned");
    assert_late_arrives(&b);
}
