//! Shared pieces: the fuzzer's choice of socket and fixture kind, the
//! identity and close-on-exec checks of a received descriptor, and the
//! per-input leak check, all on the test kit.

use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::OnceLock;

use arbitrary::{Arbitrary, Unstructured};
use inflight::SocketKind;
use inflight_testkit::oracle::{self, Sameness};
use inflight_testkit::FdKind;
use nix::fcntl::{fcntl, FcntlArg, FdFlag};

pub(crate) use crate::facts::facts;

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

/// The identity oracle (the kit's, never inflight's own): `received` must
/// be the same open file description as `expected`. An undecided answer
/// fails, unless the run opted in with `INFLIGHT_ALLOW_UNKNOWN_IDENTITY=1`
/// (said once on stderr); then the file identity must match at least.
pub(crate) fn assert_same(received: BorrowedFd<'_>, expected: BorrowedFd<'_>, what: &str) {
    let (r, e) = (received.as_raw_fd(), expected.as_raw_fd());
    match oracle::same_description(received, expected) {
        Sameness::Same => {}
        Sameness::Different => {
            panic!("{what}: received fd {r} is not the open file description sent (fd {e})")
        }
        Sameness::Unknown(why) => {
            assert!(
                oracle::unknown_allowed(why),
                "{what}: whether received fd {r} is the open file description sent (fd {e}) \
                 is unknown: {why} (set {}=1 to accept the file identity instead)",
                oracle::ALLOW_UNKNOWN_ENV
            );
            let id = |fd: BorrowedFd<'_>| {
                let st = nix::sys::stat::fstat(fd).expect("fstat a received descriptor");
                (st.st_dev, st.st_ino)
            };
            assert_eq!(id(received), id(expected), "{what}: received another file");
        }
    }
}

/// Checks the close-on-exec flag of a received descriptor (`F_GETFD`).
pub(crate) fn assert_cloexec(fd: BorrowedFd<'_>, want: bool, what: &str) {
    let flags = fcntl(fd, FcntlArg::F_GETFD).expect("F_GETFD on a received descriptor");
    let got = FdFlag::from_bits_retain(flags).contains(FdFlag::FD_CLOEXEC);
    assert_eq!(got, want, "{what}: close-on-exec of fd {}", fd.as_raw_fd());
}

/// Runs one input: under the test kit's lock, `prepare` (whatever opens
/// descriptors once per process), then `body` inside the kit's leak guard.
///
/// # Panics
///
/// When `body` does, or the descriptor table changed across it: a leak, a
/// descriptor closed that was not ours, or one closed and its number
/// reused by another open file description (the guard's witnesses).
pub(crate) fn without_leaks(prepare: impl FnOnce(), body: impl FnOnce()) {
    let lock = inflight_testkit::serial();
    raise_nofile();
    let _ = facts();
    prepare();
    let guard = lock.leak_guard();
    body();
    if let Err(leaks) = guard.finish() {
        panic!("across one input: {leaks}");
    }
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

/// A fixture kind chosen by the fuzzer: one of the kit's cheap kinds
/// ([`FdKind::CHEAP`]), so that each input can open several.
///
/// It reads the input as the derived `Arbitrary` of the enum it replaces
/// did (a `u32`, scaled to the number of kinds, in the same order), so that
/// the committed seeds still decode to the same operations.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct CheapKind(pub FdKind);

impl<'a> Arbitrary<'a> for CheapKind {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let x = u64::from(u32::arbitrary(u)?);
        let n = FdKind::CHEAP.len() as u64;
        Ok(CheapKind(FdKind::CHEAP[((x * n) >> 32) as usize]))
    }

    fn size_hint(depth: usize) -> (usize, Option<usize>) {
        u32::size_hint(depth)
    }
}

impl std::fmt::Debug for CheapKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

/// The deterministic payload of message number `seq` with `len` bytes.
pub(crate) fn payload(seq: u32, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (seq.wrapping_mul(31).wrapping_add(i as u32 * 7)) as u8)
        .collect()
}

/// The shared entry of the live targets: decode the input (skip it when it
/// does not decode), print it under `INFLIGHT_FUZZ_DEBUG`, and run `body`
/// through [`without_leaks`].
///
/// # Panics
///
/// When `body` does, or the descriptor table changed across it.
pub(crate) fn live_input<I>(data: &[u8], body: impl FnOnce(&I))
where
    I: for<'a> Arbitrary<'a> + std::fmt::Debug,
{
    let Ok(input) = I::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    debug_input(&input);
    without_leaks(|| {}, || body(&input));
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
