//! Lean round trips: one trait, [`RoundTrip`], over the cheapest way each
//! implementation can send `k` descriptors with a 1-byte payload and
//! receive them with room for exactly `k`, closing what arrived.
//!
//! Unlike the adapters of `inflight-impls` (which hand every receive back
//! as a `Vec<OwnedFd>` so that the auditor can compare them), nothing here
//! allocates unless the implementation itself does: the instruction counts
//! (`benches/ir.rs`) and the wall-clock comparison with raw libc measure
//! each implementation's own cost.

use std::io::{IoSlice, IoSliceMut};
use std::mem::{size_of, MaybeUninit};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};

use inflight::batch::{Message, RecvBatch, SendBatch};
use inflight::RecvOptions;

/// The most descriptors a round trip carries (`SCM_MAX_FD`).
pub const MAX: usize = inflight::SCM_MAX_FD;

/// One implementation's round trip, split so that the send and the
/// receive can also be measured alone.
pub trait RoundTrip: Sized {
    /// The name in reports.
    const NAME: &'static str;

    /// Messages one [`send`](RoundTrip::send) carries (1 but for batches).
    const MESSAGES: usize = 1;

    /// Ready for round trips of `k` descriptors (buffers made here are not
    /// part of a round trip's cost).
    fn new(k: usize) -> Self;

    /// Sends a 1-byte payload with `fds` (per message, for batches).
    fn send(&mut self, tx: BorrowedFd<'_>, fds: &[BorrowedFd<'_>]);

    /// Receives with room for exactly `k` descriptors (per message), closes
    /// them, and returns how many arrived in all.
    fn recv(&mut self, rx: BorrowedFd<'_>, k: usize) -> usize;
}

/// `CMSG_SPACE(4 * MAX)`, from libc (not from inflight's codec: the
/// baseline owes inflight nothing).
// SAFETY: CMSG_SPACE is arithmetic on its argument, evaluated at compile
// time.
const SPACE: usize = unsafe { libc::CMSG_SPACE((MAX * size_of::<RawFd>()) as u32) } as usize;

/// An aligned control buffer for `MAX` descriptors, as a C program would
/// put on its stack, uninitialised. (Not the test kit's `AlignedBuf`, which
/// is on the heap and zeroed: an allocation and a `memset` the floor must
/// not pay.)
#[repr(C, align(8))]
struct Control([MaybeUninit<u8>; SPACE]);

fn check(ret: isize, what: &str) -> usize {
    assert!(ret >= 0, "{what}: {}", std::io::Error::last_os_error());
    ret as usize
}

/// `sendmsg`/`recvmsg` from libc: stack buffers, `CMSG_*` macros,
/// `MSG_NOSIGNAL` and `MSG_CMSG_CLOEXEC`, `close` on each descriptor. The
/// floor every other implementation is measured against.
pub struct RawLibc;

impl RoundTrip for RawLibc {
    const NAME: &'static str = "libc";

    fn new(_k: usize) -> Self {
        RawLibc
    }

    fn send(&mut self, tx: BorrowedFd<'_>, fds: &[BorrowedFd<'_>]) {
        let mut control = Control([MaybeUninit::uninit(); SPACE]);
        let data_len = std::mem::size_of_val(fds);
        let mut iov = libc::iovec {
            iov_base: b"x".as_ptr() as *mut libc::c_void,
            iov_len: 1,
        };
        // SAFETY: all-zero is a valid msghdr (null pointers, zero lengths).
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.0.as_mut_ptr().cast();
        // SAFETY: CMSG_SPACE is arithmetic on its argument.
        msg.msg_controllen = unsafe { libc::CMSG_SPACE(data_len as u32) } as _;
        // SAFETY: CMSG_FIRSTHDR reads the msghdr's control fields; the
        // buffer holds at least one aligned header, so the result points
        // into `control`. The header and `data_len` bytes after it lie
        // inside `control` (CMSG_SPACE(data_len) bytes, at most its size);
        // the descriptors are copied from a live slice of `BorrowedFd`,
        // which is `repr(transparent)` over `RawFd`.
        unsafe {
            let cmsg = libc::CMSG_FIRSTHDR(&msg);
            (*cmsg).cmsg_level = libc::SOL_SOCKET;
            (*cmsg).cmsg_type = libc::SCM_RIGHTS;
            (*cmsg).cmsg_len = libc::CMSG_LEN(data_len as u32) as _;
            std::ptr::copy_nonoverlapping(
                fds.as_ptr().cast::<u8>(),
                libc::CMSG_DATA(cmsg),
                data_len,
            );
        }
        // SAFETY: sendmsg reads the msghdr, its iovec (a static byte) and
        // the control bytes written above, all alive for the call.
        let ret = unsafe { libc::sendmsg(tx.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) };
        check(ret, "sendmsg");
    }

    fn recv(&mut self, rx: BorrowedFd<'_>, k: usize) -> usize {
        let mut control = Control([MaybeUninit::uninit(); SPACE]);
        let mut byte = 0u8;
        let mut iov = libc::iovec {
            iov_base: std::ptr::from_mut(&mut byte).cast(),
            iov_len: 1,
        };
        // SAFETY: all-zero is a valid msghdr.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.0.as_mut_ptr().cast();
        // SAFETY: arithmetic.
        msg.msg_controllen = unsafe { libc::CMSG_SPACE((k * size_of::<RawFd>()) as u32) } as _;
        // SAFETY: recvmsg writes at most one byte to `byte` and
        // msg_controllen bytes (at most the buffer's size) to `control`.
        let ret = unsafe { libc::recvmsg(rx.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
        check(ret, "recvmsg");
        let mut n = 0;
        // SAFETY: after a successful recvmsg the macros walk only headers
        // inside the control bytes the kernel wrote; each SCM_RIGHTS number
        // is a descriptor this call installed in this process, closed once.
        unsafe {
            let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
            while !cmsg.is_null() {
                if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                    let count = ((*cmsg).cmsg_len as usize - libc::CMSG_LEN(0) as usize)
                        / size_of::<RawFd>();
                    let data = libc::CMSG_DATA(cmsg).cast::<RawFd>();
                    for i in 0..count {
                        libc::close(data.add(i).read_unaligned());
                    }
                    n += count;
                }
                cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
            }
        }
        n
    }
}

/// inflight's allocation-free form: `send_fds` and `recv_fds::<K>`.
pub struct InflightArray<const K: usize>;

impl<const K: usize> RoundTrip for InflightArray<K> {
    const NAME: &'static str = "inflight-array";

    fn new(k: usize) -> Self {
        assert_eq!(k, K, "InflightArray<{K}> for k = {k}");
        InflightArray
    }

    fn send(&mut self, tx: BorrowedFd<'_>, fds: &[BorrowedFd<'_>]) {
        inflight::send_fds(&tx, b"x", fds).expect("send_fds");
    }

    fn recv(&mut self, rx: BorrowedFd<'_>, _k: usize) -> usize {
        let mut byte = [0u8];
        let got = inflight::recv_fds::<K>(&rx, &mut byte).expect("recv_fds");
        got.fds.len()
    }
}

/// inflight's convenience form: `send_fds` and `recv_fds_vec`.
pub struct InflightVec;

impl RoundTrip for InflightVec {
    const NAME: &'static str = "inflight-vec";

    fn new(_k: usize) -> Self {
        InflightVec
    }

    fn send(&mut self, tx: BorrowedFd<'_>, fds: &[BorrowedFd<'_>]) {
        inflight::send_fds(&tx, b"x", fds).expect("send_fds");
    }

    fn recv(&mut self, rx: BorrowedFd<'_>, k: usize) -> usize {
        let mut byte = [0u8];
        let got = inflight::recv_fds_vec(&rx, &mut byte, k).expect("recv_fds_vec");
        got.fds.len()
    }
}

/// Messages per batch call, unless a batch type says otherwise.
pub const BATCH: usize = 8;

/// inflight's batch API: `M` ([`BATCH`] unless given) messages of `K`
/// descriptors per `sendmmsg`/`recvmmsg`; counts are per message
/// ([`MESSAGES`](RoundTrip::MESSAGES)).
pub struct InflightBatch<const K: usize, const M: usize = BATCH> {
    send: Box<SendBatch<M, K>>,
    recv: Box<RecvBatch<M, K>>,
}

impl<const K: usize, const M: usize> RoundTrip for InflightBatch<K, M> {
    const NAME: &'static str = "inflight-batch";
    const MESSAGES: usize = M;

    fn new(k: usize) -> Self {
        assert_eq!(k, K, "InflightBatch<{K}> for k = {k}");
        InflightBatch {
            send: Box::new(SendBatch::new()),
            recv: Box::new(RecvBatch::new()),
        }
    }

    fn send(&mut self, tx: BorrowedFd<'_>, fds: &[BorrowedFd<'_>]) {
        let msgs = [Message::new(b"x", fds); M];
        let sent = self.send.send(&tx, &msgs).expect("SendBatch::send");
        assert_eq!(sent, M);
    }

    fn recv(&mut self, rx: BorrowedFd<'_>, _k: usize) -> usize {
        let mut bytes = [[0u8; 1]; M];
        let mut bufs = bytes.each_mut().map(|b| IoSliceMut::new(b));
        let mut n = 0;
        // Each message's descriptors close as its `FdArray` drops.
        for m in self
            .recv
            .recv(&rx, &mut bufs, &RecvOptions::new())
            .expect("RecvBatch::recv")
        {
            n += m.expect("a message of the batch").fds.len();
        }
        n
    }
}

/// [`InflightBatch`], but the receiver closes the whole batch's
/// descriptors with one `close_range(2)` when their numbers are contiguous
/// (the kernel installs the lowest free numbers, so after the previous
/// batch was closed they usually are), one `close` each otherwise. The
/// library closes per message; this measures, in user code, what closing
/// per batch would gain.
pub struct InflightBatchOneClose<const K: usize, const M: usize = BATCH> {
    batch: InflightBatch<K, M>,
    /// Room for the batch's `M * K` numbers, made once.
    nums: Box<[RawFd]>,
}

impl<const K: usize, const M: usize> RoundTrip for InflightBatchOneClose<K, M> {
    const NAME: &'static str = "inflight-batch-close-range";
    const MESSAGES: usize = M;

    fn new(k: usize) -> Self {
        InflightBatchOneClose {
            batch: InflightBatch::new(k),
            nums: vec![0; M * K].into_boxed_slice(),
        }
    }

    fn send(&mut self, tx: BorrowedFd<'_>, fds: &[BorrowedFd<'_>]) {
        self.batch.send(tx, fds);
    }

    fn recv(&mut self, rx: BorrowedFd<'_>, _k: usize) -> usize {
        let mut bytes = [[0u8; 1]; M];
        let mut bufs = bytes.each_mut().map(|b| IoSliceMut::new(b));
        let mut n = 0;
        for m in self
            .batch
            .recv
            .recv(&rx, &mut bufs, &RecvOptions::new())
            .expect("RecvBatch::recv")
        {
            for fd in m.expect("a message of the batch").fds {
                self.nums[n] = fd.into_raw_fd();
                n += 1;
            }
        }
        close_numbers(&self.nums[..n]);
        n
    }
}

/// Closes descriptors this process owns by number: one `close_range(2)`
/// when they are ascending by one, one `close` each otherwise (or when
/// `close_range` fails).
fn close_numbers(nums: &[RawFd]) {
    let contiguous = nums.windows(2).all(|w| w[1] == w[0] + 1);
    if let (true, Some(&first), Some(&last)) = (contiguous, nums.first(), nums.last()) {
        // SAFETY: close_range(2) takes three integers and reads no memory.
        // The numbers from `first` to `last` are exactly `nums` (ascending
        // by one), descriptors the caller owns and gives up here.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_close_range,
                first as libc::c_uint,
                last as libc::c_uint,
                0 as libc::c_uint,
            )
        };
        if ret == 0 {
            return;
        }
    }
    for &fd in nums {
        // SAFETY: a descriptor the caller owns and gives up, closed once.
        drop(unsafe { OwnedFd::from_raw_fd(fd) });
    }
}

/// `rustix::net::{sendmsg, recvmsg}` with stack ancillary buffers.
pub struct Rustix;

const RUSTIX_SPACE: usize = rustix::cmsg_space!(ScmRights(MAX));

impl RoundTrip for Rustix {
    const NAME: &'static str = "rustix";

    fn new(_k: usize) -> Self {
        Rustix
    }

    fn send(&mut self, tx: BorrowedFd<'_>, fds: &[BorrowedFd<'_>]) {
        use rustix::net::{sendmsg, SendAncillaryBuffer, SendAncillaryMessage, SendFlags};
        let mut space = [MaybeUninit::<u8>::uninit(); RUSTIX_SPACE];
        let mut control = SendAncillaryBuffer::new(&mut space[..]);
        assert!(control.push(SendAncillaryMessage::ScmRights(fds)));
        sendmsg(tx, &[IoSlice::new(b"x")], &mut control, SendFlags::NOSIGNAL).expect("sendmsg");
    }

    fn recv(&mut self, rx: BorrowedFd<'_>, k: usize) -> usize {
        use rustix::net::{recvmsg, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
        let mut space = [MaybeUninit::<u8>::uninit(); RUSTIX_SPACE];
        let len = rustix::cmsg_space!(ScmRights(k));
        let mut control = RecvAncillaryBuffer::new(&mut space[..len]);
        let mut byte = [0u8];
        let mut iov = [IoSliceMut::new(&mut byte)];
        recvmsg(rx, &mut iov, &mut control, RecvFlags::CMSG_CLOEXEC).expect("recvmsg");
        let mut n = 0;
        for m in control.drain() {
            if let RecvAncillaryMessage::ScmRights(rights) = m {
                n += rights.count();
            }
        }
        n
    }
}

/// `nix::sys::socket::{sendmsg, recvmsg}` with a control buffer made once,
/// with room for exactly `k` (nix passes the `Vec`'s length), and reused.
pub struct Nix {
    space: Vec<u8>,
}

impl RoundTrip for Nix {
    const NAME: &'static str = "nix";

    fn new(k: usize) -> Self {
        // SAFETY: CMSG_SPACE is arithmetic on its argument.
        let len = unsafe { libc::CMSG_SPACE((k * size_of::<RawFd>()) as u32) } as usize;
        Nix {
            space: vec![0; len],
        }
    }

    fn send(&mut self, tx: BorrowedFd<'_>, fds: &[BorrowedFd<'_>]) {
        use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
        // nix wants numbers: copy them to the stack, as a nix user would.
        let mut raw = [0 as RawFd; MAX];
        for (d, s) in raw.iter_mut().zip(fds) {
            *d = s.as_raw_fd();
        }
        let raw = &raw[..fds.len()];
        sendmsg::<()>(
            tx.as_raw_fd(),
            &[IoSlice::new(b"x")],
            &[ControlMessage::ScmRights(raw)],
            MsgFlags::MSG_NOSIGNAL,
            None,
        )
        .expect("sendmsg");
    }

    fn recv(&mut self, rx: BorrowedFd<'_>, _k: usize) -> usize {
        use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
        let mut byte = [0u8];
        let mut iov = [IoSliceMut::new(&mut byte)];
        let msg = recvmsg::<()>(
            rx.as_raw_fd(),
            &mut iov,
            Some(&mut self.space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        )
        .expect("recvmsg");
        let mut n = 0;
        for c in msg.cmsgs().expect("cmsgs") {
            if let ControlMessageOwned::ScmRights(fds) = c {
                n += fds.len();
                for fd in fds {
                    // SAFETY: a descriptor this recvmsg installed in this
                    // process; nix keeps no copy. Closed once.
                    drop(unsafe { OwnedFd::from_raw_fd(fd) });
                }
            }
        }
        n
    }
}
