#![no_main]
//! `decode_differential`: see `inflight_fuzz::decode_differential` (the body shared with the replay test).

libfuzzer_sys::fuzz_target!(|data: &[u8]| inflight_fuzz::decode_differential(data));
