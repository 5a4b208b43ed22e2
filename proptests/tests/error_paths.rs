//! Property 7: error paths over real socket pairs in this process leak
//! nothing. Every case runs inside an open-descriptor leak check (see
//! `inflight_proptests::harness::run_property`), serialised within this
//! binary.

use std::io::IoSliceMut;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

use inflight::{ErrorKind, RecvOptions, SocketKind};
use inflight_proptests::check::{fail, identical};
use inflight_proptests::delivered::kernel_delivers;
use inflight_proptests::exchange::Pair;
use inflight_proptests::fds::{any_source, fd_spec, open_pool, FdSpec};
use inflight_proptests::harness::{count_ops, run_property};
use inflight_proptests::plan::any_kind;
use inflight_testkit::open_fds;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

type R = Result<(), TestCaseError>;

fn io<E: std::fmt::Display>(what: &'static str) -> impl Fn(E) -> TestCaseError {
    move |e| fail(format!("{what}: {e}"))
}

// ---------------------------------------------------------------- 7

#[derive(Clone, Debug)]
enum ErrorCase {
    /// A closed descriptor at `at` among `n` good ones.
    ClosedFd {
        kind: SocketKind,
        n: usize,
        at: usize,
    },
    /// More than 253 descriptors.
    TooMany { kind: SocketKind, n: usize },
    /// The receiving end is gone.
    DeadPeer { kind: SocketKind, n: usize },
    /// Peeks (with these capacities) before the receive.
    PeekThenRecv {
        kind: SocketKind,
        n: usize,
        peeks: Vec<usize>,
    },
    /// Descriptors with an empty payload on a stream socket.
    EmptyOnStream { n: usize },
}

fn error_case() -> impl Strategy<Value = (ErrorCase, Vec<FdSpec>)> {
    let case = prop_oneof![
        (any_kind(), 0usize..=8, any::<prop::sample::Index>()).prop_map(|(kind, n, at)| {
            ErrorCase::ClosedFd {
                kind,
                n,
                at: at.index(n + 1),
            }
        }),
        (any_kind(), 254usize..=300).prop_map(|(kind, n)| ErrorCase::TooMany { kind, n }),
        (any_kind(), 0usize..=8).prop_map(|(kind, n)| ErrorCase::DeadPeer { kind, n }),
        (
            any_kind(),
            1usize..=16,
            proptest::collection::vec(0usize..=20, 1..=3)
        )
            .prop_map(|(kind, n, peeks)| ErrorCase::PeekThenRecv { kind, n, peeks }),
        (1usize..=8).prop_map(|n| ErrorCase::EmptyOnStream { n }),
    ];
    (
        case,
        proptest::collection::vec(fd_spec(any_source()), 1..=3),
    )
}

/// Nothing is queued on `sock`: a non-blocking receive would block.
fn nothing_queued(what: &str, sock: BorrowedFd<'_>) -> R {
    let mut buf = [0u8; 16];
    count_ops(1);
    match inflight::recv_with::<4>(
        &sock,
        &mut [IoSliceMut::new(&mut buf)],
        &RecvOptions::new().nonblocking(true),
    ) {
        Err(e) if e.is_would_block() => Ok(()),
        other => Err(fail(format!(
            "{what}: a message was queued after all: {other:?}"
        ))),
    }
}

/// Sends with SIGPIPE blocked in this thread and reports whether one became
/// pending (MSG_NOSIGNAL missing); consumes it if so.
fn send_watching_sigpipe(
    sock: BorrowedFd<'_>,
    fds: &[BorrowedFd<'_>],
) -> Result<(Result<usize, inflight::Error>, bool), TestCaseError> {
    use nix::sys::signal::{pthread_sigmask, SigSet, SigmaskHow, Signal};
    let mut set = SigSet::empty();
    set.add(Signal::SIGPIPE);
    let mut old = SigSet::empty();
    pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&set), Some(&mut old)).map_err(io("sigmask"))?;
    let r = inflight::send_fds(&sock, b"x", fds);
    // SAFETY: all-zero is a valid sigset_t to fill; sigpending(2) writes
    // the live local it is given; sigismember reads it.
    let raised = unsafe {
        let mut pending: libc::sigset_t = std::mem::zeroed();
        libc::sigpending(&mut pending) == 0 && libc::sigismember(&pending, libc::SIGPIPE) == 1
    };
    if raised {
        let _ = set.wait();
    }
    pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&old), None).map_err(io("sigmask"))?;
    Ok((r, raised))
}

/// Error paths leak nothing: a closed descriptor in the list (EBADF, and no
/// data queued), 254+ descriptors, a dead peer (EPIPE, no SIGPIPE), peek
/// then receive, an empty payload on a stream socket.
#[test]
fn p7_error_paths() {
    run_property("p7_error_paths", file!(), error_case(), |(case, specs)| {
        let pool = open_pool(&specs).map_err(io("open the pool"))?;
        let kind = match &case {
            ErrorCase::ClosedFd { kind, .. }
            | ErrorCase::TooMany { kind, .. }
            | ErrorCase::DeadPeer { kind, .. }
            | ErrorCase::PeekThenRecv { kind, .. } => *kind,
            ErrorCase::EmptyOnStream { .. } => SocketKind::Stream,
        };
        let Pair {
            sender: sender_end,
            receiver,
        } = Pair::new(kind).map_err(io("socketpair"))?;
        let mut receiver = Some(receiver);
        let rx = || receiver.as_ref().map(|r| r.as_fd()).expect("receiver open");
        let sender = sender_end.as_fd();
        let list = |n: usize| -> Vec<BorrowedFd<'_>> {
            (0..n).map(|i| pool[i % pool.len()].fd(sender)).collect()
        };
        count_ops(1);
        match case {
            ErrorCase::ClosedFd { n, at, .. } => {
                let raw = {
                    let f = std::fs::File::open("/dev/null").map_err(io("open"))?;
                    f.as_raw_fd()
                };
                let open = open_fds().map_err(io("read /proc/self/fd"))?;
                if open.contains(&raw) {
                    return Err(fail(format!("fd {raw} should be closed")));
                }
                let mut fds = list(n);
                // SAFETY: `borrow_raw` requires `raw` to stay open while
                // borrowed. It is deliberately closed (checked just above,
                // and this binary's tests are serialised so nothing reopens
                // it): the value is only handed to sendmsg, which must
                // refuse it with EBADF; nothing reads or writes through it.
                fds.insert(at, unsafe { BorrowedFd::borrow_raw(raw) });
                match inflight::send_fds(&sender, b"payload", &fds) {
                    Err(e) if e.io_error().and_then(|e| e.raw_os_error()) == Some(libc::EBADF) => {}
                    other => {
                        return Err(fail(format!(
                            "closed fd at {at} of {}: {other:?}, expected EBADF",
                            n + 1
                        )))
                    }
                }
                nothing_queued("after EBADF", rx())
            }
            ErrorCase::TooMany { n, .. } => {
                match inflight::send_fds(&sender, b"payload", &list(n)) {
                    Err(e) if e.kind() == ErrorKind::TooManyFds => {}
                    other => return Err(fail(format!("{n} fds: {other:?}, expected TooManyFds"))),
                }
                nothing_queued("after TooManyFds", rx())
            }
            ErrorCase::DeadPeer { n, .. } => {
                drop(receiver.take());
                let (r, sigpipe) = send_watching_sigpipe(sender, &list(n))?;
                if sigpipe {
                    return Err(fail(
                        "sending to a dead peer raised SIGPIPE (MSG_NOSIGNAL missing)",
                    ));
                }
                match r {
                    Err(e) if e.kind() == ErrorKind::Io => {
                        let k = e.io_error().map(std::io::Error::kind);
                        if kind != SocketKind::Datagram && k != Some(std::io::ErrorKind::BrokenPipe)
                        {
                            return Err(fail(format!(
                                "dead peer on {kind}: {e:?}, expected EPIPE"
                            )));
                        }
                        Ok(())
                    }
                    other => Err(fail(format!(
                        "dead peer on {kind}: {other:?}, expected an I/O error"
                    ))),
                }
            }
            ErrorCase::PeekThenRecv { n, peeks, .. } => {
                let fds = list(n);
                inflight::send_fds(&sender, b"peeked", &fds).map_err(io("send"))?;
                for cap in peeks {
                    let mut buf = [0u8; 16];
                    count_ops(1);
                    let r = inflight::recv_vec_with(
                        &rx(),
                        &mut [IoSliceMut::new(&mut buf)],
                        cap,
                        &RecvOptions::new().peek(true),
                    );
                    // Every descriptor, or exactly the prefix the kernel
                    // delivered into inflight's control buffer.
                    let want = if cap >= n { n } else { kernel_delivers(n, cap) };
                    let got = match (r, cap >= n) {
                        (Ok(r), true) if r.bytes == 6 && r.fds.len() == want => r.fds,
                        (Err(mut e), false)
                            if e.kind() == ErrorKind::ControlBufferFull
                                && e.capacity() == cap
                                && e.bytes() == 6
                                && e.fds().len() == want =>
                        {
                            e.take_fds()
                        }
                        (other, _) => {
                            let got = match other {
                                Ok(r) => {
                                    format!("success, {} bytes, {} fd(s)", r.bytes, r.fds.len())
                                }
                                Err(e) => format!(
                                    "{:?}, {} bytes, {} fd(s), capacity {}",
                                    e.kind(),
                                    e.bytes(),
                                    e.fds().len(),
                                    e.capacity()
                                ),
                            };
                            return Err(fail(format!(
                                "peek with capacity {cap} of {n}: {got}; expected 6 bytes and {want} fd(s)"
                            )));
                        }
                    };
                    for (j, fd) in got.iter().enumerate() {
                        identical(&format!("peek cap {cap} fd {j}"), fds[j], fd.as_fd())?;
                    }
                }
                let mut buf = [0u8; 16];
                let r = inflight::recv_fds_vec(&rx(), &mut buf, n)
                    .map_err(io("receive after peeks"))?;
                if r.bytes != 6 || r.fds.len() != n {
                    return Err(fail(format!(
                        "receive after peeks: {} bytes, {} fds",
                        r.bytes,
                        r.fds.len()
                    )));
                }
                for (j, fd) in r.fds.iter().enumerate() {
                    identical(&format!("receive after peeks fd {j}"), fds[j], fd.as_fd())?;
                }
                nothing_queued("after the receive", rx())
            }
            ErrorCase::EmptyOnStream { n } => {
                match inflight::send_fds(&sender, b"", &list(n)) {
                    Err(e) if e.kind() == ErrorKind::EmptyPayloadOnStream => {}
                    other => return Err(fail(format!("{n} fds, empty payload: {other:?}"))),
                }
                nothing_queued("after EmptyPayloadOnStream", rx())
            }
        }
    });
}
