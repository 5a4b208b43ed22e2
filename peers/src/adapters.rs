//! Adapters for the raw system calls and the peer crates.
//!
//! (Filled in by the benchmarks work: raw libc, nix, rustix, uds, sendfd,
//! passfd.)
