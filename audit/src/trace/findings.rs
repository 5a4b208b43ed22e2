//! From the model to cases: the stable case names, their statuses, and one
//! passing case per process without a finding.

use std::collections::BTreeSet;

use super::model::{Model, Pid, Process};
use crate::runner::{Outcome, Status};

/// The finding kinds, each a stable case name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Case {
    /// A received descriptor without close-on-exec went into an execve.
    CloexecExecLeak,
    /// Received without `MSG_CMSG_CLOEXEC`, never marked, no exec seen.
    CloexecMissing,
    /// Descriptors of a `MSG_CTRUNC` receive still open at exit or exec.
    CtruncLeak,
    /// `MSG_CTRUNC` from a control buffer smaller than the message.
    CtruncUndersized,
    /// Credentials (or a pidfd) took the room the rights needed.
    PasscredCrowded,
    /// Descriptors with 0 payload bytes on a stream socket.
    StreamEmptyPayload,
    /// More than 253 descriptors in one message.
    ScmMaxFd,
    /// Received descriptors open at exit.
    LeakAtExit,
    /// A call without a control buffer consumed descriptors.
    Discarded,
}

impl Case {
    /// Every case, in report order.
    pub const ALL: [Case; 9] = [
        Case::CloexecExecLeak,
        Case::CloexecMissing,
        Case::CtruncLeak,
        Case::CtruncUndersized,
        Case::PasscredCrowded,
        Case::StreamEmptyPayload,
        Case::ScmMaxFd,
        Case::LeakAtExit,
        Case::Discarded,
    ];

    /// The stable case name.
    pub fn name(self) -> &'static str {
        match self {
            Case::CloexecExecLeak => "trace/cloexec/exec-leak",
            Case::CloexecMissing => "trace/cloexec/missing",
            Case::CtruncLeak => "trace/ctrunc/leak",
            Case::CtruncUndersized => "trace/ctrunc/undersized",
            Case::PasscredCrowded => "trace/passcred/crowded",
            Case::StreamEmptyPayload => "trace/stream/empty-payload",
            Case::ScmMaxFd => "trace/scm-max-fd",
            Case::LeakAtExit => "trace/leak/at-exit",
            Case::Discarded => "trace/discarded",
        }
    }

    /// The status a finding of this kind gets.
    pub fn status(self) -> Status {
        match self {
            Case::CloexecMissing | Case::CtruncUndersized | Case::LeakAtExit => Status::Warn,
            _ => Status::Fail,
        }
    }
}

/// One finding with its evidence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// Its kind.
    pub case: Case,
    /// The process it is about.
    pub pid: Pid,
    /// The evidence.
    pub text: String,
    /// It follows from a fault the tracer injected.
    pub injected: bool,
}

/// Reads that could not be checked for discarded descriptors, and why.
#[derive(Clone, Debug, Default)]
pub struct Unchecked {
    /// How many reads of a socket could not be checked.
    pub count: usize,
    /// The first reason seen.
    pub why: Option<String>,
}

/// The outcome of the whole trace as named cases: one per finding kind
/// that fired (its findings joined), `trace/discarded` skipped when reads
/// could not be checked and none was found, extra cases (fault injection),
/// and `trace/process/<pid>` passing for each process without a finding
/// that sent or received descriptors, and for the first process (`root`),
/// whose case also counts the processes without descriptor traffic.
pub fn cases(
    model: &Model,
    root: Pid,
    unchecked: &Unchecked,
    extra: Vec<(String, Outcome)>,
) -> Vec<(String, Outcome)> {
    let mut out = Vec::new();
    let found = model.findings();
    for case in Case::ALL {
        let mine: Vec<&str> = found
            .iter()
            .filter(|f| f.case == case)
            .map(|f| f.text.as_str())
            .collect();
        if mine.is_empty() {
            if case == Case::Discarded && unchecked.count > 0 {
                out.push((
                    case.name().to_string(),
                    Outcome::skip(format!(
                        "skipped: {} read(s) of a Unix socket could not be checked for discarded descriptors: {}",
                        unchecked.count,
                        unchecked.why.as_deref().unwrap_or("unknown")
                    )),
                ));
            }
            continue;
        }
        let detail = if mine.len() == 1 {
            mine[0].to_string()
        } else {
            format!("{} findings: {}", mine.len(), mine.join(" | "))
        };
        out.push((
            case.name().to_string(),
            Outcome {
                status: case.status(),
                detail,
            },
        ));
    }
    out.extend(extra);
    let flagged: BTreeSet<Pid> = found.iter().map(|f| f.pid).collect();
    let passing = |p: &Process| p.counts.sent_msgs + p.counts.recv_msgs > 0;
    let quiet = model.processes().filter(|p| !passing(p)).count();
    for p in model.processes().filter(|p| !flagged.contains(&p.pid)) {
        if p.pid != root && !passing(p) {
            continue;
        }
        let c = p.counts;
        let mut detail = format!(
            "{}: {}; sent {} message(s) with {} descriptor(s), received {} message(s) with {} descriptor(s)",
            p.who(),
            p.exit.as_deref().unwrap_or("still running when the trace ended"),
            c.sent_msgs,
            c.sent_fds,
            c.recv_msgs,
            c.recv_fds
        );
        if c.handed > 0 {
            detail.push_str(&format!(
                "; {} received descriptor(s) deliberately handed to an exec'd program (moved onto fd 0-2 or close-on-exec cleared)",
                c.handed
            ));
        }
        if p.pid == root {
            detail.push_str(&format!(
                "; {} process(es) traced in all, {} without descriptor traffic",
                model.processes().count(),
                quiet
            ));
        }
        out.push((format!("trace/process/{}", p.pid), Outcome::pass(detail)));
    }
    out
}

/// Every case name `trace` can report (for `--list`).
pub fn names() -> Vec<String> {
    let mut v: Vec<String> = Case::ALL.iter().map(|c| c.name().to_string()).collect();
    v.extend(
        [
            "trace/inject/ctrunc",
            "trace/inject/emfile",
            "trace/inject/eintr",
            "trace/process/<pid>",
        ]
        .map(String::from),
    );
    v
}
