//! A spawned child (a new process image, not only a fork) receives over a
//! bound filesystem path and sends the descriptors back with its own
//! numbers for them; while it still holds them, the parent proves with
//! `kcmp` across the two processes that the child's descriptors are the
//! parent's open file descriptions, and then proves the round trip.
//!
//! `kcmp` runs in the parent (an ancestor may inspect its child even under
//! Yama's `ptrace_scope=1`). Where it is unavailable the test fails, unless
//! the run opted in with `INFLIGHT_ALLOW_UNKNOWN_IDENTITY=1` (which it then
//! says on stderr).

mod common;

use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::os::unix::net::SocketAddr;
use std::process::{Command, Stdio};

use common::*;
use inflight::SocketKind;
use inflight_testkit::oracle;

const TEST: &str = "spawned_child_receives_over_bound_path";

/// The child: receives two descriptors, checks the offset arrived, sends
/// them back with its numbers for them, and holds them until the parent
/// says it is done.
fn child(path: &str) {
    let addr = SocketAddr::from_pathname(path).unwrap();
    let sock = inflight::connect(SocketKind::SeqPacket, &addr).unwrap();
    let got = inflight::recv_fds::<4>(&sock, &mut [0u8; 16]).unwrap();
    assert_eq!(got.fds.len(), 2);
    let first = got.fds.get(0).unwrap();
    assert_eq!(offset(first), 5, "the parent's offset arrived");
    let numbers: Vec<String> = got
        .fds
        .iter()
        .map(|fd| fd.as_raw_fd().to_string())
        .collect();
    let fds: Vec<_> = got.fds.borrowed().collect();
    inflight::send_fds(&sock, numbers.join(",").as_bytes(), &fds).unwrap();
    let done = inflight::recv_fds::<0>(&sock, &mut [0u8; 8]).unwrap();
    assert_eq!(done.bytes, 4, "the parent's done");
    println!(
        "child: held fds {} until the parent was done",
        numbers.join(",")
    );
}

/// Whether descriptor `theirs` of process `pid` is the open file
/// description of `mine`: `kcmp` across the processes; unavailable fails
/// unless the run opted in.
fn child_holds(mine: BorrowedFd<'_>, pid: libc::pid_t, theirs: RawFd) -> Option<bool> {
    let me = std::process::id() as libc::pid_t;
    match oracle::kcmp_file_in(me, mine.as_raw_fd(), pid, theirs) {
        Ok(same) => Some(same),
        Err(e) => {
            let why = format!("kcmp(2) across processes failed: {e}");
            assert!(
                oracle::unknown_allowed(&why),
                "{why}: no proof that the child holds the parent's descriptions \
                 (set {}=1 to accept)",
                oracle::ALLOW_UNKNOWN_ENV
            );
            None
        }
    }
}

#[test]
fn spawned_child_receives_over_bound_path() {
    if let Ok(path) = std::env::var("INFLIGHT_CHILD_PATH") {
        child(&path);
        return;
    }
    let s = serial();
    s.check("parent", || {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("child.sock");
        let listener = inflight::bind(
            SocketKind::SeqPacket,
            &SocketAddr::from_pathname(&path).unwrap(),
        )
        .unwrap();
        let file = file_with(b"hello, child", 5);
        let (_r, w) = pipe();
        let proc = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", TEST, "--nocapture", "--test-threads=1"])
            .env("INFLIGHT_CHILD_PATH", &path)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let pid = proc.id() as libc::pid_t;
        let conn = inflight::accept(&listener).unwrap();
        inflight::send_fds(&conn, b"take", &[file.as_fd(), w.as_fd()]).unwrap();
        let mut buf = [0u8; 64];
        let back = inflight::recv_fds::<2>(&conn, &mut buf).unwrap();
        let theirs: Vec<RawFd> = std::str::from_utf8(&buf[..back.bytes])
            .unwrap()
            .split(',')
            .map(|s| s.parse().unwrap())
            .collect();
        assert_eq!(theirs.len(), 2, "the child's numbers");
        // The child still holds them: compare across the processes, and check
        // that the comparison tells them apart.
        let proved = [
            child_holds(file.as_fd(), pid, theirs[0]),
            child_holds(w.as_fd(), pid, theirs[1]),
            child_holds(file.as_fd(), pid, theirs[1]).map(|same| !same),
        ];
        for (i, p) in proved.iter().enumerate() {
            assert_ne!(*p, Some(false), "kcmp check {i}: {proved:?}");
        }
        if proved.iter().all(Option::is_some) {
            println!("the child's fds {theirs:?} are the parent's (kcmp)");
        }
        inflight::send_fds(&conn, b"done", &[]).unwrap();
        assert_same(back.fds.get(0).unwrap(), file.as_fd());
        assert_same(back.fds.get(1).unwrap(), w.as_fd());
        let out = proc.wait_with_output().unwrap();
        std::io::stdout().write_all(&out.stdout).unwrap();
        assert!(
            out.status.success(),
            "child failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    });
}
