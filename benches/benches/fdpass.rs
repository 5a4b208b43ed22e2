//! inflight against raw libc and the other fd-passing crates, behind one trait
//! (`inflight_impls::Implementation`), plus inflight's batch API.
//!
//! One iteration moves `k` descriptors from one end of a socket pair to the
//! other and closes what arrived; `Throughput::Elements` is descriptors per
//! iteration. Crates that carry one descriptor per message (passfd) spend
//! `k` messages on it. Groups are per parameter (one group per `k`, per
//! socket kind, ...) with every implementation inside, so that the
//! implementations compared with each other run close together in time.
//!
//! `ci/bench.sh` runs the whole thing three times and writes
//! `benches/RESULTS.md` from the medians.

use std::hint::black_box;
use std::io::IoSliceMut;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use inflight::batch::{Message, RecvBatch, SendBatch};
use inflight::SocketKind;
use inflight_impls::Implementation;
use inflight_testkit::{FdKind, Fixture};

/// `k` descriptors to send: the test kit's `/dev/null` fixture, `k` times.
fn sources(k: usize) -> Vec<Fixture> {
    (0..k)
        .map(|_| FdKind::DevNull.open().expect("open /dev/null"))
        .collect()
}

fn borrowed(files: &[Fixture]) -> Vec<BorrowedFd<'_>> {
    files.iter().map(Fixture::as_fd).collect()
}

/// One round: send `fds` with `payload`, receive until all arrived, close
/// them.
fn round(
    p: &mut dyn Implementation,
    tx: BorrowedFd<'_>,
    rx: BorrowedFd<'_>,
    payload: &[u8],
    fds: &[BorrowedFd<'_>],
    buf: &mut [u8],
) {
    p.send(tx, payload, fds).expect("send");
    let mut got = 0;
    while got < fds.len() {
        let r = p.recv(rx, buf, fds.len()).expect("recv");
        assert!(
            !r.fds.is_empty(),
            "{}: a message without descriptors",
            p.name()
        );
        got += r.fds.len();
        black_box(&r);
    }
}

const KS: [usize; 5] = [1, 4, 16, 64, 253];

/// Descriptors per message on a stream socket pair, 1-byte payload.
fn fds_per_message(c: &mut Criterion) {
    for k in KS {
        let files = sources(k);
        let fds = borrowed(&files);
        let mut g = c.benchmark_group(format!("fds_per_message/k={k}"));
        g.throughput(Throughput::Elements(k as u64));
        for mut p in inflight_impls::all() {
            let (tx, rx) = inflight::socketpair(SocketKind::Stream).unwrap();
            let mut buf = [0u8; 64];
            g.bench_function(BenchmarkId::new(p.name(), k), |b| {
                b.iter(|| round(&mut *p, tx.as_fd(), rx.as_fd(), b"x", &fds, &mut buf))
            });
        }
        g.finish();
    }
}

/// Socket kinds at k = 1 and 64.
fn socket_kind(c: &mut Criterion) {
    for kind in SocketKind::ALL {
        for k in [1usize, 64] {
            let files = sources(k);
            let fds = borrowed(&files);
            let mut g = c.benchmark_group(format!("socket_kind/{}/k={k}", kind.name()));
            g.throughput(Throughput::Elements(k as u64));
            for mut p in inflight_impls::all() {
                let (tx, rx) = inflight::socketpair(kind).unwrap();
                let mut buf = [0u8; 64];
                g.bench_function(BenchmarkId::new(p.name(), k), |b| {
                    b.iter(|| round(&mut *p, tx.as_fd(), rx.as_fd(), b"x", &fds, &mut buf))
                });
            }
            g.finish();
        }
    }
}

/// Payload sizes at k = 1, on a seqpacket pair (message boundaries keep a
/// 64 KiB payload in one receive). passfd is left out: it receives at most
/// 4 payload bytes and cannot take a larger payload off the socket.
fn payload_size(c: &mut Criterion) {
    let files = sources(1);
    let fds = borrowed(&files);
    for (label, size) in [("1B", 1usize), ("4KiB", 4096), ("64KiB", 65536)] {
        let payload = vec![0x5a_u8; size];
        let mut buf = vec![0u8; size];
        let mut g = c.benchmark_group(format!("payload/{label}"));
        g.throughput(Throughput::Elements(1));
        for mut p in inflight_impls::all() {
            if p.max_fds_per_message() == 1 {
                continue;
            }
            let (tx, rx) = inflight::socketpair(SocketKind::SeqPacket).unwrap();
            g.bench_function(BenchmarkId::new(p.name(), label), |b| {
                b.iter(|| round(&mut *p, tx.as_fd(), rx.as_fd(), &payload, &fds, &mut buf))
            });
        }
        g.finish();
    }
}

/// `M` messages of `K` descriptors through one `sendmmsg` and one
/// `recvmmsg` (more if the kernel hands fewer at a time).
fn batch_round<const M: usize, const K: usize>(
    sb: &mut SendBatch<M, K>,
    rb: &mut RecvBatch<M, K>,
    tx: BorrowedFd<'_>,
    rx: BorrowedFd<'_>,
    msgs: &[Message<'_>],
    storage: &mut [[u8; 8]; M],
) {
    let mut sent = 0;
    while sent < M {
        sent += sb.send(&tx, &msgs[sent..]).expect("send batch");
    }
    let mut got = 0;
    while got < M {
        let mut bufs = storage.each_mut().map(|s| IoSliceMut::new(s));
        for m in rb
            .recv(&rx, &mut bufs[..M - got], &inflight::RecvOptions::new())
            .expect("recv batch")
        {
            let m = m.expect("message");
            assert_eq!(m.fds.len(), K);
            got += 1;
            black_box(&m);
        }
    }
}

fn batch_group<const M: usize, const K: usize>(c: &mut Criterion) {
    let files = sources(K);
    let fds = borrowed(&files);
    let mut g = c.benchmark_group(format!("batch/k={K}/m={M}"));
    g.throughput(Throughput::Elements((M * K) as u64));
    {
        let (tx, rx) = inflight::socketpair(SocketKind::Stream).unwrap();
        let msgs = [Message::new(b"x", &fds); M];
        let mut sb = SendBatch::<M, K>::new();
        let mut rb = RecvBatch::<M, K>::new();
        let mut storage = [[0u8; 8]; M];
        g.bench_function(BenchmarkId::new("inflight-batch", M), |b| {
            b.iter(|| {
                batch_round(
                    &mut sb,
                    &mut rb,
                    tx.as_fd(),
                    rx.as_fd(),
                    &msgs,
                    &mut storage,
                )
            })
        });
    }
    // The same M messages one system call each: queue M, then drain M.
    for name in ["libc", "inflight-array"] {
        let mut p = inflight_impls::by_name(name).expect("implementation");
        let (tx, rx) = inflight::socketpair(SocketKind::Stream).unwrap();
        let mut buf = [0u8; 8];
        g.bench_function(BenchmarkId::new(name, M), |b| {
            b.iter(|| {
                for _ in 0..M {
                    p.send(tx.as_fd(), b"x", &fds).expect("send");
                }
                for _ in 0..M {
                    let r = p.recv(rx.as_fd(), &mut buf, K).expect("recv");
                    assert_eq!(r.fds.len(), K);
                    black_box(&r);
                }
            })
        });
    }
    g.finish();
}

fn batched(c: &mut Criterion) {
    batch_group::<1, 1>(c);
    batch_group::<8, 1>(c);
    batch_group::<32, 1>(c);
    batch_group::<1, 4>(c);
    batch_group::<8, 4>(c);
    batch_group::<32, 4>(c);
}

/// A child that echoes every descriptor back through the same
/// implementation.
struct Echo {
    child: Child,
    sock: Option<OwnedFd>,
}

impl Echo {
    fn spawn(implementation: &str, k: usize) -> Echo {
        let (mine, theirs) = inflight::socketpair(SocketKind::Stream).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_inflight-bench-echo"))
            .arg(implementation)
            .arg(k.to_string())
            .stdin(Stdio::from(theirs))
            .spawn()
            .expect("spawn the echo child");
        Echo {
            child,
            sock: Some(mine),
        }
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        drop(self.sock.take()); // end of stream: the child exits
        let _ = self.child.wait();
    }
}

/// Cross-process: send `k` descriptors to a spawned child that sends them
/// straight back (a round trip through two processes' descriptor tables).
fn cross_process(c: &mut Criterion) {
    for k in [1usize, 64] {
        let files = sources(k);
        let fds = borrowed(&files);
        let mut g = c.benchmark_group(format!("cross_process/k={k}"));
        g.throughput(Throughput::Elements(k as u64));
        for mut p in inflight_impls::all() {
            let echo = Echo::spawn(p.name(), k);
            let sock = echo.sock.as_ref().expect("socket").as_fd();
            let mut buf = [0u8; 64];
            g.bench_function(BenchmarkId::new(p.name(), k), |b| {
                b.iter(|| round(&mut *p, sock, sock, b"x", &fds, &mut buf))
            });
            drop(echo);
        }
        g.finish();
    }
}

fn criterion() -> Criterion {
    // Short measurements: ci/bench.sh repeats the whole run three times and
    // takes medians, which holds up better on a shared machine than one
    // long run.
    Criterion::default()
        .warm_up_time(Duration::from_millis(200))
        .measurement_time(Duration::from_millis(500))
        .sample_size(20)
        .nresamples(5_000)
        .without_plots()
        .configure_from_args()
}

criterion_group! {
    name = benches;
    config = criterion();
    targets = fds_per_message, socket_kind, payload_size, batched, cross_process
}
criterion_main!(benches);
