//! Running the whole battery against one implementation ([`check`]) and
//! the report that comes back ([`Report`]).

use std::collections::BTreeSet;
use std::fmt;
use std::time::{Duration, Instant};

use crate::battery::{Outcome, Settings, Status, CASES};
use crate::Implementation;

/// The result of one case.
#[derive(Clone, Debug)]
pub struct CaseReport {
    /// The case's name (`truncation-leak`).
    pub name: &'static str,
    /// The verdict and its evidence.
    pub outcome: Outcome,
    /// How long it took.
    pub duration: Duration,
}

/// What the battery found in one implementation.
#[derive(Clone, Debug)]
pub struct Report {
    /// [`Implementation::name`].
    pub implementation: &'static str,
    /// Every case, in the battery's order.
    pub cases: Vec<CaseReport>,
}

/// Runs every case of the battery against `p`, with the default
/// [`Settings`].
///
/// A complete implementation, over nix's `sendmsg` and `recvmsg`, and the
/// battery's verdict on it:
///
/// ```
/// use std::io::{self, IoSlice, IoSliceMut};
/// use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
///
/// use inflight_conformance::{Implementation, Recv};
/// use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned};
/// use nix::sys::socket::{MsgFlags, UnixAddr};
///
/// /// Descriptor passing with nix, the way its documentation shows it.
/// struct ViaNix;
///
/// impl Implementation for ViaNix {
///     fn name(&self) -> &'static str {
///         "via-nix"
///     }
///
///     fn send(&mut self, sock: BorrowedFd<'_>, payload: &[u8], fds: &[BorrowedFd<'_>]) -> io::Result<usize> {
///         let raw: Vec<RawFd> = fds.iter().map(|f| f.as_raw_fd()).collect();
///         let rights = [ControlMessage::ScmRights(&raw)];
///         let cmsgs = if raw.is_empty() { &[][..] } else { &rights[..] };
///         let iov = [IoSlice::new(payload)];
///         Ok(sendmsg::<UnixAddr>(sock.as_raw_fd(), &iov, cmsgs, MsgFlags::MSG_NOSIGNAL, None)?)
///     }
///
///     fn recv(&mut self, sock: BorrowedFd<'_>, buf: &mut [u8], capacity: usize) -> io::Result<Recv> {
///         // Room for `capacity` descriptors: CMSG_SPACE(4 * capacity) bytes.
///         // SAFETY: CMSG_SPACE is arithmetic on its argument.
///         let space = unsafe { libc::CMSG_SPACE(4 * capacity as u32) } as usize;
///         let mut control = vec![0u8; space];
///         let mut iov = [IoSliceMut::new(buf)];
///         let flags = MsgFlags::MSG_CMSG_CLOEXEC;
///         let msg = recvmsg::<UnixAddr>(sock.as_raw_fd(), &mut iov, Some(&mut control), flags)?;
///         let truncated = msg.flags.contains(MsgFlags::MSG_CTRUNC);
///         let mut fds = Vec::new();
///         for c in msg.cmsgs()? {
///             if let ControlMessageOwned::ScmRights(raw) = c {
///                 // SAFETY: numbers the kernel installed for this receive;
///                 // nothing else owns them.
///                 fds.extend(raw.into_iter().map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }));
///             }
///         }
///         Ok(Recv { bytes: msg.bytes, fds, reported_truncation: Some(truncated) })
///     }
/// }
///
/// let report = inflight_conformance::check(&mut ViaNix);
/// println!("{report}");
/// // On a truncated message nix's `cmsgs()` answers ENOBUFS and hands none
/// // of the descriptors the kernel installed: they stay open. That and the
/// // two findings of any plain receive are what `inflight-audit crates`
/// // finds in nix too; tracked here, so a fix (or a new failure) shows.
/// report.assert_failures(&["truncation-leak", "creds-beside-rights", "empty-payload-stream"]);
/// ```
pub fn check<I: Implementation + ?Sized>(p: &mut I) -> Report {
    check_with(p, &Settings::default())
}

/// [`check`] with `settings`.
pub fn check_with<I: Implementation + ?Sized>(p: &mut I, settings: &Settings) -> Report {
    let mut dynamic = Dyn(p);
    let cases = CASES
        .iter()
        .map(|c| {
            let t0 = Instant::now();
            let outcome = c.run(&mut dynamic, settings);
            CaseReport {
                name: c.name(),
                outcome,
                duration: t0.elapsed(),
            }
        })
        .collect();
    Report {
        implementation: dynamic.0.name(),
        cases,
    }
}

/// An `Implementation + ?Sized` as a `dyn Implementation`.
struct Dyn<'a, I: ?Sized>(&'a mut I);

impl<I: Implementation + ?Sized> Implementation for Dyn<'_, I> {
    fn name(&self) -> &'static str {
        self.0.name()
    }

    fn max_fds_per_message(&self) -> usize {
        self.0.max_fds_per_message()
    }

    fn cloexec(&self) -> bool {
        self.0.cloexec()
    }

    fn socket_kinds(&self) -> &'static [crate::SocketKind] {
        self.0.socket_kinds()
    }

    fn send(
        &mut self,
        sock: std::os::fd::BorrowedFd<'_>,
        payload: &[u8],
        fds: &[std::os::fd::BorrowedFd<'_>],
    ) -> std::io::Result<usize> {
        self.0.send(sock, payload, fds)
    }

    fn recv(
        &mut self,
        sock: std::os::fd::BorrowedFd<'_>,
        buf: &mut [u8],
        capacity: usize,
    ) -> std::io::Result<crate::Recv> {
        self.0.recv(sock, buf, capacity)
    }
}

impl Report {
    /// The names of the cases with `status`, in the battery's order.
    pub fn with_status(&self, status: Status) -> Vec<&'static str> {
        self.cases
            .iter()
            .filter(|c| c.outcome.status == status)
            .map(|c| c.name)
            .collect()
    }

    /// The names of the failed cases: the findings.
    pub fn failed(&self) -> Vec<&'static str> {
        self.with_status(Status::Fail)
    }

    /// Panics with the whole report when a case failed.
    ///
    /// # Panics
    ///
    /// When any case failed.
    pub fn assert_passes(&self) {
        self.assert_failures(&[]);
    }

    /// Panics with the whole report unless exactly the cases in `known`
    /// failed: known findings that you track (as the auditor's `--expect`
    /// file does). A listed case that passes fails the check too, so the
    /// list shrinks when a finding is fixed.
    ///
    /// # Panics
    ///
    /// When the failed cases are not exactly `known`.
    pub fn assert_failures(&self, known: &[&str]) {
        let failed: BTreeSet<&str> = self.failed().into_iter().collect();
        let known: BTreeSet<&str> = known.iter().copied().collect();
        if failed != known {
            let new: Vec<&str> = failed.difference(&known).copied().collect();
            let fixed: Vec<&str> = known.difference(&failed).copied().collect();
            panic!(
                "conformance: {} unexpected failure(s) [{}], {} known failure(s) that did not fail [{}]\n{self}",
                new.len(),
                new.join(", "),
                fixed.len(),
                fixed.join(", ")
            );
        }
    }
}

impl fmt::Display for Report {
    /// One line per case (`FAIL  truncation-leak  evidence`), then the
    /// totals (`libc: 13 pass, 2 fail, 0 skip`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "conformance of {}:", self.implementation)?;
        let width = self.cases.iter().map(|c| c.name.len()).max().unwrap_or(0);
        for c in &self.cases {
            writeln!(
                f,
                "  {}  {:width$}  {}",
                c.outcome.status.label(),
                c.name,
                c.outcome.detail
            )?;
        }
        write!(
            f,
            "{}: {} pass, {} fail, {} skip",
            self.implementation,
            self.with_status(Status::Pass).len(),
            self.with_status(Status::Fail).len(),
            self.with_status(Status::Skip).len()
        )
    }
}
