//! `FdArray<N>`: a fixed-capacity, allocation-free list of owned descriptors.

use std::fmt;
use std::mem::ManuallyDrop;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

/// A list of at most `N` owned descriptors, stored inline (no heap).
/// Dropping it closes every descriptor it holds.
///
/// Receive functions fill it in arrival order; it is also a send-side
/// collector whose [`push`](FdArray::push) hands a descriptor back, inside a
/// [`CapacityError`], when full.
pub struct FdArray<const N: usize> {
    /// `Some` below `len`, `None` from `len` on. `ManuallyDrop` so that
    /// dropping visits only the filled slots (see `Drop`); nothing in it is
    /// ever dropped any other way.
    slots: ManuallyDrop<[Option<OwnedFd>; N]>,
    len: usize,
}

impl<const N: usize> Drop for FdArray<N> {
    #[inline]
    fn drop(&mut self) {
        // Slots from `len` on are `None`: closing the filled ones is all
        // there is to drop.
        for slot in &mut self.slots[..self.len] {
            drop(slot.take());
        }
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
            slots: ManuallyDrop::new([const { None }; N]),
            len: 0,
        }
    }

    /// How many descriptors it holds.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Holds none.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// `N`.
    #[inline]
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
    #[inline]
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

    fn into_iter(mut self) -> Self::IntoIter {
        let slots = std::mem::replace(&mut *self.slots, [const { None }; N]);
        self.len = 0;
        slots.into_iter().flatten()
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
    /// Takes descriptors in order while there is room; the rest go to
    /// `surplus`.
    fn extend(&mut self, fds: impl Iterator<Item = OwnedFd>, surplus: &mut Vec<OwnedFd>);
    fn capacity(&self) -> usize;
    fn count(&self) -> usize;
    fn drain_into(&mut self, out: &mut Vec<OwnedFd>);
}

impl<const N: usize> FdSink for FdArray<N> {
    #[inline]
    fn extend(&mut self, mut fds: impl Iterator<Item = OwnedFd>, surplus: &mut Vec<OwnedFd>) {
        for slot in &mut self.slots[self.len..] {
            match fds.next() {
                Some(fd) => {
                    *slot = Some(fd);
                    self.len += 1;
                }
                None => return,
            }
        }
        surplus.extend(fds);
    }
    #[inline]
    fn capacity(&self) -> usize {
        N
    }
    #[inline]
    fn count(&self) -> usize {
        self.len
    }
    #[inline]
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
    #[inline]
    fn extend(&mut self, mut fds: impl Iterator<Item = OwnedFd>, surplus: &mut Vec<OwnedFd>) {
        let room = self.cap.saturating_sub(self.vec.len());
        self.vec.extend(fds.by_ref().take(room));
        surplus.extend(fds);
    }
    #[inline]
    fn capacity(&self) -> usize {
        self.cap
    }
    #[inline]
    fn count(&self) -> usize {
        self.vec.len()
    }
    #[inline]
    fn drain_into(&mut self, out: &mut Vec<OwnedFd>) {
        out.append(&mut self.vec);
    }
}

/// A sink that closes everything: for control data nobody claimed.
pub(crate) struct Closer;

impl FdSink for Closer {
    fn extend(&mut self, fds: impl Iterator<Item = OwnedFd>, _surplus: &mut Vec<OwnedFd>) {
        fds.for_each(drop);
    }
    fn capacity(&self) -> usize {
        usize::MAX
    }
    fn count(&self) -> usize {
        0
    }
    fn drain_into(&mut self, _out: &mut Vec<OwnedFd>) {}
}
