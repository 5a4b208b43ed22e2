//! What each program case sends: its fixtures and its messages.

use inflight::SocketKind;
use inflight_testkit::FdKind;

/// A message the auditor sends: payload and descriptors (indexes into the
/// case's fixtures, repeats allowed).
pub(super) struct Msg {
    /// The bytes.
    pub payload: Vec<u8>,
    /// The descriptors, as indexes into [`Plan::fixtures`].
    pub fds: Vec<usize>,
}

/// One case: a name, the fixtures it opens, the messages it exchanges.
pub(super) struct Plan {
    /// The case name under `program/KIND/`.
    pub name: String,
    /// The descriptors to open.
    pub fixtures: Vec<FdKind>,
    /// The messages, in order.
    pub msgs: Vec<Msg>,
}

impl Plan {
    fn new(name: impl Into<String>, fixtures: Vec<FdKind>, msgs: Vec<Msg>) -> Plan {
        Plan {
            name: name.into(),
            fixtures,
            msgs,
        }
    }

    /// A case of one message.
    fn one(
        name: impl Into<String>,
        fixtures: Vec<FdKind>,
        payload: Vec<u8>,
        fds: Vec<usize>,
    ) -> Plan {
        Plan::new(name, fixtures, vec![Msg { payload, fds }])
    }
}

/// Deterministic payload bytes (a small LCG seeded by `seed`).
fn payload(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..len)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            (x >> 16) as u8
        })
        .collect()
}

/// Every case of socket kind `kind` but `clean-exit`, in order.
pub(super) fn plans(kind: SocketKind) -> Vec<Plan> {
    let mut v = vec![Plan::one("payload-only", vec![], payload(64, 1), vec![])];
    for n in [1usize, 2, 16, 253] {
        let fixtures = (0..n).map(|i| FdKind::ALL[i % FdKind::ALL.len()]).collect();
        v.push(Plan::one(
            format!("fds-{n}"),
            fixtures,
            payload(8, n as u32),
            (0..n).collect(),
        ));
    }
    v.push(Plan::one(
        "repeats",
        vec![FdKind::File, FdKind::PipeRead, FdKind::DevNull],
        b"repeats".to_vec(),
        vec![0, 1, 0, 0, 2, 1],
    ));
    for fk in FdKind::ALL {
        let name = fk.name();
        v.push(Plan::one(
            format!("kind-{name}"),
            vec![fk],
            name.as_bytes().to_vec(),
            vec![0],
        ));
    }
    v.push(Plan::one(
        "all-kinds",
        FdKind::ALL.to_vec(),
        b"all kinds".to_vec(),
        (0..FdKind::ALL.len()).collect(),
    ));
    for len in [1usize, 100, 4096, 16384, 61440] {
        let p = payload(len, len as u32);
        v.push(Plan::one(
            format!("payload-{len}"),
            vec![FdKind::File],
            p,
            vec![0],
        ));
    }
    if kind != SocketKind::Stream {
        let fixtures = vec![FdKind::File, FdKind::PipeWrite];
        v.push(Plan::one("empty-payload", fixtures, vec![], vec![0, 1]));
    }
    v.push(thousand_messages());
    v
}

/// 1000 exchanges in a row, 1 to 512 bytes, 0 to 3 descriptors each.
fn thousand_messages() -> Plan {
    let msgs = (0..1000u32)
        .map(|i| Msg {
            payload: payload(1 + (i as usize * 37) % 512, i),
            fds: match i % 4 {
                0 => vec![],
                1 => vec![0],
                2 => vec![1, 2],
                _ => vec![2, 0, 1],
            },
        })
        .collect();
    let fixtures = vec![FdKind::MemFd, FdKind::PipeRead, FdKind::EventFd];
    Plan::new("1000-messages", fixtures, msgs)
}
