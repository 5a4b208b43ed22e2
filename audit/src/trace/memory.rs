//! Reading and writing the tracee's memory (`process_vm_readv`/`writev`):
//! its `msghdr`, `mmsghdr` arrays, iovecs and control buffers.

use std::io::{IoSlice, IoSliceMut};

use nix::errno::Errno;
use nix::sys::uio::{process_vm_readv, process_vm_writev, RemoteIoVec};
use nix::unistd::Pid;

/// Most bytes read from one control buffer (room for 253 descriptors,
/// credentials and a pidfd is about 1.1 KiB).
pub const CONTROL_CAP: usize = 64 * 1024;
/// Most iovecs summed for one call (the kernel's `UIO_MAXIOV`).
const IOV_CAP: usize = 1024;

/// `sizeof(struct msghdr)` on x86_64.
pub const MSGHDR_SIZE: usize = 56;
/// `sizeof(struct mmsghdr)` on x86_64 (`msghdr` + `unsigned int` + padding).
pub const MMSGHDR_SIZE: usize = 64;

/// The fields of a tracee's `struct msghdr` the tracer reads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MsgHdr {
    /// `msg_iov`.
    pub iov: u64,
    /// `msg_iovlen`.
    pub iovlen: u64,
    /// `msg_control`.
    pub control: u64,
    /// `msg_controllen`.
    pub controllen: u64,
    /// `msg_flags`.
    pub flags: i32,
}

/// Offset of `msg_controllen` in `struct msghdr`.
pub const CONTROLLEN_OFFSET: u64 = 40;

impl MsgHdr {
    /// Parses the 56 bytes of a `struct msghdr`.
    pub fn parse(b: &[u8; MSGHDR_SIZE]) -> MsgHdr {
        let word = |at: usize| u64::from_ne_bytes(b[at..at + 8].try_into().unwrap_or([0; 8]));
        MsgHdr {
            iov: word(16),
            iovlen: word(24),
            control: word(32),
            controllen: word(40),
            flags: i32::from_ne_bytes(b[48..52].try_into().unwrap_or([0; 4])),
        }
    }
}

/// Reads `len` bytes at `addr` in `pid`; fewer when the range runs into an
/// unmapped page.
///
/// # Errors
///
/// Nothing at all could be read (`EFAULT`, `ESRCH`, `EPERM`).
pub fn read(pid: Pid, addr: u64, len: usize) -> Result<Vec<u8>, Errno> {
    let mut buf = vec![0u8; len];
    if len == 0 {
        return Ok(buf);
    }
    let n = process_vm_readv(
        pid,
        &mut [IoSliceMut::new(&mut buf)],
        &[RemoteIoVec {
            base: addr as usize,
            len,
        }],
    )?;
    buf.truncate(n);
    Ok(buf)
}

/// Reads exactly `N` bytes at `addr`.
///
/// # Errors
///
/// The read failed or came back short (`EFAULT`).
pub fn read_array<const N: usize>(pid: Pid, addr: u64) -> Result<[u8; N], Errno> {
    read(pid, addr, N)?.try_into().map_err(|_| Errno::EFAULT)
}

/// Reads the `struct msghdr` at `addr`.
///
/// # Errors
///
/// As [`read_array`].
pub fn msghdr(pid: Pid, addr: u64) -> Result<MsgHdr, Errno> {
    Ok(MsgHdr::parse(&read_array::<MSGHDR_SIZE>(pid, addr)?))
}

/// The total length of the `count` iovecs at `addr` (at most 1024 read).
///
/// # Errors
///
/// As [`read`].
pub fn iov_total(pid: Pid, addr: u64, count: u64) -> Result<u64, Errno> {
    let count = (count as usize).min(IOV_CAP);
    let raw = read(pid, addr, count * 16)?;
    Ok(raw
        .chunks_exact(16)
        .map(|c| u64::from_ne_bytes(c[8..16].try_into().unwrap_or([0; 8])))
        .fold(0u64, u64::saturating_add))
}

/// The first `len` bytes (at most [`CONTROL_CAP`]) of the control buffer at
/// `addr`.
///
/// # Errors
///
/// As [`read`].
pub fn control(pid: Pid, addr: u64, len: u64) -> Result<Vec<u8>, Errno> {
    if addr == 0 {
        return Ok(Vec::new());
    }
    read(pid, addr, (len as usize).min(CONTROL_CAP))
}

/// Writes the 8-byte `value` at `addr` in `pid`.
///
/// # Errors
///
/// The write failed or was short (a read-only page: `EFAULT`).
pub fn write_u64(pid: Pid, addr: u64, value: u64) -> Result<(), Errno> {
    let bytes = value.to_ne_bytes();
    let n = process_vm_writev(
        pid,
        &[IoSlice::new(&bytes)],
        &[RemoteIoVec {
            base: addr as usize,
            len: 8,
        }],
    )?;
    if n == 8 {
        Ok(())
    } else {
        Err(Errno::EFAULT)
    }
}

/// The NUL-separated strings of `/proc/PID/cmdline` as one line.
pub fn cmdline(pid: i32) -> String {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let words: Vec<String> = raw
        .split(|&b| b == 0)
        .filter(|w| !w.is_empty())
        .map(|w| String::from_utf8_lossy(w).into_owned())
        .collect();
    let line = words.join(" ");
    if line.chars().count() > 120 {
        let cut: String = line.chars().take(117).collect();
        format!("{cut}...")
    } else {
        line
    }
}

/// Every open descriptor of `pid` with what it refers to
/// (`/proc/PID/fd`); `None` when the directory cannot be read.
pub fn open_fds(pid: i32) -> Option<std::collections::BTreeMap<i32, String>> {
    let dir = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?;
    let mut out = std::collections::BTreeMap::new();
    for e in dir.flatten() {
        let Some(n) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let target = std::fs::read_link(e.path())
            .map(|t| t.display().to_string())
            .unwrap_or_else(|_| "?".into());
        out.insert(n, target);
    }
    Some(out)
}

/// What descriptor `fd` of `pid` refers to (`/proc/PID/fd/FD`).
pub fn fd_target(pid: i32, fd: i32) -> Option<String> {
    std::fs::read_link(format!("/proc/{pid}/fd/{fd}"))
        .ok()
        .map(|t| t.display().to_string())
}

/// A field of `/proc/TID/status` (`Tgid`, `PPid`).
pub fn status_field(tid: i32, field: &str) -> Option<i32> {
    let text = std::fs::read_to_string(format!("/proc/{tid}/status")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_msghdr() {
        let mut iov = [
            libc::iovec {
                iov_base: std::ptr::null_mut(),
                iov_len: 3,
            },
            libc::iovec {
                iov_base: std::ptr::null_mut(),
                iov_len: 4,
            },
        ];
        let mut ctl = [7u8; 24];
        // SAFETY: msghdr is a plain C struct for which all-zero is valid.
        let mut m: libc::msghdr = unsafe { std::mem::zeroed() };
        m.msg_iov = iov.as_mut_ptr();
        m.msg_iovlen = 2;
        m.msg_control = ctl.as_mut_ptr().cast();
        m.msg_controllen = 24;
        m.msg_flags = libc::MSG_CTRUNC;
        assert_eq!(std::mem::size_of::<libc::msghdr>(), MSGHDR_SIZE);
        assert_eq!(std::mem::size_of::<libc::mmsghdr>(), MMSGHDR_SIZE);
        let me = Pid::this();
        let h = msghdr(me, &m as *const _ as u64).unwrap();
        assert_eq!((h.iovlen, h.controllen, h.flags), (2, 24, libc::MSG_CTRUNC));
        assert_eq!(iov_total(me, h.iov, h.iovlen).unwrap(), 7);
        assert_eq!(control(me, h.control, h.controllen).unwrap(), vec![7u8; 24]);
        write_u64(me, &m as *const _ as u64 + CONTROLLEN_OFFSET, 16).unwrap();
        // SAFETY: reading a local through a volatile read after the write
        // above went through the kernel, which the compiler cannot see.
        let now = unsafe { std::ptr::read_volatile(&m.msg_controllen) };
        assert_eq!(now, 16);
        assert_eq!(read(me, 8, 8), Err(Errno::EFAULT));
    }
}
