//! The system calls the tracer follows (x86_64 numbers) and their
//! arguments, decoded from `PTRACE_GET_SYSCALL_INFO`.

use libc::c_long;

/// `ioctl` request that sets close-on-exec.
pub const FIOCLEX: u64 = 0x5451;
/// `ioctl` request that clears close-on-exec.
pub const FIONCLEX: u64 = 0x5450;
/// `close_range` flag: set close-on-exec instead of closing.
pub const CLOSE_RANGE_CLOEXEC: u64 = 1 << 2;

/// A followed system call with its arguments (descriptor numbers as the
/// tracee passed them; addresses in the tracee's memory).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Call {
    /// `recvmsg(fd, msg, flags)`.
    Recvmsg { fd: i32, msg: u64, flags: i32 },
    /// `recvmmsg(fd, vec, vlen, flags, timeout)`.
    Recvmmsg {
        fd: i32,
        vec: u64,
        vlen: u32,
        flags: i32,
    },
    /// `sendmsg(fd, msg, flags)`.
    Sendmsg { fd: i32, msg: u64 },
    /// `sendmmsg(fd, vec, vlen, flags)`.
    Sendmmsg { fd: i32, vec: u64, vlen: u32 },
    /// A call that consumes socket data without a control buffer:
    /// `read`, `readv`, `recvfrom` (`recv`).
    Read {
        name: &'static str,
        fd: i32,
        /// `read`/`recvfrom`: the length; `readv`: the iovec array address.
        len_or_iov: u64,
        /// `readv`: the iovec count.
        iovcnt: u64,
        flags: i32,
    },
    /// `write(fd, ...)` (only fd 2 matters: a program reporting an error).
    Write { fd: i32 },
    /// `close(fd)`.
    Close { fd: i32 },
    /// `close_range(first, last, flags)`.
    CloseRange { first: u32, last: u32, flags: u64 },
    /// `dup(old)`.
    Dup { old: i32 },
    /// `dup2(old, new)`, `dup3(old, new, flags)`.
    Dup2 {
        name: &'static str,
        old: i32,
        new: i32,
        cloexec: bool,
    },
    /// `fcntl(fd, cmd, arg)`.
    Fcntl { fd: i32, cmd: i32, arg: u64 },
    /// `ioctl(fd, request)`.
    Ioctl { fd: i32, request: u64 },
}

/// Descriptor number from a register (the kernel reads `int`).
fn fd(arg: u64) -> i32 {
    arg as u32 as i32
}

/// Decodes syscall `nr` with `args`; `None` for calls the tracer ignores.
pub fn decode(nr: u64, args: [u64; 6]) -> Option<Call> {
    let nr = nr as c_long;
    let flags = args[2] as u32 as i32;
    Some(match nr {
        libc::SYS_recvmsg => Call::Recvmsg {
            fd: fd(args[0]),
            msg: args[1],
            flags,
        },
        libc::SYS_recvmmsg => Call::Recvmmsg {
            fd: fd(args[0]),
            vec: args[1],
            vlen: args[2] as u32,
            flags: args[3] as u32 as i32,
        },
        libc::SYS_sendmsg => Call::Sendmsg {
            fd: fd(args[0]),
            msg: args[1],
        },
        libc::SYS_sendmmsg => Call::Sendmmsg {
            fd: fd(args[0]),
            vec: args[1],
            vlen: args[2] as u32,
        },
        libc::SYS_read => read("read", args[0], args[2], 0, 0),
        libc::SYS_readv => read("readv", args[0], args[1], args[2], 0),
        libc::SYS_recvfrom => read("recvfrom", args[0], args[2], 0, args[3] as u32 as i32),
        libc::SYS_write | libc::SYS_writev => Call::Write { fd: fd(args[0]) },
        libc::SYS_close => Call::Close { fd: fd(args[0]) },
        libc::SYS_close_range => Call::CloseRange {
            first: args[0] as u32,
            last: args[1] as u32,
            flags: args[2],
        },
        libc::SYS_dup => Call::Dup { old: fd(args[0]) },
        libc::SYS_dup2 => Call::Dup2 {
            name: "dup2",
            old: fd(args[0]),
            new: fd(args[1]),
            cloexec: false,
        },
        libc::SYS_dup3 => Call::Dup2 {
            name: "dup3",
            old: fd(args[0]),
            new: fd(args[1]),
            cloexec: args[2] as i32 & libc::O_CLOEXEC != 0,
        },
        libc::SYS_fcntl => Call::Fcntl {
            fd: fd(args[0]),
            cmd: args[1] as u32 as i32,
            arg: args[2],
        },
        libc::SYS_ioctl => Call::Ioctl {
            fd: fd(args[0]),
            request: args[1] & 0xffff_ffff,
        },
        _ => return None,
    })
}

fn read(name: &'static str, fdarg: u64, len_or_iov: u64, iovcnt: u64, flags: i32) -> Call {
    Call::Read {
        name,
        fd: fd(fdarg),
        len_or_iov,
        iovcnt,
        flags,
    }
}

/// `MSG_*` flag names, for evidence.
pub fn msg_flags(bits: i32) -> String {
    const NAMES: [(i32, &str); 6] = [
        (libc::MSG_CMSG_CLOEXEC, "MSG_CMSG_CLOEXEC"),
        (libc::MSG_CTRUNC, "MSG_CTRUNC"),
        (libc::MSG_TRUNC, "MSG_TRUNC"),
        (libc::MSG_DONTWAIT, "MSG_DONTWAIT"),
        (libc::MSG_PEEK, "MSG_PEEK"),
        (libc::MSG_WAITALL, "MSG_WAITALL"),
    ];
    let mut names: Vec<String> = NAMES
        .iter()
        .filter(|(b, _)| bits & b != 0)
        .map(|(_, n)| n.to_string())
        .collect();
    let rest = NAMES.iter().fold(bits, |acc, (b, _)| acc & !b);
    if rest != 0 {
        names.push(format!("{rest:#x}"));
    }
    if names.is_empty() {
        "0".into()
    } else {
        names.join("|")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_followed_calls() {
        let a = |x: &[u64]| {
            let mut v = [0u64; 6];
            v[..x.len()].copy_from_slice(x);
            v
        };
        assert_eq!(
            decode(47, a(&[5, 0x1000, 0x4000_0000])),
            Some(Call::Recvmsg {
                fd: 5,
                msg: 0x1000,
                flags: libc::MSG_CMSG_CLOEXEC
            })
        );
        assert_eq!(
            decode(292, a(&[3, 9, libc::O_CLOEXEC as u64])),
            Some(Call::Dup2 {
                name: "dup3",
                old: 3,
                new: 9,
                cloexec: true
            })
        );
        assert_eq!(
            decode(3, a(&[u32::MAX as u64])),
            Some(Call::Close { fd: -1 })
        );
        assert_eq!(decode(39, a(&[])), None, "getpid is not followed");
        assert!(matches!(
            decode(45, a(&[4, 0, 100, libc::MSG_PEEK as u64])),
            Some(Call::Read {
                name: "recvfrom",
                len_or_iov: 100,
                flags: libc::MSG_PEEK,
                ..
            })
        ));
    }

    #[test]
    fn names_flags() {
        assert_eq!(msg_flags(0), "0");
        assert_eq!(
            msg_flags(libc::MSG_CMSG_CLOEXEC | libc::MSG_CTRUNC),
            "MSG_CMSG_CLOEXEC|MSG_CTRUNC"
        );
        assert_eq!(msg_flags(0x0010_0000), "0x100000");
    }
}
