//! The generation side of property 10: the [`ReferenceStateMachine`] over
//! [`Model`] (which operations, weighted towards those that apply in the
//! current state), the cases, and the readable summary a failure prints.

use std::fmt;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

use inflight_testkit::FdKind;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest_state_machine::ReferenceStateMachine;

use super::{Model, Op, MAX_CAP, MAX_PAYLOAD, MAX_PEER_MSGS, MAX_SEND, MAX_SIGNALS, POOL};
use crate::plan::any_kind;

/// The [`ReferenceStateMachine`] over [`Model`].
#[derive(Debug)]
pub struct Reference;

fn any_fd_kind() -> impl Strategy<Value = FdKind> {
    proptest::sample::select(FdKind::ALL.to_vec())
}

fn picks() -> impl Strategy<Value = Vec<Index>> {
    proptest::collection::vec(any::<Index>(), 0..=MAX_SEND)
}

impl ReferenceStateMachine for Reference {
    type State = Model;
    type Transition = Op;

    fn init_state() -> BoxedStrategy<Model> {
        (
            any_kind(),
            proptest::collection::vec(any_fd_kind(), POOL),
            any::<bool>(),
        )
            .prop_map(|(kind, pool, passcred)| Model::new(kind, pool, passcred))
            .boxed()
    }

    fn transitions(state: &Model) -> BoxedStrategy<Op> {
        // Every operation is valid in every state (one that does not apply
        // expects nothing), so shrinking may drop any step; the weights
        // only steer generation towards operations that apply now.
        let weight = |applies: bool, w: u32| if applies { w } else { 0 };
        let clear = state.send_clear();
        let idle = clear && state.queue.is_empty() && !state.recv_reset;
        let send = state.sender_open;
        let recv = state.receiver_open;
        let choices: Vec<(u32, BoxedStrategy<Op>)> = vec![
            (
                weight(send, 6),
                (picks(), 1..=MAX_PAYLOAD)
                    .prop_map(|(picks, len)| Op::Send { picks, len })
                    .boxed(),
            ),
            (
                weight(recv, 6),
                (0..=MAX_CAP, any::<bool>(), any::<bool>())
                    .prop_map(|(cap, peek, cloexec)| Op::Recv { cap, peek, cloexec })
                    .boxed(),
            ),
            (
                weight(recv, 3),
                (0..=MAX_CAP, any::<bool>(), any::<bool>(), 0..MAX_SEND)
                    .prop_map(|(cap, peek, cloexec, room)| Op::RecvAtLimit {
                        cap,
                        peek,
                        cloexec,
                        room,
                    })
                    .boxed(),
            ),
            (
                weight(idle, 4),
                (
                    picks(),
                    1..=MAX_PAYLOAD,
                    0..=MAX_CAP,
                    any::<bool>(),
                    1..=MAX_SIGNALS,
                )
                    .prop_map(|(picks, len, cap, cloexec, signals)| Op::RecvInterrupted {
                        picks,
                        len,
                        cap,
                        cloexec,
                        signals,
                    })
                    .boxed(),
            ),
            (
                weight(state.open.contains(&true), 2),
                any::<Index>().prop_map(Op::CloseOriginal).boxed(),
            ),
            (
                1 + weight(state.held > 0, 1),
                Just(Op::CloseReceived).boxed(),
            ),
            (
                weight(send && !state.sender_shut, 1),
                Just(Op::ShutdownSender).boxed(),
            ),
            (weight(send, 1), Just(Op::DropSender).boxed()),
            (weight(recv, 1), Just(Op::DropReceiver).boxed()),
            (weight(!send && !recv, 4), Just(Op::Reopen).boxed()),
            (
                weight(clear, 2),
                (
                    proptest::collection::vec((picks(), 1..=MAX_PAYLOAD), 0..=MAX_PEER_MSGS),
                    any::<Index>(),
                    any::<bool>(),
                )
                    .prop_map(|(msgs, sent, unread)| Op::KillPeer { msgs, sent, unread })
                    .boxed(),
            ),
        ];
        let choices = choices.into_iter().filter(|(w, _)| *w > 0).collect();
        proptest::strategy::Union::new_weighted(choices).boxed()
    }

    fn apply(mut state: Model, op: &Op) -> Model {
        state.step(op);
        state
    }
}

/// One case of property 10: the initial state, the operations, and the
/// counter `proptest-state-machine` uses while shrinking. Its `Debug` is
/// the readable summary a failure prints ([`summary`]).
pub struct Case {
    /// The initial state.
    pub initial: Model,
    /// The operations, in order.
    pub ops: Vec<Op>,
    /// `proptest-state-machine`'s count of the operations applied.
    pub seen: Option<Arc<AtomicUsize>>,
}

impl fmt::Debug for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&summary(&self.initial, &self.ops))
    }
}

/// The cases of property 10: `steps` operations each.
pub fn cases(steps: std::ops::Range<usize>) -> impl Strategy<Value = Case> {
    Reference::sequential_strategy(steps).prop_map(|(initial, ops, seen)| Case {
        initial,
        ops,
        seen,
    })
}

/// The case as a failure shows it: the pair, the pool, then every
/// operation with what the model expected of it.
pub fn summary(initial: &Model, ops: &[Op]) -> String {
    let pool: Vec<&str> = initial.pool.iter().map(|k| k.name()).collect();
    let mut out = format!(
        "{:?} pair, SO_PASSCRED {}, originals {pool:?}, {} operation(s):\n",
        initial.kind,
        if initial.passcred { "on" } else { "off" },
        ops.len()
    );
    let mut m = initial.clone();
    for (i, op) in ops.iter().enumerate() {
        m.step(op);
        out.push_str(&format!("  {:>2}. {op}  ->  {}\n", i + 1, m.expect));
    }
    out
}
