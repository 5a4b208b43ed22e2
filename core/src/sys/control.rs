//! A control buffer the kernel filled: the claim of its descriptors (the
//! usual one `SCM_RIGHTS` at once, anything else by the whole walk), and
//! the drop that closes whatever was not claimed.

use std::mem::MaybeUninit;
#[cfg(not(linux_like))]
use std::os::fd::BorrowedFd;
use std::os::fd::OwnedFd;

#[cfg(not(linux_like))]
use super::set_fd_flags;
#[cfg(test)]
use super::RawRecv;
use super::{adopt, Closer, FdSink};
use crate::codec::{self, Credentials, Message};

/// A control buffer the kernel filled in this process. Its descriptors are
/// owned by this value until [`claim`](KernelControl::claim)ed.
pub(crate) struct KernelControl<'a> {
    /// Bytes a successful receive of this process wrote: only
    /// [`filled`](KernelControl::filled) builds one outside the tests.
    pub(super) buf: &'a [u8],
}

/// What a kernel-filled control buffer held, besides descriptors.
#[derive(Default)]
pub(crate) struct Extras {
    pub credentials: Option<Credentials>,
    pub pidfd: Option<OwnedFd>,
}

impl<'a> KernelControl<'a> {
    /// A message as if a `recvmsg` had returned `bytes`, `flags` and the
    /// control bytes `buf` (for the classification tests: the numbers in
    /// `buf` must be descriptors of the test's own that it gives away).
    #[cfg(test)]
    pub(crate) fn received(buf: &'a [u8], bytes: usize, flags: libc::c_int) -> RawRecv<'a> {
        RawRecv {
            bytes,
            flags,
            control: KernelControl { buf },
        }
    }

    /// The first `len` bytes of `area` (clamped to it), which a successful
    /// `recvmsg`/`recvmmsg` of this process just wrote.
    #[inline]
    pub(super) fn filled(area: &'a [MaybeUninit<u8>], len: usize) -> Self {
        let len = len.min(area.len());
        // SAFETY: `from_raw_parts` needs `len` initialised bytes at an
        // aligned, live pointer with no mutable alias for the result's
        // lifetime. The kernel wrote the first `msg_controllen` bytes of
        // `area` (clamped to its length above), `MaybeUninit<u8>` has `u8`'s
        // layout, and the result borrows `area` for its lifetime.
        let buf = unsafe { std::slice::from_raw_parts(area.as_ptr().cast::<u8>(), len) };
        KernelControl { buf }
    }

    /// The usual receive, claimed at once: when the walk finds exactly one
    /// message ([`codec::sole_rights`]), an `SCM_RIGHTS` whose numbers all
    /// fit in `sink` and all can be descriptors, they go to `sink` and
    /// nothing is left to claim. Otherwise nothing is taken and `self`
    /// comes back for [`claim`](KernelControl::claim), which walks the
    /// buffer again. `cloexec` as for `claim`.
    #[inline]
    pub(crate) fn claim_sole<S: FdSink>(self, sink: &mut S, cloexec: bool) -> Result<(), Self> {
        let Some(rights) = codec::sole_rights(self.buf) else {
            return Err(self);
        };
        // Idempotent: if the sink refuses, `claim` sets it again.
        set_cloexec(&rights, cloexec);
        // SAFETY: `FdSink::take_all`'s contract (that of `adopt`): the
        // buffer was filled by a successful recvmsg in this process (this
        // type is only built from one); on `true` they are claimed and
        // `self` is forgotten so that its drop cannot claim them again, on
        // `false` none was taken and `self` still owns them all.
        if unsafe { sink.take_all(&rights) } {
            std::mem::forget(self);
            Ok(())
        } else {
            Err(self)
        }
    }

    /// Walks every control message and hands the descriptors of every
    /// `SCM_RIGHTS` to `sink`, in order (those past its capacity to
    /// `surplus`), and returns credentials and the pidfd. Descriptors in
    /// messages this crate does not know cannot exist (the kernel sends them
    /// only in `SCM_RIGHTS` and `SCM_PIDFD`); unknown messages are skipped.
    ///
    /// `cloexec` matters only where the kernel has no `MSG_CMSG_CLOEXEC`:
    /// the flag is then set right after arrival (not atomic against a
    /// concurrent fork + exec).
    #[inline]
    pub(crate) fn claim<S: FdSink>(
        self,
        sink: &mut S,
        surplus: &mut Vec<OwnedFd>,
        cloexec: bool,
    ) -> Extras {
        let buf = self.buf;
        // Claimed from here on: the drop below must not close them again.
        std::mem::forget(self);
        let mut extras = Extras::default();
        let mut walk = codec::decode(buf);
        // A kernel-filled buffer is well formed; a malformed header would
        // end the walk (the decoder yields at most one error, then stops).
        while let Some(Ok(cmsg)) = walk.step() {
            match cmsg.parse() {
                Message::Rights(r) => {
                    set_cloexec(&r, cloexec);
                    // SAFETY: `FdSink::claim`'s contract (that of `adopt`):
                    // the buffer was filled by a successful recvmsg in this
                    // process (this type is only built from one) and each
                    // message is claimed once (`self` was forgotten above,
                    // so its drop cannot claim them again).
                    unsafe { sink.claim(r, surplus) };
                }
                Message::PidFd(raw) => {
                    // SAFETY: as above: a kernel-installed pidfd from a buffer
                    // this process's recvmsg filled, claimed once.
                    let fd = unsafe { adopt(raw) };
                    // A second pidfd cannot happen; if it did, the first is
                    // kept and the other closed by the drop.
                    if extras.pidfd.is_none() {
                        extras.pidfd = Some(fd);
                    }
                }
                Message::Credentials(c) => extras.credentials = Some(c),
                _ => {}
            }
        }
        extras
    }
}

impl Drop for KernelControl<'_> {
    fn drop(&mut self) {
        // Unclaimed (an early return): close every descriptor. `claim`
        // forgets its copy, so this does not recurse; the closer sink keeps
        // nothing (and never uses `surplus`).
        let this = KernelControl { buf: self.buf };
        drop(this.claim(&mut Closer, &mut Vec::new(), false));
    }
}

/// Sets `FD_CLOEXEC` on the numbers of `rights` right after arrival where
/// the kernel cannot do it on receive (no `MSG_CMSG_CLOEXEC`); nothing to
/// do elsewhere.
#[inline]
fn set_cloexec(rights: &codec::Rights<'_>, on: bool) {
    #[cfg(not(linux_like))]
    if on {
        for raw in rights.iter().filter(|&fd| fd >= 0) {
            // SAFETY: `borrow_raw` needs an open descriptor for the borrow's
            // lifetime: the kernel just installed `raw` in this process and
            // nothing closes it before the claim that follows.
            let fd = unsafe { BorrowedFd::borrow_raw(raw) };
            let _ = set_fd_flags(fd, libc::FD_CLOEXEC);
        }
    }
    #[cfg(linux_like)]
    let _ = (rights, on);
}
