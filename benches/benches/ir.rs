//! User-space instructions per round trip (callgrind, through gungraun):
//! every implementation of [`inflight_benches::lean::RoundTrip`] at k in
//! {1, 4, 16, 64, 253}, plus the send and the receive alone for raw libc and
//! inflight's array form.
//!
//! A round trip sends a 1-byte payload with `k` memfds over a stream socket
//! pair, receives with room for exactly `k` and closes what arrived. The
//! fixture (sockets, descriptors, the implementation's buffers) and one
//! warm-up round trip (lazy symbol binding, first-touch of the stack) run
//! in the setup, outside the count; the teardown checks that every
//! descriptor arrived. Instruction counts are repeatable, so `ci/ir.sh`
//! turns them into ratios against raw libc and gates on them.
//!
//! Function names are `<implementation>_k<k>`; batch counts are for
//! [`BATCH`](inflight_benches::lean::BATCH) messages.
// The benchmark macros generate items (modules, functions, constants)
// that cannot carry docs.
#![allow(missing_docs)]

use std::hint::black_box;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use gungraun::{
    library_benchmark, library_benchmark_group, main, Callgrind, LibraryBenchmarkConfig,
};
use inflight::SocketKind;
use inflight_benches::lean::{
    InflightArray, InflightBatch, InflightVec, Nix, RawLibc, RoundTrip, Rustix,
};

/// A ready round trip: the implementation, a stream socket pair and `k`
/// memfds to send (leaked: each benchmark is its own process).
struct Fx<R> {
    imp: R,
    tx: OwnedFd,
    rx: OwnedFd,
    fds: Vec<BorrowedFd<'static>>,
}

fn memfds(k: usize) -> Vec<BorrowedFd<'static>> {
    let files: &'static [OwnedFd] = Vec::leak(
        (0..k)
            .map(|_| {
                nix::sys::memfd::memfd_create(c"ir", nix::sys::memfd::MFdFlags::MFD_CLOEXEC)
                    .expect("memfd_create")
            })
            .collect(),
    );
    files.iter().map(|f| f.as_fd()).collect()
}

/// The fixture, after one unmeasured round trip.
fn ready<R: RoundTrip>(k: usize) -> Fx<R> {
    let (tx, rx) = inflight::socketpair(SocketKind::Stream).expect("socketpair");
    let mut fx = Fx {
        imp: R::new(k),
        tx,
        rx,
        fds: memfds(k),
    };
    fx.imp.send(fx.tx.as_fd(), &fx.fds);
    let got = fx.imp.recv(fx.rx.as_fd(), k);
    assert_eq!(got, k * R::MESSAGES, "{} warm-up", R::NAME);
    fx
}

/// The fixture with one message (batch) already queued, for the receive
/// alone.
fn queued<R: RoundTrip>(k: usize) -> Fx<R> {
    let mut fx = ready::<R>(k);
    fx.imp.send(fx.tx.as_fd(), &fx.fds);
    fx
}

/// Checks a round trip's count outside the measurement.
fn arrived<R: RoundTrip>((fx, got): (Fx<R>, usize)) {
    assert_eq!(got, fx.fds.len() * R::MESSAGES, "{}", R::NAME);
}

/// After a send alone: receive what it sent, unmeasured.
fn drained<R: RoundTrip>(mut fx: Fx<R>) {
    let k = fx.fds.len();
    let got = fx.imp.recv(fx.rx.as_fd(), k);
    assert_eq!(got, k * R::MESSAGES, "{} send alone", R::NAME);
}

fn round_trip<R: RoundTrip>(mut fx: Fx<R>) -> (Fx<R>, usize) {
    let k = fx.fds.len();
    fx.imp.send(fx.tx.as_fd(), black_box(&fx.fds));
    let got = fx.imp.recv(fx.rx.as_fd(), black_box(k));
    (fx, got)
}

fn send_alone<R: RoundTrip>(mut fx: Fx<R>) -> Fx<R> {
    fx.imp.send(fx.tx.as_fd(), black_box(&fx.fds));
    fx
}

fn recv_alone<R: RoundTrip>(mut fx: Fx<R>) -> (Fx<R>, usize) {
    let k = fx.fds.len();
    let got = fx.imp.recv(fx.rx.as_fd(), black_box(k));
    (fx, got)
}

/// One benchmark function per implementation and k.
macro_rules! rt {
    ($($name:ident: $ty:ty, $k:literal;)*) => {$(
        #[library_benchmark(setup = ready::<$ty>, teardown = arrived::<$ty>)]
        #[bench::rt($k)]
        fn $name(fx: Fx<$ty>) -> (Fx<$ty>, usize) {
            black_box(round_trip(fx))
        }
    )*};
}

macro_rules! send_only {
    ($($name:ident: $ty:ty, $k:literal;)*) => {$(
        #[library_benchmark(setup = ready::<$ty>, teardown = drained::<$ty>)]
        #[bench::send($k)]
        fn $name(fx: Fx<$ty>) -> Fx<$ty> {
            black_box(send_alone(fx))
        }
    )*};
}

macro_rules! recv_only {
    ($($name:ident: $ty:ty, $k:literal;)*) => {$(
        #[library_benchmark(setup = queued::<$ty>, teardown = arrived::<$ty>)]
        #[bench::recv($k)]
        fn $name(fx: Fx<$ty>) -> (Fx<$ty>, usize) {
            black_box(recv_alone(fx))
        }
    )*};
}

rt! {
    libc_k1: RawLibc, 1; libc_k4: RawLibc, 4; libc_k16: RawLibc, 16;
    libc_k64: RawLibc, 64; libc_k253: RawLibc, 253;
    inflight_array_k1: InflightArray<1>, 1; inflight_array_k4: InflightArray<4>, 4;
    inflight_array_k16: InflightArray<16>, 16; inflight_array_k64: InflightArray<64>, 64;
    inflight_array_k253: InflightArray<253>, 253;
    inflight_vec_k1: InflightVec, 1; inflight_vec_k4: InflightVec, 4;
    inflight_vec_k16: InflightVec, 16; inflight_vec_k64: InflightVec, 64;
    inflight_vec_k253: InflightVec, 253;
    inflight_batch_k1: InflightBatch<1>, 1; inflight_batch_k4: InflightBatch<4>, 4;
    inflight_batch_k16: InflightBatch<16>, 16; inflight_batch_k64: InflightBatch<64>, 64;
    inflight_batch_k253: InflightBatch<253>, 253;
    rustix_k1: Rustix, 1; rustix_k4: Rustix, 4; rustix_k16: Rustix, 16;
    rustix_k64: Rustix, 64; rustix_k253: Rustix, 253;
    nix_k1: Nix, 1; nix_k4: Nix, 4; nix_k16: Nix, 16; nix_k64: Nix, 64; nix_k253: Nix, 253;
}

send_only! {
    send_libc_k1: RawLibc, 1; send_libc_k4: RawLibc, 4; send_libc_k16: RawLibc, 16;
    send_libc_k64: RawLibc, 64; send_libc_k253: RawLibc, 253;
    send_inflight_k1: InflightArray<1>, 1; send_inflight_k4: InflightArray<4>, 4;
    send_inflight_k16: InflightArray<16>, 16; send_inflight_k64: InflightArray<64>, 64;
    send_inflight_k253: InflightArray<253>, 253;
}

recv_only! {
    recv_libc_k1: RawLibc, 1; recv_libc_k4: RawLibc, 4; recv_libc_k16: RawLibc, 16;
    recv_libc_k64: RawLibc, 64; recv_libc_k253: RawLibc, 253;
    recv_inflight_array_k1: InflightArray<1>, 1; recv_inflight_array_k4: InflightArray<4>, 4;
    recv_inflight_array_k16: InflightArray<16>, 16;
    recv_inflight_array_k64: InflightArray<64>, 64;
    recv_inflight_array_k253: InflightArray<253>, 253;
}

library_benchmark_group!(
    name = round_trips;
    benchmarks =
        libc_k1, libc_k4, libc_k16, libc_k64, libc_k253,
        inflight_array_k1, inflight_array_k4, inflight_array_k16, inflight_array_k64,
        inflight_array_k253,
        inflight_vec_k1, inflight_vec_k4, inflight_vec_k16, inflight_vec_k64, inflight_vec_k253,
        inflight_batch_k1, inflight_batch_k4, inflight_batch_k16, inflight_batch_k64,
        inflight_batch_k253,
        rustix_k1, rustix_k4, rustix_k16, rustix_k64, rustix_k253,
        nix_k1, nix_k4, nix_k16, nix_k64, nix_k253
);

library_benchmark_group!(
    name = halves;
    benchmarks =
        send_libc_k1, send_libc_k4, send_libc_k16, send_libc_k64, send_libc_k253,
        send_inflight_k1, send_inflight_k4, send_inflight_k16, send_inflight_k64,
        send_inflight_k253,
        recv_libc_k1, recv_libc_k4, recv_libc_k16, recv_libc_k64, recv_libc_k253,
        recv_inflight_array_k1, recv_inflight_array_k4, recv_inflight_array_k16,
        recv_inflight_array_k64, recv_inflight_array_k253
);

main!(
    config = LibraryBenchmarkConfig::default().tool(Callgrind::with_args(["--cache-sim=no"]));
    library_benchmark_groups = round_trips, halves
);
