//! What several implementations share: raw descriptor numbers for the
//! crates that take them, a borrowed std socket for the crates whose traits
//! are implemented only on std's types, and adopting the numbers a crate
//! hands back.

use std::io;
use std::mem::ManuallyDrop;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;

use crate::Recv;

/// `SCM_MAX_FD`: the most descriptors one message carries.
pub(crate) const MAX: usize = inflight::SCM_MAX_FD;

/// Copies borrowed descriptors into a stack array of raw numbers (the form
/// the other crates take).
pub(crate) fn raw_numbers(fds: &[BorrowedFd<'_>]) -> io::Result<([RawFd; MAX], usize)> {
    if fds.len() > MAX {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "more than SCM_MAX_FD descriptors",
        ));
    }
    let mut raw = [-1; MAX];
    for (slot, fd) in raw.iter_mut().zip(fds) {
        *slot = fd.as_raw_fd();
    }
    Ok((raw, fds.len()))
}

/// Borrows `sock` as a std `UnixStream` without taking ownership.
///
/// The crates whose traits are implemented only on std's socket types
/// (`uds`, `sendfd`) are driven through this temporary, for every socket
/// kind: their stream, datagram and seqpacket entry points all call the same
/// `sendmsg`/`recvmsg` helper on the raw descriptor, so the wrapper type
/// changes nothing but the name. `passfd` implements its trait on `RawFd`
/// directly (it uses this only for a plain `write`).
pub(crate) fn as_std_stream(sock: BorrowedFd<'_>) -> ManuallyDrop<UnixStream> {
    // SAFETY: `from_raw_fd` needs an open descriptor that the result owns.
    // The descriptor is open for the borrow's lifetime, and `ManuallyDrop`
    // keeps the temporary from closing it: ownership is never exercised, and
    // the value does not escape the call that holds the borrow.
    ManuallyDrop::new(unsafe { UnixStream::from_raw_fd(sock.as_raw_fd()) })
}

/// Wraps raw descriptor numbers a crate handed its caller.
///
/// # Safety
///
/// Each number must be an open descriptor that the caller owns and that
/// nothing else will close (the crate just received it and gave it away).
pub(crate) unsafe fn adopt(raw: &[RawFd]) -> Vec<OwnedFd> {
    raw.iter()
        // SAFETY: the function's contract.
        .map(|&fd| unsafe { OwnedFd::from_raw_fd(fd) })
        .collect()
}

/// Sends through a crate that takes raw numbers on a std `UnixStream`
/// (`uds`, `sendfd`): the numbers copied to the stack, the socket
/// borrowed (see [`as_std_stream`]).
pub(crate) fn send_numbers(
    sock: BorrowedFd<'_>,
    payload: &[u8],
    fds: &[BorrowedFd<'_>],
    send: impl FnOnce(&UnixStream, &[u8], &[RawFd]) -> io::Result<usize>,
) -> io::Result<usize> {
    let (raw, n) = raw_numbers(fds)?;
    send(&as_std_stream(sock), payload, &raw[..n])
}

/// Receives through a crate that fills a slice of raw numbers on a std
/// `UnixStream` and says how many (`uds`, `sendfd`), with a slice of
/// `capacity` slots (at most [`MAX`]). Such a crate's API has no way to
/// report a truncation: `reported_truncation` is `None`.
///
/// # Safety
///
/// `recv` must return `(bytes, n)` where the first `n` slots hold the
/// numbers of descriptors it received and hands to its caller, owned by
/// nothing else.
pub(crate) unsafe fn recv_numbers(
    sock: BorrowedFd<'_>,
    buf: &mut [u8],
    capacity: usize,
    recv: impl FnOnce(&UnixStream, &mut [u8], &mut [RawFd]) -> io::Result<(usize, usize)>,
) -> io::Result<Recv> {
    let mut raw = [-1; MAX];
    let (bytes, n) = recv(&as_std_stream(sock), buf, &mut raw[..capacity.min(MAX)])?;
    Ok(Recv {
        bytes,
        // SAFETY: the first `n` numbers are the crate's to give (this
        // function's contract).
        fds: unsafe { adopt(&raw[..n]) },
        reported_truncation: None,
    })
}

/// An inflight receive as the trait's [`Recv`]: a control-truncation
/// error becomes a reported truncation with what arrived.
pub(crate) fn from_inflight<F: IntoIterator<Item = OwnedFd>>(
    r: Result<inflight::Received<F>, inflight::Error>,
) -> io::Result<Recv> {
    match r {
        Ok(r) => Ok(Recv {
            bytes: r.bytes,
            fds: r.fds.into_iter().collect(),
            reported_truncation: Some(false),
        }),
        Err(mut e)
            if matches!(
                e.kind(),
                inflight::ErrorKind::ControlBufferFull | inflight::ErrorKind::ReceiverLimit
            ) =>
        {
            Ok(Recv {
                bytes: e.bytes(),
                fds: e.take_fds(),
                reported_truncation: Some(true),
            })
        }
        Err(e) => Err(e.into()),
    }
}
