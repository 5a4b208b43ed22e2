//! EINTR is retried: a signal handler installed without SA_RESTART
//! interrupts a blocking receive, which must carry on and return the
//! message. Its own test binary, because signal dispositions are
//! process-wide.

use std::os::fd::AsFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use inflight::SocketKind;
use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};

static HANDLED: AtomicUsize = AtomicUsize::new(0);

extern "C" fn count(_: libc::c_int) {
    HANDLED.fetch_add(1, Ordering::SeqCst);
}

#[test]
fn blocking_receive_survives_a_signal() {
    // No SA_RESTART: the kernel returns EINTR from recvmsg.
    let action = SigAction::new(
        SigHandler::Handler(count),
        SaFlags::empty(),
        SigSet::empty(),
    );
    // SAFETY: sigaction requires the handler to be async-signal-safe: it
    // only increments an atomic.
    unsafe { sigaction(Signal::SIGUSR1, &action) }.unwrap();

    let (a, b) = inflight::socketpair(SocketKind::SeqPacket).unwrap();
    let (tx, rx) = mpsc::channel();
    let receiver = std::thread::spawn(move || {
        // SAFETY: pthread_self has no preconditions.
        let me = unsafe { libc::pthread_self() };
        // As a number: pthread_t is an integer in glibc but a pointer (not
        // Send) in musl.
        tx.send(me as usize).unwrap();
        let mut buf = [0u8; 4];
        let got = inflight::recv_fds::<1>(&b, &mut buf).map(|r| (r.bytes, r.fds.len()));
        (got.map_err(|e| e.to_string()), buf)
    });
    let thread = rx.recv().unwrap() as libc::pthread_t;
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(30));
        // SAFETY: pthread_kill needs a live thread id: the receiver thread
        // is alive until it gets the message sent below.
        assert_eq!(unsafe { libc::pthread_kill(thread, libc::SIGUSR1) }, 0);
    }
    std::thread::sleep(Duration::from_millis(30));
    let f = std::fs::File::open("/dev/null").unwrap();
    inflight::send_fds(&a, b"late", &[f.as_fd()]).unwrap();
    let (got, buf) = receiver.join().unwrap();
    assert_eq!(
        HANDLED.load(Ordering::SeqCst),
        3,
        "the signals were delivered"
    );
    assert_eq!(got, Ok((4, 1)), "EINTR was retried, not returned");
    assert_eq!(&buf, b"late");
}
