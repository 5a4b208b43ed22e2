//! What the benchmarks share: the lean round trips of every implementation
//! behind one trait ([`lean::RoundTrip`]).

pub mod lean;
