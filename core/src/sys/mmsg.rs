//! Batches: `sendmmsg(2)` / `recvmmsg(2)`, for `crate::batch` (Linux).

use std::io::{self, IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::ptr;

use super::{msghdr, KernelControl, RawRecv};

/// `sendmmsg(2)`: message `i` is `iovs[i]` (one buffer) with the encoded
/// control bytes `controls[i]`, at most `hdrs.len()` messages. Retried on
/// `EINTR`. Returns how many messages the kernel accepted and writes each
/// accepted message's payload byte count to `sent[i]`.
///
/// # Panics
///
/// If `iovs`, `controls` and `sent` differ in length or exceed `hdrs`.
pub(crate) fn sendmmsg(
    sock: BorrowedFd<'_>,
    hdrs: &mut [MaybeUninit<libc::mmsghdr>],
    iovs: &[IoSlice<'_>],
    controls: &[&[MaybeUninit<u8>]],
    sent: &mut [usize],
    flags: libc::c_int,
) -> io::Result<usize> {
    let n = iovs.len();
    assert!(controls.len() == n && sent.len() == n && n <= hdrs.len());
    for ((hdr, iov), control) in hdrs.iter_mut().zip(iovs).zip(controls) {
        // `IoSlice` is ABI compatible with `struct iovec` on Unix; the
        // kernel only reads through it (and the control bytes) for a send.
        hdr.write(libc::mmsghdr {
            msg_hdr: msghdr(
                None,
                ptr::from_ref(iov) as *mut libc::iovec,
                1,
                control.as_ptr() as *mut MaybeUninit<u8>,
                control.len(),
            ),
            msg_len: 0,
        });
    }
    let ret = loop {
        // SAFETY: sendmmsg(2) reads `n` mmsghdrs at `hdrs` (the first `n`
        // were initialised above) and, for each, one iovec and
        // `msg_controllen` control bytes (written by the encoder); all
        // borrow from this function's arguments, alive and unmodified for
        // the call. It writes only each header's `msg_len`, inside `hdrs`,
        // which we borrow exclusively. `sock` is a live descriptor.
        let ret = unsafe {
            libc::sendmmsg(
                sock.as_raw_fd(),
                hdrs.as_mut_ptr().cast::<libc::mmsghdr>(),
                n as libc::c_uint,
                flags as _, // int in glibc, unsigned int in musl
            )
        };
        match cvt(ret as libc::ssize_t) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => break other?,
        }
    };
    for (out, hdr) in sent.iter_mut().zip(&hdrs[..ret.min(n)]) {
        // SAFETY: the first `n` headers were initialised above (the kernel
        // only updated `msg_len` in place).
        *out = unsafe { hdr.assume_init_ref() }.msg_len as usize;
    }
    Ok(ret.min(n))
}

/// `recvmmsg(2)` into `bufs` (message `i` into `bufs[i]`) and `control`,
/// which holds one control area per message: message `i`'s area starts at
/// `i * stride` and is `len` bytes long. Retried on `EINTR`; no timeout.
///
/// The returned [`MmsgRecv`] owns every descriptor the kernel installed in
/// the received messages: iterate it to claim them message by message
/// (dropping it closes what was not taken).
///
/// # Panics
///
/// If `stride` is not a multiple of the `cmsghdr` alignment, `len >
/// stride`, `control` is not so aligned, or `bufs.len()` exceeds `hdrs` or
/// the areas in `control`.
pub(crate) fn recvmmsg<'c>(
    sock: BorrowedFd<'_>,
    hdrs: &'c mut [MaybeUninit<libc::mmsghdr>],
    bufs: &mut [IoSliceMut<'_>],
    control: &'c mut [MaybeUninit<u8>],
    stride: usize,
    len: usize,
    flags: libc::c_int,
) -> io::Result<MmsgRecv<'c>> {
    let align = std::mem::align_of::<libc::cmsghdr>();
    let n = bufs.len();
    assert!(stride % align == 0 && len <= stride && n <= hdrs.len());
    assert!(n * stride <= control.len() && (control.as_ptr() as usize) % align == 0);
    let base = control.as_mut_ptr();
    for (i, (hdr, buf)) in hdrs.iter_mut().zip(bufs.iter_mut()).enumerate() {
        // `IoSliceMut` is ABI compatible with `struct iovec` on Unix.
        // `i * stride + len <= control.len()` (asserted above), so the area
        // stays inside `control`; `wrapping_add` keeps it safe code.
        hdr.write(libc::mmsghdr {
            msg_hdr: msghdr(
                None,
                ptr::from_mut(buf).cast::<libc::iovec>(),
                1,
                base.wrapping_add(i * stride),
                len,
            ),
            msg_len: 0,
        });
    }
    let received = loop {
        // SAFETY: recvmmsg(2) reads `n` initialised mmsghdrs at `hdrs`,
        // writes into each one's single iovec (a live, exclusively borrowed
        // `IoSliceMut` of `bufs`, of the stated length) and into its
        // `msg_controllen` bytes of `control` (disjoint areas inside the
        // exclusively borrowed `control`), and updates each header's
        // `msg_len`, `msg_flags` and `msg_controllen` in place. Any byte
        // value is valid for `u8`/`MaybeUninit<u8>`. A null timeout means
        // none. `sock` is a live descriptor.
        let ret = unsafe {
            libc::recvmmsg(
                sock.as_raw_fd(),
                hdrs.as_mut_ptr().cast::<libc::mmsghdr>(),
                n as libc::c_uint,
                flags as _, // int in glibc, unsigned int in musl
                ptr::null_mut(),
            )
        };
        match cvt(ret as libc::ssize_t) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => break other?.min(n),
        }
    };
    Ok(MmsgRecv {
        hdrs: &hdrs[..received],
        control,
        stride,
        len,
        next: 0,
    })
}

/// The messages one `recvmmsg` filled: yields each one's [`RawRecv`] in
/// order; dropping it closes the descriptors of the messages not yet taken.
pub(crate) struct MmsgRecv<'c> {
    hdrs: &'c [MaybeUninit<libc::mmsghdr>],
    control: &'c mut [MaybeUninit<u8>],
    stride: usize,
    len: usize,
    next: usize,
}

impl MmsgRecv<'_> {
    /// How many messages were received.
    pub(crate) fn len(&self) -> usize {
        self.hdrs.len()
    }

    /// Message `next`, advancing; `None` after the last.
    pub(crate) fn next_message(&mut self) -> Option<RawRecv<'_>> {
        let i = self.next;
        let hdr = self.hdrs.get(i)?;
        self.next += 1;
        // SAFETY: `hdrs` holds only the headers a successful recvmmsg
        // filled (they were all initialised before the call).
        let m = unsafe { hdr.assume_init_ref() };
        #[allow(clippy::unnecessary_cast)] // socklen_t or size_t by libc
        let clen = m.msg_hdr.msg_controllen as usize;
        // The kernel wrote this message's area; the view borrows `self`, so
        // no other message view or the Drop walk exists meanwhile, and each
        // index is visited once.
        let area = &self.control[i * self.stride..][..self.len];
        Some(RawRecv {
            bytes: m.msg_len as usize,
            flags: m.msg_hdr.msg_flags,
            control: KernelControl::filled(area, clen),
        })
    }
}

impl Drop for MmsgRecv<'_> {
    fn drop(&mut self) {
        // Each message's KernelControl closes its descriptors when dropped.
        while self.next_message().is_some() {}
    }
}

/// A count, or the error `errno` holds when the call returned a negative
/// number.
#[inline]
fn cvt(ret: libc::ssize_t) -> io::Result<usize> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret as usize)
    }
}
