//! What the running kernel supports, asked directly with raw system calls
//! on the kit's own sockets, never through the code under test: a
//! regression there (a wrong option length, an error mapped too widely)
//! must fail the test that uses the feature, not turn it into a skip.
//!
//! Only `ENOPROTOOPT` (the option is unknown to this kernel) means
//! [`Support::Missing`]; any other error is an error.
//!
//! ```
//! use inflight_testkit::probe::{self, Support};
//! match probe::socket_option(probe::SO_PASSPIDFD)? {
//!     Support::Present => { /* run the test, and assert */ }
//!     Support::Missing(why) => probe::skipped(&format!("SCM_PIDFD: {why}")),
//! }
//! # Ok::<(), std::io::Error>(())
//! ```

use std::io::{self, Write as _};

use crate::sockopt;
pub use crate::sockopt::{SO_PASSPIDFD, SO_PASSRIGHTS};

/// Whether the kernel has a feature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Support {
    /// It does.
    Present,
    /// It does not; the reason, for a `skipped:` line.
    Missing(String),
}

/// Whether the kernel knows the `SOL_SOCKET` option `name`
/// ([`sockopt::kernel_has`]), with the reason when it does not.
///
/// # Errors
///
/// Any `setsockopt` error but `ENOPROTOOPT` (which is
/// [`Support::Missing`]), or the `socket` error.
pub fn socket_option(name: i32) -> io::Result<Support> {
    Ok(if sockopt::kernel_has(name)? {
        Support::Present
    } else {
        Support::Missing(format!(
            "socket option {name} is unknown to this kernel (ENOPROTOOPT)"
        ))
    })
}

/// Prints `skipped: {why}` on the process's stderr, where libtest does
/// not capture it: a test that did not run must be seen.
pub fn skipped(why: &str) {
    let _ = writeln!(io::stderr(), "skipped: {why}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_and_unknown_options() {
        assert_eq!(
            socket_option(libc::SO_PASSCRED).unwrap(),
            Support::Present,
            "SO_PASSCRED is in every Linux"
        );
        match socket_option(9999).unwrap() {
            Support::Missing(why) => assert!(why.contains("9999"), "{why}"),
            Support::Present => panic!("option 9999 does not exist"),
        }
    }
}
