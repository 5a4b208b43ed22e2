//! Comparing the descriptors that came back with the ones sent: the
//! identity, order and count checks shared by the `crates` battery and the
//! echo-program battery, with one wording for both. They are the
//! conformance kit's (`inflight_conformance::identity`), which the crates
//! battery runs in; the program battery uses the same ones.

pub use inflight_conformance::identity::{compare, Identity, Sent};
