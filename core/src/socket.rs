//! Unix socket helpers: socket kinds, pairs, and bound or connected sockets
//! for path and abstract addresses, all close-on-exec.

use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::SocketAddr;
use std::str::FromStr;

use nix::sys::socket::{self as nsock, AddressFamily, SockFlag, SockType, UnixAddr};

/// The three Unix socket types that carry descriptors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SocketKind {
    /// `SOCK_STREAM`: a byte stream. Descriptors ride with the first byte of
    /// the write that carried them, and a receive never merges two writes
    /// that carry descriptors.
    Stream,
    /// `SOCK_SEQPACKET`: connected, reliable, message boundaries kept.
    SeqPacket,
    /// `SOCK_DGRAM`: datagrams.
    Datagram,
}

impl SocketKind {
    /// All three, in a fixed order.
    pub const ALL: [SocketKind; 3] = [
        SocketKind::Stream,
        SocketKind::SeqPacket,
        SocketKind::Datagram,
    ];

    /// `"stream"`, `"seqpacket"` or `"dgram"` (the names of the audit echo
    /// protocol).
    pub const fn name(self) -> &'static str {
        match self {
            SocketKind::Stream => "stream",
            SocketKind::SeqPacket => "seqpacket",
            SocketKind::Datagram => "dgram",
        }
    }

    /// Whether message boundaries are kept (seqpacket and datagram).
    pub const fn keeps_boundaries(self) -> bool {
        !matches!(self, SocketKind::Stream)
    }

    fn sock_type(self) -> SockType {
        match self {
            SocketKind::Stream => SockType::Stream,
            SocketKind::SeqPacket => SockType::SeqPacket,
            SocketKind::Datagram => SockType::Datagram,
        }
    }
}

impl fmt::Display for SocketKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for SocketKind {
    type Err = io::Error;

    fn from_str(s: &str) -> io::Result<Self> {
        match s {
            "stream" => Ok(SocketKind::Stream),
            "seqpacket" => Ok(SocketKind::SeqPacket),
            "dgram" | "datagram" => Ok(SocketKind::Datagram),
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("unknown socket kind {s:?} (stream, seqpacket or dgram)"),
            )),
        }
    }
}

/// Flags that make a new socket close-on-exec atomically, where the
/// platform can (`SOCK_CLOEXEC`); elsewhere [`cloexec`] sets it right after.
#[cfg(not(apple))]
const CLOEXEC: SockFlag = SockFlag::SOCK_CLOEXEC;
#[cfg(apple)]
const CLOEXEC: SockFlag = SockFlag::empty();

/// Sets `FD_CLOEXEC` on a new socket where the platform cannot do it at
/// creation (not atomic against a concurrent fork + exec there).
fn cloexec(fd: OwnedFd) -> io::Result<OwnedFd> {
    #[cfg(apple)]
    nix::fcntl::fcntl(
        &fd,
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
    )?;
    Ok(fd)
}

/// A connected pair of Unix sockets of `kind`, both close-on-exec.
///
/// # Errors
///
/// The `socketpair(2)` error (for example `EMFILE`).
pub fn socketpair(kind: SocketKind) -> io::Result<(OwnedFd, OwnedFd)> {
    let (a, b) = nsock::socketpair(AddressFamily::Unix, kind.sock_type(), None, CLOEXEC)?;
    Ok((cloexec(a)?, cloexec(b)?))
}

/// The type of a socket (`SO_TYPE`).
///
/// # Errors
///
/// `ENOTSOCK` for a descriptor that is not a socket; `EINVAL` (as
/// `InvalidInput`) for a socket type other than the three above.
pub fn socket_kind(sock: &impl AsFd) -> io::Result<SocketKind> {
    match nsock::getsockopt(sock, nsock::sockopt::SockType)? {
        SockType::Stream => Ok(SocketKind::Stream),
        SockType::SeqPacket => Ok(SocketKind::SeqPacket),
        SockType::Datagram => Ok(SocketKind::Datagram),
        other => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("socket type {other:?} does not carry descriptors"),
        )),
    }
}

/// A new, unbound, unconnected Unix socket of `kind` (close-on-exec), for
/// example to [`send_fds_to`](crate::send_fds_to) with a datagram socket.
///
/// # Errors
///
/// The `socket(2)` error.
pub fn unbound(kind: SocketKind) -> io::Result<OwnedFd> {
    cloexec(nsock::socket(
        AddressFamily::Unix,
        kind.sock_type(),
        CLOEXEC,
        None,
    )?)
}

/// Converts a std address (path or, on Linux, abstract name) for the
/// system call layer.
pub(crate) fn to_unix_addr(addr: &SocketAddr) -> io::Result<UnixAddr> {
    if let Some(path) = addr.as_pathname() {
        return Ok(UnixAddr::new(path)?);
    }
    #[cfg(linux_like)]
    {
        #[cfg(target_os = "android")]
        use std::os::android::net::SocketAddrExt;
        #[cfg(target_os = "linux")]
        use std::os::linux::net::SocketAddrExt;
        if let Some(name) = addr.as_abstract_name() {
            return Ok(UnixAddr::new_abstract(name)?);
        }
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        "unnamed socket address",
    ))
}

/// A socket of `kind` bound to `addr` (a path, or an abstract name made
/// with `SocketAddrExt::from_abstract_name`). Stream and seqpacket sockets
/// are also put in the listening state; accept with [`accept`].
///
/// # Errors
///
/// The `socket`, `bind` or `listen` error (for example `EADDRINUSE`).
pub fn bind(kind: SocketKind, addr: &SocketAddr) -> io::Result<OwnedFd> {
    let sock = unbound(kind)?;
    let ua = to_unix_addr(addr)?;
    nsock::bind(sock.as_raw_fd(), &ua)?;
    if kind != SocketKind::Datagram {
        nsock::listen(&sock, nsock::Backlog::new(128).map_err(io::Error::from)?)?;
    }
    Ok(sock)
}

/// Accepts one connection on a listening socket; the new socket is
/// close-on-exec.
///
/// # Errors
///
/// The `accept4(2)` (or `accept(2)`) error (`EAGAIN` as `WouldBlock` on a
/// non-blocking listener).
pub fn accept(listener: &impl AsFd) -> io::Result<OwnedFd> {
    loop {
        #[cfg(not(apple))]
        let got = nsock::accept4(listener.as_fd(), CLOEXEC);
        #[cfg(apple)]
        let got = nsock::accept(listener.as_fd());
        match got {
            Err(nix::Error::EINTR) => continue,
            Ok(fd) => return cloexec(fd),
            Err(e) => return Err(e.into()),
        }
    }
}

/// A socket of `kind` connected to `addr` (close-on-exec).
///
/// # Errors
///
/// The `socket` or `connect` error (for example `ECONNREFUSED`).
pub fn connect(kind: SocketKind, addr: &SocketAddr) -> io::Result<OwnedFd> {
    let sock = unbound(kind)?;
    let ua = to_unix_addr(addr)?;
    nsock::connect(sock.as_raw_fd(), &ua)?;
    Ok(sock)
}

/// Sets or clears `O_NONBLOCK` on a descriptor.
///
/// # Errors
///
/// The `fcntl(2)` error.
pub fn set_nonblocking(fd: &impl AsFd, on: bool) -> io::Result<()> {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    let flags = OFlag::from_bits_retain(fcntl(fd.as_fd(), FcntlArg::F_GETFL)?);
    let new = if on {
        flags | OFlag::O_NONBLOCK
    } else {
        flags - OFlag::O_NONBLOCK
    };
    if new != flags {
        fcntl(fd.as_fd(), FcntlArg::F_SETFL(new))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_by_name() {
        for kind in SocketKind::ALL {
            assert_eq!(kind.name().parse::<SocketKind>().unwrap(), kind);
            assert_eq!(kind.to_string(), kind.name());
        }
        let names: Vec<_> = SocketKind::ALL.iter().map(|k| k.name()).collect();
        assert_eq!(names, ["stream", "seqpacket", "dgram"]);
        assert_eq!(
            "datagram".parse::<SocketKind>().unwrap(),
            SocketKind::Datagram
        );
        let e = "raw".parse::<SocketKind>().unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert!(e.to_string().contains("\"raw\""), "{e}");
        let kept: Vec<_> = SocketKind::ALL.map(SocketKind::keeps_boundaries).to_vec();
        assert_eq!(kept, [false, true, true]);
    }

    /// Setting non-blocking mode twice keeps it; clearing clears it.
    #[test]
    fn nonblocking_is_set_not_toggled() {
        let (a, _b) = socketpair(SocketKind::Stream).unwrap();
        let on = |fd: &OwnedFd| {
            let fl = nix::fcntl::fcntl(fd.as_fd(), nix::fcntl::FcntlArg::F_GETFL).unwrap();
            fl & libc::O_NONBLOCK != 0
        };
        set_nonblocking(&a, true).unwrap();
        set_nonblocking(&a, true).unwrap();
        assert!(on(&a));
        set_nonblocking(&a, false).unwrap();
        set_nonblocking(&a, false).unwrap();
        assert!(!on(&a));
    }
}
