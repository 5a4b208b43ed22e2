//! What a leak guard costs per start+finish pair, with the fuzzers' cheap
//! fixtures open (about a dozen descriptors in all):
//!
//! ```text
//! cargo run --release -p inflight-conformance --example guard_cost [pairs]
//! ```

use std::time::{Duration, Instant};

use inflight_conformance::{serial, FdKind, Serial};

fn per_pair(s: &Serial, pairs: u32, cheap: bool) -> Duration {
    let t = Instant::now();
    for _ in 0..pairs {
        let g = if cheap {
            s.leak_guard_cheap()
        } else {
            s.leak_guard()
        };
        g.finish().expect("nothing changed");
    }
    t.elapsed() / pairs
}

fn main() {
    let pairs: u32 = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("a number of pairs"))
        .unwrap_or(20_000);
    let s = serial();
    let fixtures: Vec<_> = FdKind::CHEAP
        .iter()
        .map(|k| k.open().expect("fixture"))
        .collect();
    let open = std::fs::read_dir("/proc/self/fd").expect("/proc").count() - 1;
    let g = s.leak_guard();
    let witnessed = open - g.blind_spots().len();
    drop(g);
    println!("{open} descriptors open, {witnessed} witnessed, {pairs} pairs each");
    // Warm up, then measure each mode twice, interleaved.
    per_pair(&s, pairs / 10 + 1, false);
    for round in 1..=2 {
        let full = per_pair(&s, pairs, false);
        let cheap = per_pair(&s, pairs, true);
        println!("round {round}: witnessed {full:?} per pair, cheap {cheap:?} per pair");
    }
    drop(fixtures);
}
