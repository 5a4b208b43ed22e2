//! Properties 1–8: descriptors sent over real socket pairs in this process.
//! Every case runs inside an open-descriptor leak check (see
//! `inflight_proptests::harness::run_property`), serialised within this
//! binary.

use std::io::{IoSliceMut, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use inflight::{ErrorKind, RecvOptions, SocketKind};
use inflight_proptests::check::{
    cloexec_as_asked, fail, file_identity, identical, is_cloexec, offset, pass_pidfd_support,
    set_status, status, turn_on, works, FileIdentity,
};
use inflight_proptests::delivered::{
    check_delivered, check_extras, check_repeats, kernel_delivers, with_repeats,
};
use inflight_proptests::exchange::{
    borrow_fds, exchange, recv_message, recv_plan, send_message, send_plan, Pair,
};
use inflight_proptests::fds::{
    any_source, bytes_from_seed, fd_spec, open_pool, seekable_source, FdSpec, Opened, Source,
};
use inflight_proptests::harness::{count_ops, note_skipped, run_property};
use inflight_proptests::plan::{any_kind, case, message, CasePlan, Limits, MessagePlan};
use inflight_testkit::probe::Support;
use inflight_testkit::{open_fds, FdKind};
use nix::fcntl::OFlag;
use nix::unistd::{lseek, Whence};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

type R = Result<(), TestCaseError>;

fn io<E: std::fmt::Display>(what: &'static str) -> impl Fn(E) -> TestCaseError {
    move |e| fail(format!("{what}: {e}"))
}

/// Opens the pool and the pair of a plan.
fn setup(plan: &CasePlan) -> Result<(Vec<Opened>, Pair), TestCaseError> {
    let pool = open_pool(&plan.pool).map_err(io("open the pool"))?;
    let pair = Pair::new(plan.kind).map_err(io("socketpair"))?;
    Ok((pool, pair))
}

// ---------------------------------------------------------------- 1

/// Identity: each received descriptor is the same open file description as
/// the one sent (kcmp), with equal fstat identity and a different number.
/// Half the cases turn `SO_PASSCRED` on at the receiver and half
/// `SO_PASSPIDFD` (where the kernel has it), so that `SCM_CREDENTIALS`
/// and `SCM_PIDFD` arrive beside (before) the rights: every control message
/// must be walked for the rights to be found, and the credentials and
/// pidfd must arrive too.
#[test]
fn p1_identity() {
    run_property(
        "p1_identity",
        file!(),
        (
            case(any_kind(), any_source(), Limits::new()),
            any::<bool>(),
            any::<bool>(),
        ),
        |(plan, passcred, passpidfd)| {
            let (pool, pair) = setup(&plan)?;
            let rx = pair.receiver.as_fd();
            if passcred {
                turn_on(rx, "SO_PASSCRED", libc::SO_PASSCRED)?;
            }
            let passpidfd = passpidfd
                && match pass_pidfd_support()? {
                    Support::Present => true,
                    Support::Missing(why) => {
                        note_skipped("SO_PASSPIDFD beside the rights (p1_identity)", &why);
                        false
                    }
                };
            if passpidfd {
                turn_on(rx, "SO_PASSPIDFD", libc::SO_PASSPIDFD)?;
            }
            let got = exchange(&plan, &pool, &pair).map_err(fail)?;
            check_delivered(&plan, &pool, &pair, &got)?;
            check_extras(&got, passcred, passpidfd)
        },
    );
}

// ---------------------------------------------------------------- 2

/// Offset sharing: lseek or write through one moves the other's offset
/// (regular files, memfds).
#[test]
fn p2_offset_sharing() {
    let limits = Limits {
        sender_socket: false,
        ..Limits::new()
    };
    run_property(
        "p2_offset_sharing",
        file!(),
        (case(any_kind(), seekable_source(), limits), any::<u64>()),
        |(plan, seed)| {
            let (pool, pair) = setup(&plan)?;
            let got = exchange(&plan, &pool, &pair).map_err(fail)?;
            check_delivered(&plan, &pool, &pair, &got)?;
            let mut x = seed;
            for (i, (m, d)) in plan.messages.iter().zip(&got).enumerate() {
                for (j, (&p, fd)) in m.fds.iter().zip(&d.fds).enumerate() {
                    let what = format!("message {i} fd {j} (#{p} {:?})", pool[p].spec);
                    let orig = pool[p].fd(pair.sender.as_fd());
                    let recv = fd.as_fd();
                    let size = file_id_size(orig)?;
                    x = x
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    // Seek the original: the received one follows.
                    let target = (x >> 33) % (size.saturating_sub(2) + 1);
                    lseek(orig, target as i64, Whence::SeekSet).map_err(io("lseek"))?;
                    let seen = offset(recv)?;
                    if seen != target {
                        return Err(fail(format!(
                            "{what}: lseek(original, {target}) but the received one is at {seen}"
                        )));
                    }
                    // Write through the received one: both move (to the end
                    // with O_APPEND). A sealed memfd cannot grow: no append
                    // write there.
                    let append = status(recv)?.contains(OFlag::O_APPEND);
                    let sealed = pool[p].spec.source == Source::Kind(FdKind::SealedMemFd);
                    if !(append && sealed) {
                        let n = nix::unistd::write(recv, b"ab").map_err(io("write"))?;
                        let expect = if append {
                            size + n as u64
                        } else {
                            target + n as u64
                        };
                        let (a, b) = (offset(orig)?, offset(recv)?);
                        if (a, b) != (expect, expect) {
                            return Err(fail(format!(
                                "{what}: after writing {n} byte(s) through the received descriptor at {target} (O_APPEND {append}, size {size}): original at {a}, received at {b}, expected {expect}"
                            )));
                        }
                    }
                    // Seek the received one back: the original follows.
                    lseek(recv, 1, Whence::SeekSet).map_err(io("lseek"))?;
                    if offset(orig)? != 1 {
                        return Err(fail(format!(
                            "{what}: lseek(received, 1) but the original is at {}",
                            offset(orig)?
                        )));
                    }
                    count_ops(4);
                }
            }
            Ok(())
        },
    );
}

fn file_id_size(fd: BorrowedFd<'_>) -> Result<u64, TestCaseError> {
    nix::sys::stat::fstat(fd)
        .map(|st| st.st_size as u64)
        .map_err(io("fstat"))
}

// ---------------------------------------------------------------- 3

/// Status flags are shared (O_APPEND, O_NONBLOCK through F_SETFL on one are
/// seen on the other); FD_CLOEXEC is per descriptor: the receiver's is set
/// exactly when it asked, whatever the sender's was.
#[test]
fn p3_flags() {
    run_property(
        "p3_flags",
        file!(),
        case(any_kind(), any_source(), Limits::new()),
        |plan| {
            let (pool, pair) = setup(&plan)?;
            let got = exchange(&plan, &pool, &pair).map_err(fail)?;
            check_delivered(&plan, &pool, &pair, &got)?;
            for (i, (m, d)) in plan.messages.iter().zip(&got).enumerate() {
                for (j, (&p, fd)) in m.fds.iter().zip(&d.fds).enumerate() {
                    let what = format!("message {i} fd {j} (#{p} {:?})", pool[p].spec);
                    let orig = pool[p].fd(pair.sender.as_fd());
                    let recv = fd.as_fd();
                    cloexec_as_asked(&what, recv, m.cloexec)?;
                    if pool[p].spec.source != Source::SenderSocket {
                        let sender_cloexec = is_cloexec(orig)?;
                        if sender_cloexec != pool[p].spec.sender_cloexec {
                            return Err(fail(format!(
                                "{what}: the sender's FD_CLOEXEC changed to {sender_cloexec}"
                            )));
                        }
                    }
                    if !pool[p].spec.source.status_flags_settable() {
                        continue;
                    }
                    let mut flags = vec![OFlag::O_NONBLOCK];
                    if pool[p].spec.source.seekable() {
                        flags.push(OFlag::O_APPEND);
                    }
                    for flag in flags {
                        for (from, to, dir) in [(orig, recv, "original"), (recv, orig, "received")]
                        {
                            let on = !status(from)?.contains(flag);
                            set_status(from, flag, on)?;
                            if status(to)?.contains(flag) != on {
                                return Err(fail(format!(
                                    "{what}: F_SETFL {flag:?}={on} on the {dir} descriptor is not seen on the other"
                                )));
                            }
                            count_ops(2);
                        }
                    }
                }
            }
            Ok(())
        },
    );
}

// ---------------------------------------------------------------- 4

fn in_flight_plan() -> impl Strategy<Value = (CasePlan, prop::sample::Index)> {
    let limits = Limits {
        messages: (1, 2),
        max_payload: 4096,
        max_total_fds: 64,
        ..Limits::new()
    };
    (
        case(any_kind(), any_source(), limits),
        any::<prop::sample::Index>(),
    )
        .prop_map(|(mut plan, at)| {
            // A pipe write end, always in message 0.
            plan.pool.push(FdSpec {
                source: Source::Kind(FdKind::PipeWrite),
                content_len: 0,
                content_seed: 0,
                offset_frac: 0,
                append: false,
                nonblock: false,
                sender_cloexec: true,
            });
            let w = plan.pool.len() - 1;
            let fds = &mut plan.messages[0].fds;
            let pos = at.index(fds.len() + 1);
            fds.insert(pos, w);
            (plan, at)
        })
}

/// In flight: the sender closes every original after sendmsg and before the
/// receive; all still arrive and work, and a pipe write end passed this way
/// keeps the read end from EOF until the receiver closes it.
#[test]
fn p4_in_flight() {
    run_property("p4_in_flight", file!(), in_flight_plan(), |(plan, _)| {
        let (mut pool, pair) = setup(&plan)?;
        let ids: Vec<Option<FileIdentity>> = pool
            .iter()
            .map(|o| {
                o.original
                    .as_ref()
                    .map(|fd| file_identity(fd.as_fd()))
                    .transpose()
            })
            .collect::<Result<_, _>>()?;
        send_plan(&plan, &pool, pair.sender.as_fd()).map_err(fail)?;
        for o in &mut pool {
            o.close_original();
        }
        let w = plan.pool.len() - 1;
        let read_end = pool[w].keep[0].as_fd();
        set_status(read_end, OFlag::O_NONBLOCK, true)?;
        let mut b = [0u8; 4];
        match nix::unistd::read(read_end, &mut b) {
            Err(nix::errno::Errno::EAGAIN) => {}
            other => {
                return Err(fail(format!(
                "pipe read end with its write end in flight: read gave {other:?}, expected EAGAIN (no EOF)"
            )))
            }
        }
        let got = recv_plan(&plan, pair.receiver.as_fd()).map_err(fail)?;
        let mut write_ends = Vec::new();
        for (i, (m, d)) in plan.messages.iter().zip(&got).enumerate() {
            if d.payload != m.payload() || d.fds.len() != m.fds.len() {
                return Err(fail(format!(
                    "message {i}: {} bytes and {} fd(s) received, {} and {} sent",
                    d.payload.len(),
                    d.fds.len(),
                    m.payload_len,
                    m.fds.len()
                )));
            }
            for (j, (&p, fd)) in m.fds.iter().zip(&d.fds).enumerate() {
                let what = format!(
                    "message {i} fd {j} (#{p} {:?}, original closed)",
                    pool[p].spec
                );
                if let Some(id) = ids[p] {
                    let now = file_identity(fd.as_fd())?;
                    if now != id {
                        return Err(fail(format!("{what}: fstat {now}, the original was {id}")));
                    }
                }
                cloexec_as_asked(&what, fd.as_fd(), m.cloexec)?;
                works(&what, &pool[p], fd.as_fd(), pair.receiver.as_fd())?;
                count_ops(1);
                if p == w {
                    write_ends.push(fd.as_raw_fd());
                }
            }
        }
        // One byte through each received write end reaches the read end.
        for &raw in &write_ends {
            // SAFETY: `raw` is a descriptor of `got`, which is alive here.
            let fd = unsafe { BorrowedFd::borrow_raw(raw) };
            nix::unistd::write(fd, b"w").map_err(io("write to a received pipe end"))?;
        }
        let mut drained = vec![0u8; 64];
        let n = nix::unistd::read(read_end, &mut drained).map_err(io("read pipe"))?;
        if n != write_ends.len() {
            return Err(fail(format!(
                "pipe: {n} byte(s) readable after writing one through each of {} received write end(s)",
                write_ends.len()
            )));
        }
        match nix::unistd::read(read_end, &mut b) {
            Err(nix::errno::Errno::EAGAIN) => {}
            other => {
                return Err(fail(format!(
                "pipe read end while the receiver holds the write end: {other:?}, expected EAGAIN"
            )))
            }
        }
        drop(got);
        match nix::unistd::read(read_end, &mut b) {
            Ok(0) => Ok(()),
            other => Err(fail(format!(
                "pipe read end after the receiver closed every write end: {other:?}, expected EOF"
            ))),
        }
    });
}

// ---------------------------------------------------------------- 5

/// Order, repeats, count and payload are preserved across several messages
/// in a row, and every message that carries descriptors repeats one: see
/// [`check_repeats`] for what p1 does not check.
#[test]
fn p5_order_and_repeats() {
    let limits = Limits {
        messages: (2, 4),
        ..Limits::new()
    };
    run_property(
        "p5_order_and_repeats",
        file!(),
        case(any_kind(), any_source(), limits).prop_map(with_repeats),
        |plan| {
            let (pool, pair) = setup(&plan)?;
            let got = exchange(&plan, &pool, &pair).map_err(fail)?;
            check_delivered(&plan, &pool, &pair, &got)?;
            check_repeats(&plan, &pool, &pair, &got)
        },
    );
}

// ---------------------------------------------------------------- 6

/// The receive APIs: the `Vec` form with any capacity, or an `FdArray<N>`.
#[derive(Clone, Copy, Debug)]
enum Api {
    Vec,
    Array(usize),
}

const ARRAY_NS: [usize; 7] = [0, 1, 2, 3, 8, 64, 253];

fn recv_array(
    n: usize,
    sock: BorrowedFd<'_>,
    buf: &mut [u8],
    opts: &RecvOptions,
) -> Result<(usize, Vec<OwnedFd>), inflight::Error> {
    macro_rules! go {
        ($($n:literal)*) => {
            match n {
                $($n => inflight::recv_with::<$n>(&sock, &mut [IoSliceMut::new(buf)], opts)
                    .map(|r| (r.bytes, r.fds.into_vec())),)*
                _ => unreachable!("N {n} is not in ARRAY_NS"),
            }
        };
    }
    go!(0 1 2 3 8 64 253)
}

#[derive(Clone, Debug)]
struct TruncCase {
    kind: SocketKind,
    pool: Vec<FdSpec>,
    message: MessagePlan,
    api: Api,
    /// A receive buffer this much shorter than the payload (seqpacket and
    /// datagram only), else the payload's size.
    short_by: usize,
}

fn trunc_case() -> impl Strategy<Value = TruncCase> {
    let limits = Limits {
        truncation: true,
        ..Limits::new()
    };
    (
        any_kind(),
        proptest::collection::vec(fd_spec(any_source()), 1..=4),
    )
        .prop_flat_map(move |(kind, pool)| {
            let n = pool.len();
            (
                Just(kind),
                Just(pool),
                message(kind, n, limits),
                prop_oneof![
                    2 => Just(Api::Vec),
                    1 => proptest::sample::select(ARRAY_NS.to_vec()).prop_map(Api::Array)
                ],
                prop_oneof![3 => Just(0usize), 1 => 1usize..=64],
            )
                .prop_map(|(kind, pool, message, api, short_by)| TruncCase {
                    kind,
                    pool,
                    short_by: if kind == SocketKind::Stream {
                        0
                    } else {
                        short_by.min(message.payload_len)
                    },
                    message,
                    api,
                })
        })
}

/// Truncation: for capacity c < n exactly the kernel-delivered prefix is
/// accounted for (in the error, in order), the error kind is
/// ControlBufferFull, and nothing leaks once the error is dropped; a short
/// payload buffer is PayloadTruncated with every descriptor; for c >= n,
/// success.
#[test]
fn p6_truncation() {
    run_property("p6_truncation", file!(), trunc_case(), |t| {
        let pool = open_pool(&t.pool).map_err(io("open the pool"))?;
        let pair = Pair::new(t.kind).map_err(io("socketpair"))?;
        let m = &t.message;
        let fds = borrow_fds(m, &pool, pair.sender.as_fd());
        let payload = m.payload();
        send_message(pair.sender.as_fd(), &payload, &fds, false).map_err(fail)?;
        let n = m.fds.len();
        let c = match t.api {
            Api::Vec => m.capacity(),
            Api::Array(c) => c,
        };
        let buf_len = payload.len() - t.short_by;
        let mut buf = vec![0u8; buf_len];
        let opts = RecvOptions::new().cloexec(m.cloexec);
        count_ops(2);
        let result = match t.api {
            Api::Vec => recv_message(pair.receiver.as_fd(), &mut buf, c, &opts, false)
                .map(|r| (r.bytes, r.fds)),
            Api::Array(c) => recv_array(c, pair.receiver.as_fd(), &mut buf, &opts),
        };
        let delivered = kernel_delivers(n, c);
        let ctx = format!(
            "{n} fd(s) sent, capacity {c} ({:?}), buffer {buf_len} of {} bytes",
            t.api,
            payload.len()
        );
        let (fds, bytes): (Vec<BorrowedFd<'_>>, usize);
        let held;
        let mut err_holder;
        if n > c {
            let e = match result {
                Ok(r) => {
                    return Err(fail(format!(
                        "{ctx}: success with {} fd(s), expected ControlBufferFull",
                        r.1.len()
                    )))
                }
                Err(e) => e,
            };
            if e.kind() != ErrorKind::ControlBufferFull || e.capacity() != c {
                return Err(fail(format!(
                    "{ctx}: {e:?}, expected ControlBufferFull with capacity {c}"
                )));
            }
            if e.fds().len() != delivered {
                return Err(fail(format!(
                    "{ctx}: the error holds {} fd(s), the kernel delivered {delivered}",
                    e.fds().len()
                )));
            }
            err_holder = Some(e);
            let e = err_holder.as_mut().unwrap();
            bytes = e.bytes();
            held = e.take_fds();
            fds = held.iter().map(|f| f.as_fd()).collect();
        } else if t.short_by > 0 {
            let e = match result {
                Ok(r) => {
                    return Err(fail(format!(
                        "{ctx}: success with {} bytes, expected PayloadTruncated",
                        r.0
                    )))
                }
                Err(e) => e,
            };
            if e.kind() != ErrorKind::PayloadTruncated || e.fds().len() != n || e.bytes() != buf_len
            {
                return Err(fail(format!(
                    "{ctx}: {e:?} with {} fd(s) and {} bytes, expected PayloadTruncated with {n} and {buf_len}",
                    e.fds().len(),
                    e.bytes()
                )));
            }
            err_holder = Some(e);
            let e = err_holder.as_mut().unwrap();
            bytes = e.bytes();
            held = e.take_fds();
            fds = held.iter().map(|f| f.as_fd()).collect();
        } else {
            let r = result.map_err(|e| fail(format!("{ctx}: {e:?}, expected success")))?;
            if r.1.len() != n {
                return Err(fail(format!("{ctx}: {} fd(s) received", r.1.len())));
            }
            bytes = r.0;
            held = r.1;
            fds = held.iter().map(|f| f.as_fd()).collect();
            err_holder = None;
        }
        let _ = &err_holder;
        if bytes == 0 && buf_len > 0 || buf[..bytes] != payload[..bytes] {
            return Err(fail(format!(
                "{ctx}: {bytes} payload bytes that differ from the sent prefix"
            )));
        }
        for (j, fd) in fds.iter().enumerate() {
            let p = m.fds[j];
            identical(
                &format!("{ctx}: fd {j} (#{p} {:?})", pool[p].spec),
                pool[p].fd(pair.sender.as_fd()),
                *fd,
            )?;
            cloexec_as_asked(&format!("{ctx}: fd {j}"), *fd, m.cloexec)?;
        }
        Ok(())
    });
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

// ---------------------------------------------------------------- 8

#[derive(Clone, Debug)]
struct BarrierCase {
    pool: Vec<FdSpec>,
    /// Each write: payload length and descriptors (pool indices).
    writes: Vec<(usize, Vec<usize>)>,
    /// Receive buffer sizes, used in turn.
    reads: Vec<usize>,
    seed: u64,
}

fn barrier_case() -> impl Strategy<Value = BarrierCase> {
    proptest::collection::vec(fd_spec(any_source()), 1..=4).prop_flat_map(|pool| {
        let n = pool.len();
        let write = (
            1usize..=2048,
            prop_oneof![1 => Just(0usize), 1 => 1usize..=3]
                .prop_flat_map(move |k| proptest::collection::vec(0..n, k)),
        );
        (
            Just(pool),
            proptest::collection::vec(write, 1..=12),
            proptest::collection::vec(1usize..=8192, 1..=4),
            any::<u64>(),
        )
            .prop_map(|(pool, writes, reads, seed)| BarrierCase {
                pool,
                writes,
                reads,
                seed,
            })
    })
}

/// Stream barrier: interleaved data-only and descriptor-carrying writes;
/// every descriptor arrives with the bytes of the write that carried it, and
/// two descriptor-carrying writes never come back in one receive.
#[test]
fn p8_stream_barrier() {
    run_property("p8_stream_barrier", file!(), barrier_case(), |c| {
        let pool = open_pool(&c.pool).map_err(io("open the pool"))?;
        let pair = Pair::new(SocketKind::Stream).map_err(io("socketpair"))?;
        let sender = pair.sender.as_fd();
        let mut stream = Vec::new();
        let mut starts = Vec::new();
        for (i, (len, fds)) in c.writes.iter().enumerate() {
            let payload = bytes_from_seed(c.seed ^ i as u64, *len);
            let borrowed: Vec<_> = fds.iter().map(|&p| pool[p].fd(sender)).collect();
            starts.push(stream.len());
            stream.extend_from_slice(&payload);
            send_message(sender, &payload, &borrowed, false)
                .map_err(|e| fail(format!("write {i}: {e}")))?;
        }
        let mut pos = 0;
        let mut got = Vec::new();
        let mut k = 0;
        while pos < stream.len() {
            let size = c.reads[k % c.reads.len()];
            k += 1;
            let mut buf = vec![0u8; size];
            let r = recv_message(
                pair.receiver.as_fd(),
                &mut buf,
                inflight::SCM_MAX_FD,
                &RecvOptions::new(),
                false,
            )
            .map_err(|e| fail(format!("receive at byte {pos}: {e:?}")))?;
            if r.bytes == 0 || buf[..r.bytes] != stream[pos..pos + r.bytes] {
                return Err(fail(format!(
                    "receive at byte {pos}: {} bytes that differ from the stream",
                    r.bytes
                )));
            }
            let range = pos..pos + r.bytes;
            let carrying: Vec<usize> = (0..c.writes.len())
                .filter(|&w| range.contains(&starts[w]) && !c.writes[w].1.is_empty())
                .collect();
            let what = format!(
                "receive {} (buffer {size}) got bytes {range:?} and {} fd(s)",
                k - 1,
                r.fds.len()
            );
            match carrying.as_slice() {
                [] if r.fds.is_empty() => {}
                [] => return Err(fail(format!("{what}: descriptors without the first byte of their write"))),
                [w] => {
                    let sent = &c.writes[*w].1;
                    if r.fds.len() != sent.len() {
                        return Err(fail(format!(
                            "{what}: write {w} (first byte at {}) carried {}",
                            starts[*w],
                            sent.len()
                        )));
                    }
                    for (j, fd) in r.fds.iter().enumerate() {
                        identical(&format!("{what}: write {w} fd {j}"), pool[sent[j]].fd(sender), fd.as_fd())?;
                    }
                }
                many => {
                    return Err(fail(format!(
                        "{what}: the first bytes of descriptor-carrying writes {many:?} came back in one receive"
                    )))
                }
            }
            pos = range.end;
            got.push(r.fds);
        }
        let _ = std::io::stderr().flush();
        Ok(())
    });
}
