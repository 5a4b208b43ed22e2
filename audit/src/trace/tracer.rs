//! The event loop: every stop of every traced task, until none is left.

use std::collections::{BTreeMap, HashMap};
use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::ptrace;
use nix::sys::signal::{kill, SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use super::calls::Pending;
use super::findings::Unchecked;
use super::inject::Injector;
use super::memory;
use super::model::Model;
use super::probe::Probe;

/// A signal that would interrupt a read is pending for task `tid`: not
/// blocked, not ignored (`/proc/TID/status`). A task held at a read's entry
/// must go and take it, as the read would have been interrupted.
fn signal_pending(tid: i32) -> bool {
    let Ok(text) = std::fs::read_to_string(format!("/proc/{tid}/status")) else {
        return false;
    };
    let mask = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
            .unwrap_or(0)
    };
    // Signals whose default is to be ignored wake nothing unless caught.
    let default_ignored: u64 = [libc::SIGCHLD, libc::SIGURG, libc::SIGWINCH, libc::SIGCONT]
        .iter()
        .map(|&s| 1u64 << (s - 1))
        .sum();
    let pending = mask("SigPnd:") | mask("ShdPnd:");
    let quiet = mask("SigBlk:") | mask("SigIgn:") | (default_ignored & !mask("SigCgt:"));
    pending & !quiet != 0
}

/// How the traced program (the first process) ended.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProgramExit {
    /// Its pid.
    pub pid: i32,
    /// Its exit code, if it exited.
    pub code: Option<i32>,
    /// The signal that killed it, if one did.
    pub signal: Option<String>,
    /// In words.
    pub text: String,
}

/// One traced task (thread).
#[derive(Default)]
pub(super) struct Task {
    /// Its process (thread group id).
    pub tgid: i32,
    /// The followed call it is inside, from entry to exit.
    pub pending: Option<Pending>,
    /// A signal was sent to interrupt its call (`--inject eintr`).
    pub eintr_signal: bool,
    /// The injection whose retry is watched: (call, socket, index).
    pub after_eintr: Option<(&'static str, i32, usize)>,
}

/// A task held at the entry of a blocking read until its socket has data,
/// so that a peek can see what the read will consume.
pub(super) struct Hold {
    pub tid: i32,
    pub sock: OwnedFd,
}

/// The tracer's state.
pub struct Tracer {
    pub(super) model: Model,
    pub(super) tasks: HashMap<i32, Task>,
    pub(super) probe: Probe,
    pub(super) unchecked: Unchecked,
    pub(super) inject: Injector,
    pub(super) held: Vec<Hold>,
    /// `/proc/TID/fd` of the latest exiting thread of each process.
    exit_open: HashMap<i32, BTreeMap<i32, String>>,
    root: i32,
    /// How the first process ended.
    pub exit: Option<ProgramExit>,
    /// The program was killed at `--kill-after`.
    pub hung: bool,
    /// Syscall stops seen.
    pub stops: u64,
}

impl Tracer {
    /// A tracer for the seized program `root`.
    pub fn new(root: Pid, cmdline: String, inject: Injector) -> Tracer {
        let mut model = Model::default();
        model.start(root.as_raw(), cmdline);
        let mut tasks = HashMap::new();
        tasks.insert(
            root.as_raw(),
            Task {
                tgid: root.as_raw(),
                ..Task::default()
            },
        );
        Tracer {
            model,
            tasks,
            probe: Probe::default(),
            unchecked: Unchecked::default(),
            inject,
            held: Vec::new(),
            exit_open: HashMap::new(),
            root: root.as_raw(),
            exit: None,
            hung: false,
            stops: 0,
        }
    }

    /// Runs until no traced task is left (or `kill_after` passes: then every
    /// traced process is killed and the run is marked hung).
    ///
    /// # Errors
    ///
    /// `waitpid` or the signal descriptor failed in a way that leaves the
    /// tracer blind (the tracees are detached by the kernel when it exits).
    pub fn run(&mut self, kill_after: Option<Duration>) -> anyhow::Result<()> {
        let mut mask = SigSet::empty();
        mask.add(Signal::SIGCHLD);
        mask.thread_block().context("blocking SIGCHLD")?;
        let sfd = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
            .context("signalfd")?;
        let deadline = kill_after.map(|d| Instant::now() + d);
        loop {
            // Every stop already reported.
            loop {
                match waitpid(None, Some(WaitPidFlag::__WALL | WaitPidFlag::WNOHANG)) {
                    Ok(WaitStatus::StillAlive) => break,
                    Ok(st) => self.on_status(st),
                    Err(Errno::ECHILD) => return Ok(()),
                    Err(Errno::EINTR) => {}
                    Err(e) => return Err(e).context("waitpid"),
                }
            }
            if deadline.is_none() && self.held.is_empty() {
                match waitpid(None, Some(WaitPidFlag::__WALL)) {
                    Ok(st) => self.on_status(st),
                    Err(Errno::ECHILD) => return Ok(()),
                    Err(Errno::EINTR) => {}
                    Err(e) => return Err(e).context("waitpid"),
                }
                continue;
            }
            let mut timeout = match deadline {
                Some(d) if Instant::now() >= d => {
                    self.kill_all();
                    continue;
                }
                Some(d) => d.saturating_duration_since(Instant::now()),
                None => Duration::from_secs(3600),
            };
            if !self.held.is_empty() {
                // Held tasks are checked for pending signals this often.
                timeout = timeout.min(Duration::from_millis(50));
            }
            let ready = {
                let mut fds = vec![PollFd::new(sfd.as_fd(), PollFlags::POLLIN)];
                fds.extend(
                    self.held
                        .iter()
                        .map(|h| PollFd::new(h.sock.as_fd(), PollFlags::POLLIN)),
                );
                let ms = timeout.as_millis().clamp(1, 60_000) as u16;
                match poll(&mut fds, PollTimeout::from(ms)) {
                    Ok(_) | Err(Errno::EINTR) => {}
                    Err(e) => return Err(e).context("poll"),
                }
                fds[1..]
                    .iter()
                    .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
                    .collect::<Vec<bool>>()
            };
            while let Ok(Some(_)) = sfd.read_signal() {}
            let mut released = Vec::new();
            for i in (0..ready.len()).rev() {
                if ready[i] {
                    released.push(self.held.swap_remove(i));
                }
            }
            for i in (0..self.held.len()).rev() {
                if signal_pending(self.held[i].tid) {
                    released.push(self.held.swap_remove(i));
                }
            }
            for hold in released {
                self.release(hold);
            }
        }
    }

    /// Kills every traced process (at `--kill-after`).
    fn kill_all(&mut self) {
        if self.hung {
            return;
        }
        self.hung = true;
        let mut tgids: Vec<i32> = self.tasks.values().map(|t| t.tgid).collect();
        tgids.sort_unstable();
        tgids.dedup();
        for t in tgids {
            let _ = kill(Pid::from_raw(t), Signal::SIGKILL);
        }
    }

    /// Resumes `tid` until its next syscall stop, delivering `sig`.
    pub(super) fn resume(&self, tid: i32, sig: Option<Signal>) {
        // ESRCH: the task was killed meanwhile; its exit will be reported.
        let _ = ptrace::syscall(Pid::from_raw(tid), sig);
    }

    /// The task `tid`, created on first sight (a new task's first stop can
    /// come before its parent's fork/clone event). `parent`: the task that
    /// reported it, if known.
    pub(super) fn task(&mut self, tid: i32, parent: Option<i32>) -> &mut Task {
        if !self.tasks.contains_key(&tid) {
            let tgid = memory::status_field(tid, "Tgid").unwrap_or(tid);
            if !self.model.knows(tgid) {
                let parent_tgid = parent
                    .and_then(|p| self.tasks.get(&p).map(|t| t.tgid))
                    .or_else(|| memory::status_field(tid, "PPid"));
                match parent_tgid.filter(|p| self.model.knows(*p)) {
                    Some(p) => self.model.fork(p, tgid),
                    None => self.model.start(tgid, memory::cmdline(tgid)),
                }
            }
            self.tasks.insert(
                tid,
                Task {
                    tgid,
                    ..Task::default()
                },
            );
        }
        self.tasks.get_mut(&tid).expect("inserted above")
    }

    fn on_status(&mut self, st: WaitStatus) {
        match st {
            WaitStatus::PtraceSyscall(pid) => {
                self.stops += 1;
                let tid = pid.as_raw();
                self.task(tid, None);
                match ptrace::syscall_info(pid) {
                    Ok(info) => self.on_syscall(tid, &info),
                    Err(_) => self.resume(tid, None),
                }
            }
            WaitStatus::PtraceEvent(pid, sig, ev) => self.on_event(pid.as_raw(), sig, ev),
            WaitStatus::Stopped(pid, sig) => {
                let tid = pid.as_raw();
                let ours = sig == super::calls::EINTR_SIGNAL
                    && std::mem::take(&mut self.task(tid, None).eintr_signal);
                // A signal-delivery-stop: deliver it, unless it is the one
                // the tracer sent.
                self.resume(tid, (!ours).then_some(sig));
            }
            WaitStatus::Exited(pid, code) => {
                self.gone(pid.as_raw(), Some(code), None);
            }
            WaitStatus::Signaled(pid, sig, core) => {
                self.gone(pid.as_raw(), None, Some((sig, core)));
            }
            _ => {}
        }
    }

    fn on_event(&mut self, tid: i32, sig: Signal, ev: i32) {
        let msg = ptrace::getevent(Pid::from_raw(tid)).unwrap_or(0) as i32;
        match ev {
            libc::PTRACE_EVENT_FORK | libc::PTRACE_EVENT_VFORK | libc::PTRACE_EVENT_CLONE => {
                self.task(tid, None);
                self.task(msg, Some(tid));
            }
            libc::PTRACE_EVENT_EXEC => self.on_exec(tid, msg),
            libc::PTRACE_EVENT_EXIT => {
                let tgid = self.task(tid, None).tgid;
                if let Some(open) = memory::open_fds(tid) {
                    self.exit_open.insert(tgid, open);
                }
            }
            libc::PTRACE_EVENT_STOP
                if matches!(
                    sig,
                    Signal::SIGSTOP | Signal::SIGTSTP | Signal::SIGTTIN | Signal::SIGTTOU
                ) =>
            {
                // A group-stop: keep it stopped, but be told when it is
                // continued (PTRACE_LISTEN).
                // SAFETY: PTRACE_LISTEN takes a traced task in a group-stop
                // (which this is) and ignores addr and data.
                let r = unsafe { libc::ptrace(libc::PTRACE_LISTEN, tid, 0, 0) };
                if r != 0 {
                    self.resume(tid, None);
                }
                return;
            }
            libc::PTRACE_EVENT_STOP => {
                self.task(tid, None);
            }
            _ => {}
        }
        self.resume(tid, None);
    }

    /// `tid` completed an exec; `former` is the thread that called it.
    fn on_exec(&mut self, tid: i32, former: i32) {
        let tgid = self.task(tid, None).tgid;
        if former != tid {
            self.tasks.remove(&former);
        }
        // The other threads of the old image are gone.
        self.tasks.retain(|&t, task| task.tgid != tgid || t == tid);
        self.held.retain(|h| h.tid != former && h.tid != tid);
        if let Some(t) = self.tasks.get_mut(&tid) {
            t.pending = None;
            t.eintr_signal = false;
            t.after_eintr = None;
        }
        let open = memory::open_fds(tgid);
        self.model.exec(tgid, memory::cmdline(tgid), open.as_ref());
    }

    /// `tid` is gone (exited or killed).
    fn gone(&mut self, tid: i32, code: Option<i32>, signal: Option<(Signal, bool)>) {
        let Some(task) = self.tasks.remove(&tid) else {
            return;
        };
        self.held.retain(|h| h.tid != tid);
        if let Some(p) = task.pending {
            self.abandon(tid, p);
        }
        if task.tgid != tid {
            return;
        }
        let how = match (code, signal) {
            (Some(c), _) => format!("exited with status {c}"),
            (None, Some((s, core))) => format!(
                "killed by {s}{}{}",
                if core { " (core dumped)" } else { "" },
                if self.hung && s == Signal::SIGKILL {
                    " (--kill-after: it hung)"
                } else {
                    ""
                }
            ),
            _ => "ended".into(),
        };
        let open = self.exit_open.remove(&tid);
        self.model.exit(tid, how.clone(), open.as_ref());
        self.probe.forget(tid);
        if tid == self.root {
            self.exit = Some(ProgramExit {
                pid: tid,
                code,
                signal: signal.map(|(s, _)| s.to_string()),
                text: how,
            });
        }
    }
}
