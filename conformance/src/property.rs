//! The property: random [`Plan`]s (socket kind, descriptor kinds and
//! repeats, up to `SCM_MAX_FD` of them, payload size, receive capacity
//! below, at or above the count) sent and received through the
//! implementation, each judged by the kernel's oracles; a failure is shrunk
//! by proptest to the smallest failing plan.
//!
//! The number of plans is proptest's (`PROPTEST_CASES`, 256 by default).
//!
//! What every plan must show, with `n` descriptors sent and room for `c`:
//!
//! - the send succeeds and takes the whole payload;
//! - the receive leaks nothing (every descriptor the kernel installed is
//!   returned or closed) and touches no descriptor it does not own;
//! - the descriptors returned are, in order, the first ones sent (the same
//!   open file descriptions: `kcmp`), close-on-exec when the implementation
//!   says it makes them so;
//! - the payload comes back whole;
//! - when `c >= n`, all `n` come back and no truncation is reported;
//! - when fewer than `n` come back, the receive failed or reported the
//!   truncation.

use std::cell::RefCell;
use std::fmt;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};

use crate::guard::{serial, Serial};
use crate::identity::{same, unknown_allowed};
use crate::sys::{is_cloexec, pair, poll_in};
use crate::{FdKind, Fixture, Implementation, Recv, SocketKind, SCM_MAX_FD};

/// How much room the receive has, next to the count sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Room {
    /// Exactly the count.
    At,
    /// The count less this many (at least 0).
    Below(usize),
    /// The count and this many more (at most `SCM_MAX_FD`).
    Above(usize),
}

/// One message to send and receive through the implementation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// The socket pair's kind.
    pub kind: SocketKind,
    /// The distinct descriptors opened for the message.
    pub fixtures: Vec<FdKind>,
    /// The message's descriptors, as positions in `fixtures` (a position
    /// may repeat).
    pub order: Vec<usize>,
    /// Payload bytes sent with them (at least 1: an empty payload on a
    /// stream is the battery's `empty-payload-stream`).
    pub payload: usize,
    /// The receive's room.
    pub room: Room,
}

impl Plan {
    /// The receive's capacity.
    pub fn capacity(&self) -> usize {
        let n = self.order.len();
        match self.room {
            Room::At => n,
            Room::Below(k) => n.saturating_sub(k),
            Room::Above(k) => (n + k).min(SCM_MAX_FD.max(n)),
        }
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let labels: Vec<&str> = self
            .order
            .iter()
            .take(8)
            .map(|&i| self.fixtures[i].name())
            .collect();
        let more = if self.order.len() > 8 { ", ..." } else { "" };
        write!(
            f,
            "{} descriptor(s) [{}{more}] with {} payload byte(s) on {} sockets, received with capacity {}",
            self.order.len(),
            labels.join(", "),
            self.payload,
            self.kind,
            self.capacity()
        )
    }
}

/// Plans for an implementation that declares `kinds` and carries at most
/// `max_fds` descriptors per message. Shrinking goes toward fewer
/// descriptors, earlier kinds, a smaller payload and exact room.
pub fn plans(kinds: &[SocketKind], max_fds: usize) -> impl Strategy<Value = Plan> {
    let max = max_fds.clamp(1, SCM_MAX_FD);
    let kinds = kinds.to_vec();
    let kind = proptest::sample::select(FdKind::ALL.to_vec());
    // Positions in up to 4 fixtures (taken modulo their number).
    let order = prop_oneof![
        3 => proptest::collection::vec(0usize..4, 0..=max.min(4)),
        1 => proptest::collection::vec(0usize..4, 0..=max),
    ];
    let room = prop_oneof![
        Just(Room::At),
        (1usize..=8).prop_map(Room::Below),
        (1usize..=8).prop_map(Room::Above),
    ];
    (
        proptest::sample::select(kinds),
        proptest::collection::vec(kind, 1..=4),
        order,
        1usize..=512,
        room,
    )
        .prop_map(|(kind, fixtures, order, payload, room)| Plan {
            kind,
            order: order.iter().map(|i| i % fixtures.len()).collect(),
            fixtures,
            payload,
            room,
        })
}

/// The smallest failing plan and why it failed.
#[derive(Clone, Debug)]
pub struct Failure {
    /// The plan, shrunk (`None` when proptest gave up before a plan
    /// failed).
    pub plan: Option<Plan>,
    /// What went wrong with it.
    pub reason: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.plan {
            Some(plan) => write!(
                f,
                "smallest failing plan: {plan}\n  {}\n  ({plan:?})",
                self.reason
            ),
            None => f.write_str(&self.reason),
        }
    }
}

/// Runs the property over `p`.
///
/// With the nix-based implementation of [`check`](crate::check)'s example,
/// which leaves the descriptors of a truncated message open:
///
/// ```
/// # use std::io::{self, IoSlice, IoSliceMut};
/// # use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
/// # use inflight_conformance::{Implementation, Recv};
/// # use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned};
/// # use nix::sys::socket::{MsgFlags, UnixAddr};
/// # struct ViaNix;
/// # impl Implementation for ViaNix {
/// #     fn name(&self) -> &'static str { "via-nix" }
/// #     fn send(&mut self, sock: BorrowedFd<'_>, payload: &[u8], fds: &[BorrowedFd<'_>]) -> io::Result<usize> {
/// #         let raw: Vec<RawFd> = fds.iter().map(|f| f.as_raw_fd()).collect();
/// #         let rights = [ControlMessage::ScmRights(&raw)];
/// #         let cmsgs = if raw.is_empty() { &[][..] } else { &rights[..] };
/// #         let iov = [IoSlice::new(payload)];
/// #         Ok(sendmsg::<UnixAddr>(sock.as_raw_fd(), &iov, cmsgs, MsgFlags::MSG_NOSIGNAL, None)?)
/// #     }
/// #     fn recv(&mut self, sock: BorrowedFd<'_>, buf: &mut [u8], capacity: usize) -> io::Result<Recv> {
/// #         // SAFETY: CMSG_SPACE is arithmetic on its argument.
/// #         let space = unsafe { libc::CMSG_SPACE(4 * capacity as u32) } as usize;
/// #         let mut control = vec![0u8; space];
/// #         let mut iov = [IoSliceMut::new(buf)];
/// #         let flags = MsgFlags::MSG_CMSG_CLOEXEC;
/// #         let msg = recvmsg::<UnixAddr>(sock.as_raw_fd(), &mut iov, Some(&mut control), flags)?;
/// #         let truncated = msg.flags.contains(MsgFlags::MSG_CTRUNC);
/// #         let mut fds = Vec::new();
/// #         for c in msg.cmsgs()? {
/// #             if let ControlMessageOwned::ScmRights(raw) = c {
/// #                 // SAFETY: installed for this receive, owned by no one else.
/// #                 fds.extend(raw.into_iter().map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }));
/// #             }
/// #         }
/// #         Ok(Recv { bytes: msg.bytes, fds, reported_truncation: Some(truncated) })
/// #     }
/// # }
/// use inflight_conformance::property;
///
/// let failure = property::run(&mut ViaNix).expect_err("nix leaks on truncation");
/// println!("{failure}");
/// // Shrunk: a few descriptors, too little room for them, and the leak.
/// let plan = failure.plan.expect("a plan failed");
/// assert!(plan.capacity() < plan.order.len(), "{plan}");
/// assert!(failure.reason.contains("leaked"), "{}", failure.reason);
/// ```
///
/// # Errors
///
/// The smallest failing plan proptest found, with the reason; or, as a
/// failure without a plan-specific reason, proptest giving up (too many
/// rejected plans).
pub fn run<I: Implementation + ?Sized>(p: &mut I) -> Result<(), Failure> {
    let kinds = p.socket_kinds();
    let strategy = plans(kinds, p.max_fds_per_message());
    let config = Config {
        // Plans are not tied to a source file: nothing to persist next to.
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let cell = RefCell::new(p);
    let result = runner.run(&strategy, |plan| {
        let mut p = cell.borrow_mut();
        check_plan(&mut **p, &plan).map_err(TestCaseError::fail)
    });
    match result {
        Ok(()) => Ok(()),
        Err(TestError::Fail(reason, plan)) => Err(Failure {
            plan: Some(plan),
            reason: reason.message().to_string(),
        }),
        Err(TestError::Abort(why)) => Err(Failure {
            plan: None,
            reason: format!("proptest gave up: {why}"),
        }),
    }
}

/// Runs the property over `p` and panics with the smallest failing plan.
///
/// # Panics
///
/// When a plan fails.
pub fn check<I: Implementation + ?Sized>(p: &mut I) {
    if let Err(f) = run(p) {
        panic!("conformance property, {}: {f}", p.name());
    }
}

/// Sends and receives one plan through `p`, holding the kit's lock.
///
/// # Errors
///
/// What the plan showed wrong, in one line.
pub fn check_plan<I: Implementation + ?Sized>(p: &mut I, plan: &Plan) -> Result<(), String> {
    let lock = serial();
    let fixtures: Vec<Fixture> = plan
        .fixtures
        .iter()
        .map(|k| {
            k.open()
                .map_err(|e| format!("opening a {} fixture: {e}", k.name()))
        })
        .collect::<Result<_, _>>()?;
    let fds: Vec<BorrowedFd<'_>> = plan.order.iter().map(|&i| fixtures[i].as_fd()).collect();
    let (a, b) = pair(plan.kind).map_err(|e| format!("socketpair: {e}"))?;
    let payload: Vec<u8> = (0..plan.payload).map(|i| (i % 251) as u8).collect();
    match p.send(a.as_fd(), &payload, &fds) {
        Ok(n) if n == payload.len() => {}
        Ok(n) => return Err(format!("send took {n} of {} payload bytes", payload.len())),
        Err(e) => return Err(format!("send failed: {e}")),
    }
    let ready = poll_in(b.as_fd(), std::time::Duration::from_secs(5));
    if ready.map_err(|e| format!("poll: {e}"))? == 0 {
        return Err("nothing arrived within 5s".into());
    }
    let mut buf = vec![0u8; plan.payload + 64];
    let got = receive(p, &lock, &b, &mut buf, plan.capacity())?;
    judge(p, plan, &fds, &payload, &buf, got)
}

/// One receive under a leak guard: what it returned, leaks closed and
/// reported.
fn receive<I: Implementation + ?Sized>(
    p: &mut I,
    lock: &Serial,
    sock: &OwnedFd,
    buf: &mut [u8],
    capacity: usize,
) -> Result<Result<Recv, String>, String> {
    let guard = lock.leak_guard();
    let result = p
        .recv(sock.as_fd(), buf, capacity)
        .map_err(|e| e.to_string());
    let returned: Vec<RawFd> = result
        .as_ref()
        .map(|r| r.fds.iter().map(|f| f.as_raw_fd()).collect())
        .unwrap_or_default();
    let mut changes = guard.finish().err().unwrap_or_default();
    changes.leaked.retain(|d| !returned.contains(&d.fd));
    for d in &changes.leaked {
        // SAFETY: close(2) on a number the kernel installed during the
        // receive above that the implementation neither returned nor
        // closed (its error, if any, is text by now): nothing owns it.
        unsafe { libc::close(d.fd) };
    }
    if !changes.leaked.is_empty() {
        let list: Vec<String> = changes
            .leaked
            .iter()
            .take(4)
            .map(|d| d.to_string())
            .collect();
        return Err(format!(
            "the receive leaked {} descriptor(s): {}",
            changes.leaked.len(),
            list.join(", ")
        ));
    }
    if !changes.is_empty() {
        return Err(format!(
            "the receive changed descriptors it did not own: {changes}"
        ));
    }
    Ok(result)
}

/// The plan's verdict on what the receive returned.
fn judge<I: Implementation + ?Sized>(
    p: &I,
    plan: &Plan,
    sent: &[BorrowedFd<'_>],
    payload: &[u8],
    buf: &[u8],
    got: Result<Recv, String>,
) -> Result<(), String> {
    let (n, cap) = (sent.len(), plan.capacity());
    let r = match got {
        Err(e) if cap >= n => return Err(format!("receive failed with room for all {n}: {e}")),
        Err(_) => return Ok(()),
        Ok(r) => r,
    };
    let k = r.fds.len();
    if k > n {
        return Err(format!("{k} descriptors returned, {n} sent"));
    }
    for (i, (s, g)) in sent.iter().zip(&r.fds).enumerate() {
        match same(*s, g.as_fd()) {
            Ok(true) => {}
            Ok(false) => {
                return Err(format!(
                    "returned descriptor #{i} is not sent descriptor #{i}"
                ))
            }
            Err(u) if unknown_allowed() => eprintln!("descriptor #{i}: {u} (accepted)"),
            Err(u) => return Err(format!("descriptor #{i}: {u}")),
        }
        if p.cloexec() && !is_cloexec(g.as_fd()).unwrap_or(false) {
            return Err(format!("returned descriptor #{i} is not close-on-exec"));
        }
    }
    if r.bytes != payload.len() || buf.get(..payload.len()) != Some(payload) {
        return Err(format!(
            "payload of {} bytes came back as {} bytes (or changed)",
            payload.len(),
            r.bytes
        ));
    }
    if cap >= n && (k < n || r.reported_truncation == Some(true)) {
        return Err(format!(
            "room for {cap}: {k} of {n} returned, truncation reported {:?}",
            r.reported_truncation
        ));
    }
    if k < n && r.reported_truncation != Some(true) {
        return Err(format!(
            "{k} of {n} returned and no truncation reported ({})",
            match r.reported_truncation {
                None => "the API has no way to say so",
                _ => "reported as complete",
            }
        ));
    }
    Ok(())
}
