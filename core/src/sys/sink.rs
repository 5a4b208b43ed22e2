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
                assert_eq!(all_valid(&r, r.len()), want, "{list:?} {at}");
            }
        }
    }

    /// Claims the numbers `list` (descriptors of the test's own, given
    /// away, or negative numbers) into `sink`; returns the numbers the sink
    /// and the surplus ended up with.
    fn claim_into<S: FdStore>(mut sink: S, list: &[RawFd]) -> (Vec<RawFd>, Vec<RawFd>) {
        use std::os::fd::AsRawFd;
        let mut buf = [0u8; 128];
        let bytes = encode(&[ControlMessage::Rights(FdList::Raw(list))], &mut buf).unwrap();
        let Some(Ok(c)) = decode(bytes).next() else {
            panic!("{list:?}: no message");
        };
        let Message::Rights(r) = c.parse() else {
            panic!("{list:?}: not rights");
        };
        let mut surplus = Vec::new();
        // SAFETY: every non-negative number of `list` is a descriptor the
        // test opened and gave away, claimed once, here.
        unsafe { sink.claim(r, &mut surplus) };
        let mut kept = Vec::new();
        sink.drain_into(&mut kept);
        let nums = |v: &[OwnedFd]| v.iter().map(AsRawFd::as_raw_fd).collect::<Vec<_>>();
        (nums(&kept), nums(&surplus))
    }

    /// [`claim_into`] an empty `FdArray` of capacity `cap` (0 to 6).
    fn claim_into_array(cap: usize, list: &[RawFd]) -> (Vec<RawFd>, Vec<RawFd>) {
        match cap {
            0 => claim_into(FdArray::<0>::new(), list),
            1 => claim_into(FdArray::<1>::new(), list),
            2 => claim_into(FdArray::<2>::new(), list),
            3 => claim_into(FdArray::<3>::new(), list),
            4 => claim_into(FdArray::<4>::new(), list),
            5 => claim_into(FdArray::<5>::new(), list),
            _ => claim_into(FdArray::<6>::new(), list),
        }
    }

    /// A claim takes every number or none, for every count the copy treats
    /// apart (1 to 4) and beyond, within and past the capacity, in both
    /// sinks: one negative number anywhere sends the others to the surplus,
    /// in order, and none to the sink; with none, the sink takes what fits
    /// and the surplus the rest.
    #[test]
    fn a_claim_takes_all_or_none() {
        use std::os::fd::IntoRawFd;
        let _g = crate::sys::tests::SERIAL
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        for len in 1..=6usize {
            for bad in [None, Some(0), Some(len - 1)] {
                for cap in [len, len - 1] {
                    let list = |bad_value| -> Vec<RawFd> {
                        (0..len)
                            .map(|i| match bad {
                                Some(b) if b == i => bad_value,
                                _ => OwnedFd::from(std::fs::File::open("/dev/null").unwrap())
                                    .into_raw_fd(),
                            })
                            .collect()
                    };
                    let fits = cap.min(len);
                    for (sink, list) in [("vec", list(-1)), ("array", list(i32::MIN))] {
                        let valid: Vec<RawFd> =
                            list.iter().copied().filter(|&fd| fd >= 0).collect();
                        let got = if sink == "vec" {
                            claim_into(
                                BoundedVec {
                                    vec: Vec::new(),
                                    cap,
                                },
                                &list,
                            )
                        } else {
                            claim_into_array(cap, &list)
                        };
                        let want = if bad.is_some() {
                            (Vec::new(), valid.clone())
                        } else {
                            (valid[..fits].to_vec(), valid[fits..].to_vec())
                        };
                        assert_eq!(
                            got, want,
                            "{sink}, {len} numbers, bad {bad:?}, capacity {cap}"
                        );
                    }
                }
            }
        }
    }
}
