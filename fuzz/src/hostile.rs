//! `hostile_peer`: the fuzzer is a hostile sender making raw `sendmsg`
//! calls with mixed control messages (several `SCM_RIGHTS`, `SCM_CREDENTIALS`
//! with the sender's own values, foreign levels, odd lengths the kernel
//! accepts, junk after the last header) and payloads; inflight receives.
//! Whether the kernel accepts a send is predicted (and checked); every
//! receive must give data or a typed error, the right descriptors, and
//! leak nothing.

use std::os::fd::{AsRawFd, RawFd};
use std::rc::Rc;

use arbitrary::Arbitrary;
use inflight::SCM_MAX_FD;
use inflight_testkit::cmsg::{self, Cmsg};
use inflight_testkit::raw;

use crate::harness::{Harness, RecvSpec, INFLIGHT_MAX};
use crate::util::{self, CheapKind, Kind};

#[derive(Arbitrary, Debug)]
struct Input {
    kind: Kind,
    passcred: bool,
    passpidfd: bool,
    /// `SO_PASSRIGHTS` off at both ends (Linux 6.16+): descriptors refused.
    no_rights: bool,
    first: CheapKind,
    ops: Vec<Op>,
}

#[derive(Arbitrary, Debug)]
enum Op {
    Open(CheapKind),
    Send {
        from_b: bool,
        cmsgs: Vec<RawCmsg>,
        payload: u8,
        tail: Tail,
    },
    Recv {
        at_b: bool,
        spec: RecvSpec,
    },
    CloseOriginal(u8),
}

#[derive(Arbitrary, Debug)]
enum RawCmsg {
    /// `SCM_RIGHTS`; `odd` adds 0-3 bytes to `cmsg_len` (ignored by the
    /// kernel: a partial descriptor number).
    Rights { fds: Vec<FdRef>, odd: u8 },
    /// One pool entry `count` times.
    ManyRights { fd: u8, count: u16 },
    /// `SCM_CREDENTIALS` with our own pid, uid and gid.
    Credentials,
    /// `SCM_CREDENTIALS` with a wrong `cmsg_len` (refused).
    CredentialsBadLen { extra: u8 },
    /// Another level (ignored by the kernel), or an unknown `SOL_SOCKET`
    /// type (refused).
    Foreign {
        level: i32,
        kind: i32,
        data: Vec<u8>,
    },
    /// `SCM_PIDFD` is receive-only (refused).
    PidFd,
}

#[derive(Arbitrary, Debug)]
enum FdRef {
    Pool(u8),
    /// A number no process has open.
    Closed,
    Negative,
}

/// What follows the last message.
#[derive(Arbitrary, Debug)]
enum Tail {
    /// Nothing: the buffer ends with the last message's padding.
    Padded,
    /// `msg_controllen` ends with the last message's `cmsg_len`.
    Unpadded,
    /// Up to 15 junk bytes (too short for a header: ignored).
    Junk(Vec<u8>),
}

const OPS_MAX: usize = 32;
const CMSGS_MAX: usize = 8;

/// The fuzz target body; see the module documentation.
///
/// # Panics
///
/// When the kernel accepts or refuses other than predicted, or a receive
/// disagrees with the model, or the descriptor table changed.
pub fn hostile_peer(data: &[u8]) {
    util::live_input::<Input>(data, run);
}

fn run(input: &Input) {
    let mut h = Harness::new(input.kind);
    // Whether the kernel has the options comes from the kit's raw probe:
    // where it does, inflight's setters must work (an error there is a
    // finding, not a reason to skip the check).
    let facts = util::facts();
    let no_rights = input.no_rights && facts.passrights;
    for i in 0..2 {
        let sock = h.ends[i].as_ref().expect("fresh pair");
        if input.passcred {
            inflight::set_pass_credentials(sock, true).expect("SO_PASSCRED");
            h.passcred[i] = true;
        }
        if input.passpidfd && facts.pidfd {
            inflight::set_pass_pidfd(sock, true).expect("SO_PASSPIDFD");
            h.passpidfd[i] = true;
        }
        if no_rights {
            inflight::set_pass_rights(sock, false).expect("SO_PASSRIGHTS off");
        }
    }
    h.open(input.first);
    for op in input.ops.iter().take(OPS_MAX) {
        match op {
            Op::Open(k) => h.open(*k),
            Op::Send {
                from_b,
                cmsgs,
                payload,
                tail,
            } => hostile_send(
                &mut h,
                usize::from(*from_b),
                cmsgs,
                *payload,
                tail,
                no_rights,
            ),
            Op::Recv { at_b, spec } => h.recv(usize::from(*at_b), *spec),
            Op::CloseOriginal(i) => h.close_original(*i),
        }
    }
    h.drain();
}

/// A number that is never an open descriptor (above any `RLIMIT_NOFILE`).
const CLOSED_FD: RawFd = 1 << 30;

fn hostile_send(
    h: &mut Harness,
    from: usize,
    cmsgs: &[RawCmsg],
    payload_len: u8,
    tail: &Tail,
    no_rights: bool,
) {
    let mut msgs: Vec<Cmsg> = Vec::new();
    let mut sent: Vec<usize> = Vec::new();
    let mut refused = false;
    for m in cmsgs.iter().take(CMSGS_MAX) {
        msgs.push(match m {
            RawCmsg::Rights { fds, odd } => {
                let mut numbers = Vec::new();
                for r in fds {
                    numbers.push(match r {
                        FdRef::Pool(i) => match h.pick(*i) {
                            Some(i) => {
                                sent.push(i);
                                h.pool[i].original.as_ref().expect("open").as_raw_fd()
                            }
                            None => continue,
                        },
                        FdRef::Closed => {
                            refused = true;
                            CLOSED_FD
                        }
                        FdRef::Negative => {
                            refused = true;
                            -1
                        }
                    });
                }
                let mut c = Cmsg::rights(&numbers);
                c.data.resize(c.data.len() + usize::from(odd % 4), 0xa5);
                c
            }
            RawCmsg::ManyRights { fd, count } => {
                let mut numbers = Vec::new();
                if let Some(i) = h.pick(*fd) {
                    let raw = h.pool[i].original.as_ref().expect("open").as_raw_fd();
                    let n = usize::from(*count) % (SCM_MAX_FD + 8);
                    sent.extend(std::iter::repeat_n(i, n));
                    numbers = vec![raw; n];
                }
                Cmsg::rights(&numbers)
            }
            RawCmsg::Credentials => Cmsg::own_credentials(),
            RawCmsg::CredentialsBadLen { extra } => {
                refused = true;
                // Shorter or longer than a ucred, never exactly.
                let n = usize::from(*extra % 24);
                let n = if n == 12 { 13 } else { n };
                let mut c = Cmsg::own_credentials();
                c.data.resize(n, 0);
                c
            }
            RawCmsg::Foreign { level, kind, data } => {
                let data: Vec<u8> = data.iter().copied().take(64).collect();
                if *level == libc::SOL_SOCKET {
                    // An unknown SOL_SOCKET type (never RIGHTS/CREDENTIALS).
                    refused = true;
                    let kind = if matches!(*kind, libc::SCM_RIGHTS | libc::SCM_CREDENTIALS) {
                        0x77
                    } else {
                        *kind
                    };
                    Cmsg::raw(libc::SOL_SOCKET, kind, &data)
                } else {
                    Cmsg::raw(*level, *kind, &data)
                }
            }
            RawCmsg::PidFd => {
                refused = true;
                Cmsg::raw(libc::SOL_SOCKET, cmsg::SCM_PIDFD, &0i32.to_ne_bytes())
            }
        });
    }
    let control = match tail {
        Tail::Padded => cmsg::concat(&msgs),
        Tail::Unpadded => cmsg::concat_unpadded(&msgs),
        Tail::Junk(j) => {
            let mut c = cmsg::concat(&msgs);
            c.extend(j.iter().take(15));
            c
        }
    };
    // SO_PASSRIGHTS off is checked when a buffer is queued: an empty write
    // on a stream queues none (and drops the descriptors).
    let queues = !(h.kind == Kind::Stream && payload_len == 0);
    if sent.len() > SCM_MAX_FD || (no_rights && !sent.is_empty() && queues) {
        refused = true;
    }
    if h.in_flight + sent.len() > INFLIGHT_MAX {
        return;
    }
    if h.end(from).is_none() {
        return;
    }
    let payload = h.next_payload(usize::from(payload_len));
    let sock = h.end(from).expect("checked above");
    let ret = raw::sendmsg(sock, &payload, &control, libc::MSG_DONTWAIT);
    let what = format!(
        "{:?} hostile send from {from}: {} control bytes, {} fds, {} payload, {cmsgs:?} {tail:?}",
        h.kind,
        control.len(),
        sent.len(),
        payload.len()
    );
    let n = match ret {
        Ok(n) => n,
        Err(err) => {
            let errno = err.raw_os_error().unwrap_or(0);
            let too_many_refs = errno == libc::ETOOMANYREFS && !util::facts().inflight_exempt;
            assert!(refused || too_many_refs, "{what}: refused with {err}");
            return;
        }
    };
    assert!(!refused, "{what}: accepted ({n} bytes), predicted refused");
    assert_eq!(n, payload.len(), "{what}: short write");
    let witnesses: Vec<Rc<_>> = sent.iter().map(|&i| h.pool[i].witness.clone()).collect();
    h.enqueue(1 - from, payload, witnesses);
}
