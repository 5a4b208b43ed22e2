//! Every fixture kind opens, close-on-exec, as the kind it says it is.

use std::collections::BTreeSet;
use std::os::fd::{AsFd, AsRawFd};

use inflight_conformance::{FdKind, LeakGuard};
use nix::fcntl::{fcntl, FcntlArg, FdFlag, OFlag};

/// What `/proc/self/fd` shows for each kind.
fn target_matches(kind: FdKind, target: &str) -> bool {
    match kind {
        FdKind::File | FdKind::AppendFile => target.ends_with("(deleted)"),
        FdKind::PipeRead | FdKind::PipeWrite => target.starts_with("pipe:["),
        FdKind::UnixSocket => target.starts_with("socket:["),
        FdKind::EventFd => target == "anon_inode:[eventfd]",
        FdKind::MemFd | FdKind::SealedMemFd => target.starts_with("/memfd:inflight-fixture"),
        FdKind::TimerFd => target == "anon_inode:[timerfd]",
        FdKind::DirPath => std::path::Path::new(target) == std::env::temp_dir(),
        FdKind::DevNull => target == "/dev/null",
        FdKind::Epoll => target == "anon_inode:[eventpoll]",
    }
}

#[test]
fn every_kind_opens_as_itself() {
    LeakGuard::check("fixtures", || {
        for kind in FdKind::ALL {
            let f = kind
                .open()
                .unwrap_or_else(|e| panic!("{}: {e}", kind.name()));
            let fd = f.as_fd();
            let what = kind.name();
            assert_eq!(f.kind, kind);
            let cloexec = FdFlag::from_bits_retain(fcntl(fd, FcntlArg::F_GETFD).unwrap());
            assert!(
                cloexec.contains(FdFlag::FD_CLOEXEC),
                "{what}: close-on-exec"
            );
            for k in &f.keep {
                let flags = FdFlag::from_bits_retain(fcntl(k.as_fd(), FcntlArg::F_GETFD).unwrap());
                assert!(
                    flags.contains(FdFlag::FD_CLOEXEC),
                    "{what}: kept end cloexec"
                );
            }
            let target = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).unwrap();
            let target = target.to_string_lossy();
            assert!(target_matches(kind, &target), "{what}: {target}");
            let keeps = matches!(
                kind,
                FdKind::PipeRead | FdKind::PipeWrite | FdKind::UnixSocket
            );
            assert_eq!(f.keep.len(), usize::from(keeps), "{what}");
            use nix::unistd::{lseek, Whence};
            let pos = lseek(fd, 0, Whence::SeekCur);
            // Seekable: lseek moves the offset (an eventfd's and /dev/null's
            // lseek succeeds but moves nothing).
            let moved = lseek(fd, 1, Whence::SeekSet).is_ok()
                && lseek(fd, 0, Whence::SeekCur).ok() == Some(1);
            assert_eq!(moved, kind.seekable(), "{what}: seekable");
            if let Ok(p) = pos {
                let _ = lseek(fd, p, Whence::SeekSet);
            }
            let status = OFlag::from_bits_retain(fcntl(fd, FcntlArg::F_GETFL).unwrap());
            match kind {
                FdKind::File => assert_eq!(pos.unwrap(), 3, "offset moved"),
                FdKind::AppendFile => assert!(status.contains(OFlag::O_APPEND)),
                FdKind::DirPath => assert!(status.contains(OFlag::O_PATH)),
                FdKind::SealedMemFd => {
                    let seals = fcntl(fd, FcntlArg::F_GET_SEALS).unwrap();
                    let want = libc::F_SEAL_SHRINK | libc::F_SEAL_GROW;
                    assert_eq!(seals & want, want, "sealed");
                }
                FdKind::MemFd => assert_eq!(fcntl(fd, FcntlArg::F_GET_SEALS).unwrap(), 0),
                _ => {}
            }
            assert!(!status.contains(OFlag::O_NONBLOCK), "{what}: blocking");
            let _ = f.into_fd();
        }
    });
}

#[test]
fn kinds_are_listed_once_with_distinct_names() {
    let all: BTreeSet<FdKind> = FdKind::ALL.into_iter().collect();
    assert_eq!(all.len(), FdKind::ALL.len());
    let names: BTreeSet<&str> = FdKind::ALL.iter().map(|k| k.name()).collect();
    assert_eq!(names.len(), FdKind::ALL.len());
    let cheap: BTreeSet<FdKind> = FdKind::CHEAP.into_iter().collect();
    assert_eq!(cheap.len(), FdKind::CHEAP.len());
    assert!(cheap.is_subset(&all));
    assert!(
        !cheap.contains(&FdKind::File),
        "no filesystem writes per input"
    );
}
