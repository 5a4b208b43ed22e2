//! Where a receive puts the descriptors it claims: an [`FdArray`], a
//! bounded `Vec`, or nowhere (closed at once). The numbers of an
//! `SCM_RIGHTS` message are moved into the sink's storage in one copy,
//! since `OwnedFd` is a transparent wrapper of the number.

use std::mem::size_of;
use std::os::fd::{OwnedFd, RawFd};

use super::adopt;
use super::fdarray::{BoundedVec, FdArray};
use crate::codec::Rights;

/// A destination for claimed descriptors.
pub(crate) trait FdSink {
    /// Takes ownership of every number in `rights`, in order: as many as
    /// there is room for into the sink, the rest into `surplus`.
    ///
    /// # Safety
    ///
    /// Each number must be a descriptor that a successful receive of this
    /// process installed, owned by nothing else, and `rights` must be
    /// claimed only once (the contract of [`adopt`]).
    unsafe fn claim(&mut self, rights: Rights<'_>, surplus: &mut Vec<OwnedFd>);
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

/// Whether every number can be an `OwnedFd` (the kernel never installs a
/// negative one; `-1` would break `OwnedFd`'s niche): the sign bits, or-ed,
/// with no early exit so that it vectorises.
#[inline]
fn all_valid(rights: &Rights<'_>) -> bool {
    let bytes = rights.as_bytes();
    let at = bytes.as_ptr().cast::<RawFd>();
    (0..rights.len()).fold(0, |acc, i| {
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

/// Copies the first `n` numbers of `rights` to `dst`.
///
/// # Safety
///
/// `dst` must be valid for writes of `n` `OwnedFd`s, every one of the first
/// `n` numbers must be non-negative (checked by [`all_valid`]) and owned as
/// [`FdSink::claim`] requires; the caller then counts them as initialised.
#[inline]
unsafe fn copy_numbers(rights: &Rights<'_>, dst: *mut OwnedFd, n: usize) {
    let bytes = rights.as_bytes();
    debug_assert!(n * size_of::<RawFd>() <= bytes.len());
    let (src, dst) = (bytes.as_ptr(), dst.cast::<u8>());
    // A few numbers: copies of a constant size are plain moves, where a
    // length known only at run time is a call to memcpy (which a loop over
    // the numbers also becomes).
    // SAFETY: in every arm, `copy_nonoverlapping` needs `len` readable bytes at
    // the source (the first `n` whole numbers of `rights`, `n <=
    // rights.len()`) and `len` writable, non-overlapping bytes at `dst` (the
    // caller's spare storage, never the control buffer), `len = n * 4`.
    // `OwnedFd` is `repr(transparent)` over a `RawFd` whose only invalid
    // value, -1, the caller has ruled out; byte copies need no alignment.
    unsafe {
        match n {
            0 => {}
            1 => std::ptr::copy_nonoverlapping(src, dst, 4),
            2 => std::ptr::copy_nonoverlapping(src, dst, 8),
            3 => std::ptr::copy_nonoverlapping(src, dst, 12),
            4 => std::ptr::copy_nonoverlapping(src, dst, 16),
            _ => std::ptr::copy_nonoverlapping(src, dst, n * size_of::<RawFd>()),
        }
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
    unsafe fn claim(&mut self, rights: Rights<'_>, surplus: &mut Vec<OwnedFd>) {
        let v = self.storage();
        let have = v.len();
        let take = rights.len().min(N - have);
        if !all_valid(&rights) {
            // SAFETY: the caller's contract; nothing was taken yet.
            return unsafe { rest_into(&rights, 0, surplus) };
        }
        // SAFETY: the spare storage of `v` starts at index `have` and holds
        // `N - have >= take` slots, every number is valid (checked above)
        // and owned per the caller's contract; after the copy the first
        // `have + take` slots are initialised, which `set_len` records
        // (`have + take <= N`).
        unsafe {
            copy_numbers(&rights, v.as_mut_ptr().add(have), take);
            v.set_len(have + take);
        }
        if take < rights.len() {
            // SAFETY: the numbers from `take` on were not adopted above.
            unsafe { rest_into(&rights, take, surplus) };
        }
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
    unsafe fn claim(&mut self, rights: Rights<'_>, surplus: &mut Vec<OwnedFd>) {
        let have = self.vec.len();
        let take = rights.len().min(self.cap.saturating_sub(have));
        if !all_valid(&rights) {
            // SAFETY: the caller's contract; nothing was taken yet.
            return unsafe { rest_into(&rights, 0, surplus) };
        }
        if self.vec.capacity() == 0 {
            // The usual case (a fresh Vec): one allocation of the right size.
            self.vec = Vec::with_capacity(take);
        } else {
            self.vec.reserve(take);
        }
        // SAFETY: `reserve` made room for `take` more elements after `have`;
        // every number is valid and owned (as for `FdArray`), and `set_len`
        // records the `take` slots the copy initialised.
        unsafe {
            copy_numbers(&rights, self.vec.as_mut_ptr().add(have), take);
            self.vec.set_len(have + take);
        }
        if take < rights.len() {
            // SAFETY: the numbers from `take` on were not adopted above.
            unsafe { rest_into(&rights, take, surplus) };
        }
    }
}

/// A sink that closes everything: for control data nobody claimed.
pub(crate) struct Closer;

impl FdSink for Closer {
    unsafe fn claim(&mut self, rights: Rights<'_>, _surplus: &mut Vec<OwnedFd>) {
        for raw in rights.iter().filter(|&fd| fd >= 0) {
            // SAFETY: the caller's contract; each one is closed at once.
            drop(unsafe { adopt(raw) });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{decode, encode, ControlMessage, FdList, Message};

    /// `all_valid` on the numbers of an SCM_RIGHTS message encoded at an
    /// aligned address and copied to an odd one (unaligned reads).
    #[test]
    fn all_valid_finds_any_negative_number() {
        let lists: [&[i32]; 9] = [
            &[3],
            &[-1],
            &[-1, -1],
            &[3, -1],
            &[3, 4, 5],
            &[3, -1, 5],
            &[-1, -1, -1, -1],
            &[i32::MIN, 4, 5, 6],
            &[3, 4, 5, 6, 7, -7],
        ];
        for list in lists {
            let want = list.iter().all(|&fd| fd >= 0);
            let mut buf = [0u8; 128];
            let bytes = encode(&[ControlMessage::Rights(FdList::Raw(list))], &mut buf).unwrap();
            let mut odd = vec![0u8; bytes.len() + 1];
            odd[1..].copy_from_slice(bytes);
            for (at, b) in [("aligned", bytes), ("odd", &odd[1..])] {
                let Some(Ok(c)) = decode(b).next() else {
                    panic!("{list:?} {at}: no message");
                };
                let Message::Rights(r) = c.parse() else {
                    panic!("{list:?} {at}: not rights");
                };
                assert_eq!(all_valid(&r), want, "{list:?} {at}");
            }
        }
    }
}
