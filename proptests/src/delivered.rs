//! Checks over everything a plan delivered, shared by the transfer
//! properties: counts, payloads and identity in order; the credentials and
//! pidfd beside the rights; repeats; and how many descriptors the kernel
//! delivers into inflight's control buffer.

use std::collections::BTreeMap;
use std::os::fd::{AsFd, AsRawFd, RawFd};

use inflight_testkit::cmsg::{self, HEADER_LEN};
use proptest::test_runner::TestCaseError;

use crate::check::{fail, identical, same};
use crate::exchange::{Delivered, Pair};
use crate::fds::{Opened, Source};
use crate::harness::count_ops;
use crate::plan::CasePlan;

type R = Result<(), TestCaseError>;

/// Count, payload and identity (in order) of every delivered message.
///
/// # Errors
///
/// The first message that differs.
pub fn check_delivered(plan: &CasePlan, pool: &[Opened], pair: &Pair, got: &[Delivered]) -> R {
    for (i, (m, d)) in plan.messages.iter().zip(got).enumerate() {
        if d.payload != m.payload() {
            return Err(fail(format!(
                "message {i}: payload differs ({} bytes received, {} sent)",
                d.payload.len(),
                m.payload_len
            )));
        }
        if d.fds.len() != m.fds.len() {
            return Err(fail(format!(
                "message {i}: {} descriptor(s) received, {} sent",
                d.fds.len(),
                m.fds.len()
            )));
        }
        for (j, (&p, fd)) in m.fds.iter().zip(&d.fds).enumerate() {
            let original = pool[p].fd(pair.sender.as_fd());
            identical(
                &format!("message {i} fd {j} (#{p} {:?})", pool[p].spec),
                original,
                fd.as_fd(),
            )?;
        }
    }
    Ok(())
}

/// Credentials and a pidfd arrived with each message exactly when the
/// receiver asked for them, naming this process (the test kit's ids, not
/// inflight's).
///
/// # Errors
///
/// The first message whose credentials or pidfd differ.
pub fn check_extras(got: &[Delivered], passcred: bool, passpidfd: bool) -> R {
    let (pid, uid, gid) = cmsg::own_ids();
    for (i, d) in got.iter().enumerate() {
        let want = passcred.then_some((pid, uid, gid));
        if d.credentials != want {
            return Err(fail(format!(
                "message {i}: credentials {:?}, expected {want:?} (SO_PASSCRED {passcred})",
                d.credentials
            )));
        }
        let want = passpidfd.then_some(pid);
        if d.pidfd_pid != want {
            return Err(fail(format!(
                "message {i}: a pidfd of pid {:?}, expected {want:?} (SO_PASSPIDFD {passpidfd})",
                d.pidfd_pid
            )));
        }
    }
    Ok(())
}

/// A key per open file description of the pool: the sending socket is one
/// description however often it appears in the pool.
pub fn description_key(pool: &[Opened], p: usize) -> usize {
    match pool[p].spec.source {
        Source::SenderSocket => pool
            .iter()
            .position(|o| o.spec.source == Source::SenderSocket)
            .unwrap_or(p),
        _ => p,
    }
}

/// Makes every message that carries descriptors carry one of them twice
/// (at a place its payload seed picks), unless it repeats one already or
/// is full.
pub fn with_repeats(mut plan: CasePlan) -> CasePlan {
    for m in &mut plan.messages {
        let Some(&first) = m.fds.first() else {
            continue;
        };
        let mut sorted = m.fds.clone();
        sorted.sort_unstable();
        sorted.dedup();
        if sorted.len() == m.fds.len() && m.fds.len() < inflight::SCM_MAX_FD {
            let at = (m.payload_seed % (m.fds.len() as u64 + 1)) as usize;
            m.fds.insert(at, first);
        }
    }
    plan
}

/// Repeats: every descriptor held at once has its own number (the
/// received ones among themselves and against the originals and the
/// socket pair); within a message the descriptors received for one open
/// file description sent several times are one description (kcmp between
/// the repeats), and those for different ones are different.
///
/// # Errors
///
/// The first number held twice, or the first pair that is (or is not) one
/// description against the plan; an undecidable identity without the
/// opt-in (see [`same`]).
pub fn check_repeats(plan: &CasePlan, pool: &[Opened], pair: &Pair, got: &[Delivered]) -> R {
    let mut numbers: BTreeMap<RawFd, String> = BTreeMap::new();
    let mut hold = |fd: RawFd, what: String| match numbers.insert(fd, what.clone()) {
        Some(other) => Err(fail(format!("{what} has number {fd}, as does {other}"))),
        None => Ok(()),
    };
    hold(pair.sender.as_raw_fd(), "the sending socket".into())?;
    hold(pair.receiver.as_raw_fd(), "the receiving socket".into())?;
    for (p, o) in pool.iter().enumerate() {
        for fd in o.original.iter().chain(&o.keep) {
            hold(
                fd.as_raw_fd(),
                format!("#{p} ({:?}) or its other end", o.spec),
            )?;
        }
    }
    for (i, d) in got.iter().enumerate() {
        for (j, fd) in d.fds.iter().enumerate() {
            hold(fd.as_raw_fd(), format!("received message {i} fd {j}"))?;
        }
    }
    for (i, (m, d)) in plan.messages.iter().zip(got).enumerate() {
        // The first received descriptor of each description sent.
        let mut first: BTreeMap<usize, usize> = BTreeMap::new();
        for (j, &p) in m.fds.iter().enumerate() {
            let j0 = *first.entry(description_key(pool, p)).or_insert(j);
            if j0 == j {
                continue;
            }
            let what = format!("message {i}: fds {j0} and {j} (both sent as #{p})");
            if same(&what, d.fds[j0].as_fd(), d.fds[j].as_fd())? == Some(false) {
                return Err(fail(format!("{what} are different open file descriptions")));
            }
        }
        let firsts: Vec<usize> = first.into_values().collect();
        for (a, &ja) in firsts.iter().enumerate() {
            for &jb in &firsts[a + 1..] {
                let what = format!(
                    "message {i}: fds {ja} and {jb} (sent as #{} and #{})",
                    m.fds[ja], m.fds[jb]
                );
                if same(&what, d.fds[ja].as_fd(), d.fds[jb].as_fd())? == Some(true) {
                    return Err(fail(format!("{what} are one open file description")));
                }
            }
        }
        count_ops(m.fds.len() as u64);
    }
    Ok(())
}

/// The kernel's view: with a control buffer of `space_for(c)` bytes and no
/// credentials or pidfd to deliver, `scm_detach_fds` installs at most
/// `(controllen - sizeof(cmsghdr)) / sizeof(int)` descriptors.
pub fn kernel_delivers(n: usize, c: usize) -> usize {
    let space =
        cmsg::space(4 * c) + cmsg::space(std::mem::size_of::<libc::ucred>()) + cmsg::space(4);
    n.min((space - HEADER_LEN) / 4)
}
