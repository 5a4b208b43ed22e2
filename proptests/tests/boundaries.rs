//! Properties 6 and 8: the boundaries of a transfer over real socket pairs in
//! this process (truncation, stream barriers). Every case runs inside an
//! open-descriptor leak check (see `inflight_proptests::harness::run_property`),
//! serialised within this binary.

use std::io::{IoSliceMut, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use inflight::{ErrorKind, RecvOptions, SocketKind};
use inflight_proptests::check::{cloexec_as_asked, fail, identical};
use inflight_proptests::delivered::kernel_delivers;
use inflight_proptests::exchange::{borrow_fds, recv_message, send_message, Pair};
use inflight_proptests::fds::{any_source, bytes_from_seed, fd_spec, open_pool, FdSpec};
use inflight_proptests::harness::{count_ops, run_property};
use inflight_proptests::plan::{any_kind, message, Limits, MessagePlan};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

fn io<E: std::fmt::Display>(what: &'static str) -> impl Fn(E) -> TestCaseError {
    move |e| fail(format!("{what}: {e}"))
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
