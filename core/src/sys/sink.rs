//! Where a receive puts the descriptors it claims: an [`FdArray`], a
//! bounded `Vec`, or nowhere (closed at once). The numbers of an
//! `SCM_RIGHTS` message are moved into the sink's storage in one copy,
//! since `OwnedFd` is a transparent wrapper of the number.

use std::mem::size_of;
use std::os::fd::{OwnedFd, RawFd};

use super::adopt;
use super::fdarray::{BoundedVec, FdArray};
use crate::codec::Rights;

/// A destination for claimed descriptors. A sink says how much room it has
/// and takes a prefix of a message's numbers; the claim built on those two
/// is the same for every sink.
pub(crate) trait FdSink {
    /// How many more descriptors it takes.
    fn room(&self) -> usize;

    /// Takes the first `n` numbers of `rights` if every one of them can be
    /// a descriptor ([`all_valid`]), and says so; on `false` it took none.
    ///
    /// # Safety
    ///
    /// `n <= rights.len()` and `n <= self.room()`. Each number must be a
    /// descriptor that a successful receive of this process installed,
    /// owned by nothing else, and taken only once (the contract of
    /// [`adopt`]).
    unsafe fn take(&mut self, rights: &Rights<'_>, n: usize) -> bool;

    /// Takes every number of `rights` if they all fit and all can be
    /// descriptors, and says so; on `false` it took none.
    ///
    /// # Safety
    ///
    /// As [`take`](FdSink::take), for every number of `rights`.
    #[inline]
    unsafe fn take_all(&mut self, rights: &Rights<'_>) -> bool {
        // SAFETY: the caller's contract, with `n = len() <= room()`.
        rights.len() <= self.room() && unsafe { self.take(rights, rights.len()) }
    }

    /// Takes ownership of every number in `rights`, in order: as many as
    /// there is room for into the sink, the rest into `surplus`. All or
    /// none: one number that cannot be a descriptor sends every valid one
    /// to `surplus`.
    ///
    /// # Safety
    ///
    /// As [`take`](FdSink::take), for every number of `rights`.
    #[inline]
    unsafe fn claim(&mut self, rights: Rights<'_>, surplus: &mut Vec<OwnedFd>) {
        // SAFETY: the caller's contract; on `false` nothing was taken.
        unsafe {
            if !self.take_all(&rights) {
                claim_split(self, &rights, surplus);
            }
        }
    }
}

/// The rare rest of [`FdSink::claim`]: more numbers than room, or a number
/// that cannot be a descriptor. What fits goes to the sink when every
/// number is valid, the rest (or, otherwise, every valid one) to `surplus`.
///
/// # Safety
///
/// As [`FdSink::claim`]; the sink took none of `rights` yet.
#[cold]
unsafe fn claim_split<S: FdSink + ?Sized>(
    sink: &mut S,
    rights: &Rights<'_>,
    surplus: &mut Vec<OwnedFd>,
) {
    let n = rights.len().min(sink.room());
    // SAFETY: the caller's contract; `n` is within both the room and the
    // list, and `take` took nothing when it says `false`.
    unsafe {
        if all_valid(rights, rights.len()) && sink.take(rights, n) {
            rest_into(rights, n, surplus);
        } else {
            rest_into(rights, 0, surplus);
        }
    }
}

/// A sink that keeps what it claims, up to a capacity: what a receive hands
/// to its caller, and what the truncation classification counts.
pub(crate) trait FdStore: FdSink {
    /// The most descriptors it takes.
    fn capacity(&self) -> usize;

    /// How many it holds.
    fn count(&self) -> usize;

    /// Moves every descriptor it holds to `out`, in order.
    fn drain_into(&mut self, out: &mut Vec<OwnedFd>);
}

/// Whether the first `n` numbers of `rights` can be `OwnedFd`s (the kernel
/// never installs a negative one; `-1` would break `OwnedFd`'s niche): the
/// sign bits, or-ed, with no early exit so that it vectorises.
#[inline]
fn all_valid(rights: &Rights<'_>, n: usize) -> bool {
    let bytes = rights.as_bytes();
    let at = bytes.as_ptr().cast::<RawFd>();
    (0..n.min(rights.len())).fold(0, |acc, i| {
        // SAFETY: `read_unaligned` needs a pointer valid for reading 4
        // bytes, at any alignment: number `i < len()` lies wholly inside
        // `as_bytes()` (`4 * len()` bytes), and any 4 bytes are an `i32`.
        acc | unsafe { at.add(i).read_unaligned() }
    }) >= 0
}

/// Adopts the numbers of `rights` from index `from` on into `surplus`,
/// skipping any that cannot be descriptors.
///
/// # Safety
///
/// As [`FdSink::claim`], for the numbers from `from` on.
#[cold]
unsafe fn rest_into(rights: &Rights<'_>, from: usize, surplus: &mut Vec<OwnedFd>) {
    for raw in rights.iter().skip(from).filter(|&fd| fd >= 0) {
        // SAFETY: the caller's contract, number by number.
        surplus.push(unsafe { adopt(raw) });
    }
}

/// What a copy of numbers found.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Copied {
    /// A number that cannot be a descriptor: nothing may be counted.
    Invalid,
    /// Every number valid, and ascending by one from the first.
    Run,
    /// Every number valid, not known to be a run.
    Valid,
}

/// Copies the first `n` numbers of `rights` to `dst` and says whether every
/// one of them can be a descriptor ([`all_valid`]) and, for a few, whether
/// they form a run. On [`Copied::Invalid`] the slots written hold nothing
/// the caller may count as initialised.
///
/// # Safety
///
/// `n <= rights.len()`; `dst` must be aligned and valid for writes of `n`
/// `OwnedFd`s; the numbers must be owned as [`FdSink::take`] requires (the
/// caller counts them as initialised only when valid).
#[inline]
unsafe fn copy_valid(rights: &Rights<'_>, dst: *mut OwnedFd, n: usize) -> Copied {
    debug_assert!(n <= rights.len());
    // SAFETY: every arm forwards the caller's contract, with `n` as the
    // count (`K = n` for `copy_few`).
    unsafe {
        match n {
            0 => Copied::Valid,
            1 => copy_few::<1>(rights, dst),
            2 => copy_few::<2>(rights, dst),
            3 => copy_few::<3>(rights, dst),
            4 => copy_few::<4>(rights, dst),
            _ => copy_many(rights, dst, n),
        }
    }
}

/// [`copy_valid`] for any `n`: one check of the signs, one copy.
///
/// # Safety
///
/// As [`copy_valid`].
#[inline]
unsafe fn copy_many(rights: &Rights<'_>, dst: *mut OwnedFd, n: usize) -> Copied {
    if !all_valid(rights, n) {
        return Copied::Invalid;
    }
    // SAFETY: `copy_nonoverlapping` needs `4 * n` readable bytes at the
    // source (the first `n` whole numbers of `rights`) and as many
    // writable, non-overlapping bytes at `dst` (the caller's spare storage,
    // never the control buffer). `OwnedFd` is `repr(transparent)` over a
    // `RawFd` whose only invalid value, -1, was ruled out above; byte copies
    // need no alignment.
    unsafe {
        std::ptr::copy_nonoverlapping(
            rights.as_bytes().as_ptr(),
            dst.cast::<u8>(),
            n * size_of::<RawFd>(),
        );
    }
    // The drop of an array looks for a run itself, vectorised.
    Copied::Valid
}

/// [`copy_valid`] for exactly `K` numbers: a loop of a constant count,
/// which compiles to a few loads and stores where a count known only at
/// run time becomes a call to memcpy and a separate check; the run is
/// checked on the way, for the price of an exclusive or per number, so
/// that the drop of an array need not walk the numbers again.
///
/// # Safety
///
/// As [`copy_valid`] with `n = K`.
#[inline(always)]
unsafe fn copy_few<const K: usize>(rights: &Rights<'_>, dst: *mut OwnedFd) -> Copied {
    let at = rights.as_bytes().as_ptr().cast::<RawFd>();
    let dst = dst.cast::<RawFd>();
    // SAFETY: as below for `i = 0 < K` (`K >= 1`: `copy_valid` calls this
    // with 1 to 4).
    let first = unsafe { at.read_unaligned() };
    let mut signs = 0;
    let mut gaps = 0;
    for i in 0..K {
        // SAFETY: `read_unaligned` needs 4 readable bytes at any alignment:
        // number `i < K <= len()` lies wholly inside `as_bytes()`.
        let fd = unsafe { at.add(i).read_unaligned() };
        signs |= fd;
        // `i < K <= 4` fits; wrapping only matters for an invalid `first`.
        gaps |= fd ^ first.wrapping_add(i as RawFd);
        // SAFETY: `write` needs an aligned pointer valid for a write: slot
        // `i < K` of the caller's storage, aligned for `OwnedFd` and so for
        // its `repr(transparent)` `RawFd`. A plain integer is stored; it
        // becomes an `OwnedFd` only if the caller counts it.
        unsafe { dst.add(i).write(fd) };
    }
    if signs < 0 {
        Copied::Invalid
    } else if gaps == 0 {
        Copied::Run
    } else {
        Copied::Valid
    }
}

impl<const N: usize> FdStore for FdArray<N> {
    #[inline]
    fn capacity(&self) -> usize {
        N
    }

    #[inline]
    fn count(&self) -> usize {
        self.len()
    }

    fn drain_into(&mut self, out: &mut Vec<OwnedFd>) {
        FdArray::drain_into(self, out)
    }
}

impl<const N: usize> FdSink for FdArray<N> {
    #[inline]
    fn room(&self) -> usize {
        N - self.len()
    }

    #[inline]
    unsafe fn take(&mut self, rights: &Rights<'_>, n: usize) -> bool {
        let v = self.storage();
        let have = v.len();
        // SAFETY: the spare storage of `v` starts at index `have` and holds
        // `N - have >= n` aligned slots (the caller's `n <= room()`); the
        // numbers are owned per the caller's contract. Unless invalid, the
        // first `have + n` slots hold valid descriptors, which `set_len`
        // records.
        let found = unsafe {
            let found = copy_valid(rights, v.as_mut_ptr().add(have), n);
            if found == Copied::Invalid {
                return false;
            }
            v.set_len(have + n);
            found
        };
        // SAFETY: `set_run`'s contract: a run only when the array was empty
        // and the copy saw every number it now holds ascend by one.
        unsafe { self.set_run(have == 0 && found == Copied::Run) };
        true
    }
}

impl FdStore for BoundedVec {
    #[inline]
    fn capacity(&self) -> usize {
        self.cap
    }

    #[inline]
    fn count(&self) -> usize {
        self.vec.len()
    }

    fn drain_into(&mut self, out: &mut Vec<OwnedFd>) {
        out.append(&mut self.vec);
    }
}

impl FdSink for BoundedVec {
    #[inline]
    fn room(&self) -> usize {
        self.cap.saturating_sub(self.vec.len())
    }

    #[inline]
    unsafe fn take(&mut self, rights: &Rights<'_>, n: usize) -> bool {
        if self.vec.capacity() == 0 {
            // The usual case (a fresh Vec): one allocation of the right size.
            self.vec = Vec::with_capacity(n);
        } else {
            self.vec.reserve(n);
        }
        let have = self.vec.len();
        // SAFETY: `reserve` made room for `n` more aligned elements after
        // `have`; the numbers are owned (as for `FdArray`), and on `true`
        // `set_len` records the `n` slots the copy initialised.
        unsafe {
            if copy_valid(rights, self.vec.as_mut_ptr().add(have), n) == Copied::Invalid {
                return false;
            }
            self.vec.set_len(have + n);
        }
        true
    }
}

/// A sink that closes everything: for control data nobody claimed.
pub(crate) struct Closer;

impl FdSink for Closer {
    fn room(&self) -> usize {
        usize::MAX
    }

    unsafe fn take(&mut self, rights: &Rights<'_>, n: usize) -> bool {
        if !all_valid(rights, n) {
            return false;
        }
        for raw in rights.iter().take(n) {
            // SAFETY: the caller's contract; each one is closed at once.
            drop(unsafe { adopt(raw) });
        }
        true
    }
}

#[cfg(test)]
mod tests;
