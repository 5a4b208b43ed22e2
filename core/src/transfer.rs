//! Sending and receiving descriptors: the public operations, thin layers
//! over the codec and the system call layer.

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::SocketAddr;

use crate::codec::{self, space_for, ControlMessage, FdList, SCM_MAX_FD};
use crate::error::{Error, ErrorKind};
use crate::options::{Received, RecvOptions, SendOptions};
use crate::socket::{self, SocketKind};
use crate::sys::{self, ControlBuffer, FdStore};
use crate::sys::{BoundedVec, FdArray};

#[cfg(not(apple))]
const NOSIGNAL: libc::c_int = libc::MSG_NOSIGNAL;
#[cfg(apple)]
const NOSIGNAL: libc::c_int = 0;

/// Sends `payload` and `fds` in one `sendmsg`. Returns the payload bytes
/// sent.
///
/// The descriptors are only borrowed: the receiver gets new descriptors for
/// the same open file descriptions, and the caller may close its own right
/// after this returns (they stay "in flight"). `MSG_NOSIGNAL` is always set,
/// so a dead peer is `EPIPE`, never `SIGPIPE`; `EINTR` is retried.
///
/// On a stream socket a short write is possible for large payloads; the
/// descriptors always travel with the first byte.
///
/// # Errors
///
/// * [`ErrorKind::TooManyFds`]: more than [`SCM_MAX_FD`] descriptors.
/// * [`ErrorKind::EmptyPayloadOnStream`]: descriptors with an empty payload
///   on a stream socket (the kernel would drop them silently).
/// * [`ErrorKind::Io`]: the `sendmsg` error; `EAGAIN` as `WouldBlock`
///   ([`Error::is_would_block`]), `EPIPE` as `BrokenPipe`, `EBADF` for a
///   closed descriptor in `fds` (nothing is sent then).
///
/// ```
/// use std::os::fd::AsFd;
/// use inflight::{socketpair, SocketKind};
///
/// let (a, b) = socketpair(SocketKind::SeqPacket)?;
/// let file = std::fs::File::open("/dev/null")?;
/// inflight::send_fds(&a, b"hi", &[file.as_fd()])?;
/// let mut buf = [0u8; 16];
/// let got = inflight::recv_fds::<4>(&b, &mut buf)?;
/// assert_eq!((&buf[..got.bytes], got.fds.len()), (&b"hi"[..], 1));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[inline]
pub fn send_fds(sock: &impl AsFd, payload: &[u8], fds: &[BorrowedFd<'_>]) -> Result<usize, Error> {
    send_rights(sock.as_fd(), &[IoSlice::new(payload)], fds, NOSIGNAL)
}

/// [`send_fds`] with a vectored payload.
///
/// # Errors
///
/// As [`send_fds`].
#[inline]
pub fn send_fds_vectored(
    sock: &impl AsFd,
    bufs: &[IoSlice<'_>],
    fds: &[BorrowedFd<'_>],
) -> Result<usize, Error> {
    send_rights(sock.as_fd(), bufs, fds, NOSIGNAL)
}

/// [`send_fds`] to an address (`sendto`), for unconnected datagram sockets:
/// a path, or an abstract name on Linux.
///
/// # Errors
///
/// As [`send_fds`]; [`ErrorKind::Io`] with `InvalidInput` for an unnamed
/// address.
pub fn send_fds_to(
    sock: &impl AsFd,
    payload: &[u8],
    fds: &[BorrowedFd<'_>],
    addr: &SocketAddr,
) -> Result<usize, Error> {
    send_with(
        sock,
        &[IoSlice::new(payload)],
        fds,
        &SendOptions::new().to(addr),
    )
}

/// The general send: vectored payload, descriptors and [`SendOptions`].
///
/// # Errors
///
/// As [`send_fds`].
#[inline]
pub fn send_with(
    sock: &impl AsFd,
    bufs: &[IoSlice<'_>],
    fds: &[BorrowedFd<'_>],
    opts: &SendOptions<'_>,
) -> Result<usize, Error> {
    let sock = sock.as_fd();
    let mut flags = NOSIGNAL;
    if opts.nonblocking {
        flags |= libc::MSG_DONTWAIT;
    }
    if opts.credentials.is_none() && opts.to.is_none() {
        return send_rights(sock, bufs, fds, flags);
    }
    send_general(sock, bufs, fds, opts, flags)
}

/// The common send, inlined: rights only, to the connected peer.
#[inline(always)]
fn send_rights(
    sock: BorrowedFd<'_>,
    bufs: &[IoSlice<'_>],
    fds: &[BorrowedFd<'_>],
    flags: libc::c_int,
) -> Result<usize, Error> {
    check_send(sock, bufs, fds)?;
    // Room for SCM_MAX_FD descriptors, never initialised beyond what the
    // encoder writes.
    let mut space = ControlBuffer::<SCM_MAX_FD>::new();
    let area = space.as_uninit_mut();
    let len = codec::encode_rights(fds, area)?;
    Ok(sys::sendmsg(sock, bufs, &area[..len], None, flags)?)
}

/// [`send_with`] with credentials or an address: the general encoder, out
/// of line.
#[inline(never)]
fn send_general(
    sock: BorrowedFd<'_>,
    bufs: &[IoSlice<'_>],
    fds: &[BorrowedFd<'_>],
    opts: &SendOptions<'_>,
    flags: libc::c_int,
) -> Result<usize, Error> {
    check_send(sock, bufs, fds)?;
    let mut space = ControlBuffer::<SCM_MAX_FD>::new();
    let area = space.as_uninit_mut();
    let rights = ControlMessage::Rights(FdList::Borrowed(fds));
    let msgs = match opts.credentials {
        None => [rights; 2],
        #[cfg(linux_like)]
        Some(c) => [rights, ControlMessage::Credentials(c)],
        #[cfg(not(linux_like))]
        Some(_) => return Err(Error::new(ErrorKind::Unsupported)),
    };
    let n = usize::from(opts.credentials.is_some()) + 1;
    let msgs = if fds.is_empty() {
        &msgs[1..n]
    } else {
        &msgs[..n]
    };
    let len = codec::encode_uninit(msgs, area)?;
    let control = &area[..len];
    match opts.to {
        None => Ok(sys::sendmsg(sock, bufs, control, None, flags)?),
        Some(addr) => {
            let ua = socket::to_unix_addr(addr)?;
            let raw = sys::RawAddr::from_unix(&ua);
            Ok(sys::sendmsg(sock, bufs, control, Some(&raw), flags)?)
        }
    }
}

/// The checks every send makes before the system call.
#[inline]
pub(crate) fn check_send(
    sock: BorrowedFd<'_>,
    bufs: &[IoSlice<'_>],
    fds: &[BorrowedFd<'_>],
) -> Result<(), Error> {
    if fds.len() > SCM_MAX_FD {
        return Err(too_many(fds.len()));
    }
    // Only the rare empty-payload case pays for the SO_TYPE lookup.
    if !fds.is_empty()
        && bufs.iter().all(|b| b.is_empty())
        && socket::socket_kind(&sock)? == SocketKind::Stream
    {
        return Err(Error::new(ErrorKind::EmptyPayloadOnStream));
    }
    Ok(())
}

/// The error of a send with more than [`SCM_MAX_FD`] descriptors.
#[cold]
fn too_many(n: usize) -> Error {
    Error::with_detail(ErrorKind::TooManyFds, format!("{n} descriptors"))
}

/// Receives one message into `buf` with room for `N` descriptors, without
/// touching the heap: the control buffer is sized at compile time
/// ([`space_for`]`(N)`) on the stack, and the descriptors land in an
/// [`FdArray<N>`]. Descriptors are close-on-exec.
///
/// Every control message is walked: all `SCM_RIGHTS` (in order),
/// `SCM_CREDENTIALS` and `SCM_PIDFD`; unknown ones are skipped.
///
/// # Errors
///
/// * [`ErrorKind::ControlBufferFull`]: the peer sent more than `N`
///   descriptors. Those that arrived are in the error
///   ([`Error::take_fds`]); the kernel discarded the rest.
/// * [`ErrorKind::ReceiverLimit`]: `MSG_CTRUNC` with fewer than `N`
///   delivered (the receiver hit `RLIMIT_NOFILE`, or a security module
///   refused one). Those that arrived are in the error.
/// * [`ErrorKind::PayloadTruncated`]: a datagram or packet longer than
///   `buf`. Its descriptors are in the error; [`Error::bytes`] is the part
///   received.
/// * [`ErrorKind::Io`]: the `recvmsg` error (`WouldBlock` on a non-blocking
///   socket with nothing queued).
///
/// In every case each descriptor the kernel installed is either returned or
/// closed.
#[inline]
pub fn recv_fds<const N: usize>(
    sock: &impl AsFd,
    buf: &mut [u8],
) -> Result<Received<FdArray<N>>, Error> {
    recv_with(sock, &mut [IoSliceMut::new(buf)], &RecvOptions::new())
}

/// [`recv_fds`] with a vectored buffer.
///
/// # Errors
///
/// As [`recv_fds`].
pub fn recv_fds_vectored<const N: usize>(
    sock: &impl AsFd,
    bufs: &mut [IoSliceMut<'_>],
) -> Result<Received<FdArray<N>>, Error> {
    recv_with(sock, bufs, &RecvOptions::new())
}

/// Peeks at the next message: like [`recv_fds`], but the message stays
/// queued. Every peek installs a fresh set of duplicate descriptors; they are
/// owned by the result and closed when it is dropped, so peeking repeatedly
/// leaks nothing. On stream sockets a peek may return the descriptors of a
/// later write (see [`RecvOptions::peek`]).
///
/// # Errors
///
/// As [`recv_fds`].
pub fn peek_fds<const N: usize>(
    sock: &impl AsFd,
    buf: &mut [u8],
) -> Result<Received<FdArray<N>>, Error> {
    recv_with(
        sock,
        &mut [IoSliceMut::new(buf)],
        &RecvOptions::new().peek(true),
    )
}

/// The general allocation-free receive: vectored buffer and
/// [`RecvOptions`].
///
/// # Errors
///
/// As [`recv_fds`].
#[inline]
pub fn recv_with<const N: usize>(
    sock: &impl AsFd,
    bufs: &mut [IoSliceMut<'_>],
    opts: &RecvOptions,
) -> Result<Received<FdArray<N>>, Error> {
    let mut space = ControlBuffer::<N>::new();
    let raw = sys::recvmsg(sock.as_fd(), bufs, space.as_uninit_mut(), opts.flags())?;
    // The store is made after the system call, so that the compiler knows
    // it empty when the claim fills it.
    finish(raw, FdArray::<N>::new(), opts.cloexec)
}

/// Receives one message with room for up to `max_fds` descriptors into a
/// `Vec` (the convenience form: the `Vec` is allocated per call; the control
/// buffer is on the stack).
///
/// # Errors
///
/// As [`recv_fds`], with `max_fds` as the capacity.
#[inline]
pub fn recv_fds_vec(
    sock: &impl AsFd,
    buf: &mut [u8],
    max_fds: usize,
) -> Result<Received<Vec<OwnedFd>>, Error> {
    recv_vec_with(
        sock,
        &mut [IoSliceMut::new(buf)],
        max_fds,
        &RecvOptions::new(),
    )
}

/// [`recv_fds_vec`] with a vectored buffer and [`RecvOptions`].
///
/// # Errors
///
/// As [`recv_fds`], with `max_fds` as the capacity.
#[inline]
pub fn recv_vec_with(
    sock: &impl AsFd,
    bufs: &mut [IoSliceMut<'_>],
    max_fds: usize,
    opts: &RecvOptions,
) -> Result<Received<Vec<OwnedFd>>, Error> {
    // One message never carries more than SCM_MAX_FD: a larger capacity
    // needs no larger buffer.
    let bytes = space_for(max_fds.min(SCM_MAX_FD));
    // On the stack and uninitialised: no allocation for the control data.
    let mut space = ControlBuffer::<SCM_MAX_FD>::new();
    let control = &mut space.as_uninit_mut()[..bytes];
    let raw = sys::recvmsg(sock.as_fd(), bufs, control, opts.flags())?;
    let mut fds = BoundedVec {
        vec: Vec::new(),
        cap: max_fds,
    };
    let got = claim(raw, &mut fds, opts.cloexec)?;
    Ok(got.with(fds.vec))
}

/// [`claim`] into `sink`, returned with the message.
#[inline]
pub(crate) fn finish<S: FdStore>(
    raw: sys::RawRecv<'_>,
    sink: S,
    cloexec: bool,
) -> Result<Received<S>, Error> {
    let mut fds = sink;
    let got = claim(raw, &mut fds, cloexec)?;
    Ok(got.with(fds))
}

/// Claims every descriptor of one received message into `fds` (past its
/// capacity, into the error) and classifies truncation: the one place a
/// single receive and each message of a batch receive are judged. On an
/// error `fds` is left empty: the error owns every descriptor.
///
/// `cloexec` matters only where the kernel has no `MSG_CMSG_CLOEXEC`: the
/// flag is then set right after arrival (not atomic against a concurrent
/// fork + exec).
#[inline]
fn claim<S: FdStore>(
    raw: sys::RawRecv<'_>,
    fds: &mut S,
    cloexec: bool,
) -> Result<Received<()>, Error> {
    let extras = match raw.control.claim_sole(fds, cloexec) {
        // The usual message, descriptors alone, all taken.
        Ok(()) => sys::Extras::default(),
        // Anything else (several messages, credentials, a pidfd, more
        // descriptors than room): the whole walk.
        Err(control) => {
            let mut surplus: Vec<OwnedFd> = Vec::new();
            let extras = control.claim(fds, &mut surplus, cloexec);
            if !surplus.is_empty() {
                return Err(truncated(raw.flags, raw.bytes, fds, surplus));
            }
            extras
        }
    };
    if raw.flags & (libc::MSG_CTRUNC | libc::MSG_TRUNC) != 0 {
        return Err(truncated(raw.flags, raw.bytes, fds, Vec::new()));
    }
    Ok(Received {
        bytes: raw.bytes,
        fds: (),
        credentials: extras.credentials,
        pidfd: extras.pidfd,
    })
}

/// The error of a truncated receive (`MSG_CTRUNC`, `MSG_TRUNC`, or more
/// descriptors than `fds` holds, the rest in `surplus`), owning every
/// descriptor that arrived.
#[cold]
#[inline(never)]
fn truncated<S: FdStore>(
    flags: libc::c_int,
    bytes: usize,
    fds: &mut S,
    mut surplus: Vec<OwnedFd>,
) -> Error {
    let ctrunc = flags & libc::MSG_CTRUNC != 0;
    let kind = if !surplus.is_empty() || (ctrunc && fds.count() >= fds.capacity()) {
        // More arrived than the caller has room for, or the kernel ran out
        // of control buffer with the caller's capacity reached.
        ErrorKind::ControlBufferFull
    } else if ctrunc {
        // Fewer than the capacity arrived and the kernel still cut: it
        // could not install them (RLIMIT_NOFILE, a security module).
        ErrorKind::ReceiverLimit
    } else {
        ErrorKind::PayloadTruncated
    };
    let mut all = Vec::with_capacity(fds.count() + surplus.len());
    fds.drain_into(&mut all);
    all.append(&mut surplus);
    Error::truncated(kind, all, bytes, fds.capacity())
}

#[cfg(test)]
mod tests;
