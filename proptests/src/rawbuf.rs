//! Arbitrary control bytes for the decoder's properties: header-shaped
//! segments with honest and lying lengths, cut anywhere, or plain random
//! bytes.

use inflight_testkit::cmsg;
use proptest::prelude::*;

use crate::fds::bytes_from_seed;

/// How a generated header's `cmsg_len` relates to its data.
#[derive(Clone, Debug)]
pub enum LenMode {
    /// The honest length.
    Exact,
    /// This many bytes, below the header size.
    Short(usize),
    /// The honest length plus this many bytes (past the data).
    Over(usize),
    /// The honest length minus this many bytes.
    Under(usize),
    /// Any number at all.
    Any(u64),
}

/// One header-shaped piece of a [`RawBuf`].
#[derive(Clone, Debug)]
pub struct Segment {
    /// How `cmsg_len` relates to the data.
    pub len: LenMode,
    /// `cmsg_level`.
    pub level: i32,
    /// `cmsg_type`.
    pub kind: i32,
    /// Data bytes written after the header.
    pub data_len: usize,
    /// Seed of the data bytes.
    pub seed: u64,
}

/// Arbitrary control bytes: header-shaped segments with honest and lying
/// lengths, cut anywhere, or plain random bytes.
#[derive(Clone)]
pub struct RawBuf(pub Vec<u8>);

impl std::fmt::Debug for RawBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} bytes:", self.0.len())?;
        for (i, chunk) in self.0.chunks(8).enumerate() {
            if i % 4 == 0 {
                write!(f, "\n  {:4}:", i * 8)?;
            }
            write!(f, " ")?;
            for b in chunk {
                write!(f, "{b:02x}")?;
            }
        }
        Ok(())
    }
}

/// A header-shaped segment, mostly honest.
pub fn segment() -> impl Strategy<Value = Segment> {
    (
        prop_oneof![
            6 => Just(LenMode::Exact),
            1 => (0usize..16).prop_map(LenMode::Short),
            1 => (1usize..64).prop_map(LenMode::Over),
            1 => (1usize..8).prop_map(LenMode::Under),
            1 => any::<u64>().prop_map(LenMode::Any),
        ],
        prop_oneof![Just(libc::SOL_SOCKET), any::<i32>()],
        prop_oneof![
            Just(libc::SCM_RIGHTS),
            Just(libc::SCM_CREDENTIALS),
            any::<i32>()
        ],
        0usize..=40,
        any::<u64>(),
    )
        .prop_map(|(len, level, kind, data_len, seed)| Segment {
            len,
            level,
            kind,
            data_len,
            seed,
        })
}

/// Arbitrary control bytes (see [`RawBuf`]).
pub fn raw_buf() -> impl Strategy<Value = RawBuf> {
    prop_oneof![
        4 => (proptest::collection::vec(segment(), 0..=6), any::<prop::sample::Index>(), 0usize..=24)
            .prop_map(|(segs, cut, tail)| {
                let msgs: Vec<cmsg::Cmsg> = segs
                    .iter()
                    .map(|s| {
                        let honest = cmsg::len(s.data_len);
                        let claimed = match s.len {
                            LenMode::Exact => honest,
                            LenMode::Short(n) => n,
                            LenMode::Over(n) => honest + n,
                            LenMode::Under(n) => honest.saturating_sub(n),
                            LenMode::Any(v) => v as usize,
                        };
                        let data = bytes_from_seed(s.seed, s.data_len);
                        cmsg::Cmsg::raw(s.level, s.kind, &data).with_len(claimed)
                    })
                    .collect();
                let mut out = cmsg::concat(&msgs);
                let keep = cut.index(out.len() + 1).max(out.len().saturating_sub(24));
                out.truncate(keep);
                out.extend(bytes_from_seed(tail as u64, tail));
                RawBuf(out)
            }),
        1 => proptest::collection::vec(any::<u8>(), 0..=96).prop_map(RawBuf),
    ]
}
