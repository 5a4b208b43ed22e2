//! Descriptor fixtures: every kind of descriptor the tests pass around, one
//! way to open each (always close-on-exec), and a cheap subset for the
//! fuzzers, which open several per input.

use std::io::{Seek, SeekFrom, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use nix::fcntl::{fcntl, FcntlArg, OFlag};

/// A kind of descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FdKind {
    /// A regular temporary file with some content, offset moved to 3.
    File,
    /// A regular temporary file opened with `O_APPEND`.
    AppendFile,
    /// The read end of a pipe.
    PipeRead,
    /// The write end of a pipe.
    PipeWrite,
    /// One end of a Unix stream socket pair.
    UnixSocket,
    /// An eventfd.
    EventFd,
    /// A memfd without seals.
    MemFd,
    /// A memfd with `F_SEAL_SHRINK | F_SEAL_GROW` applied.
    SealedMemFd,
    /// A timerfd (`CLOCK_MONOTONIC`).
    TimerFd,
    /// The temporary directory opened with `O_PATH`.
    DirPath,
    /// `/dev/null`.
    DevNull,
    /// An epoll instance.
    Epoll,
}

impl FdKind {
    /// Every kind.
    pub const ALL: [FdKind; 12] = [
        FdKind::File,
        FdKind::AppendFile,
        FdKind::PipeRead,
        FdKind::PipeWrite,
        FdKind::UnixSocket,
        FdKind::EventFd,
        FdKind::MemFd,
        FdKind::SealedMemFd,
        FdKind::TimerFd,
        FdKind::DirPath,
        FdKind::DevNull,
        FdKind::Epoll,
    ];

    /// The kinds that open without touching a filesystem that can fill up
    /// and in a few system calls: what the fuzzers open for every input.
    pub const CHEAP: [FdKind; 7] = [
        FdKind::DevNull,
        FdKind::PipeRead,
        FdKind::PipeWrite,
        FdKind::EventFd,
        FdKind::MemFd,
        FdKind::UnixSocket,
        FdKind::DirPath,
    ];

    /// A short name.
    pub fn name(self) -> &'static str {
        match self {
            FdKind::File => "file",
            FdKind::AppendFile => "append-file",
            FdKind::PipeRead => "pipe-read",
            FdKind::PipeWrite => "pipe-write",
            FdKind::UnixSocket => "unix-socket",
            FdKind::EventFd => "eventfd",
            FdKind::MemFd => "memfd",
            FdKind::SealedMemFd => "sealed-memfd",
            FdKind::TimerFd => "timerfd",
            FdKind::DirPath => "dir-o-path",
            FdKind::DevNull => "dev-null",
            FdKind::Epoll => "epoll",
        }
    }

    /// Whether the descriptor has a file offset that `lseek` moves.
    pub fn seekable(self) -> bool {
        matches!(
            self,
            FdKind::File | FdKind::AppendFile | FdKind::MemFd | FdKind::SealedMemFd
        )
    }

    /// Opens one descriptor of this kind (close-on-exec), with whatever
    /// keeps it meaningful (the other pipe or socket end) in the fixture.
    ///
    /// # Errors
    ///
    /// The system call that failed (for example `EMFILE`).
    pub fn open(self) -> std::io::Result<Fixture> {
        let mut keep = Vec::new();
        let fd: OwnedFd = match self {
            FdKind::File | FdKind::AppendFile => {
                let mut f = tempfile::tempfile()?;
                f.write_all(b"inflight fixture\n")?;
                f.seek(SeekFrom::Start(3))?;
                if self == FdKind::AppendFile {
                    add_status_flags(f.as_fd(), OFlag::O_APPEND)?;
                }
                f.into()
            }
            FdKind::PipeRead | FdKind::PipeWrite => {
                let (r, w) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
                let (fd, other) = if self == FdKind::PipeRead {
                    (r, w)
                } else {
                    (w, r)
                };
                keep.push(other);
                fd
            }
            FdKind::UnixSocket => {
                use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
                let (a, b) = socketpair(
                    AddressFamily::Unix,
                    SockType::Stream,
                    None,
                    SockFlag::SOCK_CLOEXEC,
                )?;
                keep.push(b);
                a
            }
            FdKind::EventFd => {
                use nix::sys::eventfd::{EfdFlags, EventFd};
                EventFd::from_value_and_flags(0, EfdFlags::EFD_CLOEXEC)?.into()
            }
            FdKind::MemFd | FdKind::SealedMemFd => {
                use nix::sys::memfd::{memfd_create, MFdFlags};
                let fd = memfd_create(
                    "inflight-fixture",
                    MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING,
                )?;
                let mut f = std::fs::File::from(fd);
                f.write_all(b"memfd fixture\n")?;
                if self == FdKind::SealedMemFd {
                    use nix::fcntl::SealFlag;
                    let seals = SealFlag::F_SEAL_SHRINK | SealFlag::F_SEAL_GROW;
                    fcntl(f.as_fd(), FcntlArg::F_ADD_SEALS(seals))?;
                }
                f.into()
            }
            FdKind::TimerFd => {
                use nix::sys::timerfd::{ClockId, TimerFd, TimerFlags};
                TimerFd::new(ClockId::CLOCK_MONOTONIC, TimerFlags::TFD_CLOEXEC)?.into()
            }
            FdKind::DirPath => nix::fcntl::open(
                std::env::temp_dir().as_path(),
                OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
                nix::sys::stat::Mode::empty(),
            )?,
            FdKind::DevNull => std::fs::File::open("/dev/null")?.into(),
            FdKind::Epoll => {
                use nix::sys::epoll::{Epoll, EpollCreateFlags};
                Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?.0
            }
        };
        Ok(Fixture {
            kind: self,
            fd,
            keep,
        })
    }
}

/// Adds `flags` to the open file status flags of `fd`.
fn add_status_flags(fd: BorrowedFd<'_>, flags: OFlag) -> nix::Result<()> {
    let now = OFlag::from_bits_retain(fcntl(fd, FcntlArg::F_GETFL)?);
    fcntl(fd, FcntlArg::F_SETFL(now | flags))?;
    Ok(())
}

/// An open descriptor of some [`FdKind`], plus what keeps it meaningful.
#[derive(Debug)]
pub struct Fixture {
    /// Its kind.
    pub kind: FdKind,
    /// The descriptor to pass.
    pub fd: OwnedFd,
    /// The other end of a pipe or socket pair, kept open.
    pub keep: Vec<OwnedFd>,
}

impl Fixture {
    /// The descriptor, borrowed.
    pub fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// The descriptor alone (the other end of a pipe or socket pair is
    /// closed: a pipe end then has no peer).
    pub fn into_fd(self) -> OwnedFd {
        self.fd
    }
}

impl AsFd for Fixture {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
