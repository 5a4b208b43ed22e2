//! The per-process model of received descriptors: which receive installed
//! each one and with which flags, and what became of it. Pure: the tracer
//! feeds it events; tests feed it by hand.

use std::collections::BTreeMap;

use super::events::{Receipt, Send};
use super::findings::{Case, Finding};

pub use super::events::{Fd, Pid};

/// How a tracked descriptor came to this number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lineage {
    /// Installed here by the receive.
    Received,
    /// A copy made by dup/dup2/dup3/F_DUPFD of a tracked one.
    Copy,
    /// Inherited across fork.
    Inherited,
    /// Carried into an exec (and already reported).
    Carried,
}

/// A tracked descriptor in a process's table.
#[derive(Clone, Debug)]
struct Held {
    /// Index into `Model::receipts`.
    receipt: usize,
    /// Close-on-exec is set on this number now.
    cloexec: bool,
    lineage: Lineage,
    /// Deliberately handed to the next image: moved onto standard input,
    /// output or error, or close-on-exec cleared explicitly.
    handed: bool,
}

/// Counts for a process's passing case.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Messages sent with descriptors.
    pub sent_msgs: usize,
    /// Descriptors sent.
    pub sent_fds: usize,
    /// Messages received with descriptors.
    pub recv_msgs: usize,
    /// Descriptors received.
    pub recv_fds: usize,
    /// Writes to standard error.
    pub stderr_writes: usize,
    /// Received descriptors deliberately handed to an exec'd program.
    pub handed: usize,
}

/// One traced process (one exec image chain under one pid).
#[derive(Clone, Debug, Default)]
pub struct Process {
    /// Its pid.
    pub pid: Pid,
    /// Its command line (the latest image).
    pub cmdline: String,
    /// How it ended (`None`: not seen).
    pub exit: Option<String>,
    /// Its counts.
    pub counts: Counts,
    fds: BTreeMap<Fd, Held>,
}

impl Process {
    /// `pid 123 (`cmd`)`, for evidence.
    pub fn who(&self) -> String {
        format!("pid {} `{}`", self.pid, self.cmdline)
    }
}

/// The model: processes, receipts, findings.
#[derive(Debug, Default)]
pub struct Model {
    procs: BTreeMap<Pid, Process>,
    receipts: Vec<Receipt>,
    /// Per receipt and installed descriptor: marked close-on-exec later.
    marked: Vec<Vec<bool>>,
    /// Per receipt: some of its descriptors went into an exec.
    exec_seen: Vec<bool>,
    findings: Vec<Finding>,
}

impl Model {
    /// A new process `pid` running `cmdline` (the traced program, or a
    /// child whose parent is not traced).
    pub fn start(&mut self, pid: Pid, cmdline: String) {
        self.procs.entry(pid).or_insert_with(|| Process {
            pid,
            cmdline,
            ..Process::default()
        });
    }

    /// `child` was forked by `parent`: it inherits a copy of the table.
    pub fn fork(&mut self, parent: Pid, child: Pid) {
        let (cmdline, fds) = match self.procs.get(&parent) {
            Some(p) => (p.cmdline.clone(), p.fds.clone()),
            None => (String::new(), BTreeMap::new()),
        };
        let fds = fds
            .into_iter()
            .map(|(fd, mut h)| {
                if h.lineage != Lineage::Carried {
                    h.lineage = Lineage::Inherited;
                }
                (fd, h)
            })
            .collect();
        self.procs.insert(
            child,
            Process {
                pid: child,
                cmdline,
                fds,
                ..Process::default()
            },
        );
    }

    /// Whether `pid` is known.
    pub fn knows(&self, pid: Pid) -> bool {
        self.procs.contains_key(&pid)
    }

    fn proc(&mut self, pid: Pid) -> &mut Process {
        self.procs.entry(pid).or_insert_with(|| Process {
            pid,
            ..Process::default()
        })
    }

    /// A receive completed.
    pub fn receive(&mut self, r: Receipt) {
        let id = self.receipts.len();
        let installed = r.installed();
        let p = self.proc(r.pid);
        if !installed.is_empty() {
            p.counts.recv_msgs += 1;
            p.counts.recv_fds += installed.len();
        }
        for &fd in &installed {
            // The kernel installs an SCM_PIDFD descriptor with
            // close-on-exec always (like pidfd_open); rights only with
            // MSG_CMSG_CLOEXEC.
            let pidfd = r.pidfd == Some(fd);
            p.fds.insert(
                fd,
                Held {
                    receipt: id,
                    cloexec: r.cloexec() || pidfd,
                    lineage: Lineage::Received,
                    handed: false,
                },
            );
        }
        let who = p.who();
        // A forced truncation (`--inject`) is no finding by itself: what
        // the program then does with the descriptors is.
        if r.ctrunc() && r.injected.is_none() {
            self.truncated(&r, &who);
        }
        self.marked.push(vec![false; installed.len()]);
        self.exec_seen.push(false);
        self.receipts.push(r);
    }

    /// The findings of a `MSG_CTRUNC` receive: the rights crowded out by
    /// credentials, or a buffer smaller than the message.
    fn truncated(&mut self, r: &Receipt, who: &str) {
        let rights_alone = r
            .queued
            .map(|q| inflight::codec::cmsg_space(4 * q.fds) as u64);
        let needed = r.queued.map(|q| q.control as u64);
        if r.creds || r.pidfd.is_some() {
            let fits_alone = rights_alone.is_none_or(|need| r.given >= need);
            if fits_alone {
                let extra = match (r.queued, rights_alone) {
                    (Some(q), Some(alone)) => format!(
                        ": {} descriptor(s) were queued, whose SCM_RIGHTS needs {alone} bytes, which the {}-byte buffer holds alone, but the kernel puts SCM_CREDENTIALS/SCM_PIDFD first ({} bytes needed in all)",
                        q.fds, r.given, q.control
                    ),
                    _ => format!(
                        ": the kernel put SCM_CREDENTIALS/SCM_PIDFD first in the {}-byte buffer and cut what followed",
                        r.given
                    ),
                };
                let state = r
                    .passcred
                    .clone()
                    .unwrap_or_else(|| "credentials on".into());
                self.find(
                    Case::PasscredCrowded,
                    r.pid,
                    format!("{who}: {} ({state}){extra}", r.describe()),
                );
                return;
            }
        }
        let full = r.used + 4 > r.given;
        match needed {
            Some(need) if need > r.given => self.find(
                Case::CtruncUndersized,
                r.pid,
                format!(
                    "{who}: {}: the message needed {need} bytes of control buffer ({} descriptor(s)), {} given",
                    r.describe(),
                    r.queued.map_or(0, |q| q.fds),
                    r.given
                ),
            ),
            None if full => self.find(
                Case::CtruncUndersized,
                r.pid,
                format!(
                    "{who}: {}: the buffer was full ({} of {} bytes used); needed: more than {} (nothing was queued to peek at before the call)",
                    r.describe(),
                    r.used,
                    r.given,
                    r.given
                ),
            ),
            _ => {}
        }
    }

    /// A send completed (or failed).
    pub fn send(&mut self, s: Send) {
        let who = self.proc(s.pid).who();
        let n = s.fds.len();
        if n > 0 && s.result.is_ok() {
            let c = &mut self.proc(s.pid).counts;
            c.sent_msgs += 1;
            c.sent_fds += n;
        }
        let result = match s.result {
            Ok(b) => format!("returned {b}"),
            Err(e) => format!("failed with {}", nix::errno::Errno::from_raw(e)),
        };
        if n > inflight::codec::SCM_MAX_FD {
            self.find(
                Case::ScmMaxFd,
                s.pid,
                format!(
                    "{who}: {}({}) with {n} descriptors in one message (limit {}): {result}",
                    s.call,
                    s.socket,
                    inflight::codec::SCM_MAX_FD
                ),
            );
        }
        if n > 0 && s.payload == 0 && s.stream == Some(true) && s.result.is_ok() {
            self.find(
                Case::StreamEmptyPayload,
                s.pid,
                format!(
                    "{who}: {}({}) on a stream socket with SCM_RIGHTS {:?} and 0 payload bytes {result}: the kernel dropped the descriptor(s)",
                    s.call, s.socket, s.fds
                ),
            );
        }
    }

    /// A `read`-like call consumed a message that carried `fds`
    /// descriptors, which the kernel closed.
    pub fn discarded(&mut self, pid: Pid, call: &str, fds: usize, evidence: &str) {
        let who = self.proc(pid).who();
        self.find(
            Case::Discarded,
            pid,
            format!("{who}: {call} consumed a message carrying {fds} descriptor(s) (seen by a peek on a pidfd_getfd copy of the socket just before the call): the kernel closed them; {evidence}"),
        );
    }

    /// `write` to standard error completed in `pid`.
    pub fn wrote_stderr(&mut self, pid: Pid) {
        self.proc(pid).counts.stderr_writes += 1;
    }

    /// `fd` was closed in `pid`.
    pub fn close(&mut self, pid: Pid, fd: Fd) {
        self.proc(pid).fds.remove(&fd);
    }

    /// `close_range(first, last)`; with `cloexec`, only marked.
    pub fn close_range(&mut self, pid: Pid, first: u32, last: u32, cloexec: bool) {
        let inside: Vec<Fd> = self
            .proc(pid)
            .fds
            .keys()
            .copied()
            .filter(|&fd| fd >= 0 && (fd as u32) >= first && (fd as u32) <= last)
            .collect();
        for fd in inside {
            if cloexec {
                self.set_cloexec(pid, fd, true);
            } else {
                self.close(pid, fd);
            }
        }
    }

    /// `to` became a copy of `from` (dup, dup2, dup3, `F_DUPFD`); whatever
    /// `to` was is closed. A copy onto 0, 1 or 2 is a deliberate hand-over
    /// to the next program (`s6-fdholder-retrieve ... prog` does that).
    pub fn dup(&mut self, pid: Pid, from: Fd, to: Fd, cloexec: bool) {
        if from == to {
            return;
        }
        let p = self.proc(pid);
        p.fds.remove(&to);
        if let Some(h) = p.fds.get(&from).cloned() {
            p.fds.insert(
                to,
                Held {
                    receipt: h.receipt,
                    cloexec,
                    lineage: Lineage::Copy,
                    handed: (0..=2).contains(&to),
                },
            );
        }
    }

    /// Close-on-exec set or cleared on `fd` (`F_SETFD`, `FIOCLEX`,
    /// `FIONCLEX`, `close_range(CLOSE_RANGE_CLOEXEC)`). Clearing it is a
    /// deliberate hand-over to the next program.
    pub fn set_cloexec(&mut self, pid: Pid, fd: Fd, on: bool) {
        let Some(h) = self.proc(pid).fds.get_mut(&fd) else {
            return;
        };
        h.cloexec = on;
        h.handed |= !on;
        let (receipt, lineage) = (h.receipt, h.lineage);
        if on && lineage == Lineage::Received {
            let r = &self.receipts[receipt];
            if let Some(i) = r.installed().iter().position(|&x| x == fd) {
                self.marked[receipt][i] = true;
            }
        }
    }

    /// `pid` completed an exec into `cmdline`; `open` is the new image's
    /// `/proc/PID/fd` (`None`: unreadable). Descriptors without
    /// close-on-exec that the new image really holds are findings.
    pub fn exec(&mut self, pid: Pid, cmdline: String, open: Option<&BTreeMap<Fd, String>>) {
        let old = std::mem::take(&mut self.proc(pid).cmdline);
        let held = std::mem::take(&mut self.proc(pid).fds);
        let mut kept = BTreeMap::new();
        for (fd, mut h) in held {
            if h.cloexec {
                continue;
            }
            let proof = match open {
                Some(o) => match o.get(&fd) {
                    Some(target) => format!("/proc/{pid}/fd/{fd} -> {target} in the new image"),
                    // The model missed a close: nothing to report.
                    None => continue,
                },
                None => "the new image's /proc/PID/fd could not be read".into(),
            };
            let r = &self.receipts[h.receipt];
            let how = match h.lineage {
                Lineage::Received => String::new(),
                Lineage::Copy => " (a copy made by dup/fcntl)".into(),
                Lineage::Inherited => " (inherited across fork)".into(),
                Lineage::Carried => " (already carried through an earlier exec)".into(),
            };
            let case = if r.ctrunc() {
                Case::CtruncLeak
            } else {
                Case::CloexecExecLeak
            };
            let injected = r.injected.is_some();
            let text = format!(
                "pid {pid} `{old}`: fd {fd}{how}, from {} in pid {}, without close-on-exec, carried into execve of `{cmdline}`: {proof}",
                r.describe(),
                r.pid
            );
            self.exec_seen[h.receipt] = true;
            if h.handed {
                if h.lineage != Lineage::Carried {
                    self.proc(pid).counts.handed += 1;
                }
            } else if h.lineage != Lineage::Carried {
                self.find_injected(case, pid, text, injected);
            }
            h.lineage = Lineage::Carried;
            kept.insert(fd, h);
        }
        let p = self.proc(pid);
        p.fds = kept;
        p.cmdline = cmdline;
    }

    /// `pid` ended (`how`: "exited with status 0", ...); `open` is its
    /// `/proc/PID/fd` just before (`None`: not read).
    pub fn exit(&mut self, pid: Pid, how: String, open: Option<&BTreeMap<Fd, String>>) {
        let p = self.proc(pid);
        p.exit = Some(how.clone());
        let who = p.who();
        let held = std::mem::take(&mut p.fds);
        for (fd, h) in held {
            let target = match open {
                Some(o) => match o.get(&fd) {
                    Some(t) => format!(" ({t})"),
                    None => continue,
                },
                None => String::new(),
            };
            let r = &self.receipts[h.receipt];
            let text = format!(
                "{who} {how} with fd {fd}{target} still open, from {} in pid {}",
                r.describe(),
                r.pid
            );
            let injected = r.injected.is_some();
            match h.lineage {
                Lineage::Carried | Lineage::Inherited => {}
                _ if r.ctrunc() => self.find_injected(Case::CtruncLeak, pid, text, injected),
                _ => self.find(Case::LeakAtExit, pid, text),
            }
        }
    }

    fn find(&mut self, case: Case, pid: Pid, text: String) {
        self.find_injected(case, pid, text, false);
    }

    fn find_injected(&mut self, case: Case, pid: Pid, text: String, injected: bool) {
        self.findings.push(Finding {
            case,
            pid,
            text,
            injected,
        });
    }

    /// Findings that only the whole run can tell: descriptors received
    /// without `MSG_CMSG_CLOEXEC`, never marked close-on-exec, and never
    /// seen in an exec.
    pub fn finish(&mut self) {
        for (i, r) in self.receipts.iter().enumerate() {
            if r.cloexec() || self.exec_seen[i] {
                continue;
            }
            let unmarked: Vec<Fd> = r
                .rights
                .iter()
                .zip(&self.marked[i])
                .filter(|(_, &m)| !m)
                .map(|(&fd, _)| fd)
                .collect();
            if unmarked.is_empty() {
                continue;
            }
            let who = self.procs.get(&r.pid).map(Process::who).unwrap_or_default();
            let text = format!(
                "{who}: {} without MSG_CMSG_CLOEXEC; fd(s) {unmarked:?} never marked close-on-exec (a concurrent fork+exec would leak them; no exec was seen)",
                r.describe()
            );
            self.findings.push(Finding {
                case: Case::CloexecMissing,
                pid: r.pid,
                text,
                injected: false,
            });
        }
    }

    /// The findings so far.
    pub fn findings(&self) -> &[Finding] {
        &self.findings
    }

    /// Every process seen, by pid.
    pub fn processes(&self) -> impl Iterator<Item = &Process> {
        self.procs.values()
    }
}

#[cfg(test)]
#[path = "model_tests.rs"]
mod tests;
