//! The followed calls at their entry (read the arguments, peek, inject,
//! or hold a blocking read) and at their exit (feed the model).

use std::os::fd::{AsFd, OwnedFd};

use nix::sys::ptrace;
use nix::sys::signal::Signal;
use nix::unistd::Pid;

use super::inject::{self, Fault, Injection};
use super::memory::{self, MsgHdr, CONTROLLEN_OFFSET, MMSGHDR_SIZE};
use super::model::{Queued, Receipt, Send};
use super::probe::{self, Peek};
use super::syscalls::{self, Call, CLOSE_RANGE_CLOEXEC, FIOCLEX, FIONCLEX};
use super::tracer::{Hold, Tracer};

/// The signal `--inject eintr` interrupts a call with (ignored by default,
/// so a program without a handler is not disturbed otherwise).
pub const EINTR_SIGNAL: Signal = Signal::SIGWINCH;
/// Most messages of one `sendmmsg`/`recvmmsg` looked at.
const MMSG_CAP: u32 = 1024;
/// `-ERESTARTSYS` and friends: a call a signal interrupted.
const RESTART: [i64; 4] = [-512, -513, -514, -516];

/// A followed call between its entry and its exit.
pub(super) struct Pending {
    call: Call,
    pre: Pre,
    /// The `--inject eintr` signal was sent at entry.
    eintr: bool,
    /// The call retries one that `--inject eintr` interrupted: it is not
    /// interrupted again.
    retry: bool,
}

/// What the entry learnt.
enum Pre {
    None,
    Recv(Box<RecvPre>),
    /// `recvmmsg`: each message's `msg_controllen` at entry.
    Mmsg(Vec<u64>),
    Send(Vec<Send>),
    Read(ReadPre),
}

#[derive(Default)]
struct RecvPre {
    hdr: MsgHdr,
    iov_len: u64,
    sock: Option<OwnedFd>,
    queued: Option<Queued>,
    /// The task waited (held) for data already.
    waited: bool,
    /// `msg_controllen` before `--inject ctrunc` shrank it.
    shrunk_from: Option<u64>,
    /// `RLIMIT_NOFILE` before `--inject emfile` lowered it.
    limit_before: Option<rustix::process::Rlimit>,
    injected: Option<(Fault, String)>,
}

struct ReadPre {
    len: u64,
    sock: Option<OwnedFd>,
    fds: Option<usize>,
    waited: bool,
    unchecked: Option<String>,
}

fn tgid_pid(tgid: i32) -> Option<rustix::process::Pid> {
    rustix::process::Pid::from_raw(tgid)
}

impl Tracer {
    /// A syscall stop of `tid`.
    pub(super) fn on_syscall(&mut self, tid: i32, info: &libc::ptrace_syscall_info) {
        if info.op == libc::PTRACE_SYSCALL_INFO_ENTRY {
            // SAFETY: op ENTRY says the kernel filled the `entry` member.
            let e = unsafe { info.u.entry };
            self.on_entry(tid, e.nr, e.args);
        } else if info.op == libc::PTRACE_SYSCALL_INFO_EXIT {
            // SAFETY: op EXIT says the kernel filled the `exit` member.
            let x = unsafe { info.u.exit };
            self.on_exit(tid, x.sval, x.is_error != 0);
            self.resume(tid, None);
        } else {
            self.resume(tid, None);
        }
    }

    fn on_entry(&mut self, tid: i32, nr: u64, args: [u64; 6]) {
        let call = syscalls::decode(nr, args);
        let task = self.task(tid, None);
        let tgid = task.tgid;
        let mut retry = false;
        if let Some((name, fd, idx)) = task.after_eintr.take() {
            retry = match call {
                Some(Call::Recvmsg { fd: f, .. }) => name == "recvmsg" && f == fd,
                Some(Call::Sendmsg { fd: f, .. }) => name == "sendmsg" && f == fd,
                _ => false,
            };
            if let Some(i) = self.inject.done.get_mut(idx) {
                i.retried = retry;
            }
        }
        let Some(call) = call else {
            self.task(tid, None).pending = None;
            self.resume(tid, None);
            return;
        };
        let pre = match call {
            Call::Recvmsg { msg, .. } => match memory::msghdr(Pid::from_raw(tid), msg) {
                Ok(hdr) => Pre::Recv(Box::new(RecvPre {
                    hdr,
                    iov_len: memory::iov_total(Pid::from_raw(tid), hdr.iov, hdr.iovlen)
                        .unwrap_or(0),
                    ..RecvPre::default()
                })),
                Err(_) => Pre::None,
            },
            Call::Recvmmsg { vec, vlen, .. } => Pre::Mmsg(
                (0..vlen.min(MMSG_CAP))
                    .map(|i| {
                        memory::msghdr(Pid::from_raw(tid), vec + (MMSGHDR_SIZE as u64) * i as u64)
                            .map_or(0, |h| h.controllen)
                    })
                    .collect(),
            ),
            Call::Sendmsg { fd, msg } => Pre::Send(
                read_send(tid, tgid, fd, msg, "sendmsg")
                    .into_iter()
                    .collect(),
            ),
            Call::Sendmmsg { fd, vec, vlen } => Pre::Send(
                (0..vlen.min(MMSG_CAP))
                    .filter_map(|i| {
                        read_send(
                            tid,
                            tgid,
                            fd,
                            vec + (MMSGHDR_SIZE as u64) * i as u64,
                            "sendmmsg",
                        )
                    })
                    .collect(),
            ),
            Call::Read {
                fd,
                len_or_iov,
                iovcnt,
                name,
                flags,
            } if flags & libc::MSG_PEEK == 0 => {
                self.read_pre(tid, tgid, fd, name, len_or_iov, iovcnt)
            }
            _ => Pre::None,
        };
        self.task(tid, None).pending = Some(Pending {
            call,
            pre,
            eintr: false,
            retry,
        });
        self.prepare(tid);
    }

    /// The entry of a `read`-like call on a Unix socket.
    fn read_pre(&mut self, tid: i32, tgid: i32, fd: i32, name: &str, arg: u64, iovcnt: u64) -> Pre {
        let is_socket = memory::fd_target(tid, fd).is_some_and(|t| t.starts_with("socket:"));
        if !is_socket {
            return Pre::None;
        }
        let len = if name == "readv" {
            memory::iov_total(Pid::from_raw(tid), arg, iovcnt).unwrap_or(0)
        } else {
            arg
        };
        let (sock, unchecked) = match self.probe.copy(tgid, fd) {
            Ok(s) if probe::is_unix(s.as_fd()) => (Some(s), None),
            Ok(_) => return Pre::None,
            Err(why) => (None, Some(why)),
        };
        Pre::Read(ReadPre {
            len,
            sock,
            fds: None,
            waited: false,
            unchecked,
        })
    }

    /// Peeks, injects, and resumes `tid` at its call's entry, or holds it
    /// until its socket has data.
    fn prepare(&mut self, tid: i32) {
        let Some(task) = self.tasks.get_mut(&tid) else {
            return;
        };
        let tgid = task.tgid;
        let Some(p) = task.pending.as_mut() else {
            self.resume(tid, None);
            return;
        };
        let call = p.call;
        let may_interrupt = !p.retry;
        let mut hold = None;
        match (&mut p.pre, call) {
            (Pre::Recv(r), Call::Recvmsg { fd, flags, .. }) => {
                if r.sock.is_none() {
                    r.sock = self
                        .probe
                        .copy(tgid, fd)
                        .ok()
                        .filter(|s| probe::is_unix(s.as_fd()));
                }
                let eintr = may_interrupt && self.inject.due(Fault::Eintr);
                if let Some(sock) = &r.sock {
                    match probe::peek(sock, r.iov_len) {
                        Ok(Peek::Queued(q)) => r.queued = Some(q),
                        Ok(Peek::Empty) if !r.waited && !eintr && blocking(sock, flags) => {
                            hold = r.sock.take();
                        }
                        _ => {}
                    }
                }
                if hold.is_none() {
                    let rr = &mut **r;
                    inject_recv(&mut self.inject, tid, tgid, call, rr);
                    p.eintr = eintr;
                }
            }
            (Pre::Send(_), Call::Sendmsg { .. }) => {
                p.eintr = may_interrupt && self.inject.due(Fault::Eintr)
            }
            (Pre::Read(r), Call::Read { flags, .. }) => {
                if let Some(sock) = &r.sock {
                    match probe::peek(sock, r.len) {
                        Ok(Peek::Queued(q)) => r.fds = Some(q.fds),
                        Ok(Peek::Empty) if blocking(sock, flags) => {
                            if r.waited {
                                r.unchecked = Some(
                                    "the socket was readable but a peek found nothing queued"
                                        .into(),
                                );
                            } else {
                                hold = r.sock.take();
                            }
                        }
                        Ok(Peek::Empty) => {}
                        Err(why) => r.unchecked = Some(why),
                    }
                }
            }
            _ => {}
        }
        let eintr = p.eintr;
        match hold {
            Some(sock) => self.held.push(Hold { tid, sock }),
            None => {
                if eintr {
                    self.task(tid, None).eintr_signal = true;
                    // SAFETY: tgkill only sends a signal; the ids are plain
                    // integers and a vanished task is an ESRCH error.
                    unsafe { libc::syscall(libc::SYS_tgkill, tgid, tid, EINTR_SIGNAL as i32) };
                }
                self.resume(tid, None);
            }
        }
    }

    /// A held task's socket became readable: peek again and let it go.
    pub(super) fn release(&mut self, hold: Hold) {
        let Some(p) = self
            .tasks
            .get_mut(&hold.tid)
            .and_then(|t| t.pending.as_mut())
        else {
            return;
        };
        match &mut p.pre {
            Pre::Recv(r) => {
                r.sock = Some(hold.sock);
                r.waited = true;
            }
            Pre::Read(r) => {
                r.sock = Some(hold.sock);
                r.waited = true;
            }
            _ => {}
        }
        self.prepare(hold.tid);
    }

    /// `tid` died inside a call: undo what an injection changed.
    pub(super) fn abandon(&mut self, tid: i32, p: Pending) {
        let tgid = self.tasks.get(&tid).map_or(tid, |t| t.tgid);
        if let Pre::Recv(r) = p.pre {
            if let (Some(old), Some(pid)) = (r.limit_before, tgid_pid(tgid)) {
                let _ = rustix::process::prlimit(Some(pid), rustix::process::Resource::Nofile, old);
            }
        }
    }

    fn on_exit(&mut self, tid: i32, mut sval: i64, is_error: bool) {
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

/// The call may block: a blocking socket and no `MSG_DONTWAIT`.
fn blocking(sock: &OwnedFd, flags: i32) -> bool {
    flags & libc::MSG_DONTWAIT == 0 && !probe::nonblocking(sock.as_fd())
}

/// Applies `--inject ctrunc` and `--inject emfile` at a `recvmsg` entry.
fn inject_recv(
    inj: &mut super::inject::Injector,
    tid: i32,
    tgid: i32,
    call: Call,
    r: &mut RecvPre,
) {
    let Call::Recvmsg { msg, .. } = call else {
        return;
    };
    let given = r.hdr.controllen;
    if r.hdr.control != 0 && given > 0 && inj.due(Fault::Ctrunc) {
        let new = inject::shrunk(given, r.queued.map(|q| q.fds));
        if new < given
            && memory::write_u64(Pid::from_raw(tid), msg + CONTROLLEN_OFFSET, new).is_ok()
        {
            r.shrunk_from = Some(given);
            r.hdr.controllen = new;
            r.injected = Some((
                Fault::Ctrunc,
                format!("msg_controllen shrunk from {given} to {new}"),
            ));
        }
    }
    if r.injected.is_none() && inj.due(Fault::Emfile) {
        let (Some(pid), Some(hard)) = (tgid_pid(tgid), nofile_hard(tgid)) else {
            return;
        };
        let in_use: Vec<i32> = memory::open_fds(tgid)
            .map(|m| m.into_keys().collect())
            .unwrap_or_default();
        let room = r.queued.map_or(0, |q| q.fds.saturating_sub(1));
        let limit = inject::limit_for(&in_use, room);
        let new = rustix::process::Rlimit {
            current: Some(limit),
            maximum: hard,
        };
        if let Ok(old) = rustix::process::prlimit(Some(pid), rustix::process::Resource::Nofile, new)
        {
            let was = old.current.map_or("unlimited".into(), |c| c.to_string());
            r.limit_before = Some(old);
            r.injected = Some((
                Fault::Emfile,
                format!("RLIMIT_NOFILE lowered from {was} to {limit} (room for {room} more descriptor(s))"),
            ));
        }
    }
}

/// The hard `RLIMIT_NOFILE` of `pid` (`/proc/PID/limits`; `Some(None)`:
/// unlimited).
fn nofile_hard(pid: i32) -> Option<Option<u64>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/limits")).ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    let hard = line.split_whitespace().nth(4)?;
    Some(hard.parse().ok())
}

/// A receipt from the `msghdr` after the call.
fn receipt(pid: Pid, tgid: i32, call: &'static str, fd: i32, flags: i32, hdr: &MsgHdr) -> Receipt {
    let ctl = memory::control(pid, hdr.control, hdr.controllen).unwrap_or_default();
    let mut r = Receipt {
        pid: tgid,
        call,
        socket: fd,
        flags,
        msg_flags: hdr.flags,
        given: hdr.controllen,
        used: hdr.controllen,
        ..Receipt::default()
    };
    for c in inflight::codec::decode_clamped(&ctl, hdr.controllen as usize).flatten() {
        if c.level == libc::SOL_SOCKET && c.kind == libc::SCM_CREDENTIALS {
            r.creds = true;
        }
        match c.parse() {
            inflight::codec::Message::Rights(fds) => r.rights.extend(fds.iter()),
            inflight::codec::Message::PidFd(fd) => r.pidfd = Some(fd),
            _ => {}
        }
    }
    r
}

/// A send's descriptors and payload, read at its entry.
fn read_send(tid: i32, tgid: i32, fd: i32, msg: u64, call: &'static str) -> Option<Send> {
    let pid = Pid::from_raw(tid);
    let hdr = memory::msghdr(pid, msg).ok()?;
    let ctl = memory::control(pid, hdr.control, hdr.controllen).ok()?;
    let mut fds = Vec::new();
    for c in inflight::codec::decode_clamped(&ctl, hdr.controllen as usize).flatten() {
        if let inflight::codec::Message::Rights(r) = c.parse() {
            fds.extend(r.iter());
        }
    }
    Some(Send {
        pid: tgid,
        call,
        socket: fd,
        fds,
        payload: memory::iov_total(pid, hdr.iov, hdr.iovlen).unwrap_or(0),
        result: Ok(0),
        stream: None,
    })
}
