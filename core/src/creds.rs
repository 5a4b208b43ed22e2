//! Peer and message credentials: `SO_PEERCRED`, `SO_PASSCRED` /
//! `SCM_CREDENTIALS`, and `SO_PASSPIDFD` / `SCM_PIDFD` where the kernel has
//! them.

#[cfg(linux_like)]
use std::os::fd::{AsFd, OwnedFd};

use crate::codec::Credentials;
#[cfg(linux_like)]
use crate::codec::{SO_PASSPIDFD, SO_PASSRIGHTS};
#[cfg(linux_like)]
use crate::error::{Error, ErrorKind};
#[cfg(linux_like)]
use crate::sys;

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
#[cfg(linux_like)]
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
#[cfg(linux_like)]
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
#[cfg(linux_like)]
pub fn set_pass_pidfd(sock: &impl AsFd, on: bool) -> Result<(), Error> {
    sys::set_int_option(sock.as_fd(), SO_PASSPIDFD, on as libc::c_int)
        .map_err(unsupported_if_missing)
}

/// A pidfd of the connected peer (`SO_PEERPIDFD`), closed on drop.
///
/// # Errors
///
/// [`ErrorKind::Unsupported`] before Linux 6.5; [`ErrorKind::Io`] otherwise
/// (`EINVAL` from Linux 6.5 to 6.15 when the peer was already reaped).
#[cfg(linux_like)]
pub fn peer_pidfd(sock: &impl AsFd) -> Result<OwnedFd, Error> {
    sys::peer_pidfd(sock.as_fd()).map_err(unsupported_if_missing)
}

/// Whether the running kernel knows `SO_PASSPIDFD` / `SCM_PIDFD`, probed on a
/// throwaway socket pair.
#[cfg(linux_like)]
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
#[cfg(linux_like)]
pub fn set_pass_rights(sock: &impl AsFd, on: bool) -> Result<(), Error> {
    sys::set_int_option(sock.as_fd(), SO_PASSRIGHTS, on as libc::c_int)
        .map_err(unsupported_if_missing)
}

/// `ENOPROTOOPT` (the kernel does not know the option) and `EOPNOTSUPP`
/// (not for this kind of socket) are [`ErrorKind::Unsupported`]; any other
/// error is the kernel's answer to a call it understood (`EINVAL` for the
/// pidfd of a peer that was reaped, Linux 6.5 to 6.15), kept as
/// [`ErrorKind::Io`].
#[cfg(linux_like)]
fn unsupported_if_missing(e: std::io::Error) -> Error {
    match e.raw_os_error() {
        Some(libc::ENOPROTOOPT) | Some(libc::EOPNOTSUPP) => {
            let mut err = Error::from(e);
            err.set_kind(ErrorKind::Unsupported);
            err
        }
        _ => Error::from(e),
    }
}

#[cfg(all(test, linux_like))]
mod tests {
    use super::*;

    /// Only "no such option" means the kernel lacks it; any other errno
    /// (EINVAL from a reaped peer, EBADF, ...) stays an I/O error.
    #[test]
    fn only_a_missing_option_is_unsupported() {
        let kind = |errno| unsupported_if_missing(std::io::Error::from_raw_os_error(errno)).kind();
        assert_eq!(kind(libc::ENOPROTOOPT), ErrorKind::Unsupported);
        assert_eq!(kind(libc::EOPNOTSUPP), ErrorKind::Unsupported);
        for errno in [libc::EINVAL, libc::EBADF, libc::ENOTSOCK, libc::EPERM] {
            assert_eq!(kind(errno), ErrorKind::Io, "errno {errno}");
        }
    }
}
