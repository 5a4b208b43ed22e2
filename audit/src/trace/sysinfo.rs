//! `PTRACE_GET_SYSCALL_INFO` (Linux 5.3) with the kernel's own structure
//! layout, so that the tracer builds for every C library: the `libc` crate
//! declares `ptrace_syscall_info` for glibc only, and the auditor is also
//! built for musl (the static programs of `inflight-audit kernels`).

use nix::errno::Errno;
use nix::unistd::Pid;

/// The request number (`linux/ptrace.h`).
const PTRACE_GET_SYSCALL_INFO: u32 = 0x420e;
const OP_ENTRY: u8 = 1;
const OP_EXIT: u8 = 2;

#[repr(C)]
#[derive(Clone, Copy)]
struct Entry {
    nr: u64,
    args: [u64; 6],
}

#[repr(C)]
#[derive(Clone, Copy)]
struct Exit {
    rval: i64,
    is_error: u8,
}

/// The union of `struct ptrace_syscall_info`; `seccomp` (nr, args,
/// ret_data) is its largest member, 60 bytes, padded to 64.
#[repr(C)]
union Data {
    entry: Entry,
    exit: Exit,
    seccomp: [u64; 8],
}

/// `struct ptrace_syscall_info` (88 bytes on every 64-bit ABI).
#[repr(C)]
#[allow(dead_code)] // the kernel's layout: fields the tracer does not read
struct Info {
    op: u8,
    reserved: u8,
    flags: u16,
    arch: u32,
    instruction_pointer: u64,
    stack_pointer: u64,
    u: Data,
}

/// What a syscall stop is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum SyscallStop {
    /// Entering system call `nr` with `args`.
    Entry { nr: u64, args: [u64; 6] },
    /// Leaving one: its return value, and whether that is an error.
    Exit { sval: i64, is_error: bool },
    /// Another kind of stop (`PTRACE_SYSCALL_INFO_NONE`, seccomp).
    Other,
}

/// The syscall stop `tid` is in.
///
/// # Errors
///
/// The ptrace request failed (`ESRCH`: the task is gone or not stopped).
pub(super) fn syscall_stop(tid: Pid) -> Result<SyscallStop, Errno> {
    let mut info = Info {
        op: 0,
        reserved: 0,
        flags: 0,
        arch: 0,
        instruction_pointer: 0,
        stack_pointer: 0,
        u: Data { seccomp: [0; 8] },
    };
    // SAFETY: PTRACE_GET_SYSCALL_INFO writes at most `addr` (the size
    // given) bytes to `data`, which points to a live, writable `Info` of
    // exactly that size; the request reads nothing else of ours. The
    // request's C type differs between C libraries, hence `as _`.
    let n = unsafe {
        libc::ptrace(
            PTRACE_GET_SYSCALL_INFO as _,
            tid.as_raw(),
            std::mem::size_of::<Info>(),
            std::ptr::addr_of_mut!(info),
        )
    };
    if n < 0 {
        return Err(Errno::last());
    }
    Ok(match info.op {
        OP_ENTRY => {
            // SAFETY: op ENTRY says the kernel filled the `entry` member
            // (and every bit pattern is a valid `Entry`).
            let e = unsafe { info.u.entry };
            SyscallStop::Entry {
                nr: e.nr,
                args: e.args,
            }
        }
        OP_EXIT => {
            // SAFETY: op EXIT says the kernel filled the `exit` member (and
            // every bit pattern is a valid `Exit`).
            let x = unsafe { info.u.exit };
            SyscallStop::Exit {
                sval: x.rval,
                is_error: x.is_error != 0,
            }
        }
        _ => SyscallStop::Other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_the_kernels() {
        assert_eq!(std::mem::size_of::<Info>(), 88);
        assert_eq!(std::mem::offset_of!(Info, u), 24);
        assert_eq!(std::mem::offset_of!(Exit, is_error), 8);
    }

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn same_layout_as_glibcs() {
        assert_eq!(
            std::mem::size_of::<Info>(),
            std::mem::size_of::<libc::ptrace_syscall_info>()
        );
    }

    #[test]
    fn a_task_not_traced_is_an_error() {
        // This process is not stopped under our ptrace: ESRCH.
        assert_eq!(syscall_stop(nix::unistd::getpid()), Err(Errno::ESRCH));
    }
}
