//! Comparing the descriptors that came back with the ones sent: the
//! identity, order and count checks shared by the `crates` battery and the
//! echo-program battery, with one wording for both.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use anyhow::bail;
use inflight::inspect::file_id;
use inflight_testkit::Fixture;

use crate::oracle::{self, Undecided};

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
    /// one sent at its position (the test kit's oracle).
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
    /// undecided identities (see [`oracle`]).
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
        match oracle::same(s.fd, g.as_fd()) {
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

/// Why received descriptor #`i`, which `kcmp` says is not sent #`i`, is
/// wrong: another sent one, a reopened file, or another file.
fn different(sent: &[Sent<'_>], i: usize, got: BorrowedFd<'_>) -> String {
    let label = sent[i].label;
    if let Some(j) = sent
        .iter()
        .position(|s| oracle::same(s.fd, got) == Ok(true))
    {
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
            oracle::method()
        )
    } else {
        format!(
            "received descriptor #{i} ({label}) is a different file altogether ({} and fstat differ)",
            oracle::method()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use inflight_testkit::FdKind;

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
    fn an_undecided_identity_is_required_away() {
        let why = Identity::Unverifiable("no kcmp".into()).require();
        assert_eq!(why.unwrap_err().why, "no kcmp");
        assert_eq!(Identity::Proven.require(), Ok(()));
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
