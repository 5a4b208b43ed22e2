//! Wall-clock comparisons (criterion) of inflight against raw libc and the
//! other fd-passing crates.
//!
//! Two kinds of rows:
//!
//! * **lean** (`fds_per_message`, `batch`): the round trips of
//!   [`inflight_benches::lean`], each implementation's cheapest way to send
//!   `k` descriptors and receive them into room for exactly `k`, nothing
//!   allocated that the implementation itself does not allocate. The same
//!   round trips are counted in instructions by `benches/ir.rs`.
//! * **adapters** (`socket_kind`, `payload`, `cross_process`): every
//!   implementation of `inflight_impls::Implementation` (the auditor's
//!   trait), each receive returned as a `Vec<OwnedFd>`; the only place uds,
//!   sendfd and passfd are measured.
//!
//! One iteration moves `k` descriptors (per message) from one end of a
//! socket pair to the other and closes what arrived; `Throughput::Elements`
//! is descriptors per iteration. Groups are per parameter (one group per
//! `k`, per socket kind, ...) with every implementation inside, so that the
//! implementations compared with each other run seconds apart; the lean
//! groups come in [`ROUNDS`] rounds each (`.../round=r`), the order rotated
//! every round. `INFLIGHT_BENCH_ROTATE=r` rotates the implementations'
//! order in every group by `r` more places: `ci/bench.sh` runs the suite
//! three times with r = 0, 1, 2, so that no implementation always runs
//! first or last, and writes `benches/RESULTS.md` from the medians.
// The benchmark macros generate items (modules, functions, constants)
// that cannot carry docs.
#![allow(missing_docs)]

use std::hint::black_box;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{
    criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion, Throughput,
};
use inflight::SocketKind;
use inflight_benches::lean::{
    InflightArray, InflightBatch, InflightBatchOneClose, InflightVec, Nix, RawLibc, RoundTrip,
    Rustix,
};
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

/// `items` rotated left by `INFLIGHT_BENCH_ROTATE` (0 when unset) plus
/// `more` places.
fn rotated<T>(mut items: Vec<T>, more: usize) -> Vec<T> {
    let by = std::env::var("INFLIGHT_BENCH_ROTATE")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0);
    if !items.is_empty() {
        let len = items.len();
        items.rotate_left((by + more) % len);
    }
    items
}

/// Rounds of the lean groups: each is measured as `ROUNDS` groups
/// (`.../round=r`), every implementation once in each, the order rotated
/// one place further every round. Load that comes and goes for a second or
/// two then hits one round of an implementation, not all of its time.
const ROUNDS: usize = 3;

/// A lean group of one round: short measurements, since there are
/// `ROUNDS` of them.
fn round_group<'a>(c: &'a mut Criterion, name: &str, round: usize) -> BenchmarkGroup<'a, WallTime> {
    let mut g = c.benchmark_group(format!("{name}/round={round}"));
    g.warm_up_time(Duration::from_millis(100))
        .measurement_time(Duration::from_millis(400))
        .sample_size(20);
    g
}

/// Every adapter of `inflight_impls`, in rotated order.
fn adapters() -> Vec<Box<dyn Implementation>> {
    rotated(inflight_impls::all(), 0)
}

/// One round through an adapter: send `fds` with `payload`, receive until
/// all arrived, close them.
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

/// The lean implementations, by their report names, in the order of an
/// unrotated run. `libc-again` is raw libc once more: its ratio to `libc`
/// in the same run shows how far two measurements of the same code differ.
const LEAN: [&str; 7] = [
    "libc",
    "libc-again",
    "inflight-array",
    "inflight-vec",
    "inflight-batch",
    "rustix",
    "nix",
];

/// One lean benchmark, `R::NAME/param`: `R`'s round trip of `k`
/// descriptors (per message) on a stream pair of its own. Throughput:
/// descriptors per iteration, so that messages per iteration are
/// elements / k.
fn lean<R: RoundTrip>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    param: usize,
    k: usize,
    fds: &[BorrowedFd<'_>],
) {
    let (tx, rx) = inflight::socketpair(SocketKind::Stream).unwrap();
    let mut imp = R::new(k);
    let want = k * R::MESSAGES;
    g.throughput(Throughput::Elements(want as u64));
    g.bench_function(BenchmarkId::new(R::NAME, param), |b| {
        b.iter(|| {
            imp.send(tx.as_fd(), black_box(fds));
            let got = imp.recv(rx.as_fd(), black_box(k));
            assert_eq!(got, want, "{}", R::NAME);
        })
    });
}

/// Raw libc under another name: the control row (A/A) of each group.
struct Again(RawLibc);

impl RoundTrip for Again {
    const NAME: &'static str = "libc-again";

    fn new(k: usize) -> Self {
        Again(RawLibc::new(k))
    }

    fn send(&mut self, tx: BorrowedFd<'_>, fds: &[BorrowedFd<'_>]) {
        self.0.send(tx, fds);
    }

    fn recv(&mut self, rx: BorrowedFd<'_>, k: usize) -> usize {
        self.0.recv(rx, k)
    }
}

/// [`lean`] for the implementation called `name`, sized for `k` where the
/// type needs it.
fn lean_by_name(
    g: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    k: usize,
    fds: &[BorrowedFd<'_>],
) {
    macro_rules! sized {
        ($t:ident) => {
            match k {
                1 => lean::<$t<1>>(g, k, k, fds),
                4 => lean::<$t<4>>(g, k, k, fds),
                16 => lean::<$t<16>>(g, k, k, fds),
                64 => lean::<$t<64>>(g, k, k, fds),
                253 => lean::<$t<253>>(g, k, k, fds),
                _ => unreachable!("no sized type for k = {k}"),
            }
        };
    }
    match name {
        "libc" => lean::<RawLibc>(g, k, k, fds),
        "libc-again" => lean::<Again>(g, k, k, fds),
        "inflight-array" => sized!(InflightArray),
        "inflight-vec" => lean::<InflightVec>(g, k, k, fds),
        "inflight-batch" => sized!(InflightBatch),
        "rustix" => lean::<Rustix>(g, k, k, fds),
        "nix" => lean::<Nix>(g, k, k, fds),
        _ => unreachable!("no lean implementation {name}"),
    }
}

/// Descriptors per message on a stream socket pair, 1-byte payload: the
/// lean round trips (the batch per message of 8).
fn fds_per_message(c: &mut Criterion) {
    for k in KS {
        let files = sources(k);
        let fds = borrowed(&files);
        for round in 1..=ROUNDS {
            let mut g = round_group(c, &format!("fds_per_message/k={k}"), round);
            for name in rotated(LEAN.to_vec(), round - 1) {
                lean_by_name(&mut g, name, k, &fds);
            }
            g.finish();
        }
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
            for mut p in adapters() {
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
        for mut p in adapters() {
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

/// `M` messages of `K` descriptors one system call each, through `R`:
/// `M` sends, then `M` receives (the queue the batch API empties at once).
fn one_by_one<R: RoundTrip, const M: usize, const K: usize>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    fds: &[BorrowedFd<'_>],
) {
    let (tx, rx) = inflight::socketpair(SocketKind::Stream).unwrap();
    let mut imp = R::new(K);
    g.throughput(Throughput::Elements((M * K) as u64));
    g.bench_function(BenchmarkId::new(R::NAME, M), |b| {
        b.iter(|| {
            for _ in 0..M {
                imp.send(tx.as_fd(), black_box(fds));
            }
            for _ in 0..M {
                assert_eq!(imp.recv(rx.as_fd(), black_box(K)), K, "{}", R::NAME);
            }
        })
    });
}

/// `M` messages of `K` descriptors through the batch API (one `sendmmsg`,
/// one `recvmmsg`), the library's per-message close and one `close_range`
/// per batch, against the same messages one system call each.
fn batch_group<const M: usize, const K: usize>(c: &mut Criterion) {
    let files = sources(K);
    let fds = borrowed(&files);
    let names = [
        "libc",
        "inflight-array",
        "inflight-batch",
        "inflight-batch-close-range",
    ];
    for round in 1..=ROUNDS {
        let mut g = round_group(c, &format!("batch/k={K}/m={M}"), round);
        for name in rotated(names.to_vec(), round - 1) {
            match name {
                "libc" => one_by_one::<RawLibc, M, K>(&mut g, &fds),
                "inflight-array" => one_by_one::<InflightArray<K>, M, K>(&mut g, &fds),
                "inflight-batch" => lean::<InflightBatch<K, M>>(&mut g, M, K, &fds),
                _ => lean::<InflightBatchOneClose<K, M>>(&mut g, M, K, &fds),
            }
        }
        g.finish();
    }
}

fn batches(c: &mut Criterion) {
    batch_group::<8, 1>(c);
    batch_group::<32, 1>(c);
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
        for mut p in adapters() {
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
    // long run. (The lean groups, the comparison that matters, set their
    // own: `round_group`.)
    Criterion::default()
        .warm_up_time(Duration::from_millis(100))
        .measurement_time(Duration::from_millis(300))
        .sample_size(20)
        .nresamples(5_000)
        .without_plots()
        .configure_from_args()
}

criterion_group! {
    name = benches;
    config = criterion();
    targets = fds_per_message, socket_kind, payload_size, batches, cross_process
}
criterion_main!(benches);
