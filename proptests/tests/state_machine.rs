//! Property 10: a state machine (`proptest-state-machine`) over one socket
//! pair. The reference (`inflight_proptests::model`) is a FIFO of messages
//! in flight; operations are send, receive or peek with a random capacity,
//! close an original, close what was received, shut down or drop either
//! end, open a new pair once both are closed, and three faults: a receive
//! with `RLIMIT_NOFILE` lowered, a blocking receive interrupted by signals,
//! and the sender handed to a child process that is killed mid-transfer.
//! After every step the process's open descriptors are exactly the ones
//! open before the case plus the ones the test holds (no leak, no double
//! close: the test kit's descriptor table), and every delivered descriptor
//! is the same open file description as its original (the kit's oracle).

use std::collections::BTreeSet;
use std::io::IoSliceMut;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::Path;
use std::time::Duration;

use inflight::{ErrorKind, Received, RecvOptions, SocketKind};
use inflight_proptests::check::{cloexec_as_asked, identical};
use inflight_proptests::faults::interrupt::interrupted;
use inflight_proptests::faults::limit::LoweredLimit;
use inflight_proptests::faults::peer::{Peer, Planned};
use inflight_proptests::harness::{count_op_kind, count_ops, run_property};
use inflight_proptests::model::{cases, Expect, Model, Msg, Op, Reference};
use inflight_testkit::{cmsg, describe_fd, open_fds, sockopt, Fixture};
use proptest_state_machine::StateMachineTest;

/// How long the interrupted blocking receive may wait in all.
const BLOCKING_TIMEOUT: Duration = Duration::from_secs(5);

type RecvResult = Result<Received<Vec<OwnedFd>>, inflight::Error>;

/// The system under test: the real sockets and descriptors, and the
/// descriptors that were open before it opened anything.
struct System {
    kind: SocketKind,
    passcred: bool,
    baseline: BTreeSet<RawFd>,
    sender: Option<OwnedFd>,
    receiver: Option<OwnedFd>,
    /// The originals (closable) with their other ends.
    originals: Vec<Option<OwnedFd>>,
    keep: Vec<Vec<OwnedFd>>,
    /// A duplicate of each original, kept to the end: the identity oracle.
    witnesses: Vec<OwnedFd>,
    /// Received descriptors held, with the pool index each should match.
    held: Vec<(usize, OwnedFd)>,
    /// The process id of the killed child peer (its messages carry it).
    peer_pid: Option<libc::pid_t>,
    step: usize,
}

impl System {
    fn owned(&self) -> BTreeSet<RawFd> {
        let mut s = BTreeSet::new();
        let mut add = |fd: &OwnedFd| {
            assert!(s.insert(fd.as_raw_fd()), "fd {} held twice", fd.as_raw_fd());
        };
        self.sender.iter().for_each(&mut add);
        self.receiver.iter().for_each(&mut add);
        self.originals.iter().flatten().for_each(&mut add);
        self.keep.iter().flatten().for_each(&mut add);
        self.witnesses.iter().for_each(&mut add);
        self.held.iter().for_each(|(_, fd)| add(fd));
        s
    }

    fn original(&self, i: usize) -> BorrowedFd<'_> {
        self.originals[i]
            .as_ref()
            .expect("the model sends only open originals")
            .as_fd()
    }

    fn send(&self, msg: &Msg) -> Result<usize, inflight::Error> {
        let sender = self
            .sender
            .as_ref()
            .expect("the model sends only on an open sender");
        let fds: Vec<BorrowedFd<'_>> = msg.fds.iter().map(|&i| self.original(i)).collect();
        inflight::send_fds(sender, &msg.payload, &fds)
    }

    fn receiver(&self) -> &OwnedFd {
        self.receiver.as_ref().expect("receiver open")
    }

    /// Checks `got` (received in order) against the originals `want`, and
    /// their `FD_CLOEXEC` against what was asked.
    fn check_delivered(&self, what: &str, got: &[OwnedFd], want: &[usize], cloexec: bool) {
        for (j, (fd, &i)) in got.iter().zip(want).enumerate() {
            let ctx = format!("{what}, descriptor {j} (original {i})");
            if let Err(e) = identical(&ctx, self.witnesses[i].as_fd(), fd.as_fd()) {
                panic!("{e}");
            }
            if let Err(e) = cloexec_as_asked(&ctx, fd.as_fd(), cloexec) {
                panic!("{e}");
            }
        }
    }

    /// The credentials a message must carry: none without `SO_PASSCRED`,
    /// else its writer's (this process, or the dead child).
    fn credentials(&self, child: bool) -> Option<(libc::pid_t, libc::uid_t, libc::gid_t)> {
        self.passcred.then(|| {
            let (pid, uid, gid) = cmsg::own_ids();
            if child {
                (self.peer_pid.expect("a child wrote it"), uid, gid)
            } else {
                (pid, uid, gid)
            }
        })
    }

    /// Compares one receive with the model's expectation; keeps what a
    /// successful receive delivered, closes what a truncated one did.
    fn check_recv(
        &mut self,
        what: &str,
        expect: &Expect,
        res: RecvResult,
        buf: &[u8],
        cloexec: bool,
    ) {
        match (expect, res) {
            (Expect::Received { bytes, fds, child }, Ok(got)) => {
                assert_eq!(&buf[..got.bytes], &bytes[..], "{what}: payload");
                assert_eq!(got.fds.len(), fds.len(), "{what}: descriptor count");
                self.check_delivered(what, &got.fds, fds, cloexec);
                let creds = got.credentials.map(|c| (c.pid, c.uid, c.gid));
                let want = self.credentials(*child);
                assert_eq!(creds, want, "{what}: credentials (pid, uid, gid)");
                self.held.extend(fds.iter().copied().zip(got.fds));
            }
            (
                Expect::Truncated {
                    bytes,
                    fds,
                    cap,
                    most,
                },
                Err(mut e),
            ) => {
                assert_eq!(e.kind(), ErrorKind::ControlBufferFull, "{what}: {e:?}");
                assert_eq!(e.capacity(), *cap, "{what}: capacity in {e:?}");
                assert_eq!(&buf[..e.bytes()], &bytes[..], "{what}: payload");
                let got = e.take_fds();
                assert!(
                    got.len() >= *cap && got.len() <= *most,
                    "{what}: {} of {} arrived with room for {cap} (at most {most} fit)",
                    got.len(),
                    fds.len()
                );
                self.check_delivered(what, &got, fds, cloexec);
                // Closed here: the invariant then checks that nothing else
                // stayed open.
            }
            (Expect::Limited { bytes, fds, room }, Err(mut e)) => {
                assert_eq!(e.kind(), ErrorKind::ReceiverLimit, "{what}: {e:?}");
                assert_eq!(&buf[..e.bytes()], &bytes[..], "{what}: payload");
                let got = e.take_fds();
                assert_eq!(
                    got.len(),
                    *room,
                    "{what}: descriptors delivered at the limit, of {}",
                    fds.len()
                );
                self.check_delivered(what, &got, &fds[..*room], cloexec);
            }
            (Expect::RecvFails(want), Err(e)) => {
                assert_eq!(errno(&e), Some(*want), "{what}: {e:?}");
            }
            (Expect::WouldBlock, Err(e)) => {
                assert!(e.is_would_block(), "{what}: expected WouldBlock, got {e:?}");
            }
            (Expect::Eof, Ok(got)) => {
                assert_eq!(got.bytes, 0, "{what}: bytes at end of stream");
                assert!(got.fds.is_empty(), "{what}: descriptors at end of stream");
            }
            (expect, Ok(got)) => panic!(
                "{what}: expected {expect:?}, received {} bytes and {} fds",
                got.bytes,
                got.fds.len()
            ),
            (expect, Err(e)) => panic!("{what}: expected {expect:?}, got {e:?}"),
        }
    }

    /// The interrupted blocking receive: the receiver blocking with a
    /// timeout for the call, signals while it waits, then the send.
    fn recv_interrupted(&mut self, what: &str, msg: &Msg, recv: &Expect, op: &Op) {
        let Op::RecvInterrupted {
            cap,
            cloexec,
            signals,
            ..
        } = *op
        else {
            panic!("{what}: the model expects an interrupted receive of {op:?}");
        };
        blocking(self.receiver(), true);
        let mut buf = vec![0u8; 64 * 1024];
        let (res, sent, delivered) = interrupted(
            signals,
            libc::SYS_recvmsg,
            || receive(self.receiver(), &mut buf, cap, false, cloexec),
            || self.send(msg),
        );
        blocking(self.receiver(), false);
        match sent {
            Ok(n) => assert_eq!(n, msg.payload.len(), "{what}: bytes sent"),
            Err(e) => panic!("{what}: the send failed: {e:?}"),
        }
        self.check_recv(what, recv, res, &buf, cloexec);
        assert_eq!(
            delivered, signals,
            "{what}: signals delivered while the receive was blocked"
        );
    }

    /// The child peer: gets the sender, sends `sent` of `msgs`, is killed.
    fn kill_peer(&mut self, what: &str, msgs: &[Msg], sent: usize, unread: bool) {
        let sender = self.sender.take().expect("sender open");
        let mut used: Vec<usize> = msgs.iter().flat_map(|m| m.fds.iter().copied()).collect();
        used.sort_unstable();
        used.dedup();
        let fds: Vec<BorrowedFd<'_>> = used.iter().map(|&i| self.original(i)).collect();
        let plan: Vec<Planned> = msgs
            .iter()
            .map(|m| {
                let idx = m.fds.iter().map(|i| used.binary_search(i).unwrap());
                (m.payload.clone(), idx.collect())
            })
            .collect();
        let exe = Path::new(env!("CARGO_BIN_EXE_inflight-prop-peer"));
        let mut peer = Peer::spawn(exe, sender, &fds, &plan)
            .unwrap_or_else(|e| panic!("{what}: start the child peer: {e}"));
        for i in 0..sent {
            peer.send_next()
                .unwrap_or_else(|e| panic!("{what}: the child's message {i}: {e}"));
        }
        if unread {
            let sent = nix::sys::socket::send(
                self.receiver().as_raw_fd(),
                b"u",
                nix::sys::socket::MsgFlags::MSG_DONTWAIT,
            );
            assert_eq!(sent, Ok(1), "{what}: data for the child");
        }
        self.peer_pid = Some(peer.pid());
        peer.kill()
            .unwrap_or_else(|e| panic!("{what}: kill the child peer: {e}"));
    }
}

/// A new non-blocking pair of the model's kind, `SO_PASSCRED` on the
/// receiver as the model says.
fn pair(model: &Model) -> (OwnedFd, OwnedFd) {
    let (sender, receiver) = inflight::socketpair(model.kind).expect("socketpair");
    inflight::set_nonblocking(&sender, true).expect("O_NONBLOCK");
    inflight::set_nonblocking(&receiver, true).expect("O_NONBLOCK");
    if model.passcred {
        // Set directly, not through inflight: the credentials check judges
        // inflight's receive, not its setter.
        sockopt::set_int(receiver.as_fd(), libc::SOL_SOCKET, libc::SO_PASSCRED, 1)
            .expect("SO_PASSCRED");
    }
    (sender, receiver)
}

fn errno(e: &inflight::Error) -> Option<i32> {
    e.io_error().and_then(std::io::Error::raw_os_error)
}

fn receive(sock: &OwnedFd, buf: &mut [u8], cap: usize, peek: bool, cloexec: bool) -> RecvResult {
    let opts = RecvOptions::new().peek(peek).cloexec(cloexec);
    inflight::recv_vec_with(sock, &mut [IoSliceMut::new(buf)], cap, &opts)
}

/// Blocking with a receive timeout (the interrupted receive can never
/// hang), or back to non-blocking without one. Set with `fcntl` and
/// `setsockopt` directly: inflight's setters are not what is judged.
fn blocking(sock: &OwnedFd, on: bool) {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    let flags = OFlag::from_bits_retain(fcntl(sock, FcntlArg::F_GETFL).expect("F_GETFL"));
    let flags = if on {
        flags - OFlag::O_NONBLOCK
    } else {
        flags | OFlag::O_NONBLOCK
    };
    fcntl(sock, FcntlArg::F_SETFL(flags)).expect("F_SETFL");
    let secs = if on { BLOCKING_TIMEOUT.as_secs() } else { 0 };
    let tv = nix::sys::time::TimeVal::new(secs as i64, 0);
    nix::sys::socket::setsockopt(sock, nix::sys::socket::sockopt::ReceiveTimeout, &tv)
        .expect("SO_RCVTIMEO");
}

struct Test;

impl StateMachineTest for Test {
    type SystemUnderTest = System;
    type Reference = Reference;

    fn init_test(model: &Model) -> System {
        let baseline = open_fds()
            .expect("read /proc/self/fd")
            .into_iter()
            .collect();
        let (sender, receiver) = pair(model);
        let mut originals = Vec::new();
        let mut keep = Vec::new();
        let mut witnesses = Vec::new();
        for kind in &model.pool {
            let Fixture { fd, keep: k, .. } = kind.open().expect("open a fixture");
            witnesses.push(fd.try_clone().expect("dup a witness"));
            originals.push(Some(fd));
            keep.push(k);
        }
        System {
            kind: model.kind,
            passcred: model.passcred,
            baseline,
            sender: Some(sender),
            receiver: Some(receiver),
            originals,
            keep,
            witnesses,
            held: Vec::new(),
            peer_pid: None,
            step: 0,
        }
    }

    fn apply(mut sys: System, model: &Model, op: Op) -> System {
        sys.step += 1;
        count_ops(1);
        count_op_kind(op.name(), model.expect.outcome());
        let what = format!("step {} ({:?} pair): {op}", sys.step, sys.kind);
        match (&model.expect, &op) {
            (Expect::Nothing, _) => {}
            (Expect::Sent(msg), _) => match sys.send(msg) {
                Ok(n) => assert_eq!(n, msg.payload.len(), "{what}: bytes sent"),
                Err(e) => panic!("{what}: the send failed: {e:?}"),
            },
            (Expect::SendFails { msg, errno: want }, _) => match sys.send(msg) {
                Ok(n) => panic!("{what}: sent {n} bytes, expected errno {want}"),
                Err(e) => assert_eq!(errno(&e), Some(*want), "{what}: {e:?}"),
            },
            (expect, &Op::Recv { cap, peek, cloexec }) => {
                let mut buf = vec![0u8; 64 * 1024];
                let res = receive(sys.receiver(), &mut buf, cap, peek, cloexec);
                sys.check_recv(&what, expect, res, &buf, cloexec);
            }
            (
                expect,
                &Op::RecvAtLimit {
                    cap,
                    peek,
                    cloexec,
                    room,
                },
            ) => {
                let mut buf = vec![0u8; 64 * 1024];
                let limit = LoweredLimit::leave_room(room)
                    .unwrap_or_else(|e| panic!("{what}: lower RLIMIT_NOFILE: {e}"));
                let res = receive(sys.receiver(), &mut buf, cap, peek, cloexec);
                // Back up before anything else opens a descriptor.
                limit.restore();
                sys.check_recv(&what, expect, res, &buf, cloexec);
            }
            (Expect::Interrupted { msg, recv }, op) => sys.recv_interrupted(&what, msg, recv, op),
            (Expect::PeerKilled { msgs, sent, unread }, _) => {
                sys.kill_peer(&what, msgs, *sent, *unread);
            }
            (Expect::Closed(i), _) => {
                assert!(sys.originals[*i].take().is_some(), "{what}: already closed");
            }
            (Expect::ClosedReceived, _) => sys.held.clear(),
            (Expect::Shutdown, _) => {
                let sender = sys.sender.as_ref().expect("sender open");
                nix::sys::socket::shutdown(sender.as_raw_fd(), nix::sys::socket::Shutdown::Write)
                    .unwrap_or_else(|e| panic!("{what}: shutdown: {e}"));
            }
            (Expect::DroppedSender, _) => sys.sender = None,
            (Expect::DroppedReceiver, _) => sys.receiver = None,
            (Expect::Reopened, _) => {
                let (sender, receiver) = pair(model);
                sys.sender = Some(sender);
                sys.receiver = Some(receiver);
            }
            (expect, op) => panic!("{what}: the model expects {expect:?} of {op:?}"),
        }
        sys
    }

    fn check_invariants(sys: &System, model: &Model) {
        let what = format!("after step {}", sys.step);
        assert_eq!(
            sys.held.len(),
            model.held,
            "{what}: received descriptors held"
        );
        for (i, o) in sys.originals.iter().enumerate() {
            assert_eq!(o.is_some(), model.open[i], "{what}: original {i} open");
        }
        assert_eq!(sys.sender.is_some(), model.sender_open, "{what}: sender");
        assert_eq!(
            sys.receiver.is_some(),
            model.receiver_open,
            "{what}: receiver"
        );
        let open: BTreeSet<RawFd> = open_fds()
            .expect("read /proc/self/fd")
            .into_iter()
            .collect();
        let owned = sys.owned();
        let expected: BTreeSet<RawFd> = sys.baseline.union(&owned).copied().collect();
        if open != expected {
            let leaked: Vec<String> = open
                .difference(&expected)
                .map(|&fd| describe_fd(fd).to_string())
                .collect();
            let missing: Vec<&RawFd> = expected.difference(&open).collect();
            panic!(
                "{what}: open descriptors differ from the model's: leaked {leaked:?}, \
                 closed though held {missing:?}"
            );
        }
    }
}

/// Property 10.
#[test]
fn p10_state_machine() {
    run_property("p10_state_machine", file!(), cases(1..40), |case| {
        Test::test_sequential(
            proptest::test_runner::Config::default(),
            case.initial,
            case.ops,
            case.seen,
        );
        Ok(())
    });
}
