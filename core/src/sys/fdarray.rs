//! `FdArray<N>`: a fixed-capacity, allocation-free list of owned
//! descriptors, filled by the claim of a receive (see `sink`) and closed,
//! when dropped, with one `close_range` where its numbers are contiguous.

use std::fmt;
#[cfg(linux_like)]
use std::os::fd::RawFd;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use arrayvec::ArrayVec;

/// A list of at most `N` owned descriptors, stored inline (no heap, and
/// nothing initialised beyond what it holds). Dropping it closes every
/// descriptor it holds.
///
/// Receive functions fill it in arrival order; it is also a send-side
/// collector whose [`push`](FdArray::push) hands a descriptor back, inside a
/// [`CapacityError`], when full.
// `repr(C)` with the flag first: beside the length, so that a new array
// is one small store rather than a memset over the uninitialised storage.
#[repr(C)]
pub struct FdArray<const N: usize> {
    /// The numbers are known to ascend by one from the first, so that the
    /// drop can close them with one `close_range` without looking at them
    /// again. Set by the claim that filled the array from empty (it saw
    /// every number), kept by `pop`, cleared by `push`; `false` just means
    /// the drop looks for itself. See [`set_run`](FdArray::set_run).
    run: bool,
    fds: ArrayVec<OwnedFd, N>,
}

impl<const N: usize> Drop for FdArray<N> {
    #[inline]
    fn drop(&mut self) {
        close_all(&mut self.fds, self.run);
    }
}

/// The descriptor [`FdArray::push`] could not store, handed back.
#[derive(Debug)]
pub struct CapacityError<T>(pub T);

impl<T> CapacityError<T> {
    /// The element that did not fit.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Display for CapacityError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("insufficient capacity")
    }
}

impl<T: fmt::Debug> std::error::Error for CapacityError<T> {}

impl<const N: usize> FdArray<N> {
    /// An empty array.
    #[inline]
    pub const fn new() -> Self {
        FdArray {
            run: false,
            fds: ArrayVec::new_const(),
        }
    }

    /// How many descriptors it holds.
    #[inline]
    pub fn len(&self) -> usize {
        self.fds.len()
    }

    /// Holds none.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.fds.is_empty()
    }

    /// `N`.
    #[inline]
    pub const fn capacity(&self) -> usize {
        N
    }

    /// Holds `N`.
    #[inline]
    pub fn is_full(&self) -> bool {
        self.fds.is_full()
    }

    /// Appends `fd`, or hands it back when full.
    ///
    /// # Errors
    ///
    /// [`CapacityError`] holding `fd` when the array already holds `N`.
    #[inline]
    pub fn push(&mut self, fd: OwnedFd) -> Result<(), CapacityError<OwnedFd>> {
        self.fds
            .try_push(fd)
            .map_err(|e| CapacityError(e.element()))?;
        // The new number may continue the run or not: the drop will look.
        self.run = false;
        Ok(())
    }

    /// Removes and returns the last descriptor.
    #[inline]
    pub fn pop(&mut self) -> Option<OwnedFd> {
        self.fds.pop()
    }

    /// The descriptor at `index`, borrowed.
    #[inline]
    pub fn get(&self, index: usize) -> Option<BorrowedFd<'_>> {
        self.fds.get(index).map(|fd| fd.as_fd())
    }

    /// The descriptors in order, as a slice.
    #[inline]
    pub fn as_slice(&self) -> &[OwnedFd] {
        &self.fds
    }

    /// The descriptors in order.
    #[inline]
    pub fn iter(&self) -> std::slice::Iter<'_, OwnedFd> {
        self.fds.iter()
    }

    /// The descriptors in order, borrowed (for sending them on).
    pub fn borrowed(&self) -> impl ExactSizeIterator<Item = BorrowedFd<'_>> + '_ {
        self.fds.iter().map(|fd| fd.as_fd())
    }

    /// Moves the descriptors into a `Vec`.
    pub fn into_vec(mut self) -> Vec<OwnedFd> {
        self.fds.drain(..).collect()
    }

    /// Moves every descriptor out, in order.
    pub(crate) fn drain_into(&mut self, out: &mut Vec<OwnedFd>) {
        out.extend(self.fds.drain(..));
    }

    /// The storage, for the system call layer's claim (which writes the
    /// numbers the kernel installed straight into it).
    #[inline]
    pub(crate) fn storage(&mut self) -> &mut ArrayVec<OwnedFd, N> {
        &mut self.fds
    }

    /// Records whether the numbers held ascend by one from the first (a
    /// pop keeps that true; a push forgets it).
    ///
    /// # Safety
    ///
    /// When `run` is `true`, the array's numbers must be `first, first + 1,
    /// ...`: the drop then closes the range from the first to the last with
    /// one `close_range`, which must not close anybody else's descriptor.
    #[inline]
    pub(crate) unsafe fn set_run(&mut self, run: bool) {
        self.run = run;
    }

    /// Whether the drop will trust the numbers to be a run.
    #[cfg(test)]
    pub(crate) fn known_run(&self) -> bool {
        self.run
    }
}

impl<const N: usize> Default for FdArray<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> fmt::Debug for FdArray<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.iter().map(|fd| fd.as_raw_fd()))
            .finish()
    }
}

/// The owning iterator of an [`FdArray`]: yields the descriptors in order;
/// those not taken are closed when it drops.
pub struct IntoIter<const N: usize>(arrayvec::IntoIter<OwnedFd, N>);

impl<const N: usize> Iterator for IntoIter<N> {
    type Item = OwnedFd;

    #[inline]
    fn next(&mut self) -> Option<OwnedFd> {
        self.0.next()
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl<const N: usize> DoubleEndedIterator for IntoIter<N> {
    #[inline]
    fn next_back(&mut self) -> Option<OwnedFd> {
        self.0.next_back()
    }
}

impl<const N: usize> ExactSizeIterator for IntoIter<N> {}

impl<const N: usize> std::iter::FusedIterator for IntoIter<N> {}

impl<const N: usize> fmt::Debug for IntoIter<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.as_slice().iter().map(|fd| fd.as_raw_fd()))
            .finish()
    }
}

impl<const N: usize> IntoIterator for FdArray<N> {
    type Item = OwnedFd;
    type IntoIter = IntoIter<N>;

    #[inline]
    fn into_iter(mut self) -> IntoIter<N> {
        IntoIter(std::mem::take(&mut self.fds).into_iter())
    }
}

impl<'a, const N: usize> IntoIterator for &'a FdArray<N> {
    type Item = &'a OwnedFd;
    type IntoIter = std::slice::Iter<'a, OwnedFd>;

    #[inline]
    fn into_iter(self) -> Self::IntoIter {
        self.fds.iter()
    }
}

/// A `Vec` that takes at most `cap` descriptors.
pub(crate) struct BoundedVec {
    pub vec: Vec<OwnedFd>,
    pub cap: usize,
}

/// The numbers of owned descriptors, as plain integers.
#[cfg(linux_like)]
#[inline]
fn raw_numbers(fds: &[OwnedFd]) -> &[RawFd] {
    // SAFETY: `from_raw_parts` needs `len` valid values of the target type
    // at an aligned pointer, borrowed no longer than the source: `OwnedFd`
    // is `repr(transparent)` over a `RawFd`, so the slice's memory holds
    // exactly `len` valid `RawFd`s, and the result borrows `fds`.
    unsafe { std::slice::from_raw_parts(fds.as_ptr().cast::<RawFd>(), fds.len()) }
}

#[cfg(test)]
thread_local! {
    /// How many runs this thread's `close_all` closed with one
    /// `close_range` (the fast path is otherwise invisible: falling back to
    /// one `close` each closes the same descriptors).
    pub(crate) static CLOSE_RANGES: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Closes every descriptor of `fds`: with one `close_range(2)` when their
/// numbers are contiguous (as the kernel usually installs a message's
/// descriptors), one `close` each otherwise or where `close_range` is
/// missing. Leaves `fds` empty. `known_run`: the caller knows them
/// contiguous ([`FdArray::set_run`]'s contract), so they are not checked.
#[inline]
#[cfg_attr(not(linux_like), allow(unused_variables))]
fn close_all<const N: usize>(fds: &mut ArrayVec<OwnedFd, N>, known_run: bool) {
    #[cfg(linux_like)]
    if fds.len() >= 2 {
        let nums = raw_numbers(fds);
        let first = nums[0];
        // Owned descriptors have distinct numbers: ascending by one from the
        // first means exactly the range [first, last]. Or-ed differences, no
        // early exit, so that it vectorises.
        let run = known_run
            || nums
                .iter()
                .zip(first..)
                .fold(0, |acc, (&fd, want)| acc | (fd ^ want))
                == 0;
        if run {
            let last = first + (nums.len() - 1) as RawFd;
            // SAFETY: close_range(2) takes three integers and reads no
            // memory. Every number in [first, last] is a descriptor `fds`
            // owns (shown above, or known by the caller's contract), so
            // closing them all closes nothing of anyone else's.
            let ret = unsafe {
                libc::syscall(
                    libc::SYS_close_range,
                    first as libc::c_uint,
                    last as libc::c_uint,
                    0,
                )
            };
            if ret == 0 {
                #[cfg(test)]
                CLOSE_RANGES.with(|n| n.set(n.get() + 1));
                // SAFETY: `set_len(0)` needs `0 <= capacity`; the elements
                // are forgotten, not dropped: close_range closed them.
                unsafe { fds.set_len(0) };
                return;
            }
        }
    }
    fds.clear();
}
