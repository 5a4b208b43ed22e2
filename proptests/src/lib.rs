//! Property tests of `inflight`: generators of descriptors and message
//! plans, reference models, and the harness the suites in `tests/` share.
//!
//! * [`fds`]: descriptor specifications (kind, content, offset, status and
//!   descriptor flags) and the pool they open into;
//! * [`plan`]: message plans (payload, descriptor list with repeats, socket
//!   kind, receive capacity, `CLOEXEC`, blocking mode) and their strategies;
//! * [`exchange`]: sending and receiving plans over real sockets, with the
//!   stream-barrier accounting;
//! * [`naive`]: the deliberately naive control-message walk on libc's
//!   `CMSG_FIRSTHDR`/`CMSG_NXTHDR`/`CMSG_DATA`;
//! * [`model`]: the reference state machine (a FIFO of in-flight messages);
//! * [`harness`]: serialisation, open-descriptor leak checks, the property
//!   runner and the case/operation counters `ci/soak.sh` sums.

#![deny(
    unsafe_op_in_unsafe_fn,
    clippy::undocumented_unsafe_blocks,
    missing_docs
)]

pub mod check;
pub mod exchange;
pub mod fds;
pub mod harness;
pub mod model;
pub mod naive;
pub mod plan;
