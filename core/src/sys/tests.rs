//! Tests of the claim step on buffers encoded in-process (never sent: the
//! numbers are this process's own descriptors, released on purpose).

use super::*;
use crate::codec::{self, encode, encode_uninit, ControlMessage, Credentials, FdList};
use std::os::fd::{AsFd, FromRawFd, IntoRawFd};
use std::sync::Mutex;

/// Closed numbers are checked with F_GETFD: no other test thread of the
/// crate's unit tests may open descriptors meanwhile (the transfer tests
/// take this lock too).
pub(crate) static SERIAL: Mutex<()> = Mutex::new(());

fn released(n: usize) -> Vec<RawFd> {
    (0..n)
        .map(|_| OwnedFd::from(std::fs::File::open("/dev/null").unwrap()).into_raw_fd())
        .collect()
}

fn is_open(fd: RawFd) -> bool {
    // SAFETY: F_GETFD reads no memory; a closed number gives EBADF.
    unsafe { libc::fcntl(fd, libc::F_GETFD) >= 0 }
}

/// Several SCM_RIGHTS, credentials, an unknown message and a pidfd in
/// one buffer: every descriptor is claimed, in order.
#[test]
fn claim_walks_every_message() {
    let _g = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let raw = released(5);
    let msgs = [
        ControlMessage::Rights(FdList::Raw(&raw[0..2])),
        ControlMessage::Credentials(Credentials {
            pid: 1,
            uid: 2,
            gid: 3,
        }),
        ControlMessage::Other {
            level: 99,
            kind: 1,
            data: b"?",
        },
        ControlMessage::Rights(FdList::Raw(&raw[2..4])),
        ControlMessage::Other {
            level: libc::SOL_SOCKET,
            kind: codec::SCM_PIDFD,
            data: &raw[4].to_ne_bytes(),
        },
    ];
    let mut buf = [0u8; 256];
    let bytes = encode(&msgs, &mut buf).unwrap();
    let ctl = KernelControl::received(bytes, 0, 0).control;
    let mut got = crate::FdArray::<8>::new();
    let mut surplus = Vec::new();
    let extras = ctl.claim(&mut got, &mut surplus, true);
    assert!(surplus.is_empty());
    assert_eq!(
        got.iter().map(|f| f.as_raw_fd()).collect::<Vec<_>>(),
        raw[..4]
    );
    assert_eq!(
        extras.credentials,
        Some(Credentials {
            pid: 1,
            uid: 2,
            gid: 3
        })
    );
    assert_eq!(extras.pidfd.as_ref().map(|f| f.as_raw_fd()), Some(raw[4]));
    drop((got, extras));
    assert!(
        raw.iter().all(|&fd| !is_open(fd)),
        "all closed by their owners"
    );
}

/// Past the sink's capacity, descriptors go to the surplus, in order.
#[test]
fn claim_hands_the_surplus_back() {
    let _g = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let raw = released(5);
    let msgs = [
        ControlMessage::Rights(FdList::Raw(&raw[0..2])),
        ControlMessage::Rights(FdList::Raw(&raw[2..5])),
    ];
    let mut buf = [0u8; 128];
    let bytes = encode(&msgs, &mut buf).unwrap();
    let ctl = KernelControl::received(bytes, 0, 0).control;
    let mut got = crate::FdArray::<3>::new();
    let mut surplus = Vec::new();
    ctl.claim(&mut got, &mut surplus, true);
    let nums = |v: &mut dyn Iterator<Item = &OwnedFd>| v.map(|f| f.as_raw_fd()).collect::<Vec<_>>();
    assert_eq!(nums(&mut got.iter()), raw[..3]);
    assert_eq!(nums(&mut surplus.iter()), raw[3..]);
    drop((got, surplus));
    assert!(raw.iter().all(|&fd| !is_open(fd)));
}

/// A buffer nobody claims (an early return) closes its descriptors.
#[test]
fn unclaimed_control_closes_on_drop() {
    let _g = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let raw = released(3);
    let msgs = [ControlMessage::Rights(FdList::Raw(&raw))];
    let mut buf = [0u8; 128];
    let bytes = encode(&msgs, &mut buf).unwrap();
    assert!(raw.iter().all(|&fd| is_open(fd)));
    drop(KernelControl { buf: bytes });
    assert!(raw.iter().all(|&fd| !is_open(fd)));
}

/// The uninitialised encoder writes exactly what the initialised one does,
/// padding included, whatever the buffer held before.
#[test]
fn encode_uninit_matches_encode() {
    let msgs = [
        ControlMessage::Rights(FdList::Raw(&[3, 4, 5])),
        ControlMessage::Credentials(Credentials {
            pid: 9,
            uid: 8,
            gid: 7,
        }),
        ControlMessage::Other {
            level: 1,
            kind: 2,
            data: b"abc",
        },
    ];
    let mut init = [0xAAu8; 160];
    let want = encode(&msgs, &mut init).unwrap().to_vec();
    let mut space = ControlBuffer::<16>::new();
    let area = space.as_uninit_mut();
    for b in area.iter_mut() {
        b.write(0x55);
    }
    let n = encode_uninit(&msgs, area).unwrap();
    let got = KernelControl::filled(area, n);
    assert_eq!(got.buf, &want[..]);
    std::mem::forget(got); // the numbers are not descriptors of ours
}

/// The rights-only encoder writes exactly what the general one writes for
/// one `SCM_RIGHTS`, for every count up to the kernel's limit, and refuses
/// what the general one refuses.
#[test]
fn encode_rights_matches_encode() {
    let _g = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let null = std::fs::File::open("/dev/null").unwrap();
    let fds = vec![null.as_fd(); codec::SCM_MAX_FD + 1];
    let mut init = vec![0u8; codec::space_for(codec::SCM_MAX_FD + 1)];
    for n in 0..=codec::SCM_MAX_FD {
        let want = encode(
            &[ControlMessage::Rights(FdList::Borrowed(&fds[..n]))],
            &mut init,
        )
        .unwrap()
        .to_vec();
        let want = if n == 0 { Vec::new() } else { want };
        let mut space = ControlBuffer::<{ codec::SCM_MAX_FD }>::new();
        let area = space.as_uninit_mut();
        for b in area.iter_mut() {
            b.write(0x5A);
        }
        let len = codec::encode_rights(&fds[..n], area).unwrap();
        let got = KernelControl::filled(area, len);
        assert_eq!(got.buf, &want[..], "{n} descriptors");
        std::mem::forget(got); // /dev/null's number, repeated: not ours to close
    }
    let mut space = ControlBuffer::<{ codec::SCM_MAX_FD }>::new();
    let e = codec::encode_rights(&fds, space.as_uninit_mut()).unwrap_err();
    assert_eq!(e.kind(), crate::ErrorKind::TooManyFds);
    let e = codec::encode_rights(&fds[..2], &mut space.as_uninit_mut()[..16]).unwrap_err();
    assert_eq!(e.kind(), crate::ErrorKind::BufferTooSmall);
}

#[test]
fn control_buffer_is_aligned_and_sized() {
    fn check<const N: usize>() {
        let mut b = ControlBuffer::<N>::new();
        let area = b.as_uninit_mut();
        assert_eq!(area.len(), space_for(N));
        assert_eq!(
            area.as_ptr() as usize % std::mem::align_of::<libc::cmsghdr>(),
            0
        );
    }
    check::<0>();
    check::<1>();
    check::<2>();
    check::<7>();
    check::<253>();
}

#[test]
fn layout_matches_libc() {
    for n in 0..300usize {
        let len = (n * 4) as u32;
        // SAFETY: CMSG_LEN/CMSG_SPACE are pure arithmetic on their
        // argument; no pointer is involved.
        let (l, s) = unsafe { (libc::CMSG_LEN(len) as usize, libc::CMSG_SPACE(len) as usize) };
        assert_eq!(codec::cmsg_len(n * 4), l, "CMSG_LEN({})", n * 4);
        assert_eq!(codec::cmsg_space(n * 4), s, "CMSG_SPACE({})", n * 4);
        // SAFETY: as above, arithmetic only.
        let (ucred, one) = unsafe {
            (
                libc::CMSG_SPACE(std::mem::size_of::<libc::ucred>() as u32) as usize,
                libc::CMSG_SPACE(4) as usize,
            )
        };
        assert_eq!(codec::space_for(n), s + ucred + one, "space_for({n})");
    }
}

/// A descriptor at exactly `num` (a duplicate of /dev/null), owned.
fn at(num: RawFd) -> OwnedFd {
    let null = std::fs::File::open("/dev/null").unwrap();
    // SAFETY: F_DUPFD_CLOEXEC reads no memory; it returns a new descriptor
    // at the lowest free number >= `num` (checked to be `num`).
    let got = unsafe { libc::fcntl(null.as_raw_fd(), libc::F_DUPFD_CLOEXEC, num) };
    assert_eq!(got, num, "number {num} must be free for the test");
    // SAFETY: just created, owned by nobody else.
    unsafe { OwnedFd::from_raw_fd(got) }
}

/// Dropping an `FdArray` closes its own descriptors and nothing else, both
/// when they are contiguous (one close_range) and when someone else's
/// descriptor sits between two of them.
#[test]
fn dropping_an_fd_array_closes_exactly_its_own() {
    let _g = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let (below, above) = (at(899), at(905));
    let mut contiguous = crate::FdArray::<8>::new();
    for n in [900, 901, 902, 903] {
        contiguous.push(at(n)).unwrap();
    }
    let ranges = || CLOSE_RANGES.with(std::cell::Cell::get);
    let before = ranges();
    drop(contiguous);
    assert!((900..=903).all(|n| !is_open(n)), "contiguous run closed");
    #[cfg(linux_like)]
    assert_eq!(
        ranges(),
        before + 1,
        "one close_range for the contiguous run"
    );
    assert!(is_open(899) && is_open(905), "neighbours untouched");

    let mut gapped = crate::FdArray::<8>::new();
    gapped.push(at(900)).unwrap();
    let between = at(901);
    gapped.push(at(902)).unwrap();
    let before = ranges();
    drop(gapped);
    assert!(!is_open(900) && !is_open(902), "its own closed");
    assert_eq!(ranges(), before, "no close_range across a gap");
    assert!(
        is_open(901),
        "someone else's descriptor in the gap survives"
    );
    drop((below, above, between));

    // Differences from the contiguous run that cancel out when xor-ed
    // (901^909 == 902^910 == 8): still not contiguous, so the descriptors
    // at 901 and 902 (someone else's) must survive and 909, 910 be closed.
    let others = (at(901), at(902));
    let mut spread = crate::FdArray::<4>::new();
    for n in [900, 909, 910] {
        spread.push(at(n)).unwrap();
    }
    let before = ranges();
    drop(spread);
    assert!(
        [900, 909, 910].iter().all(|&n| !is_open(n)),
        "its own closed"
    );
    assert!(is_open(901) && is_open(902), "someone else's survive");
    assert_eq!(ranges(), before, "no close_range for a spread run");
    drop(others);
}

/// One `SCM_RIGHTS` message of the numbers `nums`, encoded into `buf`.
pub(crate) fn encode_numbers<'b>(nums: &[RawFd], buf: &'b mut [u8]) -> &'b [u8] {
    encode(&[ControlMessage::Rights(FdList::Raw(nums))], buf).unwrap()
}

/// The numbers of the first message of `bytes`, which must be an
/// `SCM_RIGHTS` (at any alignment).
pub(crate) fn rights_of(bytes: &[u8]) -> codec::Rights<'_> {
    let Some(Ok(c)) = codec::decode(bytes).next() else {
        panic!("no message in {bytes:?}");
    };
    let codec::Message::Rights(r) = c.parse() else {
        panic!("not rights: {c:?}");
    };
    r
}

/// The receive's claim of the numbers `nums` (descriptors of the test's
/// own, given away) into `a`.
fn claim(a: &mut crate::FdArray<4>, nums: &[RawFd]) {
    use crate::sys::FdSink;
    let mut buf = [0u8; 64];
    let r = rights_of(encode_numbers(nums, &mut buf));
    // SAFETY: every number is a descriptor the test opened and gives away
    // here, once.
    assert!(unsafe { a.take_all(&r) }, "{nums:?} fit and are valid");
}

/// An empty array after the claim of descriptors opened at `nums`.
fn claimed(nums: &[RawFd]) -> crate::FdArray<4> {
    use std::os::fd::IntoRawFd;
    let raw: Vec<RawFd> = nums.iter().map(|&n| at(n).into_raw_fd()).collect();
    let mut a = crate::FdArray::<4>::new();
    claim(&mut a, &raw);
    a
}

/// The run a claim records lets the drop close without looking at the
/// numbers again, so it must hold only while true: recorded for a run
/// claimed into an empty array (not for numbers that are no run, nor for a
/// claim into a non-empty array), kept by a pop, forgotten by a push. After
/// a push past someone else's descriptor, the drop must not close it.
#[test]
fn a_claimed_run_is_trusted_only_while_true() {
    use std::os::fd::IntoRawFd;
    let _g = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let ranges = || CLOSE_RANGES.with(std::cell::Cell::get);

    let other = at(923);
    let mut a = claimed(&[920, 921, 922]);
    assert!(a.known_run(), "a claimed run is recorded");
    a.push(at(924)).unwrap();
    assert!(!a.known_run(), "a push forgets the run");
    drop(a);
    assert!([920, 921, 922, 924].iter().all(|&n| !is_open(n)));
    assert!(
        is_open(923),
        "someone else's descriptor after the run survives"
    );
    drop(other);

    let mut a = claimed(&[930, 931, 932]);
    let popped = a.pop().unwrap();
    assert!(a.known_run(), "a pop keeps the run");
    let before = ranges();
    drop(a);
    assert!(!is_open(930) && !is_open(931) && is_open(932));
    #[cfg(linux_like)]
    assert_eq!(ranges(), before + 1, "one close_range for what is left");
    drop(popped);

    let other = at(941);
    let a = claimed(&[940, 942]);
    assert!(!a.known_run(), "numbers with a gap are no run");
    drop(a);
    assert!(is_open(941) && !is_open(940) && !is_open(942));
    drop(other);
    assert!(!claimed(&[951, 950]).known_run(), "descending: no run");
    assert!(!claimed(&[]).known_run(), "nothing claimed: no run");

    let mut a = crate::FdArray::<4>::new();
    a.push(at(960)).unwrap();
    claim(&mut a, &[at(961).into_raw_fd(), at(962).into_raw_fd()]);
    assert!(!a.known_run(), "a claim into a non-empty array: no run");
    drop(a);
    assert!((960..=962).all(|n| !is_open(n)));
}

/// The array's accessors, its iterator from both ends, `Debug` and the
/// error that hands a descriptor back when it is full.
#[test]
fn fd_array_accessors() {
    let _g = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let mut a = crate::FdArray::<3>::new();
    assert!(a.is_empty() && !a.is_full());
    assert_eq!((a.len(), a.capacity()), (0, 3));
    let nums: Vec<RawFd> = (0..3)
        .map(|_| {
            let fd = OwnedFd::from(std::fs::File::open("/dev/null").unwrap());
            let n = fd.as_raw_fd();
            a.push(fd).unwrap();
            n
        })
        .collect();
    assert!(a.is_full() && !a.is_empty());
    let extra = OwnedFd::from(std::fs::File::open("/dev/null").unwrap());
    let extra_num = extra.as_raw_fd();
    let err = a.push(extra).unwrap_err();
    assert_eq!(err.to_string(), "insufficient capacity");
    assert_eq!(
        err.into_inner().as_raw_fd(),
        extra_num,
        "handed back, not closed"
    );
    let slice: Vec<RawFd> = a.as_slice().iter().map(AsRawFd::as_raw_fd).collect();
    assert_eq!(slice, nums);
    assert_eq!(format!("{a:?}"), format!("{nums:?}"));

    let last = a.pop().expect("a full array pops");
    assert_eq!(last.as_raw_fd(), nums[2]);
    let mut it = a.into_iter();
    assert_eq!(it.size_hint(), (2, Some(2)));
    assert_eq!(format!("{it:?}"), format!("{:?}", &nums[..2]));
    assert_eq!(it.next_back().unwrap().as_raw_fd(), nums[1]);
    assert_eq!(it.size_hint(), (1, Some(1)));
    assert_eq!(it.next().unwrap().as_raw_fd(), nums[0]);
    assert!(it.next().is_none());

    let mut b = crate::FdArray::<2>::new();
    b.push(last).unwrap();
    let v = b.into_vec();
    assert_eq!(
        v.iter().map(AsRawFd::as_raw_fd).collect::<Vec<_>>(),
        [nums[2]]
    );
}

/// A failed socket option call is an error, not a success.
#[cfg(linux_like)]
#[test]
fn socket_options_report_failure() {
    let null = std::fs::File::open("/dev/null").unwrap();
    let err = set_int_option(null.as_fd(), libc::SO_PASSCRED, 1).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ENOTSOCK));
    let err = get_int_option(null.as_fd(), libc::SO_PASSCRED).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ENOTSOCK));
}
