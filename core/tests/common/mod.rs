//! Helpers shared by the core integration tests.
#![allow(dead_code)]

use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::{Mutex, MutexGuard};

use inflight::codec::{self, ControlMessage};
use inflight::inspect::{self, FdSnapshot, Sameness};

static SERIAL: Mutex<()> = Mutex::new(());

/// Every test of a binary that checks for leaks takes this lock, so that no
/// other test thread opens or closes descriptors between two snapshots.
pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// Runs `f` and fails if it left any descriptor open that was not open
/// before, naming the leaked ones.
pub fn no_leak<R>(what: &str, f: impl FnOnce() -> R) -> R {
    let before = FdSnapshot::take().unwrap();
    let r = f();
    let after = FdSnapshot::take().unwrap();
    let leaked = after.leaked_since(&before);
    assert!(leaked.is_empty(), "{what}: leaked {leaked:?}");
    r
}

/// A temporary file holding `content`, offset at `pos`.
pub fn file_with(content: &[u8], pos: u64) -> std::fs::File {
    let mut f = tempfile::tempfile().unwrap();
    f.write_all(content).unwrap();
    f.seek(SeekFrom::Start(pos)).unwrap();
    f
}

/// A pipe (read end, write end), close-on-exec.
pub fn pipe() -> (OwnedFd, OwnedFd) {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap()
}

/// Asserts `a` and `b` are the same open file description and different
/// descriptor numbers.
pub fn assert_same(a: BorrowedFd<'_>, b: BorrowedFd<'_>) {
    assert_ne!(a.as_raw_fd(), b.as_raw_fd(), "a new descriptor number");
    assert_eq!(inspect::same_file(a, b), Sameness::Same, "{a:?} vs {b:?}");
    assert_eq!(inspect::file_id(a).unwrap(), inspect::file_id(b).unwrap());
}

/// Reads a whole file from its start through `fd` (moves the offset).
pub fn read_all(fd: BorrowedFd<'_>) -> Vec<u8> {
    let mut f = std::fs::File::from(fd.try_clone_to_owned().unwrap());
    f.seek(SeekFrom::Start(0)).unwrap();
    let mut v = Vec::new();
    f.read_to_end(&mut v).unwrap();
    v
}

/// A raw `sendmsg` with hand-encoded control messages (a hostile or unusual
/// sender), `MSG_NOSIGNAL`.
pub fn raw_send(
    sock: BorrowedFd<'_>,
    payload: &[u8],
    msgs: &[ControlMessage<'_>],
) -> std::io::Result<usize> {
    let mut space = vec![0u8; codec::encoded_len(msgs) + 8];
    let control = codec::encode(msgs, &mut space).expect("encodable");
    raw_send_bytes(sock, payload, control)
}

/// A raw `sendmsg` with an arbitrary control buffer.
pub fn raw_send_bytes(
    sock: BorrowedFd<'_>,
    payload: &[u8],
    control: &[u8],
) -> std::io::Result<usize> {
    // Copy into an 8-aligned buffer: the kernel does not need alignment, but
    // keep the test honest about what a C sender would pass.
    let mut aligned = vec![0u64; control.len().div_ceil(8)];
    // SAFETY: `copy_nonoverlapping` needs `control.len()` readable bytes at
    // the source and writable bytes at the destination, not overlapping:
    // `aligned` is a fresh allocation of at least that many bytes.
    unsafe {
        std::ptr::copy_nonoverlapping(
            control.as_ptr(),
            aligned.as_mut_ptr().cast::<u8>(),
            control.len(),
        );
    }
    let mut iov = libc::iovec {
        iov_base: payload.as_ptr() as *mut libc::c_void,
        iov_len: payload.len(),
    };
    // SAFETY: all-zero is a valid msghdr.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    if !control.is_empty() {
        msg.msg_control = aligned.as_mut_ptr().cast();
        msg.msg_controllen = control.len() as _;
    }
    // SAFETY: sendmsg reads msg_iov (one iovec over `payload`) and
    // msg_control (`control.len()` bytes of `aligned`), both live for the
    // call; `sock` is a live descriptor.
    let r = unsafe { libc::sendmsg(sock.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) };
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(r as usize)
    }
}

/// Descriptors as borrowed slices, for `send_fds`.
pub fn borrow_all<T: AsFd>(v: &[T]) -> Vec<BorrowedFd<'_>> {
    v.iter().map(|f| f.as_fd()).collect()
}
