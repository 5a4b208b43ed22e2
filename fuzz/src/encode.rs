//! `encode_roundtrip`: a structure-aware list of control messages is
//! encoded, decoded and compared; the encoded buffer then goes to a real
//! `sendmsg` on a socket pair, which must accept or refuse it exactly as
//! predicted (the encoder's own refusals, then the kernel's rules in
//! `__scm_send`), and what arrives must be what was sent.

use std::io::IoSliceMut;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::OnceLock;

use arbitrary::{Arbitrary, Unstructured};
use inflight::codec::{self, ControlMessage, FdList, Message};
use inflight::{Credentials, ErrorKind, RecvOptions, SCM_MAX_FD};
use inflight_testkit::cmsg::{self, Cmsg};
use inflight_testkit::{oracle, raw, FdKind};

use crate::facts::id_mapped;
use crate::util::{self, Kind};

#[derive(Arbitrary, Debug)]
struct Input {
    msgs: Vec<Msg>,
    size: BufSize,
    kind: Kind,
    passcred: bool,
}

#[derive(Arbitrary, Debug)]
enum BufSize {
    Exact,
    Short(u8),
    Extra(u8),
}

#[derive(Arbitrary, Debug)]
enum Msg {
    Rights(Vec<FdRef>),
    ManyRights {
        fd: FdRef,
        count: u16,
    },
    Credentials(CredSpec),
    Other {
        level: Level,
        kind: TypeSpec,
        data: Vec<u8>,
    },
}

#[derive(Arbitrary, Clone, Copy, Debug)]
enum FdRef {
    /// One of the fixtures opened once per process.
    Pool(u8),
    /// A small number: open or not, whatever this process has there.
    Low(u8),
    /// A number no process has open.
    Closed,
    Negative,
}

#[derive(Arbitrary, Debug)]
enum Level {
    SolSocket,
    Raw(i32),
}

#[derive(Arbitrary, Debug)]
enum TypeSpec {
    Rights,
    Credentials,
    PidFd,
    Raw(i32),
}

#[derive(Arbitrary, Clone, Copy, Debug)]
struct CredSpec {
    pid: PidSpec,
    uid: IdSpec,
    gid: IdSpec,
}

/// Pids whose existence cannot change while we run (no races with other
/// processes being born or reaped).
#[derive(Arbitrary, Clone, Copy, Debug)]
enum PidSpec {
    Own,
    Parent,
    Init,
    Zero,
    /// Above `pid_max`: never allocated.
    Unallocated(u16),
    Negative(u16),
}

#[derive(Arbitrary, Clone, Copy, Debug)]
enum IdSpec {
    Own,
    Root,
    Nobody,
    /// `(uid_t)-1`: never mapped.
    Invalid,
    Raw(u32),
}

/// Fixtures shared by every input, one of each cheap kind (opened before
/// the first leak snapshot). Only the descriptors are kept: every open
/// descriptor costs the per-input leak guard a few system calls, and a
/// pipe or socket end without its peer is passed like any other.
fn pool() -> &'static [OwnedFd] {
    static POOL: OnceLock<Vec<OwnedFd>> = OnceLock::new();
    POOL.get_or_init(|| {
        FdKind::CHEAP
            .iter()
            .map(|k| k.open().expect("fixture").into_fd())
            .collect()
    })
}

const CLOSED_FD: RawFd = 1 << 30;

fn fd_number(r: FdRef) -> RawFd {
    match r {
        FdRef::Pool(i) => {
            let p = pool();
            p[usize::from(i) % p.len()].as_raw_fd()
        }
        FdRef::Low(n) => RawFd::from(n % 64),
        FdRef::Closed => CLOSED_FD,
        FdRef::Negative => -1,
    }
}

fn creds_of(spec: CredSpec) -> Credentials {
    let f = util::facts();
    let pid = match spec.pid {
        PidSpec::Own => f.pid,
        PidSpec::Parent => f.ppid,
        PidSpec::Init => 1,
        PidSpec::Zero => 0,
        PidSpec::Unallocated(x) => f.pid_max.saturating_add(1 + i32::from(x)),
        PidSpec::Negative(x) => -1 - i32::from(x),
    };
    let id = |s: IdSpec, own: u32| match s {
        IdSpec::Own => own,
        IdSpec::Root => 0,
        IdSpec::Nobody => 65534,
        IdSpec::Invalid => u32::MAX,
        IdSpec::Raw(v) => v,
    };
    Credentials {
        pid,
        uid: id(spec.uid, f.uids[0]),
        gid: id(spec.gid, f.gids[0]),
    }
}

/// Whether pid `pid` exists; only asked for the pids [`PidSpec`] makes.
fn pid_exists(pid: i32) -> bool {
    let f = util::facts();
    pid > 0 && (pid == f.pid || pid == f.ppid || pid == 1)
}

/// The owned form of one message: (level, type, data) as the kernel sees it
/// (built with the kit), plus what the inflight message is made of.
struct Owned {
    level: i32,
    kind: i32,
    data: Vec<u8>,
    /// `Some` for `ControlMessage::Rights`, with the numbers.
    fds: Option<Vec<RawFd>>,
    creds: Option<Credentials>,
}

impl Owned {
    /// The same message from the kit's builder.
    fn cmsg(&self) -> Cmsg {
        Cmsg::raw(self.level, self.kind, &self.data)
    }
}

fn own_msgs(msgs: &[Msg]) -> Vec<Owned> {
    let me = util::facts();
    msgs.iter()
        .take(16)
        .map(|m| match m {
            Msg::Rights(refs) => {
                let fds: Vec<RawFd> = refs.iter().map(|&r| fd_number(r)).collect();
                rights(fds)
            }
            Msg::ManyRights { fd, count } => {
                let n = usize::from(*count) % (SCM_MAX_FD + 8);
                rights(vec![fd_number(*fd); n])
            }
            Msg::Credentials(spec) => {
                let c = creds_of(*spec);
                let built = Cmsg::credentials(c.pid, c.uid, c.gid);
                Owned {
                    level: built.level,
                    kind: built.kind,
                    data: built.data,
                    fds: None,
                    creds: Some(c),
                }
            }
            Msg::Other { level, kind, data } => {
                let level = match level {
                    Level::SolSocket => libc::SOL_SOCKET,
                    Level::Raw(l) => *l,
                };
                let kind = match kind {
                    TypeSpec::Rights => libc::SCM_RIGHTS,
                    TypeSpec::Credentials => libc::SCM_CREDENTIALS,
                    TypeSpec::PidFd => codec::SCM_PIDFD,
                    TypeSpec::Raw(k) => *k,
                };
                let mut data: Vec<u8> = data.iter().copied().take(1024).collect();
                if level == libc::SOL_SOCKET && kind == libc::SCM_CREDENTIALS && data.len() == 12 {
                    // Arbitrary pids could be born or reaped meanwhile; keep
                    // the prediction exact with our own.
                    data[..4].copy_from_slice(&me.pid.to_ne_bytes());
                }
                Owned {
                    level,
                    kind,
                    data,
                    fds: None,
                    creds: None,
                }
            }
        })
        .collect()
}

fn rights(fds: Vec<RawFd>) -> Owned {
    let built = Cmsg::rights(&fds);
    Owned {
        level: built.level,
        kind: built.kind,
        data: built.data,
        fds: Some(fds),
        creds: None,
    }
}

fn read_i32(d: &[u8], at: usize) -> i32 {
    i32::from_ne_bytes(d[at..at + 4].try_into().unwrap())
}

/// What the kernel's `__scm_send` answers for these messages (in order,
/// first failure wins), for a Unix socket: `Ok` or an errno.
fn predict_kernel(msgs: &[Owned]) -> Result<(), i32> {
    let f = util::facts();
    let mut count = 0usize;
    for m in msgs {
        if m.level != libc::SOL_SOCKET {
            continue;
        }
        match m.kind {
            libc::SCM_RIGHTS => {
                let num = m.data.len() / 4;
                if num == 0 {
                    continue;
                }
                if num > SCM_MAX_FD || count + num > SCM_MAX_FD {
                    return Err(libc::EINVAL);
                }
                for i in 0..num {
                    if !oracle::is_open(read_i32(&m.data, 4 * i)) {
                        return Err(libc::EBADF);
                    }
                }
                count += num;
            }
            libc::SCM_CREDENTIALS => {
                if m.data.len() != 12 {
                    return Err(libc::EINVAL);
                }
                let pid = read_i32(&m.data, 0);
                let uid = read_i32(&m.data, 4) as u32;
                let gid = read_i32(&m.data, 8) as u32;
                // scm_check_creds: unmapped ids first, then permission.
                if !id_mapped(&f.uid_map, uid) || !id_mapped(&f.gid_map, gid) {
                    return Err(libc::EINVAL);
                }
                let uid_ok = f.uids.contains(&uid) || f.cap_setuid;
                let gid_ok = f.gids.contains(&gid) || f.cap_setgid;
                if !((pid == f.pid || f.cap_sys_admin) && uid_ok && gid_ok) {
                    return Err(libc::EPERM);
                }
                if pid != f.pid && !pid_exists(pid) {
                    return Err(libc::ESRCH);
                }
            }
            _ => return Err(libc::EINVAL),
        }
    }
    Ok(())
}

/// The fuzz target body; see the module documentation.
///
/// # Panics
///
/// When the encoder refuses or accepts other than documented, decoding does
/// not give back the messages, or the kernel disagrees with the prediction.
pub fn encode_roundtrip(data: &[u8]) {
    let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    util::debug_input(&input);
    util::without_leaks(
        || {
            pool();
        },
        || run(&input),
    );
}

fn run(input: &Input) {
    let owned = own_msgs(&input.msgs);
    let msgs: Vec<ControlMessage<'_>> = owned
        .iter()
        .map(|o| match (&o.fds, o.creds) {
            (Some(fds), _) => ControlMessage::Rights(FdList::Raw(fds)),
            (None, Some(c)) => ControlMessage::Credentials(c),
            (None, None) => ControlMessage::Other {
                level: o.level,
                kind: o.kind,
                data: &o.data,
            },
        })
        .collect();
    // The sizes come from the kit's layout, not from inflight's own.
    let need: usize = owned.iter().map(|o| cmsg::space(o.data.len())).sum();
    assert_eq!(codec::encoded_len(&msgs), need, "encoded_len");
    let size = match input.size {
        BufSize::Exact => need,
        BufSize::Short(x) => need.saturating_sub(1 + usize::from(x % 16)),
        BufSize::Extra(x) => need + usize::from(x % 32),
    };
    // Exactly `size` bytes on the heap: ASan sees any write past them.
    // Poisoned, so that padding the encoder fails to zero shows up.
    let mut buf: Vec<u8> = vec![0xA5; size];

    let total_fds: usize = owned
        .iter()
        .filter_map(|o| o.fds.as_ref())
        .map(Vec::len)
        .sum();
    let expect_encoder = if total_fds > SCM_MAX_FD {
        Some(ErrorKind::TooManyFds)
    } else if size < need {
        Some(ErrorKind::BufferTooSmall)
    } else if owned.iter().any(|o| o.creds.is_some_and(|c| c.pid < 0)) {
        Some(ErrorKind::InvalidControl)
    } else {
        None
    };
    let bytes = match (codec::encode(&msgs, &mut buf), expect_encoder) {
        (Ok(bytes), None) => bytes,
        (Err(e), Some(kind)) => {
            assert_eq!(e.kind(), kind, "encoder refused with the wrong kind");
            return;
        }
        (got, want) => panic!("encode: got {got:?}, expected {want:?}"),
    };
    assert_eq!(bytes.len(), need, "encoded length");
    // Byte for byte what the kit's builder writes: headers, data, zeroed
    // padding.
    let kit: Vec<Cmsg> = owned.iter().map(Owned::cmsg).collect();
    assert_eq!(
        bytes,
        &cmsg::concat(&kit)[..],
        "encoded bytes vs the kit's builder"
    );

    // Decode gives back exactly the messages, at CMSG_SPACE offsets, with
    // zeroed padding.
    let decoded: Vec<_> = codec::decode(bytes).collect();
    assert_eq!(decoded.len(), owned.len(), "decoded message count");
    let mut off = 0;
    for (i, (d, o)) in decoded.iter().zip(&owned).enumerate() {
        let c = d.as_ref().unwrap_or_else(|e| panic!("message {i}: {e:?}"));
        assert_eq!(
            (c.offset, c.level, c.kind, c.data, c.truncated),
            (off, o.level, o.kind, &o.data[..], false),
            "message {i}"
        );
        let end = off + cmsg::len(o.data.len());
        assert!(
            bytes[end..off + cmsg::space(o.data.len())]
                .iter()
                .all(|&b| b == 0),
            "message {i}: padding not zeroed"
        );
        match c.parse() {
            Message::Rights(r) => {
                if let Some(fds) = &o.fds {
                    assert_eq!(r.iter().collect::<Vec<_>>(), *fds, "message {i}: numbers");
                }
            }
            Message::Credentials(got) => {
                if let Some(c) = o.creds {
                    assert_eq!(got, c, "message {i}: credentials");
                }
            }
            _ => assert!(
                o.fds.is_none() && o.creds.is_none(),
                "message {i}: typed as other"
            ),
        }
        off += cmsg::space(o.data.len());
    }

    if bytes.len() > 16 * 1024 {
        // Past what the kernel copies without sock_kmalloc limits.
        return;
    }
    send_and_check(input, &owned, bytes);
}

fn send_and_check(input: &Input, owned: &[Owned], control: &[u8]) {
    let (a, b) = inflight::socketpair(input.kind.socket()).expect("socketpair");
    if input.passcred {
        inflight::set_pass_credentials(&b, true).expect("SO_PASSCRED");
    }
    let predicted = predict_kernel(owned);
    let ret = raw::sendmsg(a.as_fd(), b"x", control, libc::MSG_DONTWAIT);
    let got = ret
        .as_ref()
        .map(|_| ())
        .map_err(|e| e.raw_os_error().unwrap_or(0));
    assert_eq!(
        got,
        predicted,
        "kernel answer vs prediction for {:?} ({} control bytes)",
        input.msgs,
        control.len()
    );
    if got.is_err() {
        return;
    }
    assert_eq!(ret.ok(), Some(1), "bytes sent");

    // What arrives: every SOL_SOCKET/SCM_RIGHTS number, in order, as the
    // same open file description; the last credentials sent (or ours).
    let expected: Vec<RawFd> = owned
        .iter()
        .filter(|o| o.level == libc::SOL_SOCKET && o.kind == libc::SCM_RIGHTS)
        .flat_map(|o| o.data.chunks_exact(4).map(|c| read_i32(c, 0)))
        .collect();
    let mut buf = [0u8; 4];
    let r = inflight::recv_vec_with(
        &b,
        &mut [IoSliceMut::new(&mut buf)],
        SCM_MAX_FD,
        &RecvOptions::new().nonblocking(true),
    )
    .expect("receive what the kernel accepted");
    assert_eq!(r.bytes, 1);
    assert_eq!(r.fds.len(), expected.len(), "descriptor count");
    for (fd, &num) in r.fds.iter().zip(&expected) {
        // SAFETY: borrow_raw needs `num` open (and not -1) while the borrow
        // lives: the kernel took it for the send it accepted, so it was
        // open, and nothing in this function closes descriptors.
        let sent = unsafe { BorrowedFd::borrow_raw(num) };
        util::assert_same(fd.as_fd(), sent, "encode_roundtrip");
    }
    if input.passcred {
        let last = owned
            .iter()
            .rev()
            .find(|o| o.level == libc::SOL_SOCKET && o.kind == libc::SCM_CREDENTIALS)
            .map(|o| {
                (
                    read_i32(&o.data, 0),
                    read_i32(&o.data, 4) as u32,
                    read_i32(&o.data, 8) as u32,
                )
            })
            .unwrap_or_else(cmsg::own_ids);
        let got = r.credentials.map(|c| (c.pid, c.uid, c.gid));
        assert_eq!(got, Some(last), "credentials received");
    } else {
        assert_eq!(r.credentials, None);
    }
}
