//! Looking at a tracee's socket from the tracer: a copy of it by
//! `pidfd_getfd`, a peek at what is queued, and its options.

use std::collections::HashMap;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use rustix::process::{pidfd_getfd, pidfd_open, PidfdFlags, PidfdGetfdFlags};

use super::events::Queued;
use inflight_testkit::raw;

/// Most payload bytes a peek copies (the kernel stops at the first message
/// with descriptors anyway).
const PEEK_CAP: usize = 64 * 1024;
/// Control room for a peek: 253 descriptors, credentials and a pidfd.
const PEEK_CONTROL: usize = 4096;

/// Pidfds of the traced processes, opened on demand.
#[derive(Default)]
pub struct Probe {
    pidfds: HashMap<i32, OwnedFd>,
    /// `pidfd_getfd` is refused here (the first error), if it is.
    pub broken: Option<String>,
}

/// What a peek found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Peek {
    /// A message is queued; it carries this.
    Queued(Queued),
    /// Nothing is queued (the call would block or fail with `EAGAIN`).
    Empty,
}

impl Probe {
    /// A copy of descriptor `fd` of process `tgid`, in this process.
    ///
    /// # Errors
    ///
    /// The pidfd or the copy could not be made (the message says which).
    pub fn copy(&mut self, tgid: i32, fd: i32) -> Result<OwnedFd, String> {
        if let Some(why) = &self.broken {
            return Err(why.clone());
        }
        if !self.pidfds.contains_key(&tgid) {
            let pid = rustix::process::Pid::from_raw(tgid).ok_or("pid 0")?;
            let pidfd = pidfd_open(pid, PidfdFlags::empty()).map_err(|e| {
                let why = format!("pidfd_open({tgid}) failed: {e}");
                if e == rustix::io::Errno::NOSYS || e == rustix::io::Errno::PERM {
                    self.broken = Some(why.clone());
                }
                why
            })?;
            self.pidfds.insert(tgid, pidfd);
        }
        let pidfd = &self.pidfds[&tgid];
        pidfd_getfd(pidfd, fd, PidfdGetfdFlags::empty()).map_err(|e| {
            let why = format!("pidfd_getfd(pid {tgid}, fd {fd}) failed: {e}");
            if e == rustix::io::Errno::NOSYS || e == rustix::io::Errno::PERM {
                self.broken = Some(why.clone());
            }
            why
        })
    }

    /// Forgets the pidfd of a process that ended.
    pub fn forget(&mut self, tgid: i32) {
        self.pidfds.remove(&tgid);
    }
}

/// An `int` socket option of `sock` (the test kit's raw getsockopt).
fn sockopt(sock: BorrowedFd<'_>, level: i32, name: i32) -> Option<i32> {
    inflight_testkit::sockopt::get_int(sock, level, name).ok()
}

/// `sock` is a Unix domain socket.
pub fn is_unix(sock: BorrowedFd<'_>) -> bool {
    sockopt(sock, libc::SOL_SOCKET, libc::SO_DOMAIN) == Some(libc::AF_UNIX)
}

/// `sock` is a stream socket.
pub fn is_stream(sock: BorrowedFd<'_>) -> bool {
    sockopt(sock, libc::SOL_SOCKET, libc::SO_TYPE) == Some(libc::SOCK_STREAM)
}

/// The open file description of `sock` has `O_NONBLOCK`.
pub fn nonblocking(sock: BorrowedFd<'_>) -> bool {
    // SAFETY: fcntl(F_GETFL) only reads the flags of a descriptor that
    // `sock` keeps open for the call.
    let fl = unsafe { libc::fcntl(sock.as_raw_fd(), libc::F_GETFL) };
    fl >= 0 && fl & libc::O_NONBLOCK != 0
}

/// `SO_PASSCRED` and `SO_PASSPIDFD` of `sock`, in words.
pub fn passcred(sock: BorrowedFd<'_>) -> String {
    let on = |name| match sockopt(sock, libc::SOL_SOCKET, name) {
        Some(0) => "off",
        Some(_) => "on",
        None => "unknown",
    };
    format!(
        "SO_PASSCRED {}, SO_PASSPIDFD {}",
        on(libc::SO_PASSCRED),
        on(inflight::codec::SO_PASSPIDFD)
    )
}

/// Peeks (`MSG_PEEK | MSG_DONTWAIT`) at up to `len` payload bytes of the
/// next message on `sock`, with room for every control message; the
/// descriptors the peek installs here are closed at once.
///
/// # Errors
///
/// The peek failed other than with `EAGAIN` (the message says how).
pub fn peek(sock: impl AsFd, len: u64) -> Result<Peek, String> {
    let mut buf = vec![0u8; (len as usize).clamp(1, PEEK_CAP)];
    let flags = libc::MSG_PEEK | libc::MSG_DONTWAIT | libc::MSG_CMSG_CLOEXEC;
    match raw::recvmsg(sock.as_fd(), &mut buf, Some(PEEK_CONTROL), flags) {
        Ok(r) => Ok(Peek::Queued(Queued {
            fds: r.fds.len() + usize::from(r.pidfd.is_some()),
            control: r.controllen,
        })),
        Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => Ok(Peek::Empty),
        Err(e) => Err(format!("peek failed: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn peeks_without_consuming() {
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        assert_eq!(peek(&b, 10), Ok(Peek::Empty));
        let f = std::fs::File::open("/dev/null").unwrap();
        let cmsg = inflight_testkit::cmsg::Cmsg::rights(&[f.as_raw_fd(), f.as_raw_fd()]).to_bytes();
        raw::sendmsg(a.as_fd(), b"hi", &cmsg, 0).unwrap();
        let want = Peek::Queued(Queued {
            fds: 2,
            control: inflight::codec::cmsg_len(8),
        });
        assert_eq!(peek(&b, 10), Ok(want));
        assert_eq!(peek(&b, 10), Ok(want), "the first peek consumed nothing");
        assert!(is_unix(b.as_fd()) && is_stream(b.as_fd()) && !nonblocking(b.as_fd()));
        assert!(passcred(b.as_fd()).starts_with("SO_PASSCRED off"));
        let mut probe = Probe::default();
        let copy = probe
            .copy(std::process::id() as i32, b.as_raw_fd())
            .unwrap();
        assert_eq!(
            peek(&copy, 10),
            Ok(want),
            "a pidfd_getfd copy sees the queue"
        );
    }
}
