//! This process's descriptor table, read from `/proc/self/fd`, and what a
//! descriptor is, for reports.

use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, RawFd};

/// The open descriptors of this process, sorted, without the one used to
/// read the directory and without `skip`.
pub(crate) fn list(skip: &[RawFd]) -> io::Result<Vec<RawFd>> {
    use nix::dir::Dir;
    use nix::fcntl::OFlag;
    use nix::sys::stat::Mode;
    let mut dir = Dir::open(
        "/proc/self/fd",
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    let own = dir.as_raw_fd();
    let mut out = Vec::with_capacity(32);
    for entry in dir.iter() {
        let entry = entry?;
        let Some(fd) = entry
            .file_name()
            .to_str()
            .ok()
            .and_then(|n| n.parse::<RawFd>().ok())
        else {
            continue;
        };
        if fd != own && !skip.contains(&fd) {
            out.push(fd);
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// The open descriptors of this process, sorted: a snapshot of the
/// descriptor table by number, for a test that keeps its own account of
/// what should be open (the descriptor used to read `/proc/self/fd` is not
/// in it; the witnesses of a running [`LeakGuard`](crate::LeakGuard) are).
///
/// # Errors
///
/// Reading `/proc/self/fd`.
pub fn open_fds() -> io::Result<Vec<RawFd>> {
    list(&[])
}

/// What descriptor `fd` refers to now, for a report.
pub fn describe_fd(fd: RawFd) -> Described {
    describe(fd)
}

/// One descriptor as a report names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Described {
    /// The descriptor number.
    pub fd: RawFd,
    /// What it refers to: the `/proc/self/fd` link (a path, `pipe:[ino]`,
    /// `socket:[ino]`, `anon_inode:[eventfd]`...), or the file identity
    /// when the link could not be read.
    pub target: String,
    /// What `/proc/self/fdinfo` tells apart for anonymous inodes, which
    /// all share one target: `eventfd-id`, an epoll's watched descriptors
    /// (`tfd`), a timerfd's `clockid`, a pidfd's `Pid`, a signalfd's
    /// `sigmask`.
    pub details: Vec<String>,
}

impl fmt::Display for Described {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "fd {} -> {}", self.fd, self.target)?;
        if !self.details.is_empty() {
            write!(f, " ({})", self.details.join(", "))?;
        }
        Ok(())
    }
}

/// Describes descriptor `via` of this process, labelled as `fd` (a
/// witness describes the original it duplicates).
pub(crate) fn describe_as(fd: RawFd, via: RawFd) -> Described {
    let target = std::fs::read_link(format!("/proc/self/fd/{via}"))
        .map(|t| t.to_string_lossy().into_owned())
        .unwrap_or_else(|e| format!("? ({e})"));
    let details = if target.starts_with("anon_inode:") {
        std::fs::read_to_string(format!("/proc/self/fdinfo/{via}"))
            .map(|info| anon_details(&info))
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    Described {
        fd,
        target,
        details,
    }
}

/// Describes descriptor `fd` as it is now.
pub(crate) fn describe(fd: RawFd) -> Described {
    describe_as(fd, fd)
}

/// Describes a descriptor that is gone from its file identity alone.
pub(crate) fn describe_id(fd: RawFd, (dev, ino, mode): (u64, u64, u32)) -> Described {
    let target = match mode & libc::S_IFMT {
        libc::S_IFIFO => format!("pipe:[{ino}] (or a FIFO)"),
        libc::S_IFSOCK => format!("socket:[{ino}]"),
        _ => format!("dev {dev:#x} ino {ino} mode {mode:o}"),
    };
    Described {
        fd,
        target,
        details: Vec::new(),
    }
}

/// The lines of an fdinfo text that tell anonymous inodes apart.
fn anon_details(info: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut tfds = Vec::new();
    for line in info.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match key.trim() {
            "eventfd-id" | "clockid" | "Pid" | "sigmask" => {
                out.push(format!("{}: {value}", key.trim()));
            }
            // "tfd:        5 events:       19 data: ..."
            "tfd" => {
                if let Some(n) = value.split_whitespace().next() {
                    tfds.push(n.to_string());
                }
            }
            _ => {}
        }
    }
    if !tfds.is_empty() {
        out.push(format!("watches fds {}", tfds.join(" ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fdinfo_details() {
        let ev = "pos:\t0\nflags:\t02\nmnt_id:\t17\nino:\t1\neventfd-count: 0\neventfd-id: 7\n";
        assert_eq!(anon_details(ev), vec!["eventfd-id: 7"]);
        let ep = "pos:\t0\nflags:\t02\ntfd:        5 events:       19 data:                5  pos:0 ino:3 sdev:6\ntfd:        9 events:       19 data: 9\n";
        assert_eq!(anon_details(ep), vec!["watches fds 5 9"]);
        let pid = "pos:\t0\nflags:\t02000002\nPid:\t4242\nNSpid:\t4242\n";
        assert_eq!(anon_details(pid), vec!["Pid: 4242"]);
    }

    #[test]
    fn lists_and_describes() {
        let f = std::fs::File::open("/dev/null").unwrap();
        let fd = f.as_raw_fd();
        assert!(list(&[]).unwrap().contains(&fd));
        assert!(open_fds().unwrap().contains(&fd));
        assert_eq!(describe_fd(fd), describe(fd));
        assert!(!list(&[fd]).unwrap().contains(&fd));
        assert_eq!(describe(fd).to_string(), format!("fd {fd} -> /dev/null"));
    }
}
