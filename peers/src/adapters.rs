//! Adapters for the raw system calls and the peer crates.
//!
//! Every adapter is faithful to its crate: `recv` hands back exactly the
//! descriptors the crate handed its caller (wrapping raw numbers into
//! `OwnedFd`, which is the adapter's `unsafe`), reports truncation only as
//! far as the crate tells its caller, and never recovers what a crate
//! dropped or leaked.
//!
//! | adapter | send | receive | close-on-exec | truncation reported |
//! | --- | --- | --- | --- | --- |
//! | `inflight` | `send_fds` | `recv_fds_vec` | atomic | typed error |
//! | `inflight-array` | `send_fds` | `recv_fds::<N>` (no heap) | atomic | typed error |
//! | `libc` | `sendmsg`, stack control buffer | `recvmsg`, stack buffer of `CMSG_SPACE(4 * capacity)` | atomic | `MSG_CTRUNC` |
//! | `nix` | `sendmsg` | `recvmsg` into a `Vec` of `CMSG_SPACE(4 * capacity)` | atomic | `ENOBUFS` from `cmsgs()` |
//! | `rustix` | `sendmsg` + `SendAncillaryBuffer` | `recvmsg` + `RecvAncillaryBuffer` of `cmsg_space!(ScmRights(capacity))` | atomic | `ReturnFlags::CTRUNC` |
//! | `uds` | `UnixStreamExt::send_fds` | `UnixStreamExt::recv_fds` | atomic | none |
//! | `sendfd` | `SendWithFd` | `RecvWithFd` | no | none |
//! | `passfd` | `FdPassingExt`, one descriptor per message | one descriptor per message | `fcntl` after arrival | none |
//!
//! The crates whose traits are implemented only on std's socket types
//! (`uds`, `sendfd`) are driven through a temporary
//! `ManuallyDrop<UnixStream>` built on the borrowed descriptor, for every
//! socket kind: their stream, datagram and seqpacket entry points all call
//! the same `sendmsg`/`recvmsg` helper on the raw descriptor, so the
//! wrapper type changes nothing but the name. `passfd` implements its trait
//! on `RawFd` directly.

use std::io::{self, IoSlice, IoSliceMut, Write};
use std::mem::{size_of, ManuallyDrop, MaybeUninit};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;

use crate::{FdPasser, Inflight, Recv};

/// Every implementation compiled in, inflight first.
pub fn all() -> Vec<Box<dyn FdPasser>> {
    vec![
        Box::new(Inflight),
        Box::new(InflightArray),
        Box::new(RawLibc),
        Box::new(Nix),
        Box::new(Rustix),
        Box::new(Uds),
        Box::new(SendFd),
        Box::new(PassFd),
    ]
}

/// The adapter named `name` (as [`FdPasser::name`] spells it).
pub fn by_name(name: &str) -> Option<Box<dyn FdPasser>> {
    all().into_iter().find(|p| p.name() == name)
}

const MAX: usize = inflight::SCM_MAX_FD;

/// Copies borrowed descriptors into a stack array of raw numbers (the form
/// the peer crates take).
fn raw_numbers(fds: &[BorrowedFd<'_>]) -> io::Result<([RawFd; MAX], usize)> {
    if fds.len() > MAX {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "more than SCM_MAX_FD descriptors",
        ));
    }
    let mut raw = [-1; MAX];
    for (slot, fd) in raw.iter_mut().zip(fds) {
        *slot = fd.as_raw_fd();
    }
    Ok((raw, fds.len()))
}

/// Borrows `sock` as a std `UnixStream` without taking ownership.
fn as_std_stream(sock: BorrowedFd<'_>) -> ManuallyDrop<UnixStream> {
    // SAFETY: `from_raw_fd` needs an open descriptor that the result owns.
    // The descriptor is open for the borrow's lifetime, and `ManuallyDrop`
    // keeps the temporary from closing it: ownership is never exercised, and
    // the value does not escape the adapter call that holds the borrow.
    ManuallyDrop::new(unsafe { UnixStream::from_raw_fd(sock.as_raw_fd()) })
}

/// Wraps raw descriptor numbers a crate handed its caller.
///
/// # Safety
///
/// Each number must be an open descriptor that the caller owns and that
/// nothing else will close (the crate just received it and gave it away).
unsafe fn adopt(raw: &[RawFd]) -> Vec<OwnedFd> {
    raw.iter()
        // SAFETY: the function's contract.
        .map(|&fd| unsafe { OwnedFd::from_raw_fd(fd) })
        .collect()
}

/// inflight's allocation-free receive, [`inflight::recv_fds`]`::<N>`, with
/// `N` equal to the requested capacity when it is one of 0-8, 16, 32, 64,
/// 128 or 253 (the capacities the benchmarks use); any other capacity goes
/// through [`inflight::recv_fds_vec`], which has the same semantics but
/// allocates its control buffer. The returned `Vec` is the trait's, not
/// inflight's.
#[derive(Clone, Copy, Debug, Default)]
pub struct InflightArray;

fn from_inflight<F: IntoIterator<Item = OwnedFd>>(
    r: Result<inflight::Received<F>, inflight::Error>,
) -> io::Result<Recv> {
    match r {
        Ok(r) => Ok(Recv {
            bytes: r.bytes,
            fds: r.fds.into_iter().collect(),
            reported_truncation: Some(false),
        }),
        Err(mut e)
            if matches!(
                e.kind(),
                inflight::ErrorKind::ControlBufferFull | inflight::ErrorKind::ReceiverLimit
            ) =>
        {
            Ok(Recv {
                bytes: e.bytes(),
                fds: e.take_fds(),
                reported_truncation: Some(true),
            })
        }
        Err(e) => Err(e.into()),
    }
}

impl FdPasser for InflightArray {
    fn name(&self) -> &'static str {
        "inflight-array"
    }

    fn cloexec(&self) -> bool {
        true
    }

    fn send(
        &mut self,
        sock: BorrowedFd<'_>,
        payload: &[u8],
        fds: &[BorrowedFd<'_>],
    ) -> io::Result<usize> {
        Ok(inflight::send_fds(&sock, payload, fds)?)
    }

    fn recv(&mut self, sock: BorrowedFd<'_>, buf: &mut [u8], capacity: usize) -> io::Result<Recv> {
        macro_rules! arms {
            ($($n:literal)*) => {
                match capacity {
                    $($n => from_inflight(inflight::recv_fds::<$n>(&sock, buf)),)*
                    _ => from_inflight(inflight::recv_fds_vec(&sock, buf, capacity)),
                }
            };
        }
        arms!(0 1 2 3 4 5 6 7 8 16 32 64 128 253)
    }
}

/// Control bytes for [`MAX`] descriptors: `CMSG_SPACE(4 * 253)`.
const RAW_SPACE: usize = inflight::codec::cmsg_space(MAX * size_of::<RawFd>());

/// A control buffer aligned for `cmsghdr`.
#[repr(C, align(8))]
struct RawControl([MaybeUninit<u8>; RAW_SPACE]);

/// The limit to measure against: `sendmsg`/`recvmsg` from `libc` with a
/// hand-built, aligned stack control buffer, `MSG_NOSIGNAL` on send and
/// `MSG_CMSG_CLOEXEC` on receive, walked with `CMSG_FIRSTHDR`/`CMSG_NXTHDR`.
/// The receive buffer is `CMSG_SPACE(4 * capacity)` bytes (so alignment
/// padding may admit one descriptor more than `capacity`, as with any C
/// program sized that way); truncation is reported from `MSG_CTRUNC`.
#[derive(Clone, Copy, Debug, Default)]
pub struct RawLibc;

impl FdPasser for RawLibc {
    fn name(&self) -> &'static str {
        "libc"
    }

    fn cloexec(&self) -> bool {
        true
    }

    fn send(
        &mut self,
        sock: BorrowedFd<'_>,
        payload: &[u8],
        fds: &[BorrowedFd<'_>],
    ) -> io::Result<usize> {
        if fds.len() > MAX {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        let mut control = RawControl([MaybeUninit::uninit(); RAW_SPACE]);
        let data_len = size_of_val(fds);
        // SAFETY: all-zero is a valid msghdr (null pointers, zero lengths).
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        let mut iov = libc::iovec {
            iov_base: payload.as_ptr() as *mut libc::c_void,
            iov_len: payload.len(),
        };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        if !fds.is_empty() {
            msg.msg_control = control.0.as_mut_ptr().cast();
            // SAFETY: CMSG_SPACE is pure arithmetic on its argument.
            msg.msg_controllen = unsafe { libc::CMSG_SPACE(data_len as u32) } as _;
            // SAFETY: CMSG_FIRSTHDR reads msg_control/msg_controllen of a
            // valid msghdr; the buffer is at least one cmsghdr long
            // (CMSG_SPACE(n) >= sizeof(cmsghdr)), so it returns a non-null
            // pointer into `control`, aligned for cmsghdr (align(8)).
            let cmsg = unsafe { libc::CMSG_FIRSTHDR(&msg) };
            // SAFETY: `cmsg` points to writable, aligned memory inside
            // `control` with room for a header plus `data_len` bytes
            // (msg_controllen = CMSG_SPACE(data_len) <= RAW_SPACE). CMSG_DATA
            // is pointer arithmetic within that region; the fds are written
            // with `copy_nonoverlapping` from a live slice of `RawFd`-sized
            // BorrowedFds (BorrowedFd is repr(transparent) over RawFd).
            unsafe {
                (*cmsg).cmsg_level = libc::SOL_SOCKET;
                (*cmsg).cmsg_type = libc::SCM_RIGHTS;
                (*cmsg).cmsg_len = libc::CMSG_LEN(data_len as u32) as _;
                std::ptr::copy_nonoverlapping(
                    fds.as_ptr().cast::<u8>(),
                    libc::CMSG_DATA(cmsg),
                    data_len,
                );
            }
        }
        loop {
            // SAFETY: sendmsg reads the msghdr, its one iovec (the live
            // `payload`) and `msg_controllen` initialised bytes of `control`
            // (header and descriptors written above; CMSG_SPACE padding is
            // ignored by the kernel), all alive for the call.
            let ret = unsafe { libc::sendmsg(sock.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) };
            if ret >= 0 {
                return Ok(ret as usize);
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }

    fn recv(&mut self, sock: BorrowedFd<'_>, buf: &mut [u8], capacity: usize) -> io::Result<Recv> {
        let capacity = capacity.min(MAX);
        let mut control = RawControl([MaybeUninit::uninit(); RAW_SPACE]);
        // SAFETY: all-zero is a valid msghdr.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        if capacity > 0 {
            msg.msg_control = control.0.as_mut_ptr().cast();
            // SAFETY: pure arithmetic.
            msg.msg_controllen =
                unsafe { libc::CMSG_SPACE((capacity * size_of::<RawFd>()) as u32) } as _;
        }
        let bytes = loop {
            // SAFETY: recvmsg writes at most iov_len bytes to `buf` and
            // msg_controllen (<= RAW_SPACE) bytes to `control`, both
            // exclusively borrowed and alive for the call.
            let ret = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
            if ret >= 0 {
                break ret as usize;
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        };
        let mut fds = Vec::new();
        if capacity > 0 {
            // SAFETY: after a successful recvmsg, msg_control/msg_controllen
            // describe the control bytes the kernel wrote; CMSG_FIRSTHDR and
            // CMSG_NXTHDR only return headers lying wholly inside them (or
            // null).
            let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(&msg) };
            while !cmsg.is_null() {
                // SAFETY: `cmsg` is a non-null header inside the
                // kernel-written part of the aligned buffer.
                let (level, kind, len) =
                    unsafe { ((*cmsg).cmsg_level, (*cmsg).cmsg_type, (*cmsg).cmsg_len) };
                if level == libc::SOL_SOCKET && kind == libc::SCM_RIGHTS {
                    // SAFETY: pure arithmetic.
                    let header = unsafe { libc::CMSG_LEN(0) } as usize;
                    #[allow(clippy::unnecessary_cast)] // cmsg_len is not usize everywhere
                    let n = (len as usize).saturating_sub(header) / size_of::<RawFd>();
                    // SAFETY: the kernel wrote `n` descriptor numbers after
                    // the header (cmsg_len covers them, within the buffer);
                    // read unaligned as the C idiom requires. Each is a new
                    // descriptor installed in this process by this recvmsg,
                    // owned by nobody else: adopting it is sound.
                    unsafe {
                        let data = libc::CMSG_DATA(cmsg).cast::<RawFd>();
                        for i in 0..n {
                            let raw = std::ptr::read_unaligned(data.add(i));
                            fds.push(OwnedFd::from_raw_fd(raw));
                        }
                    }
                }
                // SAFETY: as for CMSG_FIRSTHDR above.
                cmsg = unsafe { libc::CMSG_NXTHDR(&msg, cmsg) };
            }
        }
        Ok(Recv {
            bytes,
            fds,
            reported_truncation: Some(msg.msg_flags & libc::MSG_CTRUNC != 0),
        })
    }
}

/// `nix::sys::socket::{sendmsg, recvmsg}` with `ControlMessage::ScmRights`,
/// `MSG_NOSIGNAL` on send and `MSG_CMSG_CLOEXEC` on receive. The receive
/// buffer is what `cmsg_space!([RawFd; capacity])` expands to, built at run
/// time: `vec![0u8; CMSG_SPACE(4 * capacity)]`, one allocation per call as
/// with the macro. On `MSG_CTRUNC` nix's `cmsgs()` answers `ENOBUFS` and
/// hands no descriptor: the adapter reports truncation with none (the
/// descriptors the kernel installed stay open: that is nix's behaviour).
#[derive(Clone, Copy, Debug, Default)]
pub struct Nix;

impl FdPasser for Nix {
    fn name(&self) -> &'static str {
        "nix"
    }

    fn cloexec(&self) -> bool {
        true
    }

    fn send(
        &mut self,
        sock: BorrowedFd<'_>,
        payload: &[u8],
        fds: &[BorrowedFd<'_>],
    ) -> io::Result<usize> {
        use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags, UnixAddr};
        let (raw, n) = raw_numbers(fds)?;
        let cmsg = [ControlMessage::ScmRights(&raw[..n])];
        let cmsgs: &[ControlMessage<'_>] = if n == 0 { &[] } else { &cmsg };
        Ok(sendmsg::<UnixAddr>(
            sock.as_raw_fd(),
            &[IoSlice::new(payload)],
            cmsgs,
            MsgFlags::MSG_NOSIGNAL,
            None,
        )?)
    }

    fn recv(&mut self, sock: BorrowedFd<'_>, buf: &mut [u8], capacity: usize) -> io::Result<Recv> {
        use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags, UnixAddr};
        // SAFETY: pure arithmetic.
        let space = unsafe { libc::CMSG_SPACE((capacity * size_of::<RawFd>()) as u32) } as usize;
        let mut cmsg_buf = vec![0u8; space];
        let mut iov = [IoSliceMut::new(buf)];
        let msg = recvmsg::<UnixAddr>(
            sock.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg_buf),
            MsgFlags::MSG_CMSG_CLOEXEC,
        )?;
        let bytes = msg.bytes;
        let cmsgs = match msg.cmsgs() {
            Ok(c) => c,
            Err(nix::errno::Errno::ENOBUFS) => {
                return Ok(Recv {
                    bytes,
                    fds: Vec::new(),
                    reported_truncation: Some(true),
                })
            }
            Err(e) => return Err(e.into()),
        };
        let mut fds = Vec::new();
        for c in cmsgs {
            if let ControlMessageOwned::ScmRights(raw) = c {
                // SAFETY: nix hands the numbers of descriptors the kernel
                // just installed in this process and keeps no copy: the
                // caller owns them.
                fds.extend(unsafe { adopt(&raw) });
            }
        }
        Ok(Recv {
            bytes,
            fds,
            reported_truncation: Some(false),
        })
    }
}

/// `rustix::net::{sendmsg, recvmsg}` with `SendAncillaryBuffer` /
/// `RecvAncillaryBuffer`, `SendFlags::NOSIGNAL` and
/// `RecvFlags::CMSG_CLOEXEC`. The receive buffer is a stack array sliced to
/// `cmsg_space!(ScmRights(capacity))` (rustix adds alignment slack, so a
/// descriptor or two beyond `capacity` can fit; rustix hands them all).
/// Truncation comes from `ReturnFlags::CTRUNC`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Rustix;

const RUSTIX_SPACE: usize = rustix::cmsg_space!(ScmRights(MAX));

impl FdPasser for Rustix {
    fn name(&self) -> &'static str {
        "rustix"
    }

    fn cloexec(&self) -> bool {
        true
    }

    fn send(
        &mut self,
        sock: BorrowedFd<'_>,
        payload: &[u8],
        fds: &[BorrowedFd<'_>],
    ) -> io::Result<usize> {
        use rustix::net::{sendmsg, SendAncillaryBuffer, SendAncillaryMessage, SendFlags};
        let mut space = [MaybeUninit::<u8>::uninit(); RUSTIX_SPACE];
        let mut control = SendAncillaryBuffer::new(&mut space[..]);
        if !fds.is_empty() && !control.push(SendAncillaryMessage::ScmRights(fds)) {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        Ok(sendmsg(
            sock,
            &[IoSlice::new(payload)],
            &mut control,
            SendFlags::NOSIGNAL,
        )?)
    }

    fn recv(&mut self, sock: BorrowedFd<'_>, buf: &mut [u8], capacity: usize) -> io::Result<Recv> {
        use rustix::net::{
            recvmsg, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, ReturnFlags,
        };
        let capacity = capacity.min(MAX);
        let mut space = [MaybeUninit::<u8>::uninit(); RUSTIX_SPACE];
        let len = if capacity == 0 {
            0
        } else {
            rustix::cmsg_space!(ScmRights(capacity))
        };
        let mut control = RecvAncillaryBuffer::new(&mut space[..len]);
        let mut iov = [IoSliceMut::new(buf)];
        let msg = recvmsg(sock, &mut iov, &mut control, RecvFlags::CMSG_CLOEXEC)?;
        let mut fds = Vec::new();
        for m in control.drain() {
            if let RecvAncillaryMessage::ScmRights(rights) = m {
                fds.extend(rights);
            }
        }
        Ok(Recv {
            bytes: msg.bytes,
            fds,
            reported_truncation: Some(msg.flags.contains(ReturnFlags::CTRUNC)),
        })
    }
}

/// `uds::UnixStreamExt::{send_fds, recv_fds}` on a borrowed descriptor
/// (see the module docs). uds asks for `MSG_CMSG_CLOEXEC`, sizes its
/// buffer for `capacity` and closes any surplus itself; its `recv_fds`
/// returns no truncation flag.
#[derive(Clone, Copy, Debug, Default)]
pub struct Uds;

impl FdPasser for Uds {
    fn name(&self) -> &'static str {
        "uds"
    }

    fn cloexec(&self) -> bool {
        true
    }

    fn send(
        &mut self,
        sock: BorrowedFd<'_>,
        payload: &[u8],
        fds: &[BorrowedFd<'_>],
    ) -> io::Result<usize> {
        use uds::UnixStreamExt;
        let (raw, n) = raw_numbers(fds)?;
        as_std_stream(sock).send_fds(payload, &raw[..n])
    }

    fn recv(&mut self, sock: BorrowedFd<'_>, buf: &mut [u8], capacity: usize) -> io::Result<Recv> {
        use uds::UnixStreamExt;
        let mut raw = [-1; MAX];
        let capacity = capacity.min(MAX);
        let (bytes, n) = as_std_stream(sock).recv_fds(buf, &mut raw[..capacity])?;
        Ok(Recv {
            bytes,
            // SAFETY: uds stored the numbers of the descriptors it received
            // and kept (it closed the rest); the caller owns them.
            fds: unsafe { adopt(&raw[..n]) },
            reported_truncation: None,
        })
    }
}

/// `sendfd::{SendWithFd, RecvWithFd}` on a borrowed descriptor (see the
/// module docs). sendfd receives without `MSG_CMSG_CLOEXEC` and reports no
/// truncation.
#[derive(Clone, Copy, Debug, Default)]
pub struct SendFd;

impl FdPasser for SendFd {
    fn name(&self) -> &'static str {
        "sendfd"
    }

    fn cloexec(&self) -> bool {
        false
    }

    fn send(
        &mut self,
        sock: BorrowedFd<'_>,
        payload: &[u8],
        fds: &[BorrowedFd<'_>],
    ) -> io::Result<usize> {
        use sendfd::SendWithFd;
        let (raw, n) = raw_numbers(fds)?;
        as_std_stream(sock).send_with_fd(payload, &raw[..n])
    }

    fn recv(&mut self, sock: BorrowedFd<'_>, buf: &mut [u8], capacity: usize) -> io::Result<Recv> {
        use sendfd::RecvWithFd;
        let mut raw = [-1; MAX];
        let capacity = capacity.min(MAX);
        let (bytes, n) = as_std_stream(sock).recv_with_fd(buf, &mut raw[..capacity])?;
        Ok(Recv {
            bytes,
            // SAFETY: sendfd stored the numbers of the descriptors it
            // received; the caller owns them.
            fds: unsafe { adopt(&raw[..n]) },
            reported_truncation: None,
        })
    }
}

/// `passfd::FdPassingExt` on the raw descriptor: one descriptor per
/// message, so `k` descriptors cost `k` messages (the first carries the
/// payload, the others one byte). With no descriptor the payload goes out
/// as a plain `write`, which passfd cannot do. On receive passfd reads at
/// most 4 payload bytes into its own buffer and does not say how many:
/// the adapter reports 0 bytes and leaves `buf` untouched. It sets
/// `FD_CLOEXEC` with `fcntl` after arrival (not atomic), and receives into
/// room for one descriptor whatever `capacity` is.
#[derive(Clone, Copy, Debug, Default)]
pub struct PassFd;

impl FdPasser for PassFd {
    fn name(&self) -> &'static str {
        "passfd"
    }

    fn max_fds_per_message(&self) -> usize {
        1
    }

    fn cloexec(&self) -> bool {
        true
    }

    fn send(
        &mut self,
        sock: BorrowedFd<'_>,
        payload: &[u8],
        fds: &[BorrowedFd<'_>],
    ) -> io::Result<usize> {
        use passfd::FdPassingExt;
        let raw = sock.as_raw_fd();
        match fds.split_first() {
            None => (&*as_std_stream(sock)).write(payload),
            Some((first, rest)) => {
                raw.send_fd_with_payload(first.as_raw_fd(), payload)?;
                for fd in rest {
                    raw.send_fd_with_payload(fd.as_raw_fd(), b"+")?;
                }
                Ok(payload.len())
            }
        }
    }

    fn recv(
        &mut self,
        sock: BorrowedFd<'_>,
        _buf: &mut [u8],
        _capacity: usize,
    ) -> io::Result<Recv> {
        use passfd::FdPassingExt;
        let fd = sock.as_raw_fd().recv_fd()?;
        Ok(Recv {
            bytes: 0,
            // SAFETY: passfd returns the number of the one descriptor it
            // received; the caller owns it.
            fds: unsafe { adopt(&[fd]) },
            reported_truncation: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use inflight::SocketKind;
    use std::os::fd::AsFd;

    /// Every adapter passes descriptors that refer to the sender's open
    /// files, on every socket kind, and the received ones are
    /// close-on-exec exactly when the adapter says so.
    #[test]
    fn every_adapter_round_trips_on_every_kind() {
        for mut p in all() {
            for kind in SocketKind::ALL {
                let (a, b) = inflight::socketpair(kind).unwrap();
                let files: Vec<std::fs::File> =
                    (0..3).map(|_| tempfile::tempfile().unwrap()).collect();
                let borrowed: Vec<BorrowedFd<'_>> = files.iter().map(|f| f.as_fd()).collect();
                p.send(a.as_fd(), b"x", &borrowed)
                    .unwrap_or_else(|e| panic!("{} {}: send: {e}", p.name(), kind.name()));
                let mut got = Vec::new();
                let mut buf = [0u8; 8];
                while got.len() < files.len() {
                    let r = p
                        .recv(b.as_fd(), &mut buf, 3)
                        .unwrap_or_else(|e| panic!("{} {}: recv: {e}", p.name(), kind.name()));
                    assert!(!r.fds.is_empty(), "{} {}: no fds", p.name(), kind.name());
                    assert_ne!(r.reported_truncation, Some(true), "{}", p.name());
                    got.extend(r.fds);
                }
                assert_eq!(got.len(), files.len(), "{} {}", p.name(), kind.name());
                for (sent, received) in files.iter().zip(&got) {
                    assert_eq!(
                        inflight::inspect::same_file(sent.as_fd(), received.as_fd()),
                        inflight::inspect::Sameness::Same,
                        "{} {}",
                        p.name(),
                        kind.name()
                    );
                    assert_eq!(
                        inflight::inspect::is_cloexec(received.as_fd()).unwrap(),
                        p.cloexec(),
                        "{} {}",
                        p.name(),
                        kind.name()
                    );
                }
            }
        }
    }

    /// The adapters that can say so report control truncation when the peer
    /// sends more descriptors than the receive has room for.
    #[test]
    fn truncation_is_reported_where_the_api_can_say_so() {
        for mut p in all() {
            if p.max_fds_per_message() < 40 {
                continue;
            }
            let (a, b) = inflight::socketpair(SocketKind::SeqPacket).unwrap();
            let files: Vec<std::fs::File> =
                (0..40).map(|_| tempfile::tempfile().unwrap()).collect();
            let borrowed: Vec<BorrowedFd<'_>> = files.iter().map(|f| f.as_fd()).collect();
            p.send(a.as_fd(), b"x", &borrowed).unwrap();
            let r = p.recv(b.as_fd(), &mut [0u8; 8], 2).unwrap();
            // Every buffer sized for 2 (plus each crate's slack) is far
            // short of 40.
            assert!(r.fds.len() < 40, "{}: got {}", p.name(), r.fds.len());
            match p.name() {
                "uds" | "sendfd" => assert_eq!(r.reported_truncation, None, "{}", p.name()),
                _ => assert_eq!(r.reported_truncation, Some(true), "{}", p.name()),
            }
        }
    }

    #[test]
    fn names_are_unique_and_found() {
        let names: Vec<&str> = all().iter().map(|p| p.name()).collect();
        for n in &names {
            assert_eq!(names.iter().filter(|m| *m == n).count(), 1, "{n}");
            assert_eq!(by_name(n).map(|p| p.name()), Some(*n));
        }
        assert!(by_name("nope").is_none());
    }
}
