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
