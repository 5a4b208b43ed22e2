//! Property 10: a state machine (`proptest-state-machine`) over one socket
//! pair. The reference (`inflight_proptests::model`) is a FIFO of messages
//! in flight; operations are send, receive or peek with a random capacity,
//! close an original, close what was received, shut down or drop either
//! end. After every step the process's open descriptors are exactly the
//! ones open before the case plus the ones the test holds (no leak, no
//! double close: the test kit's descriptor table), and every delivered
//! descriptor is the same open file description as its original (the kit's
//! oracle).

use std::collections::BTreeSet;
use std::io::IoSliceMut;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

use inflight::{ErrorKind, RecvOptions, SocketKind};
use inflight_proptests::check::{cloexec_as_asked, identical};
use inflight_proptests::harness::{count_ops, run_property};
use inflight_proptests::model::{Expect, Model, Op, Reference};
use inflight_testkit::{cmsg, describe_fd, open_fds, sockopt, Fixture};
use proptest_state_machine::{ReferenceStateMachine, StateMachineTest};

/// The system under test: the real sockets and descriptors, and the
/// descriptors that were open before it opened anything.
struct System {
    kind: SocketKind,
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

    fn send(&mut self, msg: &inflight_proptests::model::Msg) -> Result<usize, inflight::Error> {
        let sender = self
            .sender
            .as_ref()
            .expect("the model sends only on an open sender");
        let fds: Vec<BorrowedFd<'_>> = msg
            .fds
            .iter()
            .map(|&i| {
                self.originals[i]
                    .as_ref()
                    .expect("the model sends only open originals")
                    .as_fd()
            })
            .collect();
        inflight::send_fds(sender, &msg.payload, &fds)
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
}

fn errno(e: &inflight::Error) -> Option<i32> {
    e.io_error().and_then(std::io::Error::raw_os_error)
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
        let (sender, receiver) = inflight::socketpair(model.kind).expect("socketpair");
        inflight::set_nonblocking(&sender, true).expect("O_NONBLOCK");
        inflight::set_nonblocking(&receiver, true).expect("O_NONBLOCK");
        if model.passcred {
            // Set directly, not through inflight: the credentials check
            // below judges inflight's receive, not its setter.
            sockopt::set_int(receiver.as_fd(), libc::SOL_SOCKET, libc::SO_PASSCRED, 1)
                .expect("SO_PASSCRED");
        }
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
            baseline,
            sender: Some(sender),
            receiver: Some(receiver),
            originals,
            keep,
            witnesses,
            held: Vec::new(),
            step: 0,
        }
    }

    fn apply(mut sys: System, model: &Model, op: Op) -> System {
        sys.step += 1;
        count_ops(1);
        let what = format!("step {} ({:?} pair): {op:?}", sys.step, sys.kind);
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
            (expect, Op::Recv { cap, peek, cloexec }) => {
                let receiver = sys.receiver.as_ref().expect("receiver open");
                let mut buf = vec![0u8; 64 * 1024];
                let opts = RecvOptions::new().peek(*peek).cloexec(*cloexec);
                let res = inflight::recv_vec_with(
                    receiver,
                    &mut [IoSliceMut::new(&mut buf)],
                    *cap,
                    &opts,
                );
                match (expect, res) {
                    (Expect::Received { bytes, fds }, Ok(got)) => {
                        assert_eq!(&buf[..got.bytes], &bytes[..], "{what}: payload");
                        assert_eq!(got.fds.len(), fds.len(), "{what}: descriptor count");
                        sys.check_delivered(&what, &got.fds, fds, *cloexec);
                        let creds = got.credentials.map(|c| (c.pid, c.uid, c.gid));
                        let want = model.passcred.then(cmsg::own_ids);
                        assert_eq!(creds, want, "{what}: credentials (pid, uid, gid)");
                        sys.held.extend(fds.iter().copied().zip(got.fds));
                    }
                    (Expect::Truncated { bytes, fds, cap }, Err(mut e)) => {
                        assert_eq!(e.kind(), ErrorKind::ControlBufferFull, "{what}: {e:?}");
                        assert_eq!(e.capacity(), *cap, "{what}: capacity in {e:?}");
                        assert_eq!(&buf[..e.bytes()], &bytes[..], "{what}: payload");
                        let got = e.take_fds();
                        assert!(
                            got.len() >= *cap && got.len() <= fds.len(),
                            "{what}: {} of {} arrived with room for {cap}",
                            got.len(),
                            fds.len()
                        );
                        sys.check_delivered(&what, &got, fds, *cloexec);
                        // Closed here: the invariant then checks that
                        // nothing else stayed open.
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
    run_property(
        "p10_state_machine",
        file!(),
        Reference::sequential_strategy(1..40),
        |(initial, ops, seen)| {
            Test::test_sequential(proptest::test_runner::Config::default(), initial, ops, seen);
            Ok(())
        },
    );
}
