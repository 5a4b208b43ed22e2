//! Looking at descriptors: are two the same open file description, what is
//! their identity, offset and flags, and which descriptors a process has open
//! (to name leaks).
//!
//! This is what inflight's own tests and auditor use as their oracle, public
//! so that you can audit your code the same way:
//!
//! ```
//! use std::os::fd::AsFd;
//! use inflight::inspect::{same_file, FdSnapshot, Sameness};
//!
//! let before = FdSnapshot::take()?;
//! let f = std::fs::File::open("/dev/null")?;
//! let g = f.try_clone()?; // dup: same open file description
//! assert_ne!(same_file(f.as_fd(), g.as_fd()), Sameness::Different);
//! let leaked = FdSnapshot::take()?.leaked_since(&before);
//! assert_eq!(leaked.len(), 2, "{leaked:?}");
//! # Ok::<(), std::io::Error>(())
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};

#[cfg(linux_like)]
use crate::sys;

/// Whether two descriptors refer to the same open file description.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sameness {
    /// The same open file description (`kcmp(KCMP_FILE)` said 0).
    Same,
    /// Different descriptions: `kcmp` said so, or their files differ.
    Different,
    /// Could not be decided: same file (fstat) but `kcmp` is unavailable;
    /// the reason says why (for example seccomp, or `ptrace` access denied
    /// for another process).
    Unknown(&'static str),
}

impl Sameness {
    /// `Some(true)` for [`Same`](Sameness::Same), `Some(false)` for
    /// [`Different`](Sameness::Different), `None` when unknown.
    pub fn known(self) -> Option<bool> {
        match self {
            Sameness::Same => Some(true),
            Sameness::Different => Some(false),
            Sameness::Unknown(_) => None,
        }
    }
}

/// Whether `a` and `b` (both in this process) are the same open file
/// description: `kcmp(KCMP_FILE)`, falling back to an honest
/// [`Unknown`](Sameness::Unknown) when kcmp is unavailable and the fstat
/// identities agree.
pub fn same_file(a: BorrowedFd<'_>, b: BorrowedFd<'_>) -> Sameness {
    let me = std::process::id() as i32;
    same_file_in(me, a.as_raw_fd(), me, b.as_raw_fd())
}

/// [`same_file`] across processes: descriptor `fd_a` of process `pid_a`
/// against `fd_b` of `pid_b`. Needs `ptrace` read access to both processes
/// (your own children usually qualify).
pub fn same_file_in(pid_a: i32, fd_a: RawFd, pid_b: i32, fd_b: RawFd) -> Sameness {
    #[cfg(linux_like)]
    {
        match sys::kcmp_file(pid_a, fd_a, pid_b, fd_b) {
            Ok(0) => Sameness::Same,
            Ok(_) => Sameness::Different,
            Err(e) => {
                let reason = match e.raw_os_error() {
                    Some(libc::ENOSYS) => "kcmp(2) is not available (ENOSYS)",
                    Some(libc::EPERM) => "kcmp(2) was denied (EPERM: seccomp or ptrace access)",
                    Some(libc::EBADF) => "a descriptor is not open (EBADF)",
                    Some(libc::ESRCH) => "no such process (ESRCH)",
                    _ => "kcmp(2) failed",
                };
                // Fallback: different inodes prove different descriptions.
                let ida = file_id_in(pid_a, fd_a);
                let idb = file_id_in(pid_b, fd_b);
                if let (Ok(x), Ok(y)) = (ida, idb) {
                    if x != y {
                        return Sameness::Different;
                    }
                }
                Sameness::Unknown(reason)
            }
        }
    }
    #[cfg(not(linux_like))]
    {
        let _ = (pid_a, fd_a, pid_b, fd_b);
        Sameness::Unknown("kcmp(2) is Linux only")
    }
}

/// Whether `kcmp(KCMP_FILE)` works in this process (it can be missing from
/// the kernel or blocked by seccomp, as in some container runtimes).
pub fn kcmp_available() -> bool {
    #[cfg(linux_like)]
    {
        let me = std::process::id() as i32;
        let stdin = io::stdin();
        let fd = stdin.as_raw_fd();
        // Comparing a descriptor with itself: 0 if kcmp works, EBADF if fd 0
        // is closed (kcmp ran, so it is available).
        match sys::kcmp_file(me, fd, me, fd) {
            Ok(_) => true,
            Err(e) => e.raw_os_error() == Some(libc::EBADF),
        }
    }
    #[cfg(not(linux_like))]
    false
}

/// The file a descriptor refers to (`fstat`): device, inode and mode. Equal
/// identities mean the same file, not necessarily the same open file
/// description (two `open`s of one path share an identity).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FileId {
    /// `st_dev`.
    pub dev: u64,
    /// `st_ino`.
    pub ino: u64,
    /// `st_mode` (type and permission bits).
    pub mode: u32,
}

impl fmt::Display for FileId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "dev {:#x} ino {} mode {:o}",
            self.dev, self.ino, self.mode
        )
    }
}

/// The [`FileId`] of `fd`.
///
/// # Errors
///
/// The `fstat(2)` error.
pub fn file_id(fd: BorrowedFd<'_>) -> io::Result<FileId> {
    let st = nix::sys::stat::fstat(fd)?;
    Ok(FileId {
        dev: st.st_dev as u64,
        ino: st.st_ino as u64,
        mode: st.st_mode as u32,
    })
}

/// The [`FileId`] of descriptor `fd` of process `pid` (through
/// `/proc/PID/fd/FD`, which follows the descriptor even for pipes and
/// sockets).
///
/// # Errors
///
/// Reading `/proc` failed (no such process or descriptor, or no access).
pub fn file_id_in(pid: i32, fd: RawFd) -> io::Result<FileId> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(format!("/proc/{pid}/fd/{fd}"))?;
    Ok(FileId {
        dev: m.dev(),
        ino: m.ino(),
        mode: m.mode(),
    })
}

/// Fields of `/proc/PID/fdinfo/FD`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FdInfo {
    /// The file offset (`pos`): shared by all descriptors of one open file
    /// description.
    pub pos: u64,
    /// The open file status flags (`flags`, octal in the file), including
    /// `O_CLOEXEC` for the descriptor and the description's `O_APPEND`,
    /// `O_NONBLOCK` and access mode.
    pub flags: i32,
    /// The mount id (`mnt_id`), when present.
    pub mnt_id: Option<u64>,
    /// The inode number (`ino`, Linux 5.14+), when present.
    pub ino: Option<u64>,
}

/// [`FdInfo`] of `fd` in this process.
///
/// # Errors
///
/// Reading or parsing `/proc/self/fdinfo/FD` failed.
pub fn fdinfo(fd: BorrowedFd<'_>) -> io::Result<FdInfo> {
    fdinfo_in(std::process::id() as i32, fd.as_raw_fd())
}

/// [`FdInfo`] of descriptor `fd` of process `pid`.
///
/// # Errors
///
/// Reading or parsing `/proc/PID/fdinfo/FD` failed.
pub fn fdinfo_in(pid: i32, fd: RawFd) -> io::Result<FdInfo> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}"))?;
    parse_fdinfo(&text)
}

fn parse_fdinfo(text: &str) -> io::Result<FdInfo> {
    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, format!("fdinfo: {what}"));
    let mut pos = None;
    let mut flags = None;
    let mut mnt_id = None;
    let mut ino = None;
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match key {
            "pos" => pos = Some(value.parse::<u64>().map_err(|_| bad("pos"))?),
            "flags" => flags = Some(i32::from_str_radix(value, 8).map_err(|_| bad("flags"))?),
            "mnt_id" => mnt_id = value.parse().ok(),
            "ino" => ino = value.parse().ok(),
            _ => {}
        }
    }
    Ok(FdInfo {
        pos: pos.ok_or_else(|| bad("no pos line"))?,
        flags: flags.ok_or_else(|| bad("no flags line"))?,
        mnt_id,
        ino,
    })
}

/// Whether `fd` has `FD_CLOEXEC` set (a per-descriptor flag, not shared).
///
/// # Errors
///
/// The `fcntl(F_GETFD)` error.
pub fn is_cloexec(fd: BorrowedFd<'_>) -> io::Result<bool> {
    Ok(crate::sys::get_fd_flags(fd)? & libc::FD_CLOEXEC != 0)
}

/// The open file status flags of `fd` (`fcntl(F_GETFL)`: `O_APPEND`,
/// `O_NONBLOCK`, access mode…), which belong to the open file description
/// and so are shared with every descriptor that refers to it.
///
/// # Errors
///
/// The `fcntl(F_GETFL)` error.
pub fn status_flags(fd: BorrowedFd<'_>) -> io::Result<i32> {
    Ok(nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_GETFL)?)
}

/// One open descriptor and what it refers to (the `/proc/PID/fd` link:
/// a path, or `pipe:[ino]`, `socket:[ino]`, `anon_inode:[eventfd]`…).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenFd {
    /// The descriptor number.
    pub fd: RawFd,
    /// What it refers to.
    pub target: String,
}

impl fmt::Display for OpenFd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "fd {} -> {}", self.fd, self.target)
    }
}

/// The open descriptors of a process at one moment, from `/proc/PID/fd`.
///
/// Compare two snapshots to find leaks. Snapshots of your own process are
/// only meaningful when no other thread opens or closes descriptors between
/// them (serialise such tests).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FdSnapshot {
    fds: BTreeMap<RawFd, String>,
}

impl FdSnapshot {
    /// The open descriptors of this process (the one used to read the
    /// directory excluded).
    ///
    /// # Errors
    ///
    /// Reading `/proc/self/fd` failed.
    pub fn take() -> io::Result<Self> {
        Self::read("/proc/self/fd", true)
    }

    /// The open descriptors of process `pid`.
    ///
    /// # Errors
    ///
    /// Reading `/proc/PID/fd` failed (no such process, or no access).
    pub fn of_pid(pid: i32) -> io::Result<Self> {
        Self::read(&format!("/proc/{pid}/fd"), pid == std::process::id() as i32)
    }

    fn read(dir: &str, own: bool) -> io::Result<Self> {
        use nix::dir::Dir;
        use nix::fcntl::OFlag;
        use nix::sys::stat::Mode;
        let mut d = Dir::open(
            dir,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        let own_fd = own.then(|| d.as_raw_fd());
        let mut fds = BTreeMap::new();
        for entry in d.iter() {
            let entry = entry?;
            let Ok(name) = entry.file_name().to_str() else {
                continue;
            };
            let Ok(fd) = name.parse::<RawFd>() else {
                continue;
            };
            if Some(fd) == own_fd {
                continue;
            }
            // A descriptor closed between listing and readlink is gone: skip.
            if let Ok(target) = std::fs::read_link(format!("{dir}/{fd}")) {
                fds.insert(fd, target.to_string_lossy().into_owned());
            }
        }
        Ok(FdSnapshot { fds })
    }

    /// How many descriptors are open.
    pub fn len(&self) -> usize {
        self.fds.len()
    }

    /// None are open.
    pub fn is_empty(&self) -> bool {
        self.fds.is_empty()
    }

    /// Whether `fd` is open.
    pub fn contains(&self, fd: RawFd) -> bool {
        self.fds.contains_key(&fd)
    }

    /// What `fd` refers to, if open.
    pub fn target(&self, fd: RawFd) -> Option<&str> {
        self.fds.get(&fd).map(String::as_str)
    }

    /// Every open descriptor, in order.
    pub fn iter(&self) -> impl Iterator<Item = OpenFd> + '_ {
        self.fds.iter().map(|(&fd, t)| OpenFd {
            fd,
            target: t.clone(),
        })
    }

    /// Descriptors open now that were not open in `before`, or whose target
    /// changed (closed and reused for something else): the leaks.
    pub fn leaked_since(&self, before: &FdSnapshot) -> Vec<OpenFd> {
        self.fds
            .iter()
            .filter(|(fd, t)| before.fds.get(fd) != Some(t))
            .map(|(&fd, t)| OpenFd {
                fd,
                target: t.clone(),
            })
            .collect()
    }

    /// Descriptors open in `before` that are closed now (or reused).
    pub fn closed_since(&self, before: &FdSnapshot) -> Vec<OpenFd> {
        before.leaked_since(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fdinfo() {
        let info = parse_fdinfo("pos:\t42\nflags:\t02004002\nmnt_id:\t25\nino:\t99\n").unwrap();
        assert_eq!(info.pos, 42);
        assert_eq!(info.flags, 0o2004002);
        assert_eq!(info.mnt_id, Some(25));
        assert_eq!(info.ino, Some(99));
        assert!(parse_fdinfo("flags: 0\n").is_err());
    }
}
