//! Raw `setsockopt(2)` on `int` options, and feature probes that ask the
//! kernel directly, independently of the code under test.
//!
//! A probe says an option is missing only when the kernel answers
//! `ENOPROTOOPT` (what Linux returns for a `SOL_SOCKET` option it does not
//! know). Any other error is an error, never "unsupported": a probe that
//! turned `EINVAL` (a wrong `optlen`, say) into "missing" would make a
//! feature's checks skip on a kernel that has the feature.
//!
//! ```
//! use inflight_testkit::sockopt::{self, SO_PASSPIDFD};
//! match sockopt::kernel_has(SO_PASSPIDFD)? {
//!     true => { /* run the SCM_PIDFD checks */ }
//!     false => println!("skipped: the kernel lacks SO_PASSPIDFD (Linux 6.5+)"),
//! }
//! # Ok::<(), std::io::Error>(())
//! ```

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// `SO_PASSPIDFD` (Linux 6.5): every received message carries an
/// `SCM_PIDFD` of its sender.
#[cfg(target_os = "linux")]
pub const SO_PASSPIDFD: i32 = libc::SO_PASSPIDFD;
/// `SO_PASSPIDFD` (Linux 6.5), the `asm-generic` number.
#[cfg(target_os = "android")]
pub const SO_PASSPIDFD: i32 = 76;

/// `SO_PASSRIGHTS` (Linux 6.16): with it off, a socket refuses
/// `SCM_RIGHTS` (the sender's `sendmsg` fails). The `asm-generic` number
/// (x86, arm, riscv and most others; a few architectures number their
/// socket options differently).
pub const SO_PASSRIGHTS: i32 = 83;

/// `setsockopt(sock, level, name, &value, sizeof(int))`.
///
/// # Errors
///
/// The `setsockopt` error (`ENOPROTOOPT` for an option the kernel does not
/// know).
pub fn set_int(sock: BorrowedFd<'_>, level: i32, name: i32, value: libc::c_int) -> io::Result<()> {
    // SAFETY: setsockopt(2) reads `optlen` bytes from `optval`: a live
    // local c_int of exactly that size; the socket is borrowed for the call.
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

/// `getsockopt(sock, level, name)` of an `int` option.
///
/// # Errors
///
/// The `getsockopt` error, or `InvalidData` when the kernel wrote another
/// length than an `int`'s.
pub fn get_int(sock: BorrowedFd<'_>, level: i32, name: i32) -> io::Result<libc::c_int> {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: getsockopt(2) writes at most `len` bytes to `optval` (a live
    // local c_int of exactly that size) and the length to `optlen` (a live
    // local socklen_t); the socket is borrowed for the call.
    let r = unsafe {
        libc::getsockopt(
            sock.as_raw_fd(),
            level,
            name,
            std::ptr::from_mut(&mut value).cast(),
            &mut len,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    if len as usize != std::mem::size_of::<libc::c_int>() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("getsockopt({level}, {name}) wrote {len} bytes, not an int"),
        ));
    }
    Ok(value)
}

/// Whether the kernel knows the `SOL_SOCKET` option `name`: turned on with
/// [`set_int`] on a fresh Unix datagram socket of the kit's own.
///
/// # Errors
///
/// The socket could not be made, or `setsockopt` failed with anything but
/// `ENOPROTOOPT`.
pub fn kernel_has(name: i32) -> io::Result<bool> {
    let sock = unix_socket()?;
    match set_int(sock.as_fd(), libc::SOL_SOCKET, name, 1) {
        Ok(()) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::ENOPROTOOPT) => Ok(false),
        Err(e) => Err(e),
    }
}

/// A close-on-exec Unix datagram socket.
fn unix_socket() -> io::Result<OwnedFd> {
    // SAFETY: socket(2) takes only integers.
    let fd = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: from_raw_fd needs an open descriptor nothing else owns: the
    // one socket(2) just returned.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_get_and_probe() {
        let s = unix_socket().unwrap();
        let fd = s.as_fd();
        set_int(fd, libc::SOL_SOCKET, libc::SO_PASSCRED, 1).unwrap();
        assert_eq!(get_int(fd, libc::SOL_SOCKET, libc::SO_PASSCRED).unwrap(), 1);
        set_int(fd, libc::SOL_SOCKET, libc::SO_PASSCRED, 0).unwrap();
        assert_eq!(get_int(fd, libc::SOL_SOCKET, libc::SO_PASSCRED).unwrap(), 0);
        // An option no kernel has: missing, not an error.
        assert!(!kernel_has(0x7fff).unwrap());
        assert!(kernel_has(libc::SO_PASSCRED).unwrap());
        // Not a socket: an error, never "missing".
        let f = std::fs::File::open("/dev/null").unwrap();
        let e = set_int(f.as_fd(), libc::SOL_SOCKET, SO_PASSPIDFD, 1).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOTSOCK));
    }
}
