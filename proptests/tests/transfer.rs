//! Properties 1–5: descriptors sent over real socket pairs in this process
//! (identity, offsets, flags, in flight, order). Every case runs inside an
//! open-descriptor leak check (see `inflight_proptests::harness::run_property`),
//! serialised within this binary. Properties 6 and 8 are in `boundaries.rs`,
//! 7 in `error_paths.rs`.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

use inflight_proptests::check::{
    cloexec_as_asked, fail, file_identity, is_cloexec, offset, pass_pidfd_support, set_status,
    status, turn_on, works, FileIdentity,
};
use inflight_proptests::delivered::{check_delivered, check_extras, check_repeats, with_repeats};
use inflight_proptests::exchange::{exchange, recv_plan, send_plan, Pair};
use inflight_proptests::fds::{any_source, open_pool, seekable_source, FdSpec, Opened, Source};
use inflight_proptests::harness::{count_ops, note_skipped, run_property};
use inflight_proptests::plan::{any_kind, case, CasePlan, Limits};
use inflight_testkit::probe::Support;
use inflight_testkit::FdKind;
use nix::fcntl::OFlag;
use nix::unistd::{lseek, Whence};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

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
