//! Comparing the descriptors that came back with the ones sent (identity,
//! order, count, with one wording for every battery), and the policy for an
//! identity the [`oracle`] cannot decide.
//!
//! An undecided identity is a failure: a check that cannot tell a passed
//! descriptor from a reopened one proves nothing. Only a run started with
//! `INFLIGHT_ALLOW_UNKNOWN_IDENTITY=1` reports such a case as skipped, with
//! the oracle's reason.

use std::fmt;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use anyhow::bail;

use crate::oracle::{self, Sameness, ALLOW_UNKNOWN_ENV};
use crate::sys::file_id;
use crate::Fixture;

/// An identity the oracle could not decide, with its reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Undecided {
    /// Why (from the oracle).
    pub why: String,
}

impl fmt::Display for Undecided {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot tell whether they are the same open file description: {}",
            self.why
        )
    }
}

impl std::error::Error for Undecided {}

/// Whether `a` and `b` are the same open file description.
///
/// # Errors
///
/// [`Undecided`] when the oracle cannot tell (no `kcmp` and flags that
/// cannot be flipped, as on an `O_PATH` descriptor).
pub fn same(a: BorrowedFd<'_>, b: BorrowedFd<'_>) -> Result<bool, Undecided> {
    match oracle::same_description(a, b) {
        Sameness::Same => Ok(true),
        Sameness::Different => Ok(false),
        Sameness::Unknown(why) => Err(Undecided { why: why.into() }),
    }
}

/// How the oracle decides in this process, for evidence texts.
pub fn method() -> &'static str {
    if oracle::kcmp_available() {
        "kcmp(KCMP_FILE)"
    } else {
        "status-flag flip, no kcmp"
    }
}

/// Whether the run was started with `INFLIGHT_ALLOW_UNKNOWN_IDENTITY=1`.
pub fn unknown_allowed() -> bool {
    std::env::var_os(ALLOW_UNKNOWN_ENV).is_some_and(|v| v == "1")
}

/// Whether `e` stopped on an undecided identity.
pub fn is_undecided(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.is::<Undecided>())
}

/// The verdict on a case that stopped on an undecided identity (`detail`
/// says where), `allowed` being [`unknown_allowed`]: `(true, text)` to skip
/// with the text, `(false, text)` to fail with it.
pub fn undecided_verdict(detail: &str, allowed: bool) -> (bool, String) {
    if allowed {
        (
            true,
            format!("{detail} [reported as skipped: {ALLOW_UNKNOWN_ENV}=1]"),
        )
    } else {
        (
            false,
            format!(
                "{detail}: an undecided identity is a failure (set {ALLOW_UNKNOWN_ENV}=1 to report it as skipped)"
            ),
        )
    }
}

/// One descriptor sent, with a label for reports (the fixture's kind).
#[derive(Clone, Copy, Debug)]
pub struct Sent<'a> {
    /// The descriptor.
    pub fd: BorrowedFd<'a>,
    /// What it is (`file`, `pipe-read`, ...).
    pub label: &'a str,
}

impl<'a> Sent<'a> {
    /// A fixture, labelled with its kind.
    pub fn of(fixture: &'a Fixture) -> Sent<'a> {
        Sent {
            fd: fixture.as_fd(),
            label: fixture.kind.name(),
        }
    }
}

/// What [`compare`] could establish.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Identity {
    /// Every received descriptor is the same open file description as the
    /// one sent at its position.
    Proven,
    /// Count and files (`fstat`) agree, but the oracle cannot tell whether
    /// the open file descriptions are the same: the first position and
    /// reason.
    Unverifiable(String),
}

impl Identity {
    /// `Ok` when proven.
    ///
    /// # Errors
    ///
    /// [`Undecided`] with the reason: a failure unless the run allows
    /// undecided identities.
    pub fn require(self) -> Result<(), Undecided> {
        match self {
            Identity::Proven => Ok(()),
            Identity::Unverifiable(why) => Err(Undecided { why }),
        }
    }
}

/// Checks that `got` holds, in order, the same open file descriptions as
/// `sent`.
///
/// # Errors
///
/// The count differs; a received descriptor is another sent one (order);
/// it is the same file but a new open file description (reopened); or
/// another file altogether. The message names the position and the label.
pub fn compare(sent: &[Sent<'_>], got: &[OwnedFd]) -> anyhow::Result<Identity> {
    if got.len() != sent.len() {
        let labels: Vec<&str> = sent.iter().map(|s| s.label).collect();
        bail!(
            "descriptor count differs: sent {} ({}), received {}",
            sent.len(),
            labels.join(", "),
            got.len()
        );
    }
    let mut unverifiable = None;
    for (i, (s, g)) in sent.iter().zip(got).enumerate() {
        match same(s.fd, g.as_fd()) {
            Ok(true) => {}
            Ok(false) => bail!(different(sent, i, g.as_fd())),
            Err(undecided) => {
                if file_id(s.fd).ok() != file_id(g.as_fd()).ok() {
                    bail!(
                        "received descriptor #{i} ({}) is a different file (fstat)",
                        s.label
                    );
                }
                unverifiable.get_or_insert_with(|| {
                    format!("descriptor #{i} ({}): {}", s.label, undecided.why)
                });
            }
        }
    }
    Ok(match unverifiable {
        None => Identity::Proven,
        Some(reason) => Identity::Unverifiable(reason),
    })
}

/// Why received descriptor #`i`, which the oracle says is not sent #`i`,
/// is wrong: another sent one, a reopened file, or another file.
fn different(sent: &[Sent<'_>], i: usize, got: BorrowedFd<'_>) -> String {
    let label = sent[i].label;
    if let Some(j) = sent.iter().position(|s| same(s.fd, got) == Ok(true)) {
        return format!(
            "order not preserved: received descriptor #{i} is sent descriptor #{j} ({}), expected #{i} ({label})",
            sent[j].label
        );
    }
    let same_inode = match (file_id(sent[i].fd), file_id(got)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if same_inode {
        format!(
            "received descriptor #{i} ({label}) is the same file (fstat dev/inode equal) but not the same open file description ({}): it was reopened instead of passed on as received",
            method()
        )
    } else {
        format!(
            "received descriptor #{i} ({label}) is a different file altogether ({} and fstat differ)",
            method()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FdKind;

    fn sent(fx: &[Fixture]) -> Vec<Sent<'_>> {
        fx.iter().map(Sent::of).collect()
    }

    fn dup(f: &Fixture) -> OwnedFd {
        f.fd.try_clone().unwrap()
    }

    fn fixtures() -> Vec<Fixture> {
        [FdKind::File, FdKind::PipeRead, FdKind::DevNull]
            .iter()
            .map(|k| k.open().unwrap())
            .collect()
    }

    #[test]
    fn identical_duplicates_pass() {
        let fx = fixtures();
        let got: Vec<OwnedFd> = fx.iter().map(dup).collect();
        // kcmp, or the status-flag flip: both decide for these kinds.
        assert_eq!(compare(&sent(&fx), &got).unwrap(), Identity::Proven);
    }

    #[test]
    fn same_decides_both_ways() {
        let a = std::fs::File::open("/dev/null").unwrap();
        let dup = a.try_clone().unwrap();
        let other = std::fs::File::open("/dev/null").unwrap();
        assert_eq!(same(a.as_fd(), dup.as_fd()), Ok(true));
        assert_eq!(same(a.as_fd(), other.as_fd()), Ok(false));
    }

    #[test]
    fn an_undecided_identity_is_required_away() {
        let why = Identity::Unverifiable("no kcmp".into()).require();
        assert_eq!(why.unwrap_err().why, "no kcmp");
        assert_eq!(Identity::Proven.require(), Ok(()));
    }

    #[test]
    fn undecided_fails_without_the_opt_in_and_is_found_through_context() {
        let e = anyhow::Error::from(Undecided { why: "test".into() }).context("position 3");
        assert!(is_undecided(&e));
        assert!(!is_undecided(&anyhow::anyhow!("other")));
        let detail = format!("{e:#}");
        let (skip, text) = undecided_verdict(&detail, false);
        assert!(!skip);
        assert!(text.contains("position 3: cannot tell"), "{text}");
        assert!(
            text.contains("set INFLIGHT_ALLOW_UNKNOWN_IDENTITY=1"),
            "{text}"
        );
        let (skip, text) = undecided_verdict(&detail, true);
        assert!(skip);
        assert!(text.ends_with("[reported as skipped: INFLIGHT_ALLOW_UNKNOWN_IDENTITY=1]"));
    }

    #[test]
    fn count_order_and_reopen_are_named() {
        let fx = fixtures();
        let e = compare(&sent(&fx), &[dup(&fx[0])]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "descriptor count differs: sent 3 (file, pipe-read, dev-null), received 1"
        );
        let swapped = vec![dup(&fx[1]), dup(&fx[0]), dup(&fx[2])];
        let e = compare(&sent(&fx), &swapped).unwrap_err().to_string();
        assert!(e.starts_with("order not preserved: received descriptor #0 is sent descriptor #1 (pipe-read), expected #0 (file)"), "{e}");
        let reopened: OwnedFd = std::fs::File::open("/dev/null").unwrap().into();
        let got = vec![dup(&fx[0]), dup(&fx[1]), reopened];
        let e = compare(&sent(&fx), &got).unwrap_err().to_string();
        assert!(e.contains("#2 (dev-null) is the same file (fstat dev/inode equal) but not the same open file description ("), "{e}");
        let other: OwnedFd = std::fs::File::open("/").unwrap().into();
        let got = vec![dup(&fx[0]), dup(&fx[1]), other];
        let e = compare(&sent(&fx), &got).unwrap_err().to_string();
        assert!(e.contains("a different file altogether"), "{e}");
    }
}
