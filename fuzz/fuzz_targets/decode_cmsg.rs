#![no_main]
//! `decode_cmsg`: see `inflight_fuzz::decode_cmsg` (the body shared with the replay test).

libfuzzer_sys::fuzz_target!(|data: &[u8]| inflight_fuzz::decode_cmsg(data));
