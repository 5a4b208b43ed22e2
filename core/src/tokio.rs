//! Async send and receive on tokio's Unix sockets (cargo feature `tokio`).
//!
//! Readiness-driven: each operation waits for the socket to be readable or
//! writable, then makes one non-blocking `sendmsg`/`recvmsg` with the same
//! guarantees as the blocking functions of the crate root, and waits again
//! on `WouldBlock`.
//!
//! Works with [`tokio::net::UnixStream`], [`tokio::net::UnixDatagram`] and
//! [`tokio::io::unix::AsyncFd`] around any socket (for `SOCK_SEQPACKET`,
//! which tokio has no type for; the socket must be non-blocking).
//!
//! # Cancel safety
//!
//! Every function here is cancel safe. A send either happened whole in its
//! one system call (the descriptors are attached to the first byte and the
//! call returned) or did not happen at all; dropping the future while it
//! waits sends nothing. A receive that is dropped while waiting has consumed
//! no message and installed no descriptor; once the system call returned,
//! the future completes in the same poll, so no received descriptor can be
//! lost to cancellation.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::os::fd::AsFd;
//! let (a, b) = tokio::net::UnixStream::pair()?;
//! let file = std::fs::File::open("/dev/null")?;
//! inflight::tokio::send_fds(&a, b"x", &[file.as_fd()]).await?;
//! let mut buf = [0u8; 1];
//! let got = inflight::tokio::recv_fds::<2, _>(&b, &mut buf).await?;
//! assert_eq!(got.fds.len(), 1);
//! # Ok(()) }
//! ```

use std::future::Future;
use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use crate::error::Error;
use crate::options::{Received, RecvOptions, SendOptions};
use crate::sys::FdArray;
use crate::transfer;

mod sealed {
    pub trait Sealed {}
}

/// A tokio socket that inflight can drive: implemented for
/// [`tokio::net::UnixStream`], [`tokio::net::UnixDatagram`] and
/// [`AsyncFd<T>`](tokio::io::unix::AsyncFd) for `T: AsFd + AsRawFd`.
pub trait AsyncSocket: sealed::Sealed {
    /// Runs `op` when the socket is ready for `interest`, retrying on
    /// `WouldBlock`.
    #[doc(hidden)]
    fn ready_io<R>(
        &self,
        interest: Interest,
        op: impl FnMut(BorrowedFd<'_>) -> Result<R, Error>,
    ) -> impl Future<Output = Result<R, Error>>;
}

/// Adapts an operation for tokio's `try_io`/`async_io`: `WouldBlock`
/// becomes the `io::Error` tokio waits on, any other outcome is passed
/// through inside `Ok`.
fn would_block_as_io<R>(res: Result<R, Error>) -> io::Result<Result<R, Error>> {
    match res {
        Err(e) if e.is_would_block() => Err(io::ErrorKind::WouldBlock.into()),
        other => Ok(other),
    }
}

macro_rules! tokio_socket {
    ($ty:ty) => {
        impl sealed::Sealed for $ty {}
        impl AsyncSocket for $ty {
            async fn ready_io<R>(
                &self,
                interest: Interest,
                mut op: impl FnMut(BorrowedFd<'_>) -> Result<R, Error>,
            ) -> Result<R, Error> {
                self.async_io(interest, || would_block_as_io(op(self.as_fd())))
                    .await?
            }
        }
    };
}

tokio_socket!(tokio::net::UnixStream);
tokio_socket!(tokio::net::UnixDatagram);

impl<T: AsFd + AsRawFd> sealed::Sealed for AsyncFd<T> {}
impl<T: AsFd + AsRawFd> AsyncSocket for AsyncFd<T> {
    async fn ready_io<R>(
        &self,
        interest: Interest,
        mut op: impl FnMut(BorrowedFd<'_>) -> Result<R, Error>,
    ) -> Result<R, Error> {
        loop {
            let mut guard = self.ready(interest).await?;
            match guard.try_io(|inner| would_block_as_io(op(inner.get_ref().as_fd()))) {
                Ok(res) => return res?,
                Err(_would_block) => continue,
            }
        }
    }
}

/// Async [`send_fds`](crate::send_fds).
///
/// # Errors
///
/// As [`crate::send_fds`]; never `WouldBlock` (it waits instead).
pub async fn send_fds<S: AsyncSocket>(
    sock: &S,
    payload: &[u8],
    fds: &[BorrowedFd<'_>],
) -> Result<usize, Error> {
    send_with(sock, &[IoSlice::new(payload)], fds, &SendOptions::new()).await
}

/// Async [`send_with`](crate::send_with).
///
/// # Errors
///
/// As [`crate::send_fds`]; never `WouldBlock` (it waits instead).
pub async fn send_with<S: AsyncSocket>(
    sock: &S,
    bufs: &[IoSlice<'_>],
    fds: &[BorrowedFd<'_>],
    opts: &SendOptions<'_>,
) -> Result<usize, Error> {
    let opts = opts.nonblocking(true);
    sock.ready_io(Interest::WRITABLE, |fd| {
        transfer::send_with(&fd, bufs, fds, &opts)
    })
    .await
}

/// Async [`recv_fds`](crate::recv_fds).
///
/// # Errors
///
/// As [`crate::recv_fds`]; never `WouldBlock` (it waits instead).
pub async fn recv_fds<const N: usize, S: AsyncSocket>(
    sock: &S,
    buf: &mut [u8],
) -> Result<Received<FdArray<N>>, Error> {
    recv_with(sock, &mut [IoSliceMut::new(buf)], &RecvOptions::new()).await
}

/// Async [`recv_with`](crate::recv_with).
///
/// # Errors
///
/// As [`crate::recv_fds`]; never `WouldBlock` (it waits instead).
pub async fn recv_with<const N: usize, S: AsyncSocket>(
    sock: &S,
    bufs: &mut [IoSliceMut<'_>],
    opts: &RecvOptions,
) -> Result<Received<FdArray<N>>, Error> {
    let opts = opts.nonblocking(true);
    sock.ready_io(Interest::READABLE, |fd| {
        transfer::recv_with::<N>(&fd, bufs, &opts)
    })
    .await
}

/// Async [`recv_fds_vec`](crate::recv_fds_vec).
///
/// # Errors
///
/// As [`crate::recv_fds`]; never `WouldBlock` (it waits instead).
pub async fn recv_fds_vec<S: AsyncSocket>(
    sock: &S,
    buf: &mut [u8],
    max_fds: usize,
) -> Result<Received<Vec<OwnedFd>>, Error> {
    let opts = RecvOptions::new().nonblocking(true);
    let mut bufs = [IoSliceMut::new(buf)];
    sock.ready_io(Interest::READABLE, |fd| {
        transfer::recv_vec_with(&fd, &mut bufs, max_fds, &opts)
    })
    .await
}
