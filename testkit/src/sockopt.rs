//! Boolean socket options set with a raw `setsockopt(2)`, and a feature
//! probe that does not go through the code under test.
//!
//! A probe answers "unsupported" only for `ENOPROTOOPT`, the kernel's word
//! for an option it does not know; every other error (a wrong option
//! length, a bad descriptor) is an error, never a skip.
//!
//! ```
//! use inflight_testkit::sockopt::{self, Support};
//! match sockopt::probe(libc::SOL_SOCKET, libc::SO_PASSCRED)? {
//!     Support::Supported => {}
//!     Support::Unsupported(why) => panic!("SO_PASSCRED: {why}"),
//! }
//! # Ok::<(), std::io::Error>(())
//! ```

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};

/// Whether the kernel knows a socket option.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Support {
    /// `setsockopt` accepted it.
    Supported,
    /// `setsockopt` failed with `ENOPROTOOPT`; the text says which option
    /// and that errno, for a "skipped: why" line.
    Unsupported(String),
}

/// `setsockopt(sock, level, name, &(on as int), sizeof(int))`.
///
/// # Errors
///
/// The `setsockopt` error.
pub fn set_bool(sock: BorrowedFd<'_>, level: i32, name: i32, on: bool) -> io::Result<()> {
    let value = libc::c_int::from(on);
    // SAFETY: setsockopt(2) reads `optlen` bytes at `optval`: a live local
    // c_int of exactly that size; the socket is borrowed for the call.
    let r = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            level,
            name,
            std::ptr::from_ref(&value).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// `getsockopt(sock, level, name)` of an `int` option, as a boolean.
///
/// # Errors
///
/// The `getsockopt` error.
pub fn get_bool(sock: BorrowedFd<'_>, level: i32, name: i32) -> io::Result<bool> {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: getsockopt(2) writes at most `len` bytes at `optval` (a live
    // local c_int of exactly that size) and writes `len` back through its
    // pointer (a live local); the socket is borrowed for the call.
    let r = unsafe {
        libc::getsockopt(
            sock.as_raw_fd(),
            level,
            name,
            std::ptr::from_mut(&mut value).cast(),
            &mut len,
        )
    };
    if r == 0 {
        Ok(value != 0)
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Whether the kernel knows boolean option `name` at `level` on Unix
/// sockets: turns it on for one end of a fresh stream socket pair.
///
/// # Errors
///
/// Any error but `ENOPROTOOPT` (the probe could not decide: that is a
/// failure, not an unsupported kernel), or the socket pair's.
pub fn probe(level: i32, name: i32) -> io::Result<Support> {
    let (a, _b) = socketpair(
        AddressFamily::Unix,
        SockType::Stream,
        None,
        SockFlag::SOCK_CLOEXEC,
    )?;
    match set_bool(a.as_fd(), level, name, true) {
        Ok(()) => Ok(Support::Supported),
        Err(e) if e.raw_os_error() == Some(libc::ENOPROTOOPT) => Ok(Support::Unsupported(format!(
            "setsockopt(level {level}, option {name}) failed with ENOPROTOOPT: {e}"
        ))),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_and_read_back() {
        let (a, _b) = socketpair(
            AddressFamily::Unix,
            SockType::Stream,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .unwrap();
        let (level, name) = (libc::SOL_SOCKET, libc::SO_PASSCRED);
        assert!(!get_bool(a.as_fd(), level, name).unwrap());
        set_bool(a.as_fd(), level, name, true).unwrap();
        assert!(get_bool(a.as_fd(), level, name).unwrap());
        set_bool(a.as_fd(), level, name, false).unwrap();
        assert!(!get_bool(a.as_fd(), level, name).unwrap());
    }

    #[test]
    fn only_enoprotoopt_is_unsupported() {
        assert_eq!(
            probe(libc::SOL_SOCKET, libc::SO_PASSCRED).unwrap(),
            Support::Supported
        );
        // No such option at SOL_SOCKET.
        match probe(libc::SOL_SOCKET, 0x7fff).unwrap() {
            Support::Unsupported(why) => assert!(why.contains("ENOPROTOOPT"), "{why}"),
            other => panic!("option 0x7fff: {other:?}"),
        }
        // Any other error is an error, not "unsupported".
        let not_a_socket = std::fs::File::open("/dev/null").unwrap();
        let e = set_bool(
            not_a_socket.as_fd(),
            libc::SOL_SOCKET,
            libc::SO_PASSCRED,
            true,
        )
        .unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOTSOCK));
    }
}
