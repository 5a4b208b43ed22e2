//! `FdArray<N>`: a fixed-capacity, allocation-free list of owned
//! descriptors, filled by the claim of a receive (see `sink`) and closed,
//! when dropped, with one `close_range` where its numbers are contiguous.

use std::fmt;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use arrayvec::ArrayVec;

/// A list of at most `N` owned descriptors, stored inline (no heap, and
/// nothing initialised beyond what it holds). Dropping it closes every
/// descriptor it holds.
///
/// Receive functions fill it in arrival order; it is also a send-side
/// collector whose [`push`](FdArray::push) hands a descriptor back, inside a
/// [`CapacityError`], when full.
pub struct FdArray<const N: usize> {
    fds: ArrayVec<OwnedFd, N>,
}

impl<const N: usize> Drop for FdArray<N> {
    #[inline]
    fn drop(&mut self) {
        super::close_all(&mut self.fds);
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
            .map_err(|e| CapacityError(e.element()))
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
