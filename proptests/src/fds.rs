//! Descriptor generators: what to open (a [`FdSpec`]) and the opened pool.

use std::fmt;
use std::io::{self, Seek, SeekFrom, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use inflight_testkit::{FdKind, Fixture};
use nix::fcntl::{fcntl, FcntlArg, FdFlag, OFlag};
use proptest::prelude::*;

/// Where a descriptor of the pool comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// A fixture of `inflight-impls` (file, pipe end, socket, eventfd…).
    Kind(FdKind),
    /// The sending socket itself.
    SenderSocket,
}

impl Source {
    /// A short name.
    pub fn name(self) -> &'static str {
        match self {
            Source::Kind(k) => k.name(),
            Source::SenderSocket => "sender-socket",
        }
    }

    /// Whether content and offset apply (regular files and memfds).
    pub fn seekable(self) -> bool {
        matches!(self, Source::Kind(k) if k.seekable())
    }

    /// Whether the size may change (sealed memfds cannot grow or shrink).
    pub fn resizable(self) -> bool {
        matches!(
            self,
            Source::Kind(FdKind::File | FdKind::AppendFile | FdKind::MemFd)
        )
    }

    /// Whether `F_SETFL` works on it (not on `O_PATH` descriptors; the
    /// sending socket's mode is left to the plan).
    pub fn status_flags_settable(self) -> bool {
        !matches!(self, Source::Kind(FdKind::DirPath) | Source::SenderSocket)
    }
}

/// One descriptor to open: its source and, where they apply, content,
/// offset, status flags and the sender's `FD_CLOEXEC`.
#[derive(Clone, PartialEq, Eq)]
pub struct FdSpec {
    /// What it is.
    pub source: Source,
    /// Content length (regular files and memfds; replaced for resizable
    /// ones).
    pub content_len: usize,
    /// Seed of the content bytes.
    pub content_seed: u64,
    /// The offset, as a fraction of the content length in 1/256ths.
    pub offset_frac: u8,
    /// `O_APPEND` on the open file description (files and memfds).
    pub append: bool,
    /// `O_NONBLOCK` on the open file description.
    pub nonblock: bool,
    /// The sender's `FD_CLOEXEC` on its descriptor (per descriptor: the
    /// receiver's must not follow it).
    pub sender_cloexec: bool,
}

impl fmt::Debug for FdSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.source.name())?;
        if self.source.seekable() {
            write!(
                f,
                "(content {} B seed {:#x}, offset {}/256",
                self.content_len, self.content_seed, self.offset_frac
            )?;
            if self.append {
                write!(f, ", O_APPEND")?;
            }
            write!(f, ")")?;
        }
        if self.nonblock && self.source.status_flags_settable() {
            write!(f, " O_NONBLOCK")?;
        }
        if !self.sender_cloexec {
            write!(f, " no-FD_CLOEXEC")?;
        }
        Ok(())
    }
}

/// Deterministic bytes from a seed (splitmix64): large payloads and file
/// contents without generating each byte through a strategy.
pub fn bytes_from_seed(seed: u64, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 8);
    let mut x = seed;
    while out.len() < len {
        x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        out.extend_from_slice(&z.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Any source: every [`FdKind`] and the sending socket.
pub fn any_source() -> impl Strategy<Value = Source> + Clone {
    prop_oneof![
        12 => proptest::sample::select(FdKind::ALL.to_vec()).prop_map(Source::Kind),
        1 => Just(Source::SenderSocket),
    ]
}

/// Sources with a file offset (regular files and memfds).
pub fn seekable_source() -> impl Strategy<Value = Source> + Clone {
    proptest::sample::select(vec![
        FdKind::File,
        FdKind::AppendFile,
        FdKind::MemFd,
        FdKind::SealedMemFd,
    ])
    .prop_map(Source::Kind)
}

/// A spec over `source`, with random content, offset and flags.
pub fn fd_spec(source: impl Strategy<Value = Source>) -> impl Strategy<Value = FdSpec> {
    (
        source,
        prop_oneof![1 => Just(0usize), 4 => 1usize..=512],
        any::<u64>(),
        any::<u8>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(source, content_len, content_seed, offset_frac, append, nonblock, sender_cloexec)| {
                FdSpec {
                    source,
                    content_len,
                    content_seed,
                    offset_frac,
                    append: append || source == Source::Kind(FdKind::AppendFile),
                    nonblock,
                    sender_cloexec,
                }
            },
        )
}

/// One opened descriptor of the pool.
#[derive(Debug)]
pub struct Opened {
    /// What was asked for.
    pub spec: FdSpec,
    /// The original descriptor (`None` for [`Source::SenderSocket`], which
    /// the exchange owns, and once closed).
    pub original: Option<OwnedFd>,
    /// The other pipe or socket end, kept open even when the original is
    /// closed.
    pub keep: Vec<OwnedFd>,
    /// The content of a seekable one (what it holds from offset 0).
    pub content: Vec<u8>,
    /// Its offset after opening.
    pub offset: u64,
}

impl Opened {
    /// Opens `spec`.
    ///
    /// # Errors
    ///
    /// The system call that failed.
    pub fn open(spec: &FdSpec) -> io::Result<Self> {
        let Source::Kind(kind) = spec.source else {
            return Ok(Opened {
                spec: spec.clone(),
                original: None,
                keep: Vec::new(),
                content: Vec::new(),
                offset: 0,
            });
        };
        let Fixture { fd, keep, .. } = kind.open()?;
        let mut content = Vec::new();
        let mut offset = 0;
        if spec.source.seekable() {
            let mut f = std::fs::File::from(fd.try_clone()?);
            if spec.source.resizable() {
                content = bytes_from_seed(spec.content_seed, spec.content_len);
                f.set_len(0)?;
                f.seek(SeekFrom::Start(0))?;
                f.write_all(&content)?;
            } else {
                let len = f.metadata()?.len() as usize;
                content = vec![0; len];
                std::os::unix::fs::FileExt::read_exact_at(&f, &mut content, 0)?;
            }
            offset = (content.len() as u64 * u64::from(spec.offset_frac)) / 256;
            f.seek(SeekFrom::Start(offset))?;
        }
        if spec.source.status_flags_settable() {
            let mut fl = OFlag::from_bits_retain(fcntl(fd.as_fd(), FcntlArg::F_GETFL)?);
            fl.set(OFlag::O_APPEND, spec.append && spec.source.seekable());
            fl.set(OFlag::O_NONBLOCK, spec.nonblock);
            fcntl(fd.as_fd(), FcntlArg::F_SETFL(fl))?;
        }
        let fd_flags = if spec.sender_cloexec {
            FdFlag::FD_CLOEXEC
        } else {
            FdFlag::empty()
        };
        fcntl(fd.as_fd(), FcntlArg::F_SETFD(fd_flags))?;
        Ok(Opened {
            spec: spec.clone(),
            original: Some(fd),
            keep,
            content,
            offset,
        })
    }

    /// The descriptor to send: the original, or `sender` for
    /// [`Source::SenderSocket`].
    ///
    /// # Panics
    ///
    /// If the original was closed (callers must not send a closed one).
    pub fn fd<'a>(&'a self, sender: BorrowedFd<'a>) -> BorrowedFd<'a> {
        match (&self.original, self.spec.source) {
            (_, Source::SenderSocket) => sender,
            (Some(fd), _) => fd.as_fd(),
            (None, _) => panic!("{:?}: the original is closed", self.spec),
        }
    }

    /// Closes the original, keeping the other pipe or socket end. Returns
    /// whether there was one to close.
    pub fn close_original(&mut self) -> bool {
        self.original.take().is_some()
    }
}

/// Opens every spec.
///
/// # Errors
///
/// The first system call that failed.
pub fn open_pool(specs: &[FdSpec]) -> io::Result<Vec<Opened>> {
    specs.iter().map(Opened::open).collect()
}
