//! `live_transfer`: a structure-aware sequence of operations over a real
//! socket pair of any kind (send k descriptors with a payload, receive with
//! capacity c, peek, close originals, drop an end), with the identity oracle
//! on every delivered descriptor and a descriptor-table check after every
//! input.

use std::io::IoSlice;
use std::os::fd::{AsFd, BorrowedFd};
use std::rc::Rc;

use arbitrary::Arbitrary;
use inflight::{ErrorKind, SendOptions, SCM_MAX_FD};

use crate::harness::{Harness, RecvSpec, INFLIGHT_MAX};
use crate::util::{self, CheapKind, Kind};

#[derive(Arbitrary, Debug)]
struct Input {
    kind: Kind,
    first: CheapKind,
    ops: Vec<Op>,
}

#[derive(Arbitrary, Debug)]
enum Op {
    Open(CheapKind),
    /// Send the pool entries named by `fds` (repeats allowed).
    Send {
        from_b: bool,
        fds: Vec<u8>,
        payload: u8,
    },
    /// Send one entry `count` times (past `SCM_MAX_FD` too).
    SendMany {
        from_b: bool,
        fd: u8,
        count: u16,
        payload: u8,
    },
    Recv {
        at_b: bool,
        spec: RecvSpec,
    },
    CloseOriginal(u8),
    DropEnd {
        b: bool,
    },
}

/// At most this many operations per input.
const OPS_MAX: usize = 48;

/// The fuzz target body; see the module documentation.
///
/// # Panics
///
/// When a send or receive disagrees with the model, a delivered descriptor
/// is not the one sent, or the descriptor table changed across the input.
pub fn live_transfer(data: &[u8]) {
    util::live_input::<Input>(data, run);
}

fn run(input: &Input) {
    let mut h = Harness::new(input.kind);
    h.open(input.first);
    for op in input.ops.iter().take(OPS_MAX) {
        match op {
            Op::Open(k) => h.open(*k),
            Op::Send {
                from_b,
                fds,
                payload,
            } => {
                let picks: Vec<usize> = fds.iter().filter_map(|&i| h.pick(i)).collect();
                send(&mut h, usize::from(*from_b), &picks, usize::from(*payload));
            }
            Op::SendMany {
                from_b,
                fd,
                count,
                payload,
            } => {
                let n = usize::from(*count) % (SCM_MAX_FD + 8);
                let picks: Vec<usize> = h.pick(*fd).map(|i| vec![i; n]).unwrap_or_default();
                send(&mut h, usize::from(*from_b), &picks, usize::from(*payload));
            }
            Op::Recv { at_b, spec } => h.recv(usize::from(*at_b), *spec),
            Op::CloseOriginal(i) => h.close_original(*i),
            Op::DropEnd { b } => h.drop_end(usize::from(*b)),
        }
    }
    h.drain();
}

fn send(h: &mut Harness, from: usize, picks: &[usize], len: usize) {
    if h.ends[from].is_none() || h.in_flight + picks.len() > INFLIGHT_MAX {
        return;
    }
    let payload = h.next_payload(len);
    let sock = h.end(from).expect("checked above");
    let fds: Vec<BorrowedFd<'_>> = picks
        .iter()
        .map(|&i| h.pool[i].original.as_ref().expect("picked open").as_fd())
        .collect();
    let opts = SendOptions::new().nonblocking(true);
    let res = inflight::send_with(&sock, &[IoSlice::new(&payload)], &fds, &opts);
    let what = format!(
        "{:?} send from {from}: {} fds, {len} bytes",
        h.kind,
        fds.len()
    );
    drop(fds);
    let alive = h.peer_alive(from);
    match res {
        Ok(n) => {
            assert!(picks.len() <= SCM_MAX_FD, "{what}: too many fds accepted");
            assert!(
                alive || (len == 0 && picks.is_empty()),
                "{what}: Ok({n}) to a closed peer"
            );
            assert_eq!(n, len, "{what}: short write");
            let witnesses: Vec<Rc<_>> = picks.iter().map(|&i| h.pool[i].witness.clone()).collect();
            h.enqueue(1 - from, payload, witnesses);
        }
        Err(e) => match e.kind() {
            ErrorKind::TooManyFds => assert!(picks.len() > SCM_MAX_FD, "{what}: {e:?}"),
            ErrorKind::EmptyPayloadOnStream => assert!(
                h.kind == Kind::Stream && len == 0 && !picks.is_empty(),
                "{what}: {e:?}"
            ),
            ErrorKind::Io => {
                let errno = e.io_error().and_then(|io| io.raw_os_error());
                let too_many_refs =
                    errno == Some(libc::ETOOMANYREFS) && !util::facts().inflight_exempt;
                assert!(
                    picks.len() <= SCM_MAX_FD && (!alive || too_many_refs),
                    "{what}: {e:?} (peer alive: {alive})"
                );
                if errno == Some(libc::ECONNRESET) {
                    h.reset_consumed(from);
                }
                if h.kind == Kind::Datagram && errno == Some(libc::ECONNREFUSED) {
                    // The send found the peer dead and disconnected this
                    // end: the kernel drops what was queued for it.
                    h.purge(from);
                }
            }
            _ => panic!("{what}: unexpected {e:?}"),
        },
    }
}
