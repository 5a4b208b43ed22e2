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
use std::os::fd::AsRawFd;

/// `SO_PASSPIDFD` (Linux 6.5): every received message carries an
/// `SCM_PIDFD` of the sender.
pub const SO_PASSPIDFD: i32 = libc::SO_PASSPIDFD;

/// `SO_PASSRIGHTS` (Linux 6.16): with it off, the socket refuses
/// `SCM_RIGHTS`. The value of `asm-generic/socket.h` (the `libc` crate does
/// not have it yet).
pub const SO_PASSRIGHTS: i32 = 83;

/// Whether the kernel has a feature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Support {
    /// It does.
    Present,
    /// It does not; the reason, for a `skipped:` line.
    Missing(String),
}

/// Sets the `SOL_SOCKET` option `name` to 1 on a fresh `AF_UNIX` datagram
/// socket with a raw `setsockopt(2)` (an `int` of `sizeof(int)` bytes).
///
/// # Errors
///
/// Any `setsockopt` error but `ENOPROTOOPT` (which is
/// [`Support::Missing`]), or the `socket` error.
pub fn socket_option(name: i32) -> io::Result<Support> {
    use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};
    let sock = socket(
        AddressFamily::Unix,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    let on: libc::c_int = 1;
    // SAFETY: setsockopt(2) reads `optlen` bytes at `optval`: a live local
    // `c_int` of exactly that size. `sock` is an open socket for the call.
    let r = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            name,
            std::ptr::from_ref(&on).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r == 0 {
        return Ok(Support::Present);
    }
    let e = io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::ENOPROTOOPT) {
        Ok(Support::Missing(format!(
            "socket option {name} is unknown to this kernel ({e})"
        )))
    } else {
        Err(e)
    }
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
