//! The inspection oracle must tell same from different, and name leaks.

mod common;

use std::io::Write;
use std::os::fd::{AsFd, AsRawFd};

use common::*;
use inflight::inspect::{self, FdSnapshot, Sameness};
use inflight_testkit::oracle;

#[test]
fn same_file_tells_dup_from_reopen() {
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    std::fs::write(&path, b"x").unwrap();
    let a = std::fs::File::open(&path).unwrap();
    let dup = a.try_clone().unwrap();
    let reopened = std::fs::File::open(&path).unwrap();
    if std::env::var_os(oracle::NO_KCMP_ENV).is_none() {
        assert_eq!(
            inspect::kcmp_available(),
            oracle::kcmp_available(),
            "inflight and the test kit agree on whether kcmp works"
        );
    }
    assert_eq!(inspect::same_file(a.as_fd(), dup.as_fd()), Sameness::Same);
    // Same inode, different open file description: fstat alone would lie.
    assert_eq!(
        inspect::file_id(a.as_fd()).unwrap(),
        inspect::file_id(reopened.as_fd()).unwrap()
    );
    assert_eq!(
        inspect::same_file(a.as_fd(), reopened.as_fd()),
        Sameness::Different
    );
    let me = std::process::id() as i32;
    assert_eq!(
        inspect::same_file_in(me, a.as_raw_fd(), me, dup.as_raw_fd()),
        Sameness::Same
    );
    assert_eq!(
        inspect::file_id_in(me, a.as_raw_fd()).unwrap(),
        inspect::file_id(a.as_fd()).unwrap()
    );
    // A closed number: kcmp says EBADF (and fstat too), reported as
    // unknown, not as a verdict.
    let closed = dup.as_raw_fd();
    drop(dup);
    let verdict = inspect::same_file_in(me, a.as_raw_fd(), me, closed);
    assert!(matches!(verdict, Sameness::Unknown(_)), "{verdict:?}");
}

#[test]
fn fdinfo_reports_shared_offset_and_flags() {
    let _g = serial();
    let mut f = tempfile::tempfile().unwrap();
    f.write_all(b"12345").unwrap();
    let dup = f.try_clone().unwrap();
    let info = inspect::fdinfo(dup.as_fd()).unwrap();
    assert_eq!(info.pos, 5);
    assert_eq!(info.pos, offset(f.as_fd()) as u64);
    assert_eq!(info.flags & libc::O_ACCMODE, libc::O_RDWR);
    assert_ne!(info.flags & libc::O_CLOEXEC, 0);
    assert_eq!(info.ino, Some(inspect::file_id(f.as_fd()).unwrap().ino));
}

#[test]
fn snapshot_diff_names_leaks_and_closes() {
    let _g = serial();
    let before = FdSnapshot::take().unwrap();
    let (r, w) = pipe();
    let after = FdSnapshot::take().unwrap();
    let leaked = after.leaked_since(&before);
    assert_eq!(leaked.len(), 2, "{leaked:?}");
    assert!(
        leaked.iter().all(|l| l.target.starts_with("pipe:[")),
        "{leaked:?}"
    );
    assert!(after.contains(r.as_raw_fd()) && after.contains(w.as_raw_fd()));
    assert_eq!(after.len(), before.len() + 2);
    drop(r);
    let later = FdSnapshot::take().unwrap();
    assert_eq!(later.closed_since(&after).len(), 1);
    assert_eq!(
        FdSnapshot::of_pid(std::process::id() as i32).unwrap().len(),
        later.len()
    );
}
