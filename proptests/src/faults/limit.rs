//! A lowered soft `RLIMIT_NOFILE`: the kernel then installs received
//! descriptors only below it (the lowest free numbers first) and cuts the
//! rest off with `MSG_CTRUNC`. Descriptors already open above the limit
//! stay valid.

use std::io;
use std::os::fd::RawFd;

use nix::sys::resource::{getrlimit, setrlimit, Resource};

/// The soft limit lowered; restored by [`LoweredLimit::restore`] or on drop
/// (a panic included).
#[derive(Debug)]
pub struct LoweredLimit {
    soft: libc::rlim_t,
    hard: libc::rlim_t,
    /// The limit set.
    pub limit: libc::rlim_t,
    restored: bool,
}

/// The limit below which exactly `room` numbers are free, given the open
/// descriptors `open` (sorted): the `room`-th free number, counting from
/// zero, which is the first one the kernel would refuse.
pub fn limit_for_room(open: &[RawFd], room: usize) -> RawFd {
    let mut free = 0;
    let mut fd: RawFd = 0;
    loop {
        if open.binary_search(&fd).is_err() {
            if free == room {
                return fd;
            }
            free += 1;
        }
        fd += 1;
    }
}

impl LoweredLimit {
    /// Lowers the soft limit so that exactly `room` more descriptors fit
    /// (counted against the descriptors open now). Open nothing before the
    /// limit is restored: the harness, libtest and the leak guard need
    /// descriptors too.
    ///
    /// # Errors
    ///
    /// Reading `/proc/self/fd`, or `getrlimit`/`setrlimit`.
    pub fn leave_room(room: usize) -> io::Result<LoweredLimit> {
        let open = inflight_testkit::open_fds()?;
        let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
        let limit = limit_for_room(&open, room) as libc::rlim_t;
        if limit > hard {
            return Err(io::Error::other(format!(
                "RLIMIT_NOFILE {limit} needed, the hard limit is {hard}"
            )));
        }
        setrlimit(Resource::RLIMIT_NOFILE, limit, hard)?;
        Ok(LoweredLimit {
            soft,
            hard,
            limit,
            restored: false,
        })
    }

    /// Puts the soft limit back.
    ///
    /// # Panics
    ///
    /// If `setrlimit` fails: every later step would run under the lowered
    /// limit.
    pub fn restore(mut self) {
        self.put_back();
    }

    fn put_back(&mut self) {
        if !self.restored {
            self.restored = true;
            setrlimit(Resource::RLIMIT_NOFILE, self.soft, self.hard)
                .unwrap_or_else(|e| panic!("restore RLIMIT_NOFILE to {}: {e}", self.soft));
        }
    }
}

impl Drop for LoweredLimit {
    fn drop(&mut self) {
        self.put_back();
    }
}

#[cfg(test)]
mod tests {
    use super::limit_for_room;

    #[test]
    fn counts_free_numbers_below_the_limit() {
        let open = [0, 1, 2, 3, 5, 6, 9];
        assert_eq!(limit_for_room(&open, 0), 4);
        assert_eq!(limit_for_room(&open, 1), 7);
        assert_eq!(limit_for_room(&open, 2), 8);
        assert_eq!(limit_for_room(&open, 3), 10);
        assert_eq!(limit_for_room(&[], 2), 2);
    }
}
