//! `FdArray<N>`: a fixed-capacity, allocation-free list of owned descriptors.

use std::fmt;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

/// A list of at most `N` owned descriptors, stored inline (no heap).
/// Dropping it closes every descriptor it holds.
///
/// Receive functions fill it in arrival order; it is also a send-side
/// collector whose [`push`](FdArray::push) hands a descriptor back, inside a
/// [`CapacityError`], when full.
pub struct FdArray<const N: usize> {
    slots: [Option<OwnedFd>; N],
    len: usize,
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
    pub const fn new() -> Self {
        FdArray {
            slots: [const { None }; N],
            len: 0,
        }
    }

    /// How many descriptors it holds.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Holds none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// `N`.
    pub const fn capacity(&self) -> usize {
        N
    }

    /// Holds `N`.
    pub fn is_full(&self) -> bool {
        self.len == N
    }

    /// Appends `fd`, or hands it back when full.
    ///
    /// # Errors
    ///
    /// [`CapacityError`] holding `fd` when the array already holds `N`.
    pub fn push(&mut self, fd: OwnedFd) -> Result<(), CapacityError<OwnedFd>> {
        match self.slots.get_mut(self.len) {
            Some(slot) => {
                *slot = Some(fd);
                self.len += 1;
                Ok(())
            }
            None => Err(CapacityError(fd)),
        }
    }

    /// Removes and returns the last descriptor.
    pub fn pop(&mut self) -> Option<OwnedFd> {
        if self.len == 0 {
            return None;
        }
        self.len -= 1;
        self.slots[self.len].take()
    }

    /// The descriptor at `index`, borrowed.
    pub fn get(&self, index: usize) -> Option<BorrowedFd<'_>> {
        self.slots[..self.len]
            .get(index)
            .and_then(|s| s.as_ref())
            .map(|fd| fd.as_fd())
    }

    /// The descriptors in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &OwnedFd> + '_ {
        self.slots[..self.len]
            .iter()
            .map(|s| s.as_ref().expect("slots below len are filled"))
    }

    /// The descriptors in order, borrowed (for sending them on).
    pub fn borrowed(&self) -> impl ExactSizeIterator<Item = BorrowedFd<'_>> + '_ {
        self.iter().map(|fd| fd.as_fd())
    }

    /// Moves the descriptors into a `Vec`.
    pub fn into_vec(self) -> Vec<OwnedFd> {
        self.into_iter().collect()
    }

    pub(crate) fn drain_into(&mut self, out: &mut Vec<OwnedFd>) {
        for slot in &mut self.slots[..self.len] {
            out.extend(slot.take());
        }
        self.len = 0;
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

impl<const N: usize> IntoIterator for FdArray<N> {
    type Item = OwnedFd;
    type IntoIter = std::iter::Flatten<std::array::IntoIter<Option<OwnedFd>, N>>;

    fn into_iter(self) -> Self::IntoIter {
        self.slots.into_iter().flatten()
    }
}

impl<'a, const N: usize> IntoIterator for &'a FdArray<N> {
    type Item = &'a OwnedFd;
    type IntoIter = std::iter::Flatten<std::slice::Iter<'a, Option<OwnedFd>>>;

    fn into_iter(self) -> Self::IntoIter {
        self.slots[..self.len].iter().flatten()
    }
}

/// Where a receive puts descriptors: a fixed array or a bounded `Vec`.
pub(crate) trait FdSink {
    fn capacity(&self) -> usize;
    fn count(&self) -> usize;
    fn accept(&mut self, fd: OwnedFd) -> Result<(), OwnedFd>;
    fn drain_into(&mut self, out: &mut Vec<OwnedFd>);
}

impl<const N: usize> FdSink for FdArray<N> {
    fn capacity(&self) -> usize {
        N
    }
    fn count(&self) -> usize {
        self.len
    }
    fn accept(&mut self, fd: OwnedFd) -> Result<(), OwnedFd> {
        self.push(fd).map_err(CapacityError::into_inner)
    }
    fn drain_into(&mut self, out: &mut Vec<OwnedFd>) {
        FdArray::drain_into(self, out)
    }
}

/// A `Vec` that takes at most `cap` descriptors.
pub(crate) struct BoundedVec {
    pub vec: Vec<OwnedFd>,
    pub cap: usize,
}

impl FdSink for BoundedVec {
    fn capacity(&self) -> usize {
        self.cap
    }
    fn count(&self) -> usize {
        self.vec.len()
    }
    fn accept(&mut self, fd: OwnedFd) -> Result<(), OwnedFd> {
        if self.vec.len() < self.cap {
            self.vec.push(fd);
            Ok(())
        } else {
            Err(fd)
        }
    }
    fn drain_into(&mut self, out: &mut Vec<OwnedFd>) {
        out.append(&mut self.vec);
    }
}
