//! The model's own checks: the measured kernel behaviour it encodes.

use proptest::prelude::*;

use super::*;

fn model(kind: SocketKind) -> Model {
    Model::new(kind, vec![FdKind::File; POOL], false)
}

/// Sends `n` descriptors (which ones does not matter here: the pool is
/// all files).
fn send(m: &mut Model, n: usize, len: usize) {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let picks = (0..n)
        .map(|_| any::<Index>().new_tree(&mut runner).unwrap().current())
        .collect();
    m.step(&Op::Send { picks, len });
}

fn index(n: usize) -> Vec<Index> {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    (0..n)
        .map(|_| any::<Index>().new_tree(&mut runner).unwrap().current())
        .collect()
}

fn recv(m: &mut Model, cap: usize, peek: bool) -> Expect {
    m.step(&Op::Recv {
        cap,
        peek,
        cloexec: false,
    });
    m.expect.clone()
}

fn at_limit(m: &mut Model, cap: usize, room: usize) -> Expect {
    m.step(&Op::RecvAtLimit {
        cap,
        peek: false,
        cloexec: false,
        room,
    });
    m.expect.clone()
}

/// An `Index` that picks `pos` among `size` (drawn until one does).
fn index_at(pos: usize, size: usize) -> Index {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    loop {
        let i = any::<Index>().new_tree(&mut runner).unwrap().current();
        if i.index(size) == pos {
            return i;
        }
    }
}

/// A child peer given `n` messages of one descriptor each, all sent.
fn kill_peer(m: &mut Model, n: usize, unread: bool) {
    let msgs = (0..n).map(|_| (index(1), 4)).collect();
    let sent = index_at(n, n + 1);
    m.step(&Op::KillPeer { msgs, sent, unread });
}

#[test]
fn stream_receive_merges_data_up_to_the_first_descriptors() {
    let mut m = model(SocketKind::Stream);
    send(&mut m, 0, 3);
    send(&mut m, 1, 3);
    send(&mut m, 1, 3);
    m.step(&Op::Recv {
        cap: 4,
        peek: false,
        cloexec: true,
    });
    match &m.expect {
        Expect::Received { bytes, fds, .. } => {
            assert_eq!(bytes.len(), 6);
            assert_eq!(fds.len(), 1);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(m.queue.len(), 1);
    assert_eq!(m.held, 1);
}

#[test]
fn seqpacket_reports_reset_once_then_epipe() {
    let mut m = model(SocketKind::SeqPacket);
    send(&mut m, 0, 2);
    m.step(&Op::DropReceiver);
    send(&mut m, 0, 2);
    assert!(matches!(
        m.expect,
        Expect::SendFails {
            errno: libc::ECONNRESET,
            ..
        }
    ));
    send(&mut m, 0, 2);
    assert!(matches!(
        m.expect,
        Expect::SendFails {
            errno: libc::EPIPE,
            ..
        }
    ));
}

#[test]
fn truncation_consumes_unless_peeking() {
    let mut m = model(SocketKind::Datagram);
    send(&mut m, 3, 2);
    m.step(&Op::Recv {
        cap: 1,
        peek: true,
        cloexec: false,
    });
    assert!(matches!(m.expect, Expect::Truncated { cap: 1, .. }));
    assert_eq!(m.queue.len(), 1);
    m.step(&Op::Recv {
        cap: 1,
        peek: false,
        cloexec: false,
    });
    assert!(m.queue.is_empty());
    assert_eq!(m.held, 0);
}

#[test]
fn limit_below_capacity_is_receiver_limit_and_consumes() {
    let mut m = model(SocketKind::SeqPacket);
    send(&mut m, 3, 2);
    let e = at_limit(&mut m, 8, 1);
    assert!(matches!(e, Expect::Limited { room: 1, .. }), "{e:?}");
    assert!(m.queue.is_empty());
    assert_eq!(m.held, 0);
}

#[test]
fn limit_at_or_above_capacity_is_control_buffer_full() {
    let mut m = model(SocketKind::Datagram);
    send(&mut m, 4, 2);
    let e = at_limit(&mut m, 2, 3);
    assert!(
        matches!(
            e,
            Expect::Truncated {
                cap: 2,
                most: 3,
                ..
            }
        ),
        "{e:?}"
    );
    send(&mut m, 2, 2);
    let e = at_limit(&mut m, 4, 5);
    assert!(matches!(e, Expect::Received { .. }), "{e:?}");
    assert_eq!(m.held, 2);
}

#[test]
fn dead_peer_reset_comes_first_on_seqpacket_last_on_stream() {
    for (kind, first) in [(SocketKind::SeqPacket, true), (SocketKind::Stream, false)] {
        let mut m = model(kind);
        kill_peer(&mut m, 2, true);
        assert!(matches!(m.expect, Expect::PeerKilled { sent: 2, .. }));
        let mut got = Vec::new();
        for _ in 0..4 {
            got.push(recv(&mut m, 8, false));
        }
        let reset = got
            .iter()
            .position(|e| *e == Expect::RecvFails(libc::ECONNRESET));
        assert_eq!(reset, Some(if first { 0 } else { 2 }), "{kind:?}: {got:?}");
        assert_eq!(got[3], Expect::Eof, "{kind:?}: {got:?}");
        assert!(
            got.iter()
                .filter(|e| matches!(e, Expect::Received { child: true, .. }))
                .count()
                == 2
        );
    }
}

#[test]
fn dead_datagram_peer_leaves_no_reset() {
    let mut m = model(SocketKind::Datagram);
    kill_peer(&mut m, 1, true);
    assert!(matches!(recv(&mut m, 8, false), Expect::Received { .. }));
    assert_eq!(recv(&mut m, 8, false), Expect::WouldBlock);
}

#[test]
fn stream_with_passcred_does_not_merge_writers() {
    let mut m = Model::new(SocketKind::Stream, vec![FdKind::File; POOL], true);
    send(&mut m, 0, 3);
    kill_peer(&mut m, 1, false);
    match recv(&mut m, 8, false) {
        Expect::Received { bytes, fds, child } => {
            assert_eq!((bytes.len(), fds.len(), child), (3, 0, false));
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        recv(&mut m, 8, false),
        Expect::Received { child: true, .. }
    ));
}

#[test]
fn interrupted_receive_applies_only_to_an_empty_queue() {
    let mut m = model(SocketKind::Stream);
    let op = Op::RecvInterrupted {
        picks: index(2),
        len: 5,
        cap: 8,
        cloexec: true,
        signals: 2,
    };
    m.step(&op);
    match &m.expect {
        Expect::Interrupted { msg, recv } => {
            assert_eq!(
                **recv,
                Expect::Received {
                    bytes: msg.payload.clone(),
                    fds: msg.fds.clone(),
                    child: false,
                }
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(m.queue.is_empty());
    send(&mut m, 0, 1);
    m.step(&op);
    assert_eq!(m.expect, Expect::Nothing);
}

#[test]
fn reopen_only_after_both_ends_close_and_starts_clean() {
    let mut m = model(SocketKind::SeqPacket);
    send(&mut m, 1, 2);
    m.step(&Op::Reopen);
    assert_eq!(m.expect, Expect::Nothing);
    m.step(&Op::DropReceiver);
    assert!(m.reset_pending);
    m.step(&Op::Reopen);
    assert_eq!(m.expect, Expect::Nothing);
    m.step(&Op::DropSender);
    m.step(&Op::Reopen);
    assert_eq!(m.expect, Expect::Reopened);
    assert!(m.sender_open && m.receiver_open && !m.reset_pending);
    send(&mut m, 1, 2);
    assert!(matches!(m.expect, Expect::Sent(_)));
    assert_eq!(m.seq, 2, "payload numbering goes on");
}

/// The generator steers towards operations that apply: from every state a
/// generated case reaches, the next operation does something (only
/// shrinking, which drops steps, leaves some that do not apply).
#[test]
fn generated_operations_apply_in_their_state() {
    use proptest::strategy::ValueTree;
    // PROPTEST_CASES scales it like every property.
    let mut runner = proptest::test_runner::TestRunner::default();
    let strategy = cases(1..40);
    for _ in 0..runner.config().cases {
        let case = strategy.new_tree(&mut runner).unwrap().current();
        let mut m = case.initial.clone();
        for (i, op) in case.ops.iter().enumerate() {
            m.step(op);
            assert_ne!(
                m.expect,
                Expect::Nothing,
                "step {} does not apply:\n{}",
                i + 1,
                summary(&case.initial, &case.ops)
            );
        }
    }
}
