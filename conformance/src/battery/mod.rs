//! The battery: named cases, each run against one [`Implementation`],
//! each ending in an [`Outcome`] with its evidence.
//!
//! Where a case is about what an implementation does on *receive*, the kit
//! sends with its own `sendmsg` (one `SCM_RIGHTS` message, exactly the one
//! the case needs, whatever the implementation can send); leaks are
//! measured from outside, on the process's descriptor table, with the
//! witnessed [`LeakGuard`](crate::LeakGuard); identity is the oracle's
//! (`kcmp`, else the status-flag flip, with `fstat` to name what differs).
//!
//! Every case holds the kit's process-wide lock ([`serial`]) while it runs,
//! so that cases of one test binary never measure each other.

mod transfer;
mod truncation;

use std::fmt;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context as _};

use crate::guard::{serial, Serial};
use crate::identity::{is_undecided, undecided_verdict, unknown_allowed};
use crate::sys::poll_in;
use crate::{Described, Implementation, Leaks, Recv, SocketKind};

/// The verdict of one case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Status {
    /// Behaved as required.
    Pass,
    /// Did not; the detail says what was observed.
    Fail,
    /// Could not be checked; the detail says why.
    Skip,
}

impl Status {
    /// `PASS`, `FAIL` or `SKIP`.
    pub fn label(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::Skip => "SKIP",
        }
    }
}

/// What a case concluded: a verdict and its one-line evidence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The verdict.
    pub status: Status,
    /// The evidence (a pass, a failure) or the reason (a skip).
    pub detail: String,
}

impl Outcome {
    fn pass(detail: impl Into<String>) -> Self {
        Outcome {
            status: Status::Pass,
            detail: detail.into(),
        }
    }

    fn with(status: Status, detail: String) -> Self {
        Outcome { status, detail }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.status.label(), self.detail)
    }
}

/// How long a case may wait for what it sent to arrive.
#[derive(Clone, Debug)]
pub struct Settings {
    /// One wait's limit.
    pub timeout: Duration,
}

impl Default for Settings {
    /// Five seconds.
    fn default() -> Self {
        Settings {
            timeout: Duration::from_secs(5),
        }
    }
}

/// What a case body gets besides the implementation.
struct Ctx<'a> {
    s: &'a Settings,
    lock: &'a Serial,
    /// The socket kind to run on.
    kind: SocketKind,
}

/// A case body: an error is a failure whose evidence is the error with its
/// context chain.
type Body = fn(&mut dyn Implementation, &Ctx<'_>) -> anyhow::Result<Outcome>;

/// One named case of the battery.
#[derive(Clone, Copy)]
pub struct Case {
    name: &'static str,
    /// The socket kinds the case can run on, best first.
    kinds: &'static [SocketKind],
    body: Body,
}

impl fmt::Debug for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Case").field("name", &self.name).finish()
    }
}

impl Case {
    /// Its name, as the auditor's `crates/<implementation>/<name>` ends.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Runs the case against `p`, holding the kit's lock, on the first of
    /// the case's socket kinds that `p` declares (the evidence names the
    /// kind when it is not the case's first); skipped when `p` declares
    /// none of them. A panic (of the implementation or the case) is a
    /// failure; an undecided identity fails unless
    /// `INFLIGHT_ALLOW_UNKNOWN_IDENTITY=1`.
    pub fn run(&self, p: &mut dyn Implementation, settings: &Settings) -> Outcome {
        let declared = p.socket_kinds();
        let Some(&kind) = self.kinds.iter().find(|k| declared.contains(k)) else {
            let names: Vec<&str> = self.kinds.iter().map(|k| k.name()).collect();
            return Outcome::with(
                Status::Skip,
                format!(
                    "needs {} sockets; {} declares none (Implementation::socket_kinds)",
                    names.join(" or "),
                    p.name()
                ),
            );
        };
        let lock = serial();
        let ctx = Ctx {
            s: settings,
            lock: &lock,
            kind,
        };
        let result = catch_unwind(AssertUnwindSafe(|| (self.body)(p, &ctx)));
        drop(lock);
        let mut outcome = match result {
            Ok(Ok(o)) => o,
            Ok(Err(e)) if is_undecided(&e) => {
                let (skip, text) = undecided_verdict(&format!("{e:#}"), unknown_allowed());
                Outcome::with(if skip { Status::Skip } else { Status::Fail }, text)
            }
            Ok(Err(e)) => Outcome::with(Status::Fail, format!("{e:#}")),
            Err(panic) => {
                let msg = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "unknown panic".into());
                Outcome::with(Status::Fail, format!("panicked: {msg}"))
            }
        };
        if kind != self.kinds[0] {
            outcome.detail += &format!(
                " (on {kind} sockets: {} declares no {})",
                p.name(),
                self.kinds[0]
            );
        }
        outcome
    }
}

use SocketKind::{Datagram as D, SeqPacket as Q, Stream as S};

/// Any kind, message boundaries first.
const ANY: &[SocketKind] = &[Q, D, S];

const fn case(name: &'static str, kinds: &'static [SocketKind], body: Body) -> Case {
    Case { name, kinds, body }
}

/// Every case, in the battery's order.
pub const CASES: &[Case] = &[
    case("roundtrip/stream", &[S], transfer::roundtrip),
    case("roundtrip/seqpacket", &[Q], transfer::roundtrip),
    case("roundtrip/dgram", &[D], transfer::roundtrip),
    case("payload-kept", ANY, transfer::payload_kept),
    case("several-per-message", ANY, transfer::several),
    case("all-kinds", &[S, Q, D], transfer::all_kinds),
    case("exact-capacity", ANY, truncation::exact_capacity),
    case("max-253", ANY, transfer::max_253),
    case("refuse-254", ANY, transfer::refuse_254),
    case("cloexec-across-exec", &[S, Q, D], transfer::cloexec),
    case("truncation-leak", ANY, truncation::truncation_leak),
    case("truncation-reported", ANY, truncation::truncation_reported),
    case("creds-beside-rights", ANY, truncation::creds_beside_rights),
    case(
        "payload-truncation",
        &[D, Q],
        truncation::payload_truncation,
    ),
    case(
        "empty-payload-stream",
        &[S],
        truncation::empty_payload_stream,
    ),
];

/// The case named `name`.
pub fn case_named(name: &str) -> Option<Case> {
    CASES.iter().copied().find(|c| c.name == name)
}

fn wait_readable(sock: &OwnedFd, s: &Settings) -> anyhow::Result<()> {
    let rev = poll_in(sock.as_fd(), s.timeout).context("poll")?;
    ensure!(rev != 0, "nothing arrived within {:?}", s.timeout);
    Ok(())
}

fn list(fds: &[impl fmt::Display]) -> String {
    let v: Vec<String> = fds.iter().take(4).map(|f| f.to_string()).collect();
    let more = if fds.len() > 4 {
        format!(" +{}", fds.len() - 4)
    } else {
        String::new()
    };
    format!("{}{more}", v.join(", "))
}

/// A multi-line text (a leak guard's report) on one line.
fn one_line(text: &impl fmt::Display) -> String {
    text.to_string()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// One receive through the implementation, with the descriptors it leaked
/// (installed by the kernel, neither returned nor closed).
struct Observed {
    /// The implementation's result; an error is kept as text (dropping it
    /// first closes whatever descriptors it carried).
    result: Result<Recv, String>,
    leaked: Vec<Described>,
}

/// Receives once through `p` with room for `capacity` descriptors, and
/// measures what the receive leaked (closing it, so the process stays
/// clean).
///
/// # Errors
///
/// The receive closed or replaced a descriptor that was open before it
/// (one it did not own), or the descriptor table could not be read.
fn observe_recv(
    p: &mut dyn Implementation,
    cx: &Ctx<'_>,
    sock: &OwnedFd,
    buf: &mut [u8],
    capacity: usize,
) -> anyhow::Result<Observed> {
    let guard = cx.lock.leak_guard();
    // An error may own descriptors: it is turned into text and dropped
    // here, before looking for leaks.
    let result = p
        .recv(sock.as_fd(), buf, capacity)
        .map_err(|e| e.to_string());
    let returned: Vec<RawFd> = result
        .as_ref()
        .map(|r| r.fds.iter().map(|f| f.as_raw_fd()).collect())
        .unwrap_or_default();
    let mut changes = guard.finish().err().unwrap_or_default();
    changes.leaked.retain(|d| !returned.contains(&d.fd));
    let leaked = std::mem::take(&mut changes.leaked);
    for d in &leaked {
        // SAFETY: close(2) on a number that the kernel installed in this
        // process during the receive above and that nothing owns any more:
        // the implementation neither returned it nor closed it, and its
        // error (if any) was dropped above, so no OwnedFd refers to it.
        unsafe { libc::close(d.fd) };
    }
    unowned_changes(&changes)?;
    Ok(Observed { result, leaked })
}

/// Fails when a call closed or replaced descriptors open before it (ones
/// it did not own), or the guard could not tell.
fn unowned_changes(changes: &Leaks) -> anyhow::Result<()> {
    if changes.closed.is_empty() && changes.replaced.is_empty() && changes.notes.is_empty() {
        return Ok(());
    }
    bail!(
        "the implementation changed descriptors it did not own: {}",
        one_line(changes)
    )
}

/// What [`recv_all`] gathered: the payload, the descriptors and the number
/// of messages.
type Gathered = (Vec<u8>, Vec<OwnedFd>, usize);

/// Receives until `want` descriptors arrived (several messages for
/// implementations that carry fewer per message).
fn recv_all(
    p: &mut dyn Implementation,
    sock: &OwnedFd,
    want: usize,
    s: &Settings,
) -> anyhow::Result<Gathered> {
    let mut fds = Vec::new();
    let mut bytes = Vec::new();
    let mut messages = 0;
    let mut buf = vec![0u8; 4096];
    let end = Instant::now() + s.timeout;
    while fds.len() < want || messages == 0 {
        if poll_in(sock.as_fd(), Duration::from_millis(50)).context("poll")? == 0 {
            ensure!(
                Instant::now() < end,
                "only {} of {want} descriptors arrived within {:?}",
                fds.len(),
                s.timeout
            );
            continue;
        }
        let r = p
            .recv(sock.as_fd(), &mut buf, want.max(1))
            .context("receive")?;
        messages += 1;
        bytes.extend_from_slice(&buf[..r.bytes.min(buf.len())]);
        let empty = r.fds.is_empty();
        fds.extend(r.fds);
        if empty && messages > want + 1 {
            break;
        }
    }
    Ok((bytes, fds, messages))
}

/// The body of a test generated by [`tests!`](crate::tests).
#[doc(hidden)]
pub fn __case_test<I: Implementation>(p: &mut I, name: &str, known: &[&str]) {
    let case = case_named(name).unwrap_or_else(|| panic!("no case {name:?} in this kit"));
    let outcome = case.run(p, &Settings::default());
    let listed = known.contains(&name);
    match (outcome.status, listed) {
        (Status::Pass, false) => println!("{}: {name}: {outcome}", p.name()),
        (Status::Skip, false) => println!("skipped: {}: {name}: {}", p.name(), outcome.detail),
        (Status::Fail, true) => println!("known failure: {}: {name}: {}", p.name(), outcome.detail),
        (Status::Fail, false) => panic!("{}: {name}: {outcome}", p.name()),
        (_, true) => panic!(
            "{}: {name} is listed as known to fail, but: {outcome} (take it off the list)",
            p.name()
        ),
    }
}

/// The body of the `conformance_case_list` test generated by
/// [`tests!`](crate::tests).
#[doc(hidden)]
pub fn __case_list(names: &[&str], known: &[&str]) {
    let kit: Vec<&str> = CASES.iter().map(|c| c.name).collect();
    assert_eq!(names, kit, "tests! and the battery list different cases");
    for k in known {
        assert!(kit.contains(k), "known = [...] names no case {k:?}");
    }
}
