//! The machinery of property 10's faults, on the side of the real system:
//!
//! * [`limit`]: lower the soft `RLIMIT_NOFILE` so that exactly a given
//!   number of descriptors still fit, and restore it;
//! * [`interrupt`]: run a blocking call while another thread interrupts it
//!   with signals (a handler without `SA_RESTART`: `EINTR`), each one sent
//!   only once the call is seen blocked in the kernel;
//! * [`peer`]: a child process that holds one end of a socket pair, sends
//!   on command, and is killed and reaped on every path.

pub mod interrupt;
pub mod limit;
pub mod peer;
