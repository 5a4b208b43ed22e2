//! The bodies of inflight's fuzz targets.
//!
//! Each public function is one target: the libFuzzer binaries in
//! `fuzz_targets/` call it with the fuzzer's bytes, and `tests/replay.rs`
//! calls it with every committed seed and regression input, on stable and
//! without cargo-fuzz. A function returns normally when the input is fine
//! and panics (a crash, for libFuzzer) when an oracle disagrees.
//!
//! | target | what it drives | oracle |
//! | --- | --- | --- |
//! | [`decode_cmsg`] | the checked decoder on arbitrary bytes and a claimed length | an independent model of the walk; the bytes after the claim change nothing; every data slice lies inside the claim |
//! | [`decode_differential`] | the decoder against the kit's `CMSG_FIRSTHDR`/`CMSG_NXTHDR`/`CMSG_DATA` walks | same (level, type, data range) wherever the reference is defined |
//! | [`encode_roundtrip`] | encode, decode, then a real `sendmsg` | the bytes are the kit builder's; decode gives back the messages; the kernel accepts or refuses as predicted |
//! | [`live_transfer`] | send/receive/peek/close/drop sequences on real sockets | a queue model, the kit's identity oracle (`kcmp`), the kit's leak guard |
//! | [`hostile_peer`] | the kit's raw `sendmsg` with hostile control data, inflight receiving | data or a typed error, identity oracle, the kit's leak guard |

#![cfg(target_os = "linux")]
#![deny(
    unsafe_op_in_unsafe_fn,
    clippy::undocumented_unsafe_blocks,
    missing_docs
)]

mod decode;
mod differential;
mod encode;
mod facts;
mod harness;
mod hostile;
mod live;
mod util;

pub use decode::decode_cmsg;
pub use differential::decode_differential;
pub use encode::encode_roundtrip;
pub use hostile::hostile_peer;
pub use live::live_transfer;

/// A target's body: returns on a good input, panics on a finding.
pub type Target = fn(&[u8]);

/// Every target, by name: what the replay test and tools iterate over.
pub const TARGETS: [(&str, Target); 5] = [
    ("decode_cmsg", decode_cmsg),
    ("decode_differential", decode_differential),
    ("encode_roundtrip", encode_roundtrip),
    ("live_transfer", live_transfer),
    ("hostile_peer", hostile_peer),
];
