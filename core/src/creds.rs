//! Peer and message credentials: `SO_PEERCRED`, `SO_PASSCRED` /
//! `SCM_CREDENTIALS`, and `SO_PASSPIDFD` / `SCM_PIDFD` where the kernel has
//! them.

use std::os::fd::{AsFd, OwnedFd};

use crate::error::{Error, ErrorKind};
#[cfg(any(target_os = "linux", target_os = "android"))]
use crate::sys;

/// `SO_PASSPIDFD` (Linux 6.5): attach an `SCM_PIDFD` to every message.
pub const SO_PASSPIDFD: libc::c_int = 76;
/// `SO_PEERPIDFD` (Linux 6.5): a pidfd of the connected peer.
pub const SO_PEERPIDFD: libc::c_int = 77;
/// `SO_PASSRIGHTS` (Linux 6.16): whether the socket accepts `SCM_RIGHTS` at
/// all (default on).
pub const SO_PASSRIGHTS: libc::c_int = 83;

/// A process's pid, uid and gid, as in `struct ucred`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Credentials {
    /// Process id.
    pub pid: i32,
    /// User id.
    pub uid: u32,
    /// Group id.
    pub gid: u32,
}

impl Credentials {
    /// This process's pid, real uid and real gid: values the kernel accepts
    /// in `SCM_CREDENTIALS` without privilege.
    pub fn current() -> Self {
        Credentials {
            pid: nix::unistd::getpid().as_raw(),
            uid: nix::unistd::getuid().as_raw(),
            gid: nix::unistd::getgid().as_raw(),
        }
    }
}

/// The credentials of the peer of a connected socket (`SO_PEERCRED`), as of
/// `connect`/`socketpair` time.
///
/// # Errors
///
/// [`ErrorKind::Io`] from `getsockopt` (for example `ENOTCONN`).
#[cfg(any(target_os = "linux", target_os = "android"))]
pub fn peer_credentials(sock: &impl AsFd) -> Result<Credentials, Error> {
    let c = nix::sys::socket::getsockopt(sock, nix::sys::socket::sockopt::PeerCredentials)?;
    Ok(Credentials {
        pid: c.pid(),
        uid: c.uid(),
        gid: c.gid(),
    })
}

/// Turns `SO_PASSCRED` on or off: with it on, every received message carries
/// the sender's credentials ([`Received::credentials`](crate::Received)).
///
/// # Errors
///
/// [`ErrorKind::Io`] from `setsockopt`.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub fn set_pass_credentials(sock: &impl AsFd, on: bool) -> Result<(), Error> {
    nix::sys::socket::setsockopt(sock, nix::sys::socket::sockopt::PassCred, &on)?;
    Ok(())
}

/// Turns `SO_PASSPIDFD` on or off: with it on, every received message carries
/// a pidfd of the sender ([`Received::pidfd`](crate::Received)).
///
/// # Errors
///
/// [`ErrorKind::Unsupported`] when the kernel lacks the option (before Linux
/// 6.5: `ENOPROTOOPT`); [`ErrorKind::Io`] otherwise.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub fn set_pass_pidfd(sock: &impl AsFd, on: bool) -> Result<(), Error> {
    sys::set_int_option(sock.as_fd(), SO_PASSPIDFD, on as libc::c_int)
        .map_err(unsupported_if_missing)
}

/// A pidfd of the connected peer (`SO_PEERPIDFD`), closed on drop.
///
/// # Errors
///
/// [`ErrorKind::Unsupported`] before Linux 6.5; [`ErrorKind::Io`] otherwise.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub fn peer_pidfd(sock: &impl AsFd) -> Result<OwnedFd, Error> {
    sys::peer_pidfd(sock.as_fd()).map_err(unsupported_if_missing)
}

/// Whether the running kernel knows `SO_PASSPIDFD` / `SCM_PIDFD`, probed on a
/// throwaway socket pair.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub fn pidfd_supported() -> bool {
    crate::socket::socketpair(crate::SocketKind::Datagram)
        .map(|(a, _b)| set_pass_pidfd(&a, true).is_ok())
        .unwrap_or(false)
}

/// Turns `SO_PASSRIGHTS` on or off (Linux 6.16): with it off, the socket
/// refuses to receive descriptors at all.
///
/// # Errors
///
/// [`ErrorKind::Unsupported`] on kernels without the option;
/// [`ErrorKind::Io`] otherwise.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub fn set_pass_rights(sock: &impl AsFd, on: bool) -> Result<(), Error> {
    sys::set_int_option(sock.as_fd(), SO_PASSRIGHTS, on as libc::c_int)
        .map_err(unsupported_if_missing)
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn unsupported_if_missing(e: std::io::Error) -> Error {
    match e.raw_os_error() {
        Some(libc::ENOPROTOOPT) | Some(libc::EINVAL) | Some(libc::EOPNOTSUPP) => {
            let mut err = Error::from(e);
            err.set_kind(ErrorKind::Unsupported);
            err
        }
        _ => Error::from(e),
    }
}
