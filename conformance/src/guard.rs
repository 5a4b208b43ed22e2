//! The descriptor-leak guard, and the one process-wide lock it holds.
//!
//! ```
//! use inflight_conformance::LeakGuard;
//! let g = LeakGuard::start();
//! let f = std::fs::File::open("/dev/null")?;
//! drop(f);
//! g.finish().expect("nothing leaked");
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! A guard takes a snapshot of the descriptor table when it starts and
//! compares the table with it when it finishes: a descriptor open now that
//! was not is *leaked*; one open then that is not now is *closed*; one open
//! at both times but now referring to another open file description is
//! *replaced* (closed, and its number reused).
//!
//! Numbers and file identities (`fstat`'s device and inode) are not enough
//! for the last: every `/dev/null` open, every eventfd, every epoll and
//! every open of one regular file share an identity. So for each
//! descriptor open at the start the guard keeps a *witness*, a duplicate at
//! a high number (below `RLIMIT_NOFILE`'s soft limit, at most
//! [`WITNESS_CEILING`], never in a snapshot), and at the finish asks
//! [`oracle`] whether the number still refers to its
//! witness's open file description (`kcmp`, else the status-flag flip).
//!
//! Pipes, FIFOs and sockets get no witness: a duplicate would keep a pipe
//! or socket end open after the test closed it, so that its peer would wait
//! for an end-of-file that never comes. A socket cannot be opened again,
//! so its inode names its description; a pipe can (through `/proc/PID/fd`,
//! as a FIFO can through its path), so a pipe end reopened with the same
//! access mode at the same number would pass unseen.
//!
//! Closing a witness at the finish releases the process's POSIX record
//! locks (`F_SETLK`) on that file, as any close does.
//!
//! Every guard holds the kit's one lock (see [`serial`]): snapshots only
//! mean something when no other thread of the process opens or closes
//! descriptors meanwhile, so every test of a binary that uses guards takes
//! the lock, through a guard or through [`serial`]. Guards under one held
//! lock nest (an inner one finished before the outer one); two whose lives
//! overlap otherwise would each see the other's witnesses come and go.

use std::cell::Cell;
use std::io::Write as _;
use std::marker::PhantomData;
use std::os::fd::RawFd;
use std::sync::{Mutex, MutexGuard};

use crate::fdtable::{self, describe, describe_as, describe_id, Described};
pub use crate::leaks::{Leaks, Replaced};
use crate::oracle::{self, Sameness};

/// The highest number a witness is placed below (a lower soft
/// `RLIMIT_NOFILE` wins): high enough to stay out of the numbers a test's
/// own opens get, low enough not to grow the kernel's descriptor table.
pub const WITNESS_CEILING: RawFd = 1024;

static LOCK: Mutex<()> = Mutex::new(());

thread_local! {
    static HELD: Cell<bool> = const { Cell::new(false) };
}

/// The kit's process-wide lock, held.
#[derive(Debug)]
pub struct Serial {
    _guard: MutexGuard<'static, ()>,
}

/// Takes the kit's lock: for tests that open or close descriptors while
/// other tests of the binary run guards. A poisoned lock (an earlier test
/// panicked while holding it) is taken over.
///
/// # Panics
///
/// If this thread already holds it (a guard or another [`Serial`]): that
/// would deadlock. Start guards from a held lock with
/// [`Serial::leak_guard`].
pub fn serial() -> Serial {
    assert!(
        !HELD.with(Cell::get),
        "this thread already holds the test kit's lock: use Serial::leak_guard"
    );
    let guard = LOCK.lock().unwrap_or_else(|p| p.into_inner());
    HELD.with(|h| h.set(true));
    Serial { _guard: guard }
}

impl Drop for Serial {
    fn drop(&mut self) {
        HELD.with(|h| h.set(false));
    }
}

impl Serial {
    /// A guard under this already held lock (a runner that holds the lock
    /// for a whole run, and checks each case).
    pub fn leak_guard(&self) -> LeakGuard<'_> {
        LeakGuard::begin(None, true)
    }

    /// [`leak_guard`](Serial::leak_guard) in the cheap mode of
    /// [`LeakGuard::start_cheap`].
    pub fn leak_guard_cheap(&self) -> LeakGuard<'_> {
        LeakGuard::begin(None, false)
    }

    /// [`LeakGuard::check`] under this already held lock.
    ///
    /// # Panics
    ///
    /// When `body` does, or when the guard finds a change.
    pub fn check<R>(&self, what: &str, body: impl FnOnce() -> R) -> R {
        let guard = self.leak_guard();
        let r = body();
        guard.finish().unwrap_or_else(|l| panic!("{what}: {l}"));
        r
    }
}

/// One descriptor open at the start.
#[derive(Debug)]
struct Entry {
    fd: RawFd,
    /// `(st_dev, st_ino, st_mode)`.
    id: (u64, u64, u32),
    /// `O_ACCMODE` and `O_PATH` of its status flags, when needed: without
    /// a witness, or without kcmp.
    mode: Option<i32>,
    /// The guard's duplicate, closed when the guard drops (by number: a
    /// body may have closed it, see [`LeakGuard::finish`]).
    witness: Option<RawFd>,
}

/// A snapshot of the descriptor table, compared with the table again at
/// [`finish`](LeakGuard::finish). Holds the kit's lock until it is finished
/// or dropped; dropping it unfinished checks nothing.
#[derive(Debug)]
pub struct LeakGuard<'a> {
    /// The guard's own hold of the lock, if it took it (else its caller
    /// holds it for `'a`).
    _own: Option<Serial>,
    _held: PhantomData<&'a Serial>,
    witnessed: bool,
    /// `finish` saw every witness refer to its original.
    witnesses_intact: bool,
    before: Vec<Entry>,
}

impl LeakGuard<'static> {
    /// Takes the kit's lock and the snapshot, with a witness for every
    /// descriptor but pipes, FIFOs and sockets.
    ///
    /// # Panics
    ///
    /// If `/proc/self/fd` cannot be read, or this thread already holds the
    /// lock (see [`serial`]).
    pub fn start() -> Self {
        LeakGuard::begin(Some(serial()), true)
    }

    /// [`start`](LeakGuard::start) without witnesses, for hot loops:
    /// descriptors are told apart by number, file identity and access mode
    /// only, so a closed `/dev/null` (eventfd, epoll, file) replaced by
    /// another open of the same kind at the same number passes unseen.
    ///
    /// # Panics
    ///
    /// As [`start`](LeakGuard::start).
    pub fn start_cheap() -> Self {
        LeakGuard::begin(Some(serial()), false)
    }

    /// Runs `body` inside a guard and panics, naming `what` and every
    /// change, if the table changed. What `body` returns is checked too:
    /// return no descriptors from it.
    ///
    /// # Panics
    ///
    /// When `body` does, or the guard finds a change.
    pub fn check<R>(what: &str, body: impl FnOnce() -> R) -> R {
        let guard = LeakGuard::start();
        let r = body();
        guard.finish().unwrap_or_else(|l| panic!("{what}: {l}"));
        r
    }
}

impl<'a> LeakGuard<'a> {
    fn begin(own: Option<Serial>, witnessed: bool) -> Self {
        let fds = fdtable::list(&[]).expect("read /proc/self/fd");
        let mut before: Vec<Entry> = fds
            .into_iter()
            .filter_map(|fd| {
                Some(Entry {
                    fd,
                    id: oracle::file_id(fd).ok()?,
                    mode: None,
                    witness: None,
                })
            })
            .collect();
        if witnessed {
            let above_all = before.last().map_or(0, |e| e.fd + 1);
            let wanted: Vec<&mut Entry> = before.iter_mut().filter(|e| wants_witness(e)).collect();
            // Just below the ceiling, or above every open descriptor when
            // they reach it: never in a hole a body's next open would fill.
            let top = soft_nofile().min(WITNESS_CEILING);
            let base = top.saturating_sub(wanted.len() as RawFd + 1).max(above_all);
            for e in wanted {
                e.witness = duplicate_at(e.fd, base);
            }
        }
        // With kcmp a witness decides alone; everything else also needs
        // the access mode.
        let kcmp = oracle::kcmp_available();
        for e in &mut before {
            if e.witness.is_none() || !kcmp {
                e.mode = Some(access_mode(e.fd));
            }
        }
        LeakGuard {
            _own: own,
            _held: PhantomData,
            witnessed,
            witnesses_intact: false,
            before,
        }
    }

    /// The descriptors open at the start whose replacement by another open
    /// of the same file this guard could miss, each with the reason: pipes
    /// and FIFOs (no witness: a reopen through `/proc/PID/fd` or the FIFO's
    /// path with the same access mode passes), every descriptor in the
    /// cheap mode, any for which no number was free for a witness, and
    /// `O_PATH` descriptors when `kcmp` is unavailable (their flags cannot
    /// be flipped). Sockets are not listed: they cannot be reopened.
    pub fn blind_spots(&self) -> Vec<(RawFd, &'static str)> {
        let kcmp = oracle::kcmp_available();
        self.before
            .iter()
            .filter_map(|e| {
                let why = match (&e.witness, e.id.2 & libc::S_IFMT) {
                    (_, libc::S_IFSOCK) => return None,
                    (None, libc::S_IFIFO) => "pipe or FIFO: no witness",
                    (None, _) if !self.witnessed => "cheap mode: no witness",
                    (None, _) => "no free descriptor number for a witness",
                    (Some(_), _) if !kcmp && e.mode.unwrap_or(0) & libc::O_PATH != 0 => {
                        "O_PATH and no kcmp(2): the witness cannot be compared"
                    }
                    (Some(_), _) => return None,
                };
                Some((e.fd, why))
            })
            .collect()
    }

    /// Compares the table with the snapshot (and releases the lock).
    ///
    /// # Errors
    ///
    /// [`Leaks`] naming every leaked, closed and replaced descriptor.
    pub fn finish(mut self) -> Result<(), Leaks> {
        let mut leaks = Leaks::default();
        let skip: Vec<RawFd> = self.witnesses().collect();
        let now = match fdtable::list(&skip) {
            Ok(now) => now,
            Err(e) => {
                leaks
                    .notes
                    .push(format!("could not read /proc/self/fd: {e}"));
                return Err(leaks);
            }
        };
        for e in &self.before {
            if now.binary_search(&e.fd).is_err() {
                leaks.closed.push(e.describe());
                continue;
            }
            match compare(e) {
                Verdict::Same => {}
                Verdict::Replaced => leaks.replaced.push(Replaced {
                    was: e.describe(),
                    now: describe(e.fd),
                }),
                Verdict::WitnessLost(w) => leaks.notes.push(format!(
                    "the guard's witness of fd {} (fd {w}) was closed under it",
                    e.fd
                )),
            }
        }
        for &fd in &now {
            if self.before.binary_search_by_key(&fd, |e| e.fd).is_err() {
                leaks.leaked.push(describe(fd));
            }
        }
        if leaks.is_empty() {
            // Every witness compared as its original: all still ours.
            self.witnesses_intact = true;
            Ok(())
        } else {
            Err(leaks)
        }
    }

    fn witnesses(&self) -> impl Iterator<Item = RawFd> + '_ {
        self.before.iter().filter_map(|e| e.witness)
    }
}

impl Drop for LeakGuard<'_> {
    fn drop(&mut self) {
        let intact = self.witnesses_intact;
        for w in self.witnesses() {
            // Unless `finish` found them all intact, only a witness still
            // open: a body that closed one may have let the number be
            // reused, and closing it twice is what the guard exists to
            // catch.
            if intact || oracle::get_status_flags(w).is_ok() {
                // SAFETY: close(2) takes an int; `w` is the guard's own
                // duplicate, still open, used by nothing else, closed once.
                unsafe { libc::close(w) };
            }
        }
    }
}

impl Entry {
    /// What the descriptor was: through its witness, or from its identity.
    fn describe(&self) -> Described {
        match &self.witness {
            Some(w) => describe_as(self.fd, *w),
            None => describe_id(self.fd, self.id),
        }
    }
}

/// What became of one descriptor open at the start and open now.
enum Verdict {
    Same,
    Replaced,
    /// The witness at this number is gone.
    WitnessLost(RawFd),
}

/// Whether `e.fd` still refers to what it did at the start: one `kcmp`
/// for a witnessed descriptor when kcmp works, else the file identity, the
/// access mode and the fallback oracle.
fn compare(e: &Entry) -> Verdict {
    let Some(w) = e.witness else {
        let same = oracle::file_id(e.fd).ok() == Some(e.id) && Some(access_mode(e.fd)) == e.mode;
        return if same {
            Verdict::Same
        } else {
            Verdict::Replaced
        };
    };
    if oracle::kcmp_available() {
        match oracle::kcmp_raw(e.fd, w) {
            Ok(true) => return Verdict::Same,
            Ok(false) => return Verdict::Replaced,
            // EBADF (the witness is gone: below), or kcmp refused after
            // all (the slow path).
            Err(_) => {}
        }
    }
    if oracle::get_status_flags(w).is_err() {
        return Verdict::WitnessLost(w);
    }
    if oracle::file_id(e.fd).ok() != Some(e.id) {
        return Verdict::Replaced;
    }
    match oracle::same_description_raw(e.fd, w) {
        Sameness::Same => Verdict::Same,
        Sameness::Different => Verdict::Replaced,
        Sameness::Unknown(why) => {
            note_skipped(why);
            Verdict::Same
        }
    }
}

/// Whether a descriptor gets a witness: not a pipe, FIFO or socket.
fn wants_witness(e: &Entry) -> bool {
    !matches!(e.id.2 & libc::S_IFMT, libc::S_IFIFO | libc::S_IFSOCK)
}

/// `O_ACCMODE | O_PATH` of `fd`'s status flags (-1 when it is not open).
fn access_mode(fd: RawFd) -> i32 {
    oracle::get_status_flags(fd).map_or(-1, |f| f & (libc::O_ACCMODE | libc::O_PATH))
}

/// The soft `RLIMIT_NOFILE`, as a descriptor number bound.
fn soft_nofile() -> RawFd {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit(2) writes one rlimit through the pointer, a live
    // local of that type.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } != 0 {
        return WITNESS_CEILING;
    }
    RawFd::try_from(r.rlim_cur).unwrap_or(RawFd::MAX)
}

/// `fcntl(fd, F_DUPFD_CLOEXEC, base)`, or `None` when no number is free.
/// The caller owns the new descriptor.
fn duplicate_at(fd: RawFd, base: RawFd) -> Option<RawFd> {
    // SAFETY: fcntl(F_DUPFD_CLOEXEC) takes an int argument, no pointer.
    let w = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, base) };
    (w >= 0).then_some(w)
}

/// Says once per process, on stderr, that the guard could not decide a
/// descriptor's identity (a weakened check must be seen; libtest captures
/// `eprintln!` of passing tests, not the process's stderr).
fn note_skipped(why: &str) {
    static SEEN: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let mut seen = SEEN.lock().unwrap_or_else(|p| p.into_inner());
    if !seen.iter().any(|s| s == why) {
        let _ = writeln!(
            std::io::stderr(),
            "skipped: leak guard: a descriptor's open file description was not compared: {why}"
        );
        seen.push(why.to_string());
    }
}
