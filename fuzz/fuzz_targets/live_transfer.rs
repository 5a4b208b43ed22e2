#![no_main]
//! `live_transfer`: see `inflight_fuzz::live_transfer` (the body shared with the replay test).

libfuzzer_sys::fuzz_target!(|data: &[u8]| inflight_fuzz::live_transfer(data));
