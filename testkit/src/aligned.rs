//! [`AlignedBuf`]: the kit's one control buffer, 8-byte aligned as a C
//! sender's `CMSG_SPACE`-sized buffer would be.

use std::fmt;

/// A byte buffer whose start is 8-byte aligned (it is stored as `u64`
/// words), for `msg_control`: the kernel and the libc macros read
/// `cmsghdr`s from it, which need `size_t` alignment.
///
/// Its length is exactly what it was made with; the storage behind it is
/// rounded up to whole words (the extra bytes are zero and not part of the
/// buffer).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct AlignedBuf {
    words: Vec<u64>,
    len: usize,
}

impl AlignedBuf {
    /// The alignment of the buffer's start, in bytes.
    pub const ALIGN: usize = std::mem::align_of::<u64>();

    /// `n` zero bytes.
    pub fn zeroed(n: usize) -> Self {
        AlignedBuf {
            words: vec![0; n.div_ceil(8)],
            len: n,
        }
    }

    /// A copy of `bytes`.
    pub fn from_bytes(bytes: &[u8]) -> Self {
        let mut buf = Self::zeroed(bytes.len());
        buf.as_mut_bytes().copy_from_slice(bytes);
        buf
    }

    /// The length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the buffer has no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        // SAFETY: from_raw_parts needs `len` initialised bytes at a
        // non-null pointer aligned for u8, not mutated while the slice
        // lives: `words` holds `8 * words.len() >= len` initialised bytes
        // (u64 has no padding), a Vec's pointer is never null (dangling but
        // aligned when empty, fine for a zero-length slice), and the shared
        // borrow of `self` keeps it unmutated.
        unsafe { std::slice::from_raw_parts(self.words.as_ptr().cast::<u8>(), self.len) }
    }

    /// The bytes, writable.
    pub fn as_mut_bytes(&mut self) -> &mut [u8] {
        // SAFETY: as in `as_bytes`, with an exclusive borrow of `self`;
        // every byte pattern is a valid u64, so writes cannot break it.
        unsafe { std::slice::from_raw_parts_mut(self.words.as_mut_ptr().cast::<u8>(), self.len) }
    }

    /// A pointer to the first byte (aligned; dangling when empty).
    pub fn as_ptr(&self) -> *const u8 {
        self.words.as_ptr().cast()
    }

    /// A writable pointer to the first byte (aligned; dangling when empty).
    pub fn as_mut_ptr(&mut self) -> *mut u8 {
        self.words.as_mut_ptr().cast()
    }

    /// `(msg_control, msg_controllen)` for a `msghdr`: the buffer, or
    /// `(NULL, 0)` when it is empty (how a C sender without control
    /// messages fills them).
    pub fn msg_control(&mut self) -> (*mut libc::c_void, usize) {
        if self.is_empty() {
            (std::ptr::null_mut(), 0)
        } else {
            (self.as_mut_ptr().cast(), self.len)
        }
    }
}

impl From<&[u8]> for AlignedBuf {
    fn from(bytes: &[u8]) -> Self {
        Self::from_bytes(bytes)
    }
}

impl fmt::Debug for AlignedBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AlignedBuf({} bytes: ", self.len)?;
        for b in self.as_bytes() {
            write!(f, "{b:02x}")?;
        }
        write!(f, ")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_exact_and_copied() {
        for n in [0, 1, 7, 8, 9, 23, 24, 100] {
            let src: Vec<u8> = (0..n as u8).map(|i| i.wrapping_mul(37) | 1).collect();
            let mut b = AlignedBuf::from_bytes(&src);
            assert_eq!(b.len(), n);
            assert_eq!(b.as_bytes(), &src[..]);
            assert_eq!(b.as_ptr() as usize % AlignedBuf::ALIGN, 0);
            let (p, l) = b.msg_control();
            assert_eq!((p.is_null(), l), (n == 0, n));
            if n > 0 {
                b.as_mut_bytes()[n - 1] = 0;
                assert_eq!(b.as_bytes()[n - 1], 0);
            }
        }
        assert!(AlignedBuf::zeroed(5).as_bytes().iter().all(|&b| b == 0));
    }
}
