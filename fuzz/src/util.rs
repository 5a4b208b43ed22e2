//! Shared pieces: descriptor fixtures, the identity oracle, the per-input
//! leak check, and facts about this process that the oracles need.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{Mutex, MutexGuard, OnceLock};

use arbitrary::Arbitrary;
use inflight::inspect::{self, FdSnapshot, Sameness};
use inflight::SocketKind;

/// Serialises the targets that look at the descriptor table: their leak
/// check is only meaningful when no other thread opens or closes
/// descriptors meanwhile (the replay test runs on several threads).
pub(crate) fn fd_table_lock() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    // A panic in one replay case poisons the lock; the table is still fine.
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit, once: the live targets
/// hold a few thousand descriptors at worst.
pub(crate) fn raise_nofile() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit(2) writes one `struct rlimit` to the pointer,
        // which points to a live local of that type.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0 {
            lim.rlim_cur = lim.rlim_max;
            // SAFETY: setrlimit(2) reads one `struct rlimit` from the
            // pointer, a live local; failure is harmless (we keep the old
            // limit).
            unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
        }
    });
}

/// Facts about this process that decide what the kernel accepts.
pub(crate) struct Facts {
    pub pid: i32,
    pub ppid: i32,
    pub uids: [u32; 3],
    pub gids: [u32; 3],
    pub cap_sys_admin: bool,
    pub cap_setuid: bool,
    pub cap_setgid: bool,
    /// `CAP_SYS_ADMIN` or `CAP_SYS_RESOURCE`: exempt from the per-user
    /// in-flight descriptor limit (`ETOOMANYREFS`).
    pub inflight_exempt: bool,
    pub pid_max: i32,
    /// The uid/gid maps of our user namespace: (first, count) ranges.
    pub uid_map: Vec<(u32, u64)>,
    pub gid_map: Vec<(u32, u64)>,
    /// `kcmp(KCMP_FILE)` works here.
    pub kcmp: bool,
    /// The kernel has `SO_PASSPIDFD`.
    pub pidfd: bool,
}

pub(crate) fn facts() -> &'static Facts {
    static FACTS: OnceLock<Facts> = OnceLock::new();
    FACTS.get_or_init(|| {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let field = |name: &str| -> Vec<String> {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .map(|rest| rest.split_whitespace().map(str::to_owned).collect())
                .unwrap_or_default()
        };
        let ids = |name: &str| -> [u32; 3] {
            let v: Vec<u32> = field(name).iter().filter_map(|s| s.parse().ok()).collect();
            [v[0], v[1], v[2]]
        };
        let cap_eff = field("CapEff:")
            .first()
            .and_then(|s| u64::from_str_radix(s, 16).ok())
            .unwrap_or(0);
        let map = |path: &str| -> Vec<(u32, u64)> {
            std::fs::read_to_string(path)
                .unwrap_or_default()
                .lines()
                .filter_map(|l| {
                    let v: Vec<u64> = l
                        .split_whitespace()
                        .filter_map(|s| s.parse().ok())
                        .collect();
                    (v.len() == 3).then(|| (v[0] as u32, v[2]))
                })
                .collect()
        };
        let pid_max = std::fs::read_to_string("/proc/sys/kernel/pid_max")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(1 << 22);
        let cap = |bit: u32| cap_eff & (1 << bit) != 0;
        Facts {
            pid: std::process::id() as i32,
            // SAFETY: getppid(2) takes no arguments and cannot fail.
            ppid: unsafe { libc::getppid() },
            uids: ids("Uid:"),
            gids: ids("Gid:"),
            cap_sys_admin: cap(21),
            cap_setuid: cap(7),
            cap_setgid: cap(6),
            inflight_exempt: cap(21) || cap(24),
            pid_max,
            uid_map: map("/proc/self/uid_map"),
            gid_map: map("/proc/self/gid_map"),
            kcmp: inspect::kcmp_available(),
            pidfd: inflight::pidfd_supported(),
        }
    })
}

/// Whether `id` maps into the kernel's id space (`uid_valid(make_kuid())`).
pub(crate) fn id_mapped(map: &[(u32, u64)], id: u32) -> bool {
    map.iter()
        .any(|&(first, count)| id >= first && u64::from(id - first) < count)
}

/// The identity oracle: `received` must be the same open file description
/// as `expected`. With `kcmp` unavailable, the file identity must match.
pub(crate) fn assert_same(received: BorrowedFd<'_>, expected: BorrowedFd<'_>, what: &str) {
    match inspect::same_file(received, expected) {
        Sameness::Same => {}
        Sameness::Different => panic!(
            "{what}: received fd {} is not the open file description sent (fd {})",
            received.as_raw_fd(),
            expected.as_raw_fd()
        ),
        Sameness::Unknown(why) => {
            assert!(
                !facts().kcmp,
                "{what}: kcmp works in this process but could not decide: {why}"
            );
            let a = inspect::file_id(received).expect("fstat received");
            let b = inspect::file_id(expected).expect("fstat expected");
            assert_eq!(a, b, "{what}: received a different file");
        }
    }
}

/// Checks the close-on-exec flag of a received descriptor.
pub(crate) fn assert_cloexec(fd: BorrowedFd<'_>, want: bool, what: &str) {
    let got = inspect::is_cloexec(fd).expect("F_GETFD on a received descriptor");
    assert_eq!(got, want, "{what}: close-on-exec of fd {}", fd.as_raw_fd());
}

/// This process's descriptor table: (number, device, inode) of every open
/// descriptor, from one `/proc/self/fd` listing and an `fstat` each (much
/// cheaper per input than [`FdSnapshot`]'s `readlink` of every entry, which
/// is kept for the report when something changed).
pub(crate) fn fd_table() -> Vec<(RawFd, u64, u64)> {
    // SAFETY: opendir(3) reads the NUL-terminated path literal and returns
    // a directory stream or null (checked).
    let dir = unsafe { libc::opendir(c"/proc/self/fd".as_ptr()) };
    assert!(
        !dir.is_null(),
        "opendir /proc/self/fd: {}",
        io::Error::last_os_error()
    );
    // SAFETY: `dir` is a live stream from opendir.
    let own = unsafe { libc::dirfd(dir) };
    let mut out = Vec::with_capacity(32);
    loop {
        // SAFETY: `dir` is a live stream; readdir returns null at the end
        // or an entry valid until the next readdir/closedir on `dir`.
        let ent = unsafe { libc::readdir(dir) };
        if ent.is_null() {
            break;
        }
        // SAFETY: `d_name` of a live dirent is a NUL-terminated string
        // inside the entry, read before the next readdir.
        let name = unsafe { std::ffi::CStr::from_ptr((*ent).d_name.as_ptr()) };
        let Some(fd) = name.to_str().ok().and_then(|n| n.parse::<RawFd>().ok()) else {
            continue;
        };
        if fd == own {
            continue;
        }
        let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
        // SAFETY: fstat(2) writes one `struct stat` to the pointer, which
        // points to uninitialised storage of exactly that type.
        if unsafe { libc::fstat(fd, st.as_mut_ptr()) } == 0 {
            // SAFETY: fstat succeeded, so it initialised `st`.
            let st = unsafe { st.assume_init() };
            out.push((fd, st.st_dev, st.st_ino));
        }
    }
    // SAFETY: `dir` is a live stream, closed once.
    unsafe { libc::closedir(dir) };
    out.sort_unstable();
    out
}

/// Runs `body` and panics if the descriptor table (numbers and the files
/// they refer to) differs afterwards: a leak, or a descriptor closed that
/// was not ours.
pub(crate) fn without_leaks<R>(body: impl FnOnce() -> R) -> R {
    let before = fd_table();
    let r = body();
    let after = fd_table();
    if before != after {
        let now = FdSnapshot::take().expect("snapshot /proc/self/fd");
        let leaked: Vec<String> = after
            .iter()
            .filter(|e| !before.contains(e))
            .map(|&(fd, ..)| format!("fd {fd} -> {}", now.target(fd).unwrap_or("?")))
            .collect();
        let closed: Vec<RawFd> = before
            .iter()
            .filter(|e| !after.contains(e))
            .map(|&(fd, ..)| fd)
            .collect();
        panic!("descriptor table changed across one input: leaked {leaked:?}, closed {closed:?}");
    }
    r
}

/// A socket kind chosen by the fuzzer.
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Stream,
    SeqPacket,
    Datagram,
}

impl Kind {
    pub(crate) fn socket(self) -> SocketKind {
        match self {
            Kind::Stream => SocketKind::Stream,
            Kind::SeqPacket => SocketKind::SeqPacket,
            Kind::Datagram => SocketKind::Datagram,
        }
    }
}

/// A kind of descriptor to open as a fixture: cheap ones, so that each
/// input can open several.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub(crate) enum FixtureKind {
    DevNull,
    PipeRead,
    PipeWrite,
    EventFd,
    MemFd,
    Socket,
    DirPath,
}

fn cvt(ret: libc::c_int) -> io::Result<RawFd> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Opens one descriptor of `kind` (close-on-exec).
pub(crate) fn open_fixture(kind: FixtureKind) -> io::Result<OwnedFd> {
    let owned = |fd: RawFd| {
        // SAFETY: `fd` was just returned by a successful call that created
        // it in this process; nothing else owns it, and it is not -1.
        unsafe { OwnedFd::from_raw_fd(fd) }
    };
    match kind {
        FixtureKind::DevNull => Ok(std::fs::File::open("/dev/null")?.into()),
        FixtureKind::DirPath => {
            // SAFETY: open(2) reads the NUL-terminated path literal; the
            // flags need no mode argument.
            let fd = cvt(unsafe {
                libc::open(
                    c"/".as_ptr(),
                    libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
                )
            })?;
            Ok(owned(fd))
        }
        FixtureKind::PipeRead | FixtureKind::PipeWrite => {
            let mut fds = [0 as RawFd; 2];
            // SAFETY: pipe2(2) writes two descriptors into the array, which
            // has room for exactly two.
            cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
            let (r, w) = (owned(fds[0]), owned(fds[1]));
            Ok(if matches!(kind, FixtureKind::PipeRead) {
                r
            } else {
                w
            })
        }
        FixtureKind::EventFd => {
            // SAFETY: eventfd(2) takes two integers and returns a new
            // descriptor or -1.
            Ok(owned(cvt(unsafe { libc::eventfd(7, libc::EFD_CLOEXEC) })?))
        }
        FixtureKind::MemFd => {
            // SAFETY: memfd_create(2) reads the NUL-terminated name literal.
            Ok(owned(cvt(unsafe {
                libc::memfd_create(c"inflight-fuzz".as_ptr(), libc::MFD_CLOEXEC)
            })?))
        }
        FixtureKind::Socket => Ok(inflight::socketpair(SocketKind::Stream)?.0),
    }
}

/// Whether `fd` is an open descriptor of this process.
pub(crate) fn is_open(fd: RawFd) -> bool {
    // SAFETY: F_GETFD reads no memory; a closed or invalid number gives
    // EBADF, nothing worse.
    fd >= 0 && unsafe { libc::fcntl(fd, libc::F_GETFD) } >= 0
}

/// Borrows a raw number that [`is_open`] just confirmed.
///
/// # Safety
///
/// `fd` must be open and stay open for the returned lifetime.
pub(crate) unsafe fn borrow_raw<'a>(fd: RawFd) -> BorrowedFd<'a> {
    // SAFETY: the caller guarantees `fd` is open for 'a (borrow_raw's only
    // precondition besides not being -1, which an open fd never is).
    unsafe { BorrowedFd::borrow_raw(fd) }
}

/// The deterministic payload of message number `seq` with `len` bytes.
pub(crate) fn payload(seq: u32, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (seq.wrapping_mul(31).wrapping_add(i as u32 * 7)) as u8)
        .collect()
}

/// A borrowed fd of anything `AsFd`, for brevity.
pub(crate) fn b(fd: &impl AsFd) -> BorrowedFd<'_> {
    fd.as_fd()
}

/// The shared entry of the live targets: decode the input (skip it when it
/// does not decode), print it under `INFLIGHT_FUZZ_DEBUG`, hold the
/// descriptor-table lock, and run `body` inside a leak check.
///
/// # Panics
///
/// When `body` does, or the descriptor table changed across it.
pub(crate) fn live_input<I>(data: &[u8], body: impl FnOnce(&I))
where
    I: for<'a> arbitrary::Arbitrary<'a> + std::fmt::Debug,
{
    let Ok(input) = I::arbitrary_take_rest(arbitrary::Unstructured::new(data)) else {
        return;
    };
    debug_input(&input);
    let _guard = fd_table_lock();
    raise_nofile();
    let _ = facts();
    without_leaks(|| body(&input));
}

/// With `INFLIGHT_FUZZ_DEBUG` set (to anything), prints each structured
/// input before running it: run the fuzz binary on a crash input with it
/// set to read what the input does.
pub(crate) fn debug_input(input: &impl std::fmt::Debug) {
    static ON: OnceLock<bool> = OnceLock::new();
    if *ON.get_or_init(|| std::env::var_os("INFLIGHT_FUZZ_DEBUG").is_some()) {
        eprintln!("{input:#?}");
    }
}

/// The process a pidfd refers to (`Pid:` of `/proc/self/fdinfo`), if the
/// kernel says.
pub(crate) fn pidfd_pid(fd: BorrowedFd<'_>) -> Option<i32> {
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.as_raw_fd())).ok()?;
    info.lines()
        .find_map(|l| l.strip_prefix("Pid:"))
        .and_then(|v| v.trim().parse().ok())
}
