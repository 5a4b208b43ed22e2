//! Other control messages beside rights: `SCM_CREDENTIALS`, `SCM_PIDFD`,
//! and the receiver's `SO_PASSRIGHTS` switch.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::Duration;

use anyhow::{anyhow, bail, ensure, Context as _};
use inflight::inspect::is_cloexec;
use inflight::SocketKind;
use inflight_testkit::cmsg::{self, cmsg_name, space as cmsg_space};
use inflight_testkit::sockopt::{self, SO_PASSPIDFD, SO_PASSRIGHTS};
use inflight_testkit::FdKind;

use super::common::{errno_name, hung_up, pair, queue_state, raws, recv, send, three, BIG};
use crate::oracle;
use crate::runner::{CaseResult, Outcome, Settings};
use crate::sys;

/// The skip for a kernel without the socket option `opt` (`name`), decided
/// by the test kit's raw `setsockopt` probe: only `ENOPROTOOPT` means
/// missing; `None` when the kernel has it.
///
/// # Errors
///
/// The probe failed otherwise (never a skip).
fn kernel_lacks(opt: i32, name: &str, since: &str) -> anyhow::Result<Option<Outcome>> {
    match sockopt::kernel_has(opt) {
        Ok(true) => Ok(None),
        Ok(false) => Ok(Some(Outcome::skip(format!(
            "the kernel lacks {name}: a raw setsockopt(SOL_SOCKET, {name}) failed with ENOPROTOOPT; {since}"
        )))),
        Err(e) => Err(anyhow!(
            "probing {name} with a raw setsockopt failed with {} (only ENOPROTOOPT means the kernel lacks it)",
            errno_name(&e)
        )),
    }
}

const CREDS: (i32, i32) = (libc::SOL_SOCKET, libc::SCM_CREDENTIALS);
const RIGHTS: (i32, i32) = (libc::SOL_SOCKET, libc::SCM_RIGHTS);
const PIDFD: (i32, i32) = (libc::SOL_SOCKET, cmsg::SCM_PIDFD);

fn names(order: &[(i32, i32)]) -> String {
    let v: Vec<String> = order.iter().map(|&(l, t)| cmsg_name(l, t)).collect();
    format!("[{}]", v.join(", "))
}

/// `SO_PASSCRED` beside rights: with room for all, both messages arrive
/// (in an order the kernel picks); with a buffer sized for the rights alone
/// (`CMSG_SPACE(8)`, as many callers size it), whichever message comes
/// first takes the room. Linux puts the credentials first, so their cut
/// header fills the buffer and both descriptors are discarded (and
/// released); a kernel that put the rights first would deliver both
/// descriptors and drop the credentials. Either way `MSG_CTRUNC` is set,
/// and the small buffer must behave as the order with room for all says.
pub(super) fn passcred(k: SocketKind, s: &Settings) -> CaseResult {
    let fx = three()?;
    let (a, b) = pair(k)?;
    inflight::set_pass_credentials(&b, true).context("SO_PASSCRED")?;
    let fds = [fx[0].fd.as_raw_fd(), fx[1].fd.as_raw_fd()];
    send(&a, b"c", &fds).context("sendmsg")?;
    let (p, r) = recv(&b, 16, Some(BIG), 0).context("recvmsg")?;
    let order = names(&r.order);
    ensure!(
        p == b"c" && r.fds.len() == 2 && !r.ctrunc(),
        "with room for all: payload {p:?}, {} descriptors, MSG_CTRUNC {}",
        r.fds.len(),
        r.ctrunc()
    );
    let mut kinds = r.order.clone();
    kinds.sort_unstable();
    ensure!(
        kinds == [RIGHTS, CREDS],
        "with room for all: control messages {order}, expected SCM_CREDENTIALS and one SCM_RIGHTS"
    );
    for (i, f) in r.fds.iter().enumerate() {
        ensure!(
            oracle::same(fx[i].as_fd(), f.as_fd()).with_context(|| format!("descriptor #{i}"))?,
            "descriptor #{i} is not the {} sent",
            fx[i].kind.name()
        );
    }
    let me = cmsg::own_ids();
    ensure!(
        r.credentials == Some(me),
        "credentials {:?}, expected (pid, uid, gid) {me:?}",
        r.credentials
    );
    let (small, how) = small_buffer(&a, &b, r.order[0] == CREDS, s)?;
    Ok(Outcome::pass(format!(
        "SO_PASSCRED on: order {order}, credentials pid {} uid {} gid {}; with a buffer of CMSG_SPACE(2 fds) = {small} bytes: {how}",
        me.0, me.1, me.2
    )))
}

/// Two pipe write ends into a control buffer of `CMSG_SPACE(8)` beside the
/// credentials: what arrives must follow the order seen with room for all.
/// Returns the buffer size and the evidence.
fn small_buffer(
    a: &OwnedFd,
    b: &OwnedFd,
    creds_first: bool,
    s: &Settings,
) -> anyhow::Result<(usize, String)> {
    let (r1, w1) = sys::pipe().context("pipe")?;
    let (r2, w2) = sys::pipe().context("pipe")?;
    send(a, b"c", &raws(&[&w1, &w2])).context("sendmsg")?;
    drop((w1, w2));
    let small = cmsg_space(8);
    let (p, r) = recv(b, 16, Some(small), 0).context("recvmsg")?;
    let seen = format!(
        "{}, {} of 2 descriptors, MSG_CTRUNC {}, msg_controllen {}",
        names(&r.order),
        r.fds.len(),
        r.ctrunc(),
        r.controllen
    );
    ensure!(p == b"c", "buffer CMSG_SPACE(8): payload {p:?} ({seen})");
    if creds_first {
        ensure!(
            r.order == [CREDS] && r.fds.is_empty() && r.ctrunc() && r.controllen == small,
            "buffer CMSG_SPACE(8), credentials first: expected [SCM_CREDENTIALS] (cut), 0 of 2 descriptors, MSG_CTRUNC, msg_controllen {small}; got {seen}"
        );
        let wait = s.timeout.min(Duration::from_secs(2));
        ensure!(
            hung_up(&r1, wait) && hung_up(&r2, wait),
            "buffer CMSG_SPACE(8): the discarded write ends were not released (no pipe EOF; {seen})"
        );
        return Ok((
            small,
            format!("{seen}: the cut credentials took the room, both descriptors discarded and released (pipe EOF)"),
        ));
    }
    ensure!(
        r.order == [RIGHTS] && r.fds.len() == 2 && r.ctrunc(),
        "buffer CMSG_SPACE(8), rights first: expected [SCM_RIGHTS], 2 of 2 descriptors, MSG_CTRUNC (credentials dropped); got {seen}"
    );
    Ok((
        small,
        format!("{seen}: the rights took the room, the credentials were dropped"),
    ))
}

pub(super) fn pidfd(k: SocketKind) -> CaseResult {
    let fx = FdKind::DevNull.open().context("/dev/null")?;
    let (a, b) = pair(k)?;
    if let Some(missing) = kernel_lacks(SO_PASSPIDFD, "SO_PASSPIDFD", "SCM_PIDFD needs Linux 6.5+")?
    {
        return Ok(missing);
    }
    inflight::set_pass_pidfd(&b, true)
        .context("the kernel has SO_PASSPIDFD (raw probe), but inflight::set_pass_pidfd failed")?;
    send(&a, b"p", &[fx.fd.as_raw_fd()]).context("sendmsg")?;
    let (_, r) = recv(&b, 16, Some(BIG), 0).context("recvmsg")?;
    let order = names(&r.order);
    let mut kinds = r.order.clone();
    kinds.sort_unstable();
    ensure!(
        r.fds.len() == 1 && kinds == [RIGHTS, PIDFD],
        "{} descriptor(s), control messages {order}: expected one SCM_RIGHTS with the descriptor and one SCM_PIDFD",
        r.fds.len()
    );
    ensure!(
        oracle::same(fx.as_fd(), r.fds[0].as_fd()).context("the descriptor beside the pidfd")?,
        "the descriptor beside the pidfd is not the /dev/null sent"
    );
    let Some(p) = &r.pidfd else {
        bail!("SO_PASSPIDFD on but no SCM_PIDFD arrived ({order})");
    };
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", p.as_raw_fd()))
        .context("fdinfo")?;
    let pid = info
        .lines()
        .find_map(|l| l.strip_prefix("Pid:"))
        .map(|v| v.trim().to_string())
        .unwrap_or_default();
    ensure!(
        pid == std::process::id().to_string(),
        "the SCM_PIDFD refers to pid {pid:?}, the sender is {}",
        std::process::id()
    );
    // Pidfds are always created close-on-exec, MSG_CMSG_CLOEXEC or not.
    ensure!(
        is_cloexec(p.as_fd()).context("F_GETFD of the pidfd")?,
        "the SCM_PIDFD arrived without FD_CLOEXEC (received without MSG_CMSG_CLOEXEC; pidfds are created close-on-exec)"
    );
    Ok(Outcome::pass(format!(
        "SCM_PIDFD arrived beside the descriptor: order {order}, pidfd of pid {pid} (the sender), FD_CLOEXEC set"
    )))
}

pub(super) fn passrights(k: SocketKind) -> CaseResult {
    let fx = FdKind::DevNull.open().context("/dev/null")?;
    let (a, b) = pair(k)?;
    if let Some(missing) =
        kernel_lacks(SO_PASSRIGHTS, "SO_PASSRIGHTS", "it appeared in Linux 6.16")?
    {
        return Ok(missing);
    }
    inflight::set_pass_rights(&b, false).context(
        "the kernel has SO_PASSRIGHTS (raw probe), but inflight::set_pass_rights(false) failed",
    )?;
    let refused = send(&a, b"r", &[fx.fd.as_raw_fd()]);
    let q = queue_state(&b);
    let plain = send(&a, b"plain", &[]);
    let q2 = queue_state(&b);
    inflight::set_pass_rights(&b, true).context("SO_PASSRIGHTS on")?;
    send(&a, b"r", &[fx.fd.as_raw_fd()]).context("sendmsg after SO_PASSRIGHTS on")?;
    let (_, back) = recv(&b, 16, Some(BIG), 0).context("recvmsg")?;
    let e = match refused {
        Ok(n) => {
            bail!("SO_PASSRIGHTS off: a send with a descriptor succeeded ({n} bytes), then {q}")
        }
        Err(e) => e,
    };
    ensure!(
        q == "nothing queued",
        "SO_PASSRIGHTS off: refused with {} but then {q}",
        errno_name(&e)
    );
    ensure!(
        e.raw_os_error() == Some(libc::EPERM),
        "SO_PASSRIGHTS off: a send with a descriptor failed with {} (Linux says EPERM); nothing queued",
        errno_name(&e)
    );
    ensure!(
        plain.is_ok() && q2 == "a message of 5 byte(s) with 0 descriptor(s)",
        "a payload-only send: {plain:?}, then {q2}"
    );
    ensure!(
        back.fds.len() == 1,
        "after SO_PASSRIGHTS back on: {} descriptors",
        back.fds.len()
    );
    ensure!(
        oracle::same(fx.as_fd(), back.fds[0].as_fd()).context("after SO_PASSRIGHTS back on")?,
        "after SO_PASSRIGHTS back on: the descriptor is not the /dev/null sent"
    );
    Ok(Outcome::pass(
        "receiver with SO_PASSRIGHTS off: sendmsg with a descriptor failed with EPERM, nothing queued; payload-only still delivered; back on: delivered",
    ))
}
