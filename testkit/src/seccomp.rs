//! Deny one system call to the calling thread with a seccomp filter, as a
//! container runtime's profile does (Docker's default denies `kcmp(2)`
//! without `CAP_SYS_PTRACE`), so that tests can take the paths a program
//! takes where the call is missing (`ENOSYS`) or refused (`EPERM`).
//!
//! The filter binds the calling thread (and threads it starts later) for
//! the rest of its life; run it in a thread of its own.

use std::io;

/// The audit architecture of this build's system-call table.
#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xC000_003E;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xC000_00B7;

/// Makes system call `nr` fail with `errno` in the calling thread from now
/// on; every other call is allowed. Sets the thread's `no_new_privs`.
///
/// # Errors
///
/// `prctl(PR_SET_NO_NEW_PRIVS)` or `seccomp(2)` failed (no seccomp in the
/// kernel, or an architecture this kit has no number for: `Unsupported`).
pub fn deny_in_this_thread(nr: libc::c_long, errno: i32) -> io::Result<()> {
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        let _ = (nr, errno);
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "no audit architecture known for this target",
        ));
    }
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    {
        let stmt = |code: u32, k: u32| libc::sock_filter {
            code: code as u16,
            jt: 0,
            jf: 0,
            k,
        };
        let jeq = |k: u32, jt: u8, jf: u8| libc::sock_filter {
            code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
            jt,
            jf,
            k,
        };
        let load = libc::BPF_LD | libc::BPF_W | libc::BPF_ABS;
        let ret = libc::BPF_RET | libc::BPF_K;
        // seccomp_data: nr at offset 0, arch at offset 4.
        let mut prog = [
            stmt(load, 4),
            jeq(AUDIT_ARCH, 0, 3),
            stmt(load, 0),
            jeq(nr as u32, 0, 1),
            stmt(
                ret,
                libc::SECCOMP_RET_ERRNO | (errno as u32 & libc::SECCOMP_RET_DATA),
            ),
            stmt(ret, libc::SECCOMP_RET_ALLOW),
        ];
        let fprog = libc::sock_fprog {
            len: prog.len() as u16,
            filter: prog.as_mut_ptr(),
        };
        // SAFETY: prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) takes integers only
        // and reads no memory.
        if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: seccomp(SECCOMP_SET_MODE_FILTER, 0, &fprog) reads the
        // sock_fprog and the `len` instructions it points to: `fprog` and
        // `prog` are live on this stack frame for the whole call (the kernel
        // copies the program).
        let r = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                0,
                &fprog as *const libc::sock_fprog,
            )
        };
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_denied_call_fails_and_others_do_not() {
        std::thread::spawn(|| {
            deny_in_this_thread(libc::SYS_getppid, libc::EPERM).unwrap();
            // SAFETY: getppid takes no arguments and cannot fail.
            let r = unsafe { libc::syscall(libc::SYS_getppid) };
            assert_eq!(r, -1);
            assert_eq!(io::Error::last_os_error().raw_os_error(), Some(libc::EPERM));
            // SAFETY: as above.
            assert!(unsafe { libc::syscall(libc::SYS_getpid) } > 0);
        })
        .join()
        .unwrap();
        // SAFETY: as above; this thread has no filter.
        assert!(unsafe { libc::syscall(libc::SYS_getppid) } > 0);
    }
}
