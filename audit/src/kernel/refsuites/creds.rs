//! Credentials sent before the receiver turned `SO_PASSCRED` on, after
//! gVisor's `test/syscalls/linux/socket_unix_cmsg.cc` (`BasicCredPass`,
//! `SendNullCreds{Before,After}SoPassCred{RecvEnd,SendEnd,...}`,
//! `WriteBeforeSoPassCredRecvEnd`, `FDPassBeforeSoPassCred`, `NoPassCred`):
//! the kernel records the sender's ids at send time only when the sender
//! passed them explicitly or either end had `SO_PASSCRED` then; a receiver
//! that turns it on later gets pid 0 and the overflow ids for the rest.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use anyhow::{ensure, Context as _};
use inflight::SocketKind;
use inflight_testkit::cmsg::{self, Cmsg};
use inflight_testkit::{raw, FdKind};

use super::{describe, messages, pair, same, set_sol};
use crate::kernel::Battery;
use crate::runner::{CaseResult, Outcome};

/// What the sender does, in order.
#[derive(Clone, Copy, Debug)]
enum Step {
    /// `SO_PASSCRED` on the receiving end.
    ReceiverOn,
    /// `SO_PASSCRED` on the sending end.
    SenderOn,
    /// `sendmsg` without control messages.
    Plain,
    /// `write(2)`.
    Write,
    /// `sendmsg` with explicit `SCM_CREDENTIALS` of this process.
    Explicit,
    /// `sendmsg` with one descriptor.
    Rights,
}

/// What the receiver must find.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Want {
    /// This process's pid, uid and gid.
    Real,
    /// pid 0 and the overflow uid and gid: nothing was recorded.
    Nobody,
    /// No credentials message.
    Absent,
}

const SCENARIOS: [(&str, &[Step], Want); 9] = [
    (
        "explicit-then-receiver-on",
        &[Step::Explicit, Step::ReceiverOn],
        Want::Real,
    ),
    (
        "plain-then-receiver-on",
        &[Step::Plain, Step::ReceiverOn],
        Want::Nobody,
    ),
    (
        "write-then-receiver-on",
        &[Step::Write, Step::ReceiverOn],
        Want::Nobody,
    ),
    (
        "receiver-on-then-plain",
        &[Step::ReceiverOn, Step::Plain],
        Want::Real,
    ),
    (
        "plain-then-sender-on",
        &[Step::Plain, Step::SenderOn],
        Want::Absent,
    ),
    (
        "sender-on-then-plain",
        &[Step::SenderOn, Step::Plain],
        Want::Absent,
    ),
    (
        "sender-on-plain-then-receiver-on",
        &[Step::SenderOn, Step::Plain, Step::ReceiverOn],
        Want::Real,
    ),
    (
        "rights-then-receiver-on",
        &[Step::Rights, Step::ReceiverOn],
        Want::Nobody,
    ),
    (
        "explicit-never-receiver-on",
        &[Step::Explicit],
        Want::Absent,
    ),
];

pub(super) fn register(b: &mut Battery) {
    for (name, steps, want) in SCENARIOS {
        for k in SocketKind::ALL {
            b.one(&format!("creds-before-passcred/{name}/{k}"), move |_| {
                scenario(k, steps, want)
            });
        }
    }
}

/// `/proc/sys/kernel/overflowuid` or `overflowgid`.
fn overflow(which: &str) -> anyhow::Result<u32> {
    let path = format!("/proc/sys/kernel/{which}");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    text.trim()
        .parse()
        .with_context(|| format!("{path}: {text:?}"))
}

fn scenario(k: SocketKind, steps: &[Step], want: Want) -> CaseResult {
    let (a, b) = pair(k)?;
    let f = FdKind::DevNull.open().context("/dev/null")?;
    let payload = *b"twenty bytes of data";
    let mut sent_rights = false;
    for step in steps {
        let sent = match step {
            Step::ReceiverOn => {
                set_sol(b.as_fd(), libc::SO_PASSCRED, true).context("SO_PASSCRED")?;
                continue;
            }
            Step::SenderOn => {
                set_sol(a.as_fd(), libc::SO_PASSCRED, true).context("SO_PASSCRED")?;
                continue;
            }
            Step::Plain => raw::sendmsg(a.as_fd(), &payload, &[], 0),
            Step::Write => nix::unistd::write(&a, &payload).map_err(Into::into),
            Step::Explicit => {
                raw::sendmsg(a.as_fd(), &payload, &Cmsg::own_credentials().to_bytes(), 0)
            }
            Step::Rights => {
                sent_rights = true;
                raw::sendmsg(
                    a.as_fd(),
                    &payload,
                    &Cmsg::rights(&[f.fd.as_raw_fd()]).to_bytes(),
                    0,
                )
            }
        };
        let n = sent.with_context(|| format!("{step:?}"))?;
        ensure!(n == payload.len(), "{step:?} sent {n} bytes");
    }
    receive(&b, &payload, steps, want, sent_rights.then_some(&f.fd))
}

fn receive(
    b: &OwnedFd,
    payload: &[u8],
    steps: &[Step],
    want: Want,
    rights: Option<&OwnedFd>,
) -> CaseResult {
    let mut buf = [0u8; 64];
    let room = cmsg::space(4) + cmsg::space(12);
    let r = raw::recvmsg(b.as_fd(), &mut buf, Some(room), libc::MSG_DONTWAIT).context("recvmsg")?;
    let msgs = messages(&r.control);
    ensure!(
        &buf[..r.bytes] == payload && !r.ctrunc(),
        "received {} bytes, MSG_CTRUNC {}, {}",
        r.bytes,
        r.ctrunc(),
        describe(&msgs)
    );
    let (pid, uid, gid) = cmsg::own_ids();
    let expected = match want {
        Want::Real => Some((pid, uid, gid)),
        Want::Nobody => Some((0, overflow("overflowuid")?, overflow("overflowgid")?)),
        Want::Absent => None,
    };
    ensure!(
        r.credentials == expected,
        "after {steps:?}: credentials {:?}, expected {expected:?} ({})",
        r.credentials,
        describe(&msgs)
    );
    if let Some(sent) = rights {
        let order: Vec<i32> = msgs.iter().map(|m| m.kind).collect();
        ensure!(
            order == [libc::SCM_CREDENTIALS, libc::SCM_RIGHTS] && r.fds.len() == 1,
            "credentials and one descriptor expected: {}",
            describe(&msgs)
        );
        same(
            sent.as_fd(),
            r.fds[0].as_fd(),
            "the descriptor beside the credentials",
        )?;
    }
    Ok(Outcome::pass(format!(
        "after {steps:?}: {} {}",
        match expected {
            Some((p, u, g)) => format!("SCM_CREDENTIALS pid {p} uid {u} gid {g}"),
            None => "no SCM_CREDENTIALS".into(),
        },
        describe(&msgs)
    )))
}
