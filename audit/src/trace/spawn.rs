//! Starting the traced program: fork, the child stops itself, the parent
//! seizes it (`PTRACE_SEIZE`) and lets it exec.

use std::ffi::{CString, OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use nix::sys::ptrace::{self, Options};
use nix::sys::signal::{kill, raise, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{fork, ForkResult, Pid};

/// The ptrace options: every syscall stop marked (`TRACESYSGOOD`), every
/// new task and exec followed, exits reported before they happen. No
/// `EXITKILL`: if the tracer dies, the tracees are detached and go on.
pub fn options() -> Options {
    Options::PTRACE_O_TRACESYSGOOD
        | Options::PTRACE_O_TRACEFORK
        | Options::PTRACE_O_TRACEVFORK
        | Options::PTRACE_O_TRACECLONE
        | Options::PTRACE_O_TRACEEXEC
        | Options::PTRACE_O_TRACEEXIT
}

/// Why the program could not be started; every one is a usage or
/// environment error (exit status 2).
#[derive(Debug)]
pub struct Refused(pub String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

/// Finds `program` as `execvp` would: a name with a `/` as it is, any other
/// in `PATH`.
///
/// # Errors
///
/// No executable file by that name.
pub fn resolve(program: &OsStr) -> anyhow::Result<PathBuf> {
    let executable = |p: &Path| {
        p.metadata()
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    };
    if program.as_bytes().contains(&b'/') {
        let p = PathBuf::from(program);
        if executable(&p) {
            return Ok(p);
        }
        bail!(Refused(format!(
            "cannot run {}: {}",
            p.display(),
            if p.exists() {
                "not an executable file"
            } else {
                "no such file"
            }
        )));
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    for dir in std::env::split_paths(&path) {
        let p = dir.join(program);
        if executable(&p) {
            return Ok(p);
        }
    }
    bail!(Refused(format!(
        "command not found: {} (not in PATH)",
        program.to_string_lossy()
    )))
}

/// Why `PTRACE_SEIZE` of `child` failed, in words.
fn why_refused(child: Pid, err: nix::errno::Errno) -> String {
    let field = |pid: &str, name: &str| {
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()))
            })
    };
    let mut why = format!("ptrace(PTRACE_SEIZE) of the program was refused ({err})");
    if let Some(t) = field(&child.to_string(), "TracerPid:").filter(|t| t != "0") {
        why.push_str(&format!(
            ": it is already traced by pid {t} (a debugger or strace -f around inflight-audit?)"
        ));
    } else if let Some(s) = field("self", "Seccomp:").filter(|s| s != "0") {
        why.push_str(&format!(
            ": a seccomp filter is on (Seccomp: {s}); the sandbox or container forbids ptrace"
        ));
    } else if let Ok(scope) = std::fs::read_to_string("/proc/sys/kernel/yama/ptrace_scope") {
        why.push_str(&format!(
            ": Yama ptrace_scope is {} (3 forbids ptrace entirely; 2 needs CAP_SYS_PTRACE)",
            scope.trim()
        ));
    } else {
        why.push_str(": the kernel or a security module forbids ptrace here");
    }
    why
}

/// Starts `program` with `args` (already resolved) stopped under ptrace,
/// and lets it run: it is traced from its first instruction after exec.
/// With `stdout_to_stderr`, the program's standard output goes to standard
/// error (so a report on standard output stays whole).
///
/// # Errors
///
/// A [`Refused`] (fork or seize failed: the child is killed and reaped
/// first), or a string with a NUL byte.
pub fn spawn(program: &Path, args: &[OsString], stdout_to_stderr: bool) -> anyhow::Result<Pid> {
    let path = CString::new(program.as_os_str().as_bytes()).context("program path")?;
    let mut argv: Vec<CString> = vec![path.clone()];
    for a in args {
        argv.push(CString::new(a.as_bytes()).context("an argument has a NUL byte")?);
    }
    // Built before fork: the child may only call async-signal-safe
    // functions (the tracer may have other threads).
    let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    argv_ptrs.push(std::ptr::null());
    let parent = nix::unistd::getpid();
    // SAFETY: after fork the child only calls prctl, getppid, dup2, raise,
    // execv and _exit, all async-signal-safe; the CStrings and pointer array it uses were built
    // before the fork and are not freed in the child.
    match unsafe { fork() }.map_err(|e| Refused(format!("fork failed: {e}")))? {
        ForkResult::Child => {
            // Until the tracer has seized it, the child dies with the
            // tracer (it would otherwise stay stopped for ever); the
            // program itself never gets this signal.
            let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
            if nix::unistd::getppid() != parent {
                // SAFETY: _exit is async-signal-safe and never returns.
                unsafe { libc::_exit(127) }
            }
            if stdout_to_stderr {
                let _ = nix::unistd::dup2_stdout(std::io::stderr());
            }
            let _ = raise(Signal::SIGSTOP);
            let _ = nix::sys::prctl::set_pdeathsig(None);
            // SAFETY: `path` and `argv_ptrs` are NUL-terminated and the
            // array ends with a null pointer; the environment is inherited.
            unsafe { libc::execv(path.as_ptr(), argv_ptrs.as_ptr()) };
            // SAFETY: _exit is async-signal-safe and never returns.
            unsafe { libc::_exit(127) }
        }
        ForkResult::Parent { child } => {
            match waitpid(child, Some(WaitPidFlag::WSTOPPED)) {
                Ok(WaitStatus::Stopped(_, Signal::SIGSTOP)) => {}
                other => bail!(Refused(format!(
                    "the program's process did not stop before exec: {other:?}"
                ))),
            }
            if let Err(e) = ptrace::seize(child, options()) {
                let why = why_refused(child, e);
                let _ = kill(child, Signal::SIGKILL);
                let _ = waitpid(child, None);
                bail!(Refused(why));
            }
            kill(child, Signal::SIGCONT).context("resuming the program")?;
            Ok(child)
        }
    }
}
