//! `nix`: `nix::sys::socket::{sendmsg, recvmsg}`.

use std::io::{self, IoSlice, IoSliceMut};
use std::mem::size_of;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};

use crate::shared::{adopt, raw_numbers};
use crate::{Implementation, Recv};

/// `nix::sys::socket::{sendmsg, recvmsg}` with `ControlMessage::ScmRights`,
/// `MSG_NOSIGNAL` on send and `MSG_CMSG_CLOEXEC` on receive. The receive
/// buffer is what `cmsg_space!([RawFd; capacity])` expands to, built at run
/// time: `vec![0u8; CMSG_SPACE(4 * capacity)]`, one allocation per call as
/// with the macro. On `MSG_CTRUNC` nix's `cmsgs()` answers `ENOBUFS` and
/// hands no descriptor: the adapter reports truncation with none (the
/// descriptors the kernel installed stay open: that is nix's behaviour).
#[derive(Clone, Copy, Debug, Default)]
pub struct Nix;

impl Implementation for Nix {
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
