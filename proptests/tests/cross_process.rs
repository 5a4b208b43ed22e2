//! Property 9: cross-process. A spawned child receives over a bound path
//! and over a socket pair (whose end it got over the path), proves identity
//! with `kcmp` against this process's pid, and sends the descriptors back;
//! this process proves the round trip is the same open file description.
//! Where the child cannot use `kcmp`, this process compares its descriptor
//! with the child's; an identity nobody can decide fails (see
//! `inflight_proptests::harness::identity_unknown`).

use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};

use inflight::SocketKind;
use inflight_proptests::check::{fail, identical};
use inflight_proptests::exchange::STEP_TIMEOUT;
use inflight_proptests::fds::{any_source, fd_spec, open_pool, FdSpec, Source};
use inflight_proptests::harness::{count_ops, identity_unknown, note_skipped, run_property};
use inflight_proptests::plan::{any_kind, fd_count};
use inflight_testkit::oracle::kcmp_file_in;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::TestCaseError;

#[derive(Clone, Debug)]
struct CrossCase {
    /// Kind of the bound path (connection-oriented).
    path_kind: SocketKind,
    /// Kind of the socket pair passed over it.
    pair_kind: SocketKind,
    pool: Vec<FdSpec>,
    /// Pool indices sent over the path, then over the socket pair.
    first: Vec<usize>,
    second: Vec<usize>,
}

fn cross_case() -> impl Strategy<Value = CrossCase> {
    (
        prop_oneof![Just(SocketKind::Stream), Just(SocketKind::SeqPacket)],
        any_kind(),
        proptest::collection::vec(fd_spec(any_source()), 1..=4),
        fd_count().prop_flat_map(|n| proptest::collection::vec(any::<Index>(), n)),
        fd_count().prop_flat_map(|n| proptest::collection::vec(any::<Index>(), n)),
    )
        .prop_map(|(path_kind, pair_kind, mut pool, a, b)| {
            for s in &mut pool {
                if s.source == Source::SenderSocket {
                    s.source = Source::Kind(inflight_testkit::FdKind::UnixSocket);
                }
            }
            let n = pool.len();
            // The socket pair end rides with the first batch; the child
            // sends both batches back in one message: at most 253 in all.
            let mut first: Vec<usize> = a.iter().map(|i| i.index(n)).collect();
            first.truncate(inflight::SCM_MAX_FD - 1);
            let mut second: Vec<usize> = b.iter().map(|i| i.index(n)).collect();
            second.truncate(inflight::SCM_MAX_FD - first.len());
            CrossCase {
                path_kind,
                pair_kind,
                pool,
                first,
                second,
            }
        })
}

fn io<E: std::fmt::Display>(what: &'static str) -> impl Fn(E) -> TestCaseError {
    move |e| fail(format!("{what}: {e}"))
}

/// Both directions of `sock` give up after [`STEP_TIMEOUT`] (on a Unix
/// listener `SO_RCVTIMEO` also bounds `accept`): a child that fails must
/// make the case fail, never hang it.
fn bounded(sock: &impl AsFd) -> Result<(), TestCaseError> {
    let tv = nix::sys::time::TimeVal::new(STEP_TIMEOUT.as_secs() as i64, 0);
    nix::sys::socket::setsockopt(sock, nix::sys::socket::sockopt::ReceiveTimeout, &tv)
        .map_err(io("SO_RCVTIMEO"))?;
    nix::sys::socket::setsockopt(sock, nix::sys::socket::sockopt::SendTimeout, &tv)
        .map_err(io("SO_SNDTIMEO"))
}

/// The child process, killed and reaped if the case ends early.
struct ChildGuard(Option<Child>);

impl ChildGuard {
    fn id(&self) -> u32 {
        self.0.as_ref().map_or(0, Child::id)
    }

    /// Waits for the child to exit on its own.
    fn wait(mut self) -> std::io::Result<ExitStatus> {
        self.0.take().expect("waited once").wait()
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Cross-process identity and round trip through a child process.
#[test]
fn p9_cross_process() {
    run_property("p9_cross_process", file!(), cross_case(), |c| {
        let pool = open_pool(&c.pool).map_err(io("open the pool"))?;
        let dir = tempfile::tempdir().map_err(io("tempdir"))?;
        let path = dir.path().join("parent.sock");
        let addr = SocketAddr::from_pathname(&path).map_err(io("address"))?;
        let listener = inflight::bind(c.path_kind, &addr).map_err(io("bind"))?;
        bounded(&listener)?;
        let (mine, theirs) = inflight::socketpair(c.pair_kind).map_err(io("socketpair"))?;
        bounded(&mine)?;
        let child = ChildGuard(Some(
            Command::new(env!("CARGO_BIN_EXE_inflight-prop-child"))
                .arg(&path)
                .arg(c.path_kind.name())
                .stdin(Stdio::null())
                .spawn()
                .map_err(io("spawn the child"))?,
        ));
        let mut theirs = Some(theirs);
        let result = (|| {
            let conn = inflight::accept(&listener).map_err(io("accept"))?;
            bounded(&conn)?;
            let none = mine.as_fd(); // never sent: the pool has no sending socket
            let first: Vec<BorrowedFd<'_>> = c.first.iter().map(|&p| pool[p].fd(none)).collect();
            let second: Vec<BorrowedFd<'_>> = c.second.iter().map(|&p| pool[p].fd(none)).collect();
            let all: Vec<BorrowedFd<'_>> = first.iter().chain(&second).copied().collect();
            let mut header = format!("{} {}", std::process::id(), all.len());
            for fd in &all {
                header.push_str(&format!(" {}", fd.as_raw_fd()));
            }
            {
                let end = theirs.as_ref().expect("not sent yet");
                let mut a = vec![end.as_fd()];
                a.extend(&first);
                inflight::send_fds(&conn, header.as_bytes(), &a)
                    .map_err(io("send over the path"))?;
            }
            // The copy in flight (then the child's) keeps that end alive;
            // this process must not, or a dead child would never look like
            // end of stream on `mine`.
            theirs = None;
            inflight::send_fds(&mine, b"second batch", &second)
                .map_err(io("send over the pair"))?;
            count_ops(2);
            let mut buf = vec![0u8; 8 * 1024];
            let back = inflight::recv_fds_vec(&mine, &mut buf, inflight::SCM_MAX_FD)
                .map_err(|e| fail(format!("receive the round trip: {e:?}")))?;
            count_ops(1);
            let reply = String::from_utf8_lossy(&buf[..back.bytes]).into_owned();
            let verdicts: Vec<&str> = reply.split_whitespace().filter(|v| *v != "-").collect();
            if verdicts.len() != all.len() || back.fds.len() != all.len() {
                return Err(fail(format!(
                    "the child reported {} verdict(s) and returned {} fd(s) for {} sent: {reply:?}",
                    verdicts.len(),
                    back.fds.len(),
                    all.len()
                )));
            }
            let child_pid = child.id() as i32;
            for (j, ((orig, v), ret)) in all.iter().zip(&verdicts).zip(&back.fds).enumerate() {
                let (verdict, child_fd) = v.split_at(1);
                let child_fd: i32 = child_fd.parse().map_err(io("child fd number"))?;
                match verdict {
                    "S" => {}
                    "D" => {
                        return Err(fail(format!(
                            "fd {j}: the child's kcmp says its fd {child_fd} is not this process's fd {}",
                            orig.as_raw_fd()
                        )))
                    }
                    _ => match kcmp_file_in(std::process::id() as i32, orig.as_raw_fd(), child_pid, child_fd) {
                        Ok(true) => note_skipped(
                            "kcmp from the child",
                            "the child may not inspect its parent; compared from the parent instead",
                        ),
                        Ok(false) => {
                            return Err(fail(format!("fd {j}: the child's fd {child_fd} is a different description")))
                        }
                        Err(e) => identity_unknown(
                            &format!("fd {j}: the child's fd {child_fd}"),
                            &format!("kcmp(2) from neither process: {e}"),
                        )?,
                    },
                }
                identical(&format!("round trip fd {j}"), *orig, ret.as_fd())?;
            }
            // Release the child ("done": a datagram pair has no end of
            // stream to wait for).
            inflight::send_fds(&mine, b"done", &[])
                .map_err(|e| fail(format!("send done: {e:?}")))?;
            Ok(())
        })();
        drop(theirs);
        // On failure the guard kills the child: it may be blocked anywhere.
        result?;
        drop(mine);
        let status = child.wait().map_err(io("wait for the child"))?;
        if !status.success() {
            return Err(fail(format!("the child exited with {status}")));
        }
        Ok(())
    });
}
