#![no_main]
//! `encode_roundtrip`: see `inflight_fuzz::encode_roundtrip` (the body shared with the replay test).

libfuzzer_sys::fuzz_target!(|data: &[u8]| inflight_fuzz::encode_roundtrip(data));
