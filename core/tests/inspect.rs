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

/// Where kcmp(2) is missing (ENOSYS) or refused (EPERM, as under a
/// container's seccomp profile), `same_file` falls back to fstat: a
/// different inode is a verdict, the same inode is unknown, and the reason
/// names the errno; `kcmp_available` says no.
#[test]
fn without_kcmp_fstat_decides_only_differences() {
    let _g = serial();
    for (errno, name) in [(libc::ENOSYS, "ENOSYS"), (libc::EPERM, "EPERM")] {
        std::thread::spawn(move || {
            inflight_testkit::seccomp::deny_in_this_thread(libc::SYS_kcmp, errno).unwrap();
            let null = std::fs::File::open("/dev/null").unwrap();
            let other = tempfile::tempfile().unwrap();
            let dup = null.try_clone().unwrap();
            assert!(!inspect::kcmp_available(), "{name}");
            assert_eq!(
                inspect::same_file(null.as_fd(), other.as_fd()),
                Sameness::Different,
                "{name}: fstat tells different inodes apart"
            );
            match inspect::same_file(null.as_fd(), dup.as_fd()) {
                Sameness::Unknown(why) => assert!(why.contains(name), "{name}: {why}"),
                got => panic!("{name}: same inode without kcmp must be unknown, got {got:?}"),
            }
        })
        .join()
        .unwrap();
    }
}

/// The reason for an unknown verdict names what went wrong.
#[test]
fn unknown_says_why() {
    let _g = serial();
    let me = std::process::id() as i32;
    let a = std::fs::File::open("/dev/null").unwrap();
    let closed = {
        let b = std::fs::File::open("/dev/null").unwrap();
        b.as_raw_fd()
    };
    let verdict = inspect::same_file_in(me, a.as_raw_fd(), me, closed);
    assert!(
        matches!(verdict, Sameness::Unknown(w) if w.contains("EBADF")),
        "{verdict:?}"
    );
    // pid_max is at most 2^22: this pid cannot exist.
    let verdict = inspect::same_file_in(me, a.as_raw_fd(), 1 << 23, 0);
    assert!(
        matches!(verdict, Sameness::Unknown(w) if w.contains("ESRCH")),
        "{verdict:?}"
    );
    assert_eq!(verdict.known(), None);
    assert_eq!(Sameness::Same.known(), Some(true));
    assert_eq!(Sameness::Different.known(), Some(false));
}

/// `is_cloexec` and `status_flags` read what the test kit reads with raw
/// fcntl, on both settings of each.
#[test]
fn flags_match_fcntl() {
    let _g = serial();
    let (r, w) = pipe();
    use nix::fcntl::{fcntl, FcntlArg, FdFlag, OFlag};
    for on in [true, false] {
        let flags = if on {
            FdFlag::FD_CLOEXEC
        } else {
            FdFlag::empty()
        };
        fcntl(r.as_fd(), FcntlArg::F_SETFD(flags)).unwrap();
        assert_eq!(inspect::is_cloexec(r.as_fd()).unwrap(), on);
        assert_eq!(cloexec(r.as_fd()), on);
    }
    let plain = inspect::status_flags(w.as_fd()).unwrap();
    assert_eq!(plain & libc::O_ACCMODE, libc::O_WRONLY);
    assert_eq!(plain & libc::O_NONBLOCK, 0);
    let set = OFlag::from_bits_retain(plain) | OFlag::O_NONBLOCK;
    fcntl(w.as_fd(), FcntlArg::F_SETFL(set)).unwrap();
    let after = inspect::status_flags(w.as_fd()).unwrap();
    assert_eq!(after, plain | libc::O_NONBLOCK);
    assert_eq!(after, status_flags(w.as_fd()));
}

/// A snapshot's accessors and the two `Display`s.
#[test]
fn snapshot_accessors_and_display() {
    let _g = serial();
    let (r, _w) = pipe();
    let snap = FdSnapshot::take().unwrap();
    assert!(!snap.is_empty());
    let target = snap.target(r.as_raw_fd()).expect("the pipe is listed");
    assert!(target.starts_with("pipe:["), "{target}");
    let free = (0..65_536).find(|fd| !snap.contains(*fd)).unwrap();
    assert_eq!(snap.target(free), None);
    let listed: Vec<_> = snap.iter().collect();
    assert_eq!(listed.len(), snap.len());
    let entry = listed.iter().find(|o| o.fd == r.as_raw_fd()).unwrap();
    assert_eq!(
        entry.to_string(),
        format!("fd {} -> {target}", r.as_raw_fd())
    );
    let id = inspect::file_id(r.as_fd()).unwrap();
    let text = id.to_string();
    assert!(
        text.contains(&format!("ino {}", id.ino)) && text.contains("dev 0x"),
        "{text}"
    );

    // A zombie has no descriptor table left: an empty snapshot.
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id() as i32;
    while std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .unwrap()
        .split(' ')
        .nth(2)
        != Some("Z")
    {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let zombie = FdSnapshot::of_pid(pid).unwrap();
    assert!(zombie.is_empty() && zombie.iter().next().is_none());
    child.wait().unwrap();
}
