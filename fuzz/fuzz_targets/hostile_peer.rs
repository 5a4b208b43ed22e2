#![no_main]
//! `hostile_peer`: see `inflight_fuzz::hostile_peer` (the body shared with the replay test).

libfuzzer_sys::fuzz_target!(|data: &[u8]| inflight_fuzz::hostile_peer(data));
