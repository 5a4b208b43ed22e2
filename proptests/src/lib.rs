//! Property tests of `inflight`: generators of descriptors and message
//! plans, reference models, and the harness the suites in `tests/` share.
//!
//! * [`fds`]: descriptor specifications (kind, content, offset, status and
//!   descriptor flags) and the pool they open into;
//! * [`plan`]: message plans (payload, descriptor list with repeats, socket
//!   kind, receive capacity, `CLOEXEC`, blocking mode) and their strategies;
//! * [`exchange`]: sending and receiving plans over real sockets, with the
//!   stream-barrier accounting;
//! * [`model`]: the reference state machine (a FIFO of in-flight messages);
//! * [`faults`]: the faults property 10 injects: a lowered `RLIMIT_NOFILE`,
//!   signals interrupting a blocking receive, a child peer killed
//!   mid-transfer;
//! * [`delivered`]: checks over everything a plan delivered (counts,
//!   payloads, identity, credentials and pidfd, repeats);
//! * [`check`]: identity (the test kit's oracle), offsets, flags and "does
//!   it still work";
//! * [`harness`]: the property runner (the test kit's lock and leak guard
//!   around every case), the one "skipped: why" helper, the policy for
//!   undecidable identities, and the case/operation counters `ci/soak.sh`
//!   sums.
//!
//! The oracles (reference walk, descriptor fixtures, leak guard, identity)
//! come from `inflight-testkit`, which does not depend on inflight.

#![deny(
    unsafe_op_in_unsafe_fn,
    clippy::undocumented_unsafe_blocks,
    missing_docs
)]

pub mod check;
pub mod delivered;
pub mod exchange;
pub mod faults;
pub mod fds;
pub mod harness;
pub mod model;
pub mod plan;
pub mod rawbuf;
