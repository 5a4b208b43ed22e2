//! Auditing an external program through the echo protocol (`PROTOCOL.md`):
//! the cases, and running one against the program's session.

mod exchange;
mod plan;
mod session;

use std::cell::RefCell;
use std::ffi::OsString;
use std::rc::Rc;

use anyhow::{anyhow, ensure, Context as _};
use inflight::SocketKind;
use inflight_testkit::{Fixture, LeakGuard, Leaks};

use self::plan::{Msg, Plan};
use self::session::Session;
use crate::compare::{Identity, Sent};
use crate::oracle::{self, Undecided};
use crate::runner::{describe, Case, CaseResult, Outcome, Settings};

/// The command line of the program under audit.
#[derive(Clone, Debug)]
pub struct ProgramCmd {
    /// The executable.
    pub program: OsString,
    /// Its arguments.
    pub args: Vec<OsString>,
}

impl ProgramCmd {
    /// The command line, for reports.
    pub fn display(&self) -> String {
        std::iter::once(&self.program)
            .chain(&self.args)
            .map(|s| s.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// The program process of one socket kind, shared by that kind's cases (a
/// program starts once per kind, not once per case); a failing case kills
/// it and the next case starts a fresh one.
type Shared = Rc<RefCell<Option<Session>>>;

/// Every program case (`program/KIND/NAME`) for every kind in `kinds`.
pub fn cases(cmd: &ProgramCmd, kinds: &[SocketKind]) -> Vec<Case> {
    let cmd = Rc::new(cmd.clone());
    let mut out = Vec::new();
    for &kind in kinds {
        let shared: Shared = Rc::new(RefCell::new(None));
        for plan in plan::plans(kind) {
            let (cmd, shared) = (Rc::clone(&cmd), Rc::clone(&shared));
            out.push(Case::new(
                format!("program/{kind}/{}", plan.name),
                move |s: &Settings| run_case(&cmd, kind, s, &shared, &plan),
            ));
        }
        let cmd = Rc::clone(&cmd);
        out.push(Case::new(
            format!("program/{kind}/clean-exit"),
            move |s: &Settings| clean_exit(&cmd, kind, s, &shared),
        ));
    }
    out
}

/// The session in `slot`, started if there is none.
fn session<'a>(
    slot: &'a mut Option<Session>,
    cmd: &ProgramCmd,
    kind: SocketKind,
    s: &Settings,
) -> anyhow::Result<&'a mut Session> {
    if slot.is_none() {
        *slot = Some(Session::start(cmd, kind, s.timeout)?);
    }
    slot.as_mut().context("no session")
}

/// Runs one case: its messages through the kind's program, then checks
/// that the auditor itself leaked nothing.
fn run_case(
    cmd: &ProgramCmd,
    kind: SocketKind,
    s: &Settings,
    shared: &Shared,
    plan: &Plan,
) -> CaseResult {
    let mut slot = shared.borrow_mut();
    session(&mut slot, cmd, kind, s)?;
    let guard = LeakGuard::start();
    let result = session(&mut slot, cmd, kind, s).and_then(|session| exchange_all(session, plan));
    if result.as_ref().is_err_and(|e| !oracle::is_undecided(e)) {
        // The program was killed (or never started): the next case starts
        // a fresh one.
        *slot = None;
    }
    // The auditor itself must not leak, whatever the program did.
    let leaked = own_leaks(guard);
    ensure!(
        leaked.is_empty(),
        "AUDITOR BUG: the auditor leaked {}; case result was {}",
        list_fds(&leaked),
        describe(&result)
    );
    result
}

/// What the auditor itself left open since `guard` started. Only new
/// descriptors count: a session ending in the case closes its socket and
/// its output pipes (on its reader threads), which is no leak.
fn own_leaks(guard: LeakGuard<'_>) -> Vec<inflight_testkit::Described> {
    guard
        .finish()
        .err()
        .map(|l: Leaks| l.leaked)
        .unwrap_or_default()
}

/// Opens the plan's fixtures and exchanges its messages in order.
fn exchange_all(session: &mut Session, plan: &Plan) -> CaseResult {
    let fixtures: Vec<Fixture> = plan
        .fixtures
        .iter()
        .map(|k| {
            k.open()
                .with_context(|| format!("opening a {} fixture", k.name()))
        })
        .collect::<anyhow::Result<_>>()?;
    let mut unverifiable = None;
    for (i, m) in plan.msgs.iter().enumerate() {
        let sent: Vec<Sent<'_>> = m.fds.iter().map(|&j| Sent::of(&fixtures[j])).collect();
        match session.exchange(&m.payload, &sent) {
            Ok(Identity::Proven) => {}
            Ok(Identity::Unverifiable(why)) => {
                unverifiable.get_or_insert(why);
            }
            Err(e) => {
                let what = if plan.msgs.len() > 1 {
                    format!("message {} of {}: {e:#}", i + 1, plan.msgs.len())
                } else {
                    format!("{e:#}")
                };
                return Err(anyhow!(session.fail(what)));
            }
        }
    }
    if let Some(why) = unverifiable {
        return Err(anyhow::Error::from(Undecided { why }).context(
            "bytes, counts and leaks checked, but the identity of the echoed descriptors",
        ));
    }
    Ok(Outcome::pass(summary(&plan.msgs)))
}

fn summary(msgs: &[Msg]) -> String {
    format!(
        "{} message(s), {} descriptor(s), {} payload byte(s) echoed identically ({}), no leak in the program",
        msgs.len(),
        msgs.iter().map(|m| m.fds.len()).sum::<usize>(),
        msgs.iter().map(|m| m.payload.len()).sum::<usize>(),
        oracle::method()
    )
}

/// The last case of a kind: end of input, and the program must exit with
/// status 0 having sent nothing more.
fn clean_exit(cmd: &ProgramCmd, kind: SocketKind, s: &Settings, shared: &Shared) -> CaseResult {
    let mut slot = shared.borrow_mut();
    session(&mut slot, cmd, kind, s)?;
    let guard = LeakGuard::start();
    let session = slot.take().context("no session")?;
    let exchanges = session.exchanges;
    session.finish()?;
    let leaked = own_leaks(guard);
    ensure!(
        leaked.is_empty(),
        "AUDITOR BUG: the auditor leaked {}",
        list_fds(&leaked)
    );
    let end = if kind == SocketKind::Datagram {
        "a 0-byte datagram without descriptors"
    } else {
        "shutdown(SHUT_WR)"
    };
    Ok(Outcome::pass(format!(
        "after {exchanges} exchange(s), end of input ({end}): the program exited with status 0 and sent nothing more"
    )))
}

/// Up to six descriptors, named with what they refer to.
fn list_fds(fds: &[impl std::fmt::Display]) -> String {
    let shown: Vec<String> = fds.iter().take(6).map(|f| f.to_string()).collect();
    let more = if fds.len() > 6 {
        format!(" and {} more", fds.len() - 6)
    } else {
        String::new()
    };
    format!("{} descriptor(s): {}{more}", fds.len(), shown.join(", "))
}
