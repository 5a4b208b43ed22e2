//! The followed calls at their entry (read the arguments, peek, inject,
//! or hold a blocking read) and at their exit (feed the model).

use std::os::fd::{AsFd, OwnedFd};

use nix::sys::signal::Signal;
use nix::unistd::Pid;

use super::events::{read_send, Queued, Send};
use super::inject::{self, Fault};
use super::memory::{self, MsgHdr, CONTROLLEN_OFFSET, MMSGHDR_SIZE};
use super::probe::{self, Peek};
use super::syscalls::{self, Call};
use super::tracer::{Hold, Tracer};

/// The signal `--inject eintr` interrupts a call with (ignored by default,
/// so a program without a handler is not disturbed otherwise).
pub const EINTR_SIGNAL: Signal = Signal::SIGWINCH;
/// Most messages of one `sendmmsg`/`recvmmsg` looked at.
const MMSG_CAP: u32 = 1024;

/// A followed call between its entry and its exit.
pub(super) struct Pending {
    pub(super) call: Call,
    pub(super) pre: Pre,
    /// The `--inject eintr` signal was sent at entry.
    pub(super) eintr: bool,
    /// The call retries one that `--inject eintr` interrupted: it is not
    /// interrupted again.
    retry: bool,
}

/// What the entry learnt.
pub(super) enum Pre {
    None,
    Recv(Box<RecvPre>),
    /// `recvmmsg`: each message's `msg_controllen` at entry.
    Mmsg(Vec<u64>),
    Send(Vec<Send>),
    Read(ReadPre),
}

#[derive(Default)]
pub(super) struct RecvPre {
    pub(super) hdr: MsgHdr,
    pub(super) iov_len: u64,
    pub(super) sock: Option<OwnedFd>,
    pub(super) queued: Option<Queued>,
    /// The task waited (held) for data already.
    pub(super) waited: bool,
    /// `msg_controllen` before `--inject ctrunc` shrank it.
    pub(super) shrunk_from: Option<u64>,
    /// `RLIMIT_NOFILE` before `--inject emfile` lowered it.
    pub(super) limit_before: Option<rustix::process::Rlimit>,
    pub(super) injected: Option<(Fault, String)>,
}

pub(super) struct ReadPre {
    pub(super) len: u64,
    pub(super) sock: Option<OwnedFd>,
    pub(super) fds: Option<usize>,
    pub(super) waited: bool,
    pub(super) unchecked: Option<String>,
}

pub(super) fn tgid_pid(tgid: i32) -> Option<rustix::process::Pid> {
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
                let eintr = may_interrupt && !r.waited && self.inject.due(Fault::Eintr);
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
                                    "nothing was queued when a held read was let go (a signal was pending for it, or another reader took the data)"
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
