//! The followed calls at their exit: what they returned, read back from
//! the tracee, fed to the model; `--inject eintr` turns a restart into
//! `EINTR` here.

use std::os::fd::AsFd;

use nix::sys::ptrace;
use nix::unistd::Pid;

use super::calls::{tgid_pid, Pre, RecvPre, EINTR_SIGNAL};
use super::events::{receipt, Send};
use super::inject::{Fault, Injection};
use super::memory::{self, CONTROLLEN_OFFSET, MMSGHDR_SIZE};
use super::probe;
use super::syscalls::{self, Call, CLOSE_RANGE_CLOEXEC, FIOCLEX, FIONCLEX};
use super::tracer::Tracer;

/// `-ERESTARTSYS` and friends: a call a signal interrupted.
const RESTART: [i64; 4] = [-512, -513, -514, -516];

impl Tracer {
    pub(super) fn on_exit(&mut self, tid: i32, mut sval: i64, is_error: bool) {
        let Some(task) = self.tasks.get_mut(&tid) else {
            return;
        };
        let tgid = task.tgid;
        let Some(p) = task.pending.take() else {
            return;
        };
        if p.eintr && RESTART.contains(&sval) {
            sval = self.force_eintr(tid, tgid, &p.call);
        }
        let ok = !is_error && sval >= 0;
        let pid = Pid::from_raw(tid);
        match (p.call, p.pre) {
            (Call::Recvmsg { fd, msg, flags }, Pre::Recv(r)) => {
                self.recvmsg_exit(tid, tgid, fd, msg, flags, sval, *r)
            }
            (Call::Recvmmsg { fd, vec, flags, .. }, Pre::Mmsg(given)) if ok => {
                for (i, &g) in given.iter().enumerate().take(sval as usize) {
                    let Ok(hdr) = memory::msghdr(pid, vec + (MMSGHDR_SIZE * i) as u64) else {
                        continue;
                    };
                    let mut r = receipt(pid, tgid, "recvmmsg", fd, flags, &hdr);
                    r.given = g;
                    if !r.installed().is_empty() || r.ctrunc() {
                        self.model.receive(r);
                    }
                }
            }
            (_, Pre::Send(sends)) => self.send_exit(tgid, sends, sval, ok),
            (Call::Read { name, fd, .. }, Pre::Read(r)) => {
                if let Some(why) = r.unchecked {
                    self.unchecked.count += 1;
                    self.unchecked.why.get_or_insert(why);
                } else if let (Some(n), true) = (r.fds, ok) {
                    if n > 0 {
                        let ev = format!("{name}({fd}, {} bytes) returned {sval}", r.len);
                        self.model.discarded(tgid, &format!("{name}({fd})"), n, &ev);
                    }
                }
            }
            (Call::Write { fd: 2 }, _) if ok => self.model.wrote_stderr(tgid),
            (Call::Close { fd }, _) if sval != -(libc::EBADF as i64) => self.model.close(tgid, fd),
            (Call::CloseRange { first, last, flags }, _) if ok => {
                self.model
                    .close_range(tgid, first, last, flags & CLOSE_RANGE_CLOEXEC != 0)
            }
            (Call::Dup { old }, _) if ok => self.model.dup(tgid, old, sval as i32, false),
            (
                Call::Dup2 {
                    old, new, cloexec, ..
                },
                _,
            ) if ok => self.model.dup(tgid, old, new, cloexec),
            (Call::Fcntl { fd, cmd, arg }, _) if ok => match cmd {
                libc::F_DUPFD => self.model.dup(tgid, fd, sval as i32, false),
                libc::F_DUPFD_CLOEXEC => self.model.dup(tgid, fd, sval as i32, true),
                libc::F_SETFD => self.model.set_cloexec(tgid, fd, arg & 1 != 0),
                _ => {}
            },
            (Call::Ioctl { fd, request }, _)
                if ok && (request == FIOCLEX || request == FIONCLEX) =>
            {
                self.model.set_cloexec(tgid, fd, request == FIOCLEX)
            }
            _ => {}
        }
    }

    /// Turns an interrupted call's restart into `EINTR`, as a handler
    /// installed without `SA_RESTART` would.
    fn force_eintr(&mut self, tid: i32, tgid: i32, call: &Call) -> i64 {
        let pid = Pid::from_raw(tid);
        let Ok(mut regs) = ptrace::getregs(pid) else {
            return -(libc::EINTR as i64);
        };
        regs.rax = (-(libc::EINTR as i64)) as u64;
        let _ = ptrace::setregs(pid, regs);
        let (name, fd) = match *call {
            Call::Recvmsg { fd, .. } => ("recvmsg", fd),
            Call::Sendmsg { fd, .. } => ("sendmsg", fd),
            _ => ("call", -1),
        };
        let stderr_before = self.stderr_writes(tgid);
        self.inject.done.push(Injection {
            fault: Fault::Eintr,
            pid: tgid,
            what: format!(
                "{name}({fd}) blocked; {EINTR_SIGNAL} interrupted it and it returned EINTR"
            ),
            installed: Vec::new(),
            stderr_before,
            retried: false,
        });
        let idx = self.inject.done.len() - 1;
        if let Some(t) = self.tasks.get_mut(&tid) {
            t.after_eintr = Some((name, fd, idx));
        }
        -(libc::EINTR as i64)
    }

    pub(super) fn stderr_writes(&self, tgid: i32) -> usize {
        self.model
            .processes()
            .find(|p| p.pid == tgid)
            .map_or(0, |p| p.counts.stderr_writes)
    }

    #[allow(clippy::too_many_arguments)]
    fn recvmsg_exit(
        &mut self,
        tid: i32,
        tgid: i32,
        fd: i32,
        msg: u64,
        flags: i32,
        sval: i64,
        r: RecvPre,
    ) {
        let pid = Pid::from_raw(tid);
        if let (Some(orig), true) = (r.shrunk_from, sval < 0) {
            // The kernel leaves msg_controllen alone on an error: put back
            // the program's own value.
            let _ = memory::write_u64(pid, msg + CONTROLLEN_OFFSET, orig);
        }
        if let (Some(old), Some(p)) = (r.limit_before, tgid_pid(tgid)) {
            let _ = rustix::process::prlimit(Some(p), rustix::process::Resource::Nofile, old);
        }
        let hdr = if sval >= 0 {
            memory::msghdr(pid, msg).ok()
        } else {
            None
        };
        let mut installed = Vec::new();
        let mut result = match sval {
            s if s < 0 => format!("failed with {}", nix::errno::Errno::from_raw(-s as i32)),
            s => format!("returned {s}"),
        };
        if let Some(hdr) = hdr {
            let mut rc = receipt(pid, tgid, "recvmsg", fd, flags, &hdr);
            rc.given = r.hdr.controllen;
            rc.queued = r.queued;
            rc.injected = r.injected.as_ref().map(|(_, w)| w.clone());
            if rc.ctrunc() && (rc.creds || rc.pidfd.is_some()) {
                rc.passcred = r.sock.as_ref().map(|s| probe::passcred(s.as_fd()));
            }
            installed = rc.installed();
            result = format!(
                "{result}, installed {installed:?}, msg_flags {}",
                syscalls::msg_flags(rc.msg_flags)
            );
            if !installed.is_empty() || rc.ctrunc() {
                self.model.receive(rc);
            }
        }
        if let Some((fault, what)) = r.injected {
            let stderr_before = self.stderr_writes(tgid);
            self.inject.done.push(Injection {
                fault,
                pid: tgid,
                what: format!("recvmsg({fd}): {what}: {result}"),
                installed,
                stderr_before,
                retried: false,
            });
        }
    }

    fn send_exit(&mut self, tgid: i32, mut sends: Vec<Send>, sval: i64, ok: bool) {
        let sent = if ok { sval as usize } else { 0 };
        for (i, s) in sends.iter_mut().enumerate() {
            s.result = if !ok && i == 0 {
                Err(-sval as i32)
            } else {
                Ok(s.payload)
            };
        }
        if ok && sends.len() > 1 {
            sends.truncate(sent);
        } else if ok && sends.len() == 1 {
            sends[0].result = Ok(sval as u64);
        } else {
            sends.truncate(1);
        }
        if sends.iter().any(|s| !s.fds.is_empty() && s.payload == 0) {
            let socket = sends[0].socket;
            let stream = self
                .probe
                .copy(tgid, socket)
                .ok()
                .map(|s| probe::is_stream(s.as_fd()));
            for s in &mut sends {
                s.stream = stream;
            }
        }
        for s in sends.into_iter().filter(|s| !s.fds.is_empty()) {
            self.model.send(s);
        }
    }
}
