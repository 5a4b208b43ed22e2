//! The garbage collector of in-flight sockets, after the kernel selftest
//! `tools/testing/selftests/net/af_unix/scm_rights.c` (Linux 6.10's new
//! collector and its later fixes): sockets sent over each other in cycles
//! of several shapes, every user reference closed, and the number of unix
//! sockets alive in a fresh network namespace (`/proc/net/protocols`, which
//! counts embryos too) must come back to where it started.
//!
//! Each shape is built twice, on disjoint sockets. An edge `a → r` sends
//! two copies of socket `a`'s receiving end, with one byte (`MSG_OOB` in the
//! `oob` variants, so that the out-of-band skb carries them), over pair
//! `r`, into `r`'s queue; in the listener variants the receiving end is a
//! listener and the queue its not-yet-accepted (embryo) socket's.
//! The `passrights-off` cases send to a receiver with `SO_PASSRIGHTS` = 0
//! (set on the listener before the connect), which must refuse with EPERM.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context as _};
use inflight_testkit::cmsg::Cmsg;
use inflight_testkit::raw;
use nix::sched::{unshare, CloneFlags};
use nix::sys::socket::{
    accept4, bind, connect, getsockname, listen, socket, socketpair, AddressFamily, Backlog,
    SockFlag, SockType, UnixAddr,
};

use super::{errno, lacks, set_sol, SO_PASSRIGHTS};
use crate::kernel::Battery;
use crate::runner::{CaseResult, Outcome, Settings};

/// How the sockets are made and the descriptors sent.
#[derive(Clone, Copy, Debug)]
struct Variant {
    name: &'static str,
    dgram: bool,
    oob: bool,
    listener: bool,
}

const VARIANTS: [Variant; 5] = [
    Variant {
        name: "dgram",
        dgram: true,
        oob: false,
        listener: false,
    },
    Variant {
        name: "stream",
        dgram: false,
        oob: false,
        listener: false,
    },
    Variant {
        name: "stream-oob",
        dgram: false,
        oob: true,
        listener: false,
    },
    Variant {
        name: "stream-listener",
        dgram: false,
        oob: false,
        listener: true,
    },
    Variant {
        name: "stream-listener-oob",
        dgram: false,
        oob: true,
        listener: true,
    },
];

/// A graph of in-flight sockets: pair count and edges `(a, r)` in send
/// order (both copies of the shape).
struct Shape {
    name: &'static str,
    pairs: usize,
    edges: &'static [(usize, usize)],
}

const SHAPES: [Shape; 5] = [
    // Each socket in its own queue.
    Shape {
        name: "self-ref",
        pairs: 2,
        edges: &[(0, 0), (1, 1)],
    },
    Shape {
        name: "triangle",
        pairs: 6,
        edges: &[(0, 1), (1, 2), (2, 0), (3, 4), (4, 5), (5, 3)],
    },
    // The cycle 0→1→2→0 with a detour 1→3→2: a cross edge for the search.
    Shape {
        name: "cross-edge",
        pairs: 8,
        edges: &[
            (0, 1),
            (1, 2),
            (2, 0),
            (1, 3),
            (3, 2),
            (4, 5),
            (5, 6),
            (6, 4),
            (5, 7),
            (7, 6),
        ],
    },
    // The cycle {1,2,3} entered from 0, which also points to 4: the search
    // backtracks to 0 after the cycle and still has the edge to 4.
    Shape {
        name: "backtrack-from-scc",
        pairs: 10,
        edges: &[
            (0, 1),
            (0, 4),
            (1, 2),
            (2, 3),
            (3, 1),
            (5, 6),
            (5, 9),
            (6, 7),
            (7, 8),
            (8, 6),
        ],
    },
    // 0⇄1 and 1⇄2: the middle vertex has back edges to two different depths.
    Shape {
        name: "mixed-lowpoint",
        pairs: 6,
        edges: &[
            (0, 1),
            (1, 2),
            (2, 1),
            (1, 0),
            (3, 4),
            (4, 5),
            (5, 4),
            (4, 3),
        ],
    },
];

pub(super) fn register(b: &mut Battery) {
    for shape in &SHAPES {
        for v in VARIANTS {
            b.one(&format!("gc/{}/{}", shape.name, v.name), move |s| {
                cycle(shape, v, s)
            });
        }
    }
    for v in VARIANTS {
        b.one(&format!("gc/passrights-off/{}", v.name), move |_| {
            passrights_off(v)
        });
    }
}

/// The `/proc/net/protocols` line counting this variant's sockets.
fn proto(v: Variant) -> &'static str {
    if v.dgram {
        "UNIX"
    } else {
        "UNIX-STREAM"
    }
}

/// Unix sockets of protocol `name` alive in this thread's network
/// namespace (the `sockets` column).
fn alive(name: &str) -> anyhow::Result<u64> {
    // thread-self: /proc/self/net follows the main thread's namespace.
    let path = "/proc/thread-self/net/protocols";
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
    for line in text.lines() {
        let mut f = line.split_whitespace();
        if f.next() == Some(name) {
            let _size = f.next();
            if let Some(n) = f.next().and_then(|n| n.parse().ok()) {
                return Ok(n);
            }
        }
    }
    bail!("no {name:?} line with a socket count in {path}")
}

/// Pair `k` of a variant: (receiving end or listener, sending end).
fn make_pair(v: Variant, passrights_off: bool) -> anyhow::Result<(OwnedFd, OwnedFd)> {
    let flags = SockFlag::SOCK_CLOEXEC;
    if !v.listener {
        let ty = if v.dgram {
            SockType::Datagram
        } else {
            SockType::Stream
        };
        let (r, s) = socketpair(AddressFamily::Unix, ty, None, flags).context("socketpair")?;
        if passrights_off {
            set_sol(r.as_fd(), SO_PASSRIGHTS, false).context("SO_PASSRIGHTS = 0")?;
        }
        return Ok((r, s));
    }
    let l = socket(AddressFamily::Unix, SockType::Stream, flags, None).context("socket")?;
    // An address of the family alone: the kernel picks an abstract name.
    bind(l.as_raw_fd(), &UnixAddr::new_unnamed()).context("autobind")?;
    listen(&l, Backlog::MAXCONN).context("listen")?;
    if passrights_off {
        set_sol(l.as_fd(), SO_PASSRIGHTS, false).context("SO_PASSRIGHTS = 0 on the listener")?;
    }
    let addr: UnixAddr = getsockname(l.as_raw_fd()).context("getsockname")?;
    let c = socket(AddressFamily::Unix, SockType::Stream, flags, None).context("socket")?;
    connect(c.as_raw_fd(), &addr).context("connect")?;
    // Never accepted: the server side stays an embryo in the queue.
    Ok((l, c))
}

/// Sends two copies of `what` with one byte over `over`.
fn send_edge(what: &OwnedFd, over: &OwnedFd, oob: bool) -> std::io::Result<usize> {
    let control = Cmsg::rights(&[what.as_raw_fd(), what.as_raw_fd()]).to_bytes();
    let flags = if oob { libc::MSG_OOB } else { 0 };
    raw::sendmsg(over.as_fd(), b"x", &control, flags)
}

/// Whether this kernel sends `MSG_OOB` on unix streams (`CONFIG_AF_UNIX_OOB`).
fn oob_missing() -> anyhow::Result<Option<Outcome>> {
    let (a, _b) = socketpair(
        AddressFamily::Unix,
        SockType::Stream,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .context("socketpair")?;
    match raw::sendmsg(a.as_fd(), b"o", &[], libc::MSG_OOB) {
        Ok(_) => Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => Ok(Some(Outcome::skip(
            "the kernel does not send MSG_OOB on unix streams (EOPNOTSUPP: no CONFIG_AF_UNIX_OOB)",
        ))),
        Err(e) => Err(e).context("probing MSG_OOB"),
    }
}

fn cycle(shape: &'static Shape, v: Variant, s: &Settings) -> CaseResult {
    if v.oob {
        if let Some(skip) = oob_missing()? {
            return Ok(skip);
        }
    }
    // The collector runs within milliseconds of the last close on every
    // kernel tried (6.1, 6.12, 6.18, also under emulation); a few seconds
    // is ample and keeps a leaking kernel's cases short.
    let wait = s.timeout.min(Duration::from_secs(3));
    // Its own thread, in its own network namespace: the counts see only
    // this case's sockets.
    std::thread::scope(|scope| {
        scope
            .spawn(move || in_namespace(shape, v, wait))
            .join()
            .unwrap_or_else(|_| bail!("the case's thread panicked"))
    })
}

fn in_namespace(shape: &Shape, v: Variant, wait: Duration) -> CaseResult {
    if let Err(e) = unshare(CloneFlags::CLONE_NEWNET) {
        if e == nix::errno::Errno::EPERM {
            return Ok(Outcome::skip(
                "cannot make a network namespace (EPERM: needs CAP_SYS_ADMIN) to count the sockets in",
            ));
        }
        return Err(e).context("unshare(CLONE_NEWNET)");
    }
    let name = proto(v);
    let base = alive(name)?;
    let pairs: Vec<(OwnedFd, OwnedFd)> = (0..shape.pairs)
        .map(|_| make_pair(v, false))
        .collect::<anyhow::Result<_>>()?;
    let peak = alive(name)?;
    for &(a, r) in shape.edges {
        let n = send_edge(&pairs[a].0, &pairs[r].1, v.oob)
            .with_context(|| format!("sendmsg of socket {a} over pair {r}"))?;
        ensure!(
            n == 1,
            "sendmsg of socket {a} over pair {r} returned {n}, not 1"
        );
    }
    drop(pairs);
    let t0 = Instant::now();
    let mut nudges = 0;
    let mut now = alive(name)?;
    while now != base {
        if t0.elapsed() > wait {
            bail!(
                "{name} sockets in the namespace: {base} before, {peak} with the {} pairs, still {now} {wait:?} after every descriptor was closed ({nudges} unrelated socket releases to trigger the collector): the in-flight cycle leaked",
                shape.pairs
            );
        }
        std::thread::sleep(Duration::from_millis(5));
        if t0.elapsed() > Duration::from_millis(100) * (nudges + 1) {
            // A socket's release also runs (or schedules) the collector.
            drop(socketpair(
                AddressFamily::Unix,
                SockType::Datagram,
                None,
                SockFlag::SOCK_CLOEXEC,
            ));
            nudges += 1;
        }
        now = alive(name)?;
    }
    Ok(Outcome::pass(format!(
        "{} pairs, {} sends ({}) all returned 1; {name} sockets in a fresh namespace: {base} → {peak} → {now} {:.0} ms after closing ({nudges} nudges)",
        shape.pairs,
        shape.edges.len(),
        if v.oob { "MSG_OOB" } else { "in band" },
        t0.elapsed().as_secs_f64() * 1000.0
    )))
}

fn passrights_off(v: Variant) -> CaseResult {
    if let Some(skip) = lacks(SO_PASSRIGHTS, "SO_PASSRIGHTS", "6.16")? {
        return Ok(skip);
    }
    if v.oob {
        if let Some(skip) = oob_missing()? {
            return Ok(skip);
        }
    }
    let (r, s) = make_pair(v, true)?;
    match send_edge(&r, &s, v.oob) {
        Ok(n) => bail!("the receiver has SO_PASSRIGHTS = 0, yet sendmsg with descriptors returned {n}"),
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
            // The receiving socket: the peer, or the listener's embryo.
            let queue = if v.listener {
                accept4(&r, SockFlag::SOCK_CLOEXEC).context("accept")?
            } else {
                r
            };
            let mut buf = [0u8; 4];
            let q = raw::recvmsg(queue.as_fd(), &mut buf, Some(64), libc::MSG_DONTWAIT);
            ensure!(
                matches!(&q, Err(e) if e.raw_os_error() == Some(libc::EAGAIN)),
                "refused with EPERM, but the receiver then found {q:?}"
            );
            Ok(Outcome::pass(format!(
                "receiver{} with SO_PASSRIGHTS = 0: sendmsg of 2 descriptors{} refused with EPERM, nothing queued",
                if v.listener {
                    " (the embryo of a listener that had it before the connect)"
                } else {
                    ""
                },
                if v.oob { " with MSG_OOB" } else { "" }
            )))
        }
        Err(e) => bail!(
            "the receiver has SO_PASSRIGHTS = 0: sendmsg failed with {} (the selftest expects EPERM)",
            errno(&e)
        ),
    }
}
