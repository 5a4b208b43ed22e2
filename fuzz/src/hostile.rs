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
use inflight::codec::{cmsg_align, cmsg_len};
use inflight::{Credentials, SCM_MAX_FD};

use crate::harness::{Harness, RecvSpec, INFLIGHT_MAX};
use crate::util::{self, FixtureKind, Kind};

#[derive(Arbitrary, Debug)]
struct Input {
    kind: Kind,
    passcred: bool,
    passpidfd: bool,
    /// `SO_PASSRIGHTS` off at both ends (Linux 6.16+): descriptors refused.
    no_rights: bool,
    first: FixtureKind,
    ops: Vec<Op>,
}

#[derive(Arbitrary, Debug)]
enum Op {
    Open(FixtureKind),
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
    let mut no_rights = false;
    for i in 0..2 {
        let sock = h.ends[i].as_ref().expect("fresh pair");
        if input.passcred {
            inflight::set_pass_credentials(sock, true).expect("SO_PASSCRED");
            h.passcred[i] = true;
        }
        if input.passpidfd && util::facts().pidfd {
            inflight::set_pass_pidfd(sock, true).expect("SO_PASSPIDFD");
            h.passpidfd[i] = true;
        }
        if input.no_rights && inflight::set_pass_rights(sock, false).is_ok() {
            no_rights = true;
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
    let me = Credentials::current();
    let mut buf: Vec<u8> = Vec::new();
    let mut last_end = 0;
    let mut sent: Vec<usize> = Vec::new();
    let mut refused = false;
    for m in cmsgs.iter().take(CMSGS_MAX) {
        let (level, kind, data, extra) = match m {
            RawCmsg::Rights { fds, odd } => {
                let mut data = Vec::new();
                for r in fds {
                    let fd = match r {
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
                    };
                    data.extend_from_slice(&fd.to_ne_bytes());
                }
                let odd = usize::from(odd % 4);
                data.resize(data.len() + odd, 0xa5);
                (libc::SOL_SOCKET, libc::SCM_RIGHTS, data, 0)
            }
            RawCmsg::ManyRights { fd, count } => {
                let mut data = Vec::new();
                if let Some(i) = h.pick(*fd) {
                    let raw = h.pool[i].original.as_ref().expect("open").as_raw_fd();
                    for _ in 0..usize::from(*count) % (SCM_MAX_FD + 8) {
                        sent.push(i);
                        data.extend_from_slice(&raw.to_ne_bytes());
                    }
                }
                (libc::SOL_SOCKET, libc::SCM_RIGHTS, data, 0)
            }
            RawCmsg::Credentials => {
                let mut data = Vec::new();
                data.extend_from_slice(&me.pid.to_ne_bytes());
                data.extend_from_slice(&me.uid.to_ne_bytes());
                data.extend_from_slice(&me.gid.to_ne_bytes());
                (libc::SOL_SOCKET, libc::SCM_CREDENTIALS, data, 0)
            }
            RawCmsg::CredentialsBadLen { extra } => {
                refused = true;
                let mut data = Vec::new();
                data.extend_from_slice(&me.pid.to_ne_bytes());
                data.extend_from_slice(&me.uid.to_ne_bytes());
                data.extend_from_slice(&me.gid.to_ne_bytes());
                // Shorter or longer than a ucred, never exactly.
                let n = usize::from(*extra % 24);
                let n = if n == 12 { 13 } else { n };
                data.resize(n, 0);
                (libc::SOL_SOCKET, libc::SCM_CREDENTIALS, data, 0)
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
                    (libc::SOL_SOCKET, kind, data, 0)
                } else {
                    (*level, *kind, data, 0)
                }
            }
            RawCmsg::PidFd => {
                refused = true;
                (
                    libc::SOL_SOCKET,
                    inflight::codec::SCM_PIDFD,
                    0i32.to_ne_bytes().to_vec(),
                    0,
                )
            }
        };
        let len: usize = cmsg_len(data.len()) + extra;
        let start = buf.len();
        buf.extend_from_slice(&len.to_ne_bytes());
        buf.extend_from_slice(&level.to_ne_bytes());
        buf.extend_from_slice(&kind.to_ne_bytes());
        buf.extend_from_slice(&data);
        last_end = start + len;
        buf.resize(start + cmsg_align(len), 0);
    }
    match tail {
        Tail::Padded => {}
        Tail::Unpadded => buf.truncate(last_end),
        Tail::Junk(j) => buf.extend(j.iter().take(15)),
    }
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

    // An 8-aligned copy, as a C sender would pass.
    let mut aligned = vec![0u64; buf.len().div_ceil(8)];
    // SAFETY: copy_nonoverlapping needs `buf.len()` readable bytes at the
    // source and writable bytes at the destination, non-overlapping: the
    // destination holds at least as many bytes (rounded up to 8) and is a
    // separate allocation.
    unsafe {
        std::ptr::copy_nonoverlapping(buf.as_ptr(), aligned.as_mut_ptr().cast(), buf.len());
    }
    let mut iov = libc::iovec {
        iov_base: payload.as_ptr() as *mut libc::c_void,
        iov_len: payload.len(),
    };
    // SAFETY: all-zero bytes are a valid msghdr (null pointers, zero
    // lengths).
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    if !buf.is_empty() {
        msg.msg_control = aligned.as_mut_ptr().cast();
        msg.msg_controllen = buf.len() as _;
    }
    // SAFETY: sendmsg(2) reads the msghdr, the one iovec (payload.len()
    // readable bytes) and msg_controllen bytes of control, all live locals
    // for the call; `sock` is an open socket.
    let ret = unsafe {
        libc::sendmsg(
            sock.as_raw_fd(),
            &msg,
            libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT,
        )
    };
    let what = format!(
        "{:?} hostile send from {from}: {} control bytes, {} fds, {} payload, {cmsgs:?} {tail:?}",
        h.kind,
        buf.len(),
        sent.len(),
        payload.len()
    );
    if ret < 0 {
        let err = std::io::Error::last_os_error();
        let errno = err.raw_os_error().unwrap_or(0);
        let too_many_refs = errno == libc::ETOOMANYREFS && !util::facts().inflight_exempt;
        assert!(refused || too_many_refs, "{what}: refused with {err}");
        return;
    }
    assert!(
        !refused,
        "{what}: accepted ({ret} bytes), predicted refused"
    );
    assert_eq!(ret as usize, payload.len(), "{what}: short write");
    let witnesses: Vec<Rc<_>> = sent.iter().map(|&i| h.pool[i].witness.clone()).collect();
    h.enqueue(1 - from, payload, witnesses);
}
