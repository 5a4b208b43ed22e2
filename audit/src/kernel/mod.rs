//! The kernel battery: what the running kernel really does with
//! `SCM_RIGHTS`, each case with its evidence.
//!
//! Every case runs on this thread inside the test kit's leak guard (which
//! holds the kit's lock) and checks, besides its own question, that the
//! auditor's descriptor table is the same afterwards: nothing the kernel
//! installed stays open unnoticed, and no descriptor open before the case
//! was closed or replaced by another open file description (the guard's
//! witnesses see a closed `/dev/null` reopened at the same number). The
//! cases are grouped by theme, one module each.

mod ancillary;
mod common;
mod identity;
mod lifetime;
mod limits;
mod peek;
mod refsuites;
mod stream;
mod truncation;

use anyhow::bail;
use inflight::SocketKind;
use inflight_testkit::{FdKind, LeakGuard};

pub use limits::rlimit_child;

use crate::runner::{describe, one_line, Case, CaseResult, Settings};

/// A case whose descriptor table must be unchanged afterwards (the kit's
/// witnessed [`LeakGuard`]).
fn case(name: String, body: impl FnOnce(&Settings) -> CaseResult + 'static) -> Case {
    Case::new(name, move |s: &Settings| {
        let guard = LeakGuard::start();
        let result = body(s);
        if let Err(changes) = guard.finish() {
            bail!(
                "the auditor's {} (case result: {})",
                one_line(&changes),
                describe(&result)
            );
        }
        result
    })
}

/// The battery being assembled: every name gets the `kernel/` prefix.
struct Battery(Vec<Case>);

impl Battery {
    fn one(&mut self, name: &str, body: impl FnOnce(&Settings) -> CaseResult + 'static) {
        self.0.push(case(format!("kernel/{name}"), body));
    }

    /// `kernel/NAME/KIND` for each kind.
    fn per_kind(
        &mut self,
        name: &str,
        kinds: &[SocketKind],
        body: fn(SocketKind, &Settings) -> CaseResult,
    ) {
        for &k in kinds {
            self.one(&format!("{name}/{k}"), move |s| body(k, s));
        }
    }
}

/// The `scm-max-fd` cases: how many descriptors, split over how many
/// `SCM_RIGHTS` messages.
const MAX_FD_SPLITS: [(&str, &[usize]); 4] = [
    ("253", &[253]),
    ("254", &[254]),
    ("253-split", &[126, 127]),
    ("254-split", &[127, 127]),
];

/// Every kernel case.
pub fn cases() -> Vec<Case> {
    let all = &SocketKind::ALL;
    let mut b = Battery(Vec::new());
    for fk in FdKind::ALL {
        b.one(&format!("identity/{}", fk.name()), move |_| {
            identity::identity(fk)
        });
    }
    b.per_kind("order-repeats", all, |k, _| identity::order_repeats(k));
    b.one("shared-offset", |_| identity::shared_offset());
    b.one("shared-status-flags", |_| identity::shared_status_flags());
    b.one("per-descriptor-cloexec", |_| {
        identity::per_descriptor_cloexec()
    });
    b.one("msg-cmsg-cloexec", |_| identity::msg_cmsg_cloexec());
    b.per_kind("in-flight-survival", all, |k, _| {
        lifetime::in_flight_survival(k)
    });
    for k in SocketKind::ALL {
        for (name, split) in MAX_FD_SPLITS {
            b.one(&format!("scm-max-fd/{name}/{k}"), move |_| {
                limits::max_fds(k, split)
            });
        }
    }
    b.per_kind("bad-descriptor", all, |k, _| limits::bad_descriptor(k));
    for k in SocketKind::ALL {
        for n in [1usize, 3, 8] {
            b.one(&format!("ctrunc-arithmetic/{k}/n{n}"), move |s| {
                truncation::ctrunc_arithmetic(k, n, s)
            });
        }
    }
    b.per_kind("no-control-buffer", all, truncation::no_control_buffer);
    b.one("rlimit-nofile", limits::rlimit_nofile);
    b.one("stream-record-boundary", |_| {
        stream::stream_record_boundary()
    });
    b.per_kind("empty-payload", all, stream::empty_payload);
    let message_kinds = [SocketKind::SeqPacket, SocketKind::Datagram];
    b.per_kind("payload-truncation", &message_kinds, |k, _| {
        truncation::payload_truncation(k)
    });
    b.one("partial-read/stream", |_| stream::partial_read_stream());
    b.per_kind("msg-peek", all, |k, _| peek::msg_peek(k));
    b.one("msg-peek/stream-lookahead", |_| {
        peek::peek_lookahead_stream()
    });
    b.per_kind("queued-after-close", all, |k, _| {
        lifetime::queued_after_close(k)
    });
    b.per_kind("passcred-beside-rights", all, ancillary::passcred);
    b.per_kind("scm-pidfd", all, |k, _| ancillary::pidfd(k));
    b.one("gc-cycle", lifetime::gc_cycle);
    b.per_kind("so-passrights", all, |k, _| ancillary::passrights(k));
    refsuites::register(&mut b);
    b.0
}
