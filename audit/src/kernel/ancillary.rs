//! Other control messages beside rights: `SCM_CREDENTIALS`, `SCM_PIDFD`,
//! and the receiver's `SO_PASSRIGHTS` switch.

use std::os::fd::{AsFd, AsRawFd};

use anyhow::{anyhow, ensure, Context as _};
use inflight::inspect::is_cloexec;
use inflight::SocketKind;
use inflight_testkit::cmsg::{self, cmsg_name, space as cmsg_space};
use inflight_testkit::sockopt::{self, SO_PASSPIDFD, SO_PASSRIGHTS};
use inflight_testkit::FdKind;

use super::common::{errno_name, pair, queue_state, recv, send, three, BIG};
use crate::runner::{CaseResult, Outcome};

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

pub(super) fn passcred(k: SocketKind) -> CaseResult {
    let fx = three()?;
    let (a, b) = pair(k)?;
    inflight::set_pass_credentials(&b, true).context("SO_PASSCRED")?;
    let fds = [fx[0].fd.as_raw_fd(), fx[1].fd.as_raw_fd()];
    send(&a, b"c", &fds).context("sendmsg")?;
    let (_, r) = recv(&b, 16, Some(BIG), 0).context("recvmsg")?;
    let order: Vec<String> = r.order.iter().map(|&(l, t)| cmsg_name(l, t)).collect();
    ensure!(
        r.fds.len() == 2 && !r.ctrunc(),
        "with room for all: {} descriptors, MSG_CTRUNC {}",
        r.fds.len(),
        r.ctrunc()
    );
    let me = cmsg::own_ids();
    ensure!(
        r.credentials == Some(me),
        "credentials {:?}, expected (pid, uid, gid) {me:?}",
        r.credentials
    );
    // A buffer sized for the rights alone, as many callers size it.
    send(&a, b"c", &fds).context("sendmsg")?;
    let small = cmsg_space(8);
    let (_, r2) = recv(&b, 16, Some(small), 0).context("recvmsg")?;
    let order2: Vec<String> = r2.order.iter().map(|&(l, t)| cmsg_name(l, t)).collect();
    ensure!(
        r2.fds.len() == 2 || r2.ctrunc(),
        "buffer CMSG_SPACE(8): {} descriptors without MSG_CTRUNC",
        r2.fds.len()
    );
    Ok(Outcome::pass(format!(
        "SO_PASSCRED on: order [{}], credentials pid {} uid {} gid {}; with a buffer of CMSG_SPACE(2 fds) = {small} bytes: [{}], {} of 2 descriptors, MSG_CTRUNC {}",
        order.join(", "),
        me.0,
        me.1,
        me.2,
        order2.join(", "),
        r2.fds.len(),
        r2.ctrunc()
    )))
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
    let order: Vec<String> = r.order.iter().map(|&(l, t)| cmsg_name(l, t)).collect();
    ensure!(
        r.fds.len() == 1,
        "{} descriptors beside the pidfd ({order:?})",
        r.fds.len()
    );
    let Some(p) = &r.pidfd else {
        return Err(anyhow!(
            "SO_PASSPIDFD accepted but no SCM_PIDFD arrived ({order:?})"
        ));
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
    let cloexec = is_cloexec(p.as_fd()).unwrap_or(false);
    Ok(Outcome::pass(format!(
        "SCM_PIDFD arrived beside the descriptor: order [{}], pidfd of pid {pid} (the sender), FD_CLOEXEC {cloexec}",
        order.join(", ")
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
            return Err(anyhow!(
                "SO_PASSRIGHTS off: a send with a descriptor succeeded ({n} bytes), then {q}"
            ))
        }
        Err(e) => e,
    };
    ensure!(
        q == "nothing queued",
        "SO_PASSRIGHTS off: refused with {} but then {q}",
        errno_name(&e)
    );
    ensure!(
        plain.is_ok() && q2.starts_with("a message of 5"),
        "a payload-only send: {plain:?}, then {q2}"
    );
    ensure!(
        back.fds.len() == 1,
        "after SO_PASSRIGHTS back on: {} descriptors",
        back.fds.len()
    );
    Ok(Outcome::pass(format!(
        "receiver with SO_PASSRIGHTS off: sendmsg with a descriptor failed with {}, nothing queued; payload-only still delivered; back on: delivered",
        errno_name(&e)
    )))
}
