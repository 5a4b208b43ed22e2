//! Property 11: the pure codec. Encode writes exactly the bytes the test
//! kit's hand-written builder writes (padding zeroed) and decode reads them
//! back; decoding arbitrary bytes agrees with the test kit's reference
//! walk (the C library's `CMSG_FIRSTHDR`/`CMSG_NXTHDR`/`CMSG_DATA`, in each
//! flavour this target has) wherever that walk is well defined, and
//! differs only as documented in `inflight::codec`.

use inflight::codec::{
    decode, decode_clamped, encode, encoded_len, Cmsg, ControlMessage, FdList, Message,
};
use inflight::{Credentials, ErrorKind};
use inflight_proptests::check::fail;
use inflight_proptests::harness::{count_ops, run_property};
use inflight_proptests::rawbuf::raw_buf;
use inflight_testkit::cmsg::{self, HEADER_LEN};
use inflight_testkit::reference::{self, End, Flavor};
use inflight_testkit::AlignedBuf;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

/// An owned control message, to generate and print.
#[derive(Clone, Debug)]
enum Msg {
    Rights(Vec<i32>),
    Creds {
        pid: i32,
        uid: u32,
        gid: u32,
    },
    Other {
        level: i32,
        kind: i32,
        data: Vec<u8>,
    },
}

impl Msg {
    fn borrow(&self) -> ControlMessage<'_> {
        match self {
            Msg::Rights(v) => ControlMessage::Rights(FdList::Raw(v)),
            Msg::Creds { pid, uid, gid } => ControlMessage::Credentials(Credentials {
                pid: *pid,
                uid: *uid,
                gid: *gid,
            }),
            Msg::Other { level, kind, data } => ControlMessage::Other {
                level: *level,
                kind: *kind,
                data,
            },
        }
    }

    fn data_len(&self) -> usize {
        match self {
            Msg::Rights(v) => 4 * v.len(),
            Msg::Creds { .. } => std::mem::size_of::<libc::ucred>(),
            Msg::Other { data, .. } => data.len(),
        }
    }

    /// The same message in the test kit's builder.
    fn kit(&self) -> cmsg::Cmsg {
        match self {
            Msg::Rights(v) => cmsg::Cmsg::rights(v),
            Msg::Creds { pid, uid, gid } => cmsg::Cmsg::credentials(*pid, *uid, *gid),
            Msg::Other { level, kind, data } => cmsg::Cmsg::raw(*level, *kind, data),
        }
    }
}

fn msg() -> impl Strategy<Value = Msg> {
    prop_oneof![
        3 => prop_oneof![
            4 => proptest::collection::vec(any::<i32>(), 0..=8),
            1 => proptest::collection::vec(any::<i32>(), 0..=253),
        ]
        .prop_map(Msg::Rights),
        1 => (0..=i32::MAX, any::<u32>(), any::<u32>())
            .prop_map(|(pid, uid, gid)| Msg::Creds { pid, uid, gid }),
        2 => (
            prop_oneof![Just(libc::SOL_SOCKET), any::<i32>()],
            prop_oneof![Just(libc::SCM_RIGHTS), Just(libc::SCM_CREDENTIALS), Just(4), any::<i32>()],
            proptest::collection::vec(any::<u8>(), 0..=40),
        )
            .prop_map(|(level, kind, data)| Msg::Other { level, kind, data }),
    ]
}

fn check_roundtrip(msgs: &[Msg], slack: usize) -> Result<(), TestCaseError> {
    let borrowed: Vec<ControlMessage<'_>> = msgs.iter().map(Msg::borrow).collect();
    let need: usize = msgs.iter().map(|m| cmsg::space(m.data_len())).sum();
    if encoded_len(&borrowed) != need {
        return Err(fail(format!(
            "encoded_len {} but the sum of CMSG_SPACE is {need}",
            encoded_len(&borrowed)
        )));
    }
    let total_fds: usize = msgs
        .iter()
        .map(|m| if let Msg::Rights(v) = m { v.len() } else { 0 })
        .sum();
    // Poisoned, so that padding the encoder fails to zero shows up in the
    // comparison with the kit's bytes below.
    let mut storage = vec![0xA5u8; need + slack];
    let buf = &mut storage[..];
    count_ops(1);
    let bytes = match encode(&borrowed, buf) {
        Err(e) if total_fds > inflight::SCM_MAX_FD && e.kind() == ErrorKind::TooManyFds => {
            return Ok(())
        }
        Err(e) => return Err(fail(format!("encode: {e:?} ({total_fds} fds)"))),
        Ok(_) if total_fds > inflight::SCM_MAX_FD => {
            return Err(fail(format!("encode accepted {total_fds} descriptors")))
        }
        Ok(b) => b.to_vec(),
    };
    if bytes.len() != need {
        return Err(fail(format!(
            "encoded {} bytes, expected {need}",
            bytes.len()
        )));
    }
    // Byte for byte what a C sender writes: headers, data, zero padding.
    let kit: Vec<cmsg::Cmsg> = msgs.iter().map(Msg::kit).collect();
    let want = cmsg::concat(&kit);
    if let Some(at) = (0..need).find(|&i| bytes[i] != want[i]) {
        return Err(fail(format!(
            "encoded byte {at} is {:#04x}, the kit's builder wrote {:#04x} (header, data or padding)",
            bytes[at], want[at]
        )));
    }
    // Too small a buffer is refused.
    if need > 0 {
        let mut small = vec![0u8; need - 1];
        match encode(&borrowed, &mut small) {
            Err(e) if e.kind() == ErrorKind::BufferTooSmall => {}
            other => return Err(fail(format!("encode into {} bytes: {other:?}", need - 1))),
        }
    }
    let aligned = AlignedBuf::from_bytes(&bytes);
    let bytes = aligned.as_bytes();
    let decoded: Vec<Cmsg<'_>> = decode(bytes)
        .collect::<Result<_, _>>()
        .map_err(|e| fail(format!("decode of encoded bytes: {e:?}")))?;
    if decoded.len() != msgs.len() {
        return Err(fail(format!(
            "{} messages encoded, {} decoded",
            msgs.len(),
            decoded.len()
        )));
    }
    for &flavor in Flavor::ALL {
        let walk = reference::walk(&aligned, flavor);
        if walk.steps.len() != msgs.len() || walk.end != End::Null {
            return Err(fail(format!(
                "the {} walk sees {} messages (ending {:?}) in the encoding of {}",
                flavor.name(),
                walk.steps.len(),
                walk.end,
                msgs.len()
            )));
        }
        let mut off = 0;
        for (i, (m, r)) in msgs.iter().zip(&walk.steps).enumerate() {
            if r.offset != off || r.cmsg_len != cmsg::len(m.data_len()) {
                return Err(fail(format!(
                    "message {i}: the {} walk finds it at {} with cmsg_len {}, expected {off} and {}",
                    flavor.name(),
                    r.offset,
                    r.cmsg_len,
                    cmsg::len(m.data_len())
                )));
            }
            off += cmsg::space(m.data_len());
        }
    }
    let mut off = 0;
    for (i, (m, c)) in msgs.iter().zip(&decoded).enumerate() {
        if c.offset != off || c.truncated {
            return Err(fail(format!(
                "message {i}: decoded at {} (expected {off}), truncated {}",
                c.offset, c.truncated
            )));
        }
        off += cmsg::space(m.data_len());
        let ok = match (m, c.parse()) {
            (Msg::Rights(v), Message::Rights(r)) => {
                r.iter().eq(v.iter().copied()) && r.trailing_bytes() == 0
            }
            (Msg::Creds { pid, uid, gid }, Message::Credentials(got)) => {
                got == Credentials {
                    pid: *pid,
                    uid: *uid,
                    gid: *gid,
                }
            }
            (Msg::Other { level, kind, data }, _) => {
                c.level == *level && c.kind == *kind && c.data == &data[..]
            }
            _ => false,
        };
        if !ok {
            return Err(fail(format!(
                "message {i}: {m:?} decoded as {:?}",
                c.parse()
            )));
        }
    }
    Ok(())
}

#[derive(Clone, Debug)]
enum BadCase {
    NegativePid(i32),
    TooManyFds(Vec<usize>),
}

/// Encode then decode round-trips arbitrary lists of control messages, at
/// the offsets and lengths libc's CMSG_SPACE/CMSG_LEN give; encoding refuses
/// more than 253 descriptors, a short buffer, a negative pid.
#[test]
fn p11_codec_roundtrip() {
    let strat = (
        proptest::collection::vec(msg(), 0..=6),
        0usize..=32,
        prop_oneof![
            (i32::MIN..0).prop_map(BadCase::NegativePid),
            proptest::collection::vec(0usize..=253, 2..=4).prop_map(BadCase::TooManyFds),
        ],
    );
    run_property(
        "p11_codec_roundtrip",
        file!(),
        strat,
        |(msgs, slack, bad)| {
            check_roundtrip(&msgs, slack)?;
            // Room for the largest case (4 x 253 descriptors and headers),
            // so that only the descriptor count can make `encode` refuse.
            let mut buf = vec![0u8; 4 * 4 * 253 + 4 * 64];
            match bad {
                BadCase::NegativePid(pid) => {
                    let m = [ControlMessage::Credentials(Credentials {
                        pid,
                        uid: 0,
                        gid: 0,
                    })];
                    match encode(&m, &mut buf) {
                        Err(e) if e.kind() == ErrorKind::InvalidControl => Ok(()),
                        other => Err(fail(format!("credentials with pid {pid}: {other:?}"))),
                    }
                }
                BadCase::TooManyFds(counts) => {
                    let lists: Vec<Vec<i32>> = counts.iter().map(|&n| vec![3; n]).collect();
                    let m: Vec<_> = lists
                        .iter()
                        .map(|l| ControlMessage::Rights(FdList::Raw(l)))
                        .collect();
                    let total: usize = counts.iter().sum();
                    let r = encode(&m, &mut buf).map(|b| b.len());
                    match (total > inflight::SCM_MAX_FD, r) {
                        (true, Err(e)) if e.kind() == ErrorKind::TooManyFds => Ok(()),
                        (false, Ok(_)) => Ok(()),
                        (_, other) => Err(fail(format!(
                            "{total} descriptors in {counts:?}: {other:?}"
                        ))),
                    }
                }
            }
        },
    );
}

/// The `cmsg_len` stored at `at`.
fn read_len(buf: &[u8], at: usize) -> usize {
    usize::from_ne_bytes(buf[at..at + cmsg::ALIGN].try_into().expect("size_t bytes"))
}

/// Compares `decode` with the reference walk of `flavor` over `aligned`.
fn compare_walks(aligned: &AlignedBuf, flavor: Flavor) -> Result<(), TestCaseError> {
    let walk = reference::walk(aligned, flavor);
    let name = flavor.name();
    let buf = aligned.as_bytes();
    let ours: Vec<_> = decode(buf).collect();
    let show = |i: usize| format!("{:?}", ours.get(i));
    let mut i = 0;
    let mut next = None;
    for r in &walk.steps {
        let Some(got) = ours.get(i) else {
            return Err(fail(format!(
                "the {name} walk has a header at {} (cmsg_len {}); decode ended after {i}",
                r.offset, r.cmsg_len
            )));
        };
        if r.cmsg_len < HEADER_LEN {
            return match got {
                Err(e) if e.kind() == ErrorKind::MalformedControl && ours.len() == i + 1 => Ok(()),
                _ => Err(fail(format!(
                    "cmsg_len {} < header at {}: decode gave {} then {} more",
                    r.cmsg_len,
                    r.offset,
                    show(i),
                    ours.len() - i - 1
                ))),
            };
        }
        let c = got.as_ref().map_err(|e| {
            fail(format!(
                "header at {} (cmsg_len {}): decode error {e:?}",
                r.offset, r.cmsg_len
            ))
        })?;
        let end_of = r.offset.saturating_add(r.cmsg_len);
        let truncated = end_of > buf.len();
        let data_end = end_of.min(buf.len());
        let data = &buf[r.data_offset.min(data_end)..data_end];
        if c.offset != r.offset
            || c.level != r.level
            || c.kind != r.kind
            || c.data != data
            || c.truncated != truncated
        {
            return Err(fail(format!(
                "header at {} (cmsg_len {}, level {}, type {}, {} data bytes, past the end {truncated}): decode gave {c:?}",
                r.offset,
                r.cmsg_len,
                r.level,
                r.kind,
                data.len()
            )));
        }
        i += 1;
        if truncated {
            if ours.len() != i {
                return Err(fail(format!(
                    "decode went on after a truncated message: {}",
                    show(i)
                )));
            }
            return Ok(());
        }
        next = Some(r.offset + cmsg::align(r.cmsg_len));
    }
    // A walk that ends at a short or overrun header returned above.
    if matches!(walk.end, End::Short | End::Overrun) {
        return Err(fail(format!(
            "the {name} walk ended {:?} after {} headers, none of them short or past the end",
            walk.end,
            walk.steps.len()
        )));
    }
    // After the walk's null (or where it stopped before undefined
    // arithmetic): decode may return one more message whose data fits but
    // whose padding (or length) runs past the end.
    let extra = match next {
        Some(o) if o + HEADER_LEN <= buf.len() => Some((o, read_len(buf, o))),
        _ => None,
    };
    match (extra, ours.get(i)) {
        (None, None) => Ok(()),
        (Some((o, l)), Some(Ok(c))) if l >= HEADER_LEN => {
            let end_of = o.saturating_add(l);
            let data_end = end_of.min(buf.len());
            let ok = c.offset == o
                && c.truncated == (end_of > buf.len())
                && c.data == &buf[(o + HEADER_LEN).min(data_end)..data_end]
                && ours.len() == i + 1;
            if ok {
                Ok(())
            } else {
                Err(fail(format!(
                    "after the {name} walk ended ({:?}), decode gave {c:?} (expected the last message at {o}, cmsg_len {l}) and {} more",
                    walk.end,
                    ours.len() - i - 1
                )))
            }
        }
        (extra, got) => Err(fail(format!(
            "after the {name} walk ended ({:?}, {} headers), decode gave {got:?}; a last header {extra:?} (offset, cmsg_len)",
            walk.end,
            walk.steps.len()
        ))),
    }
}

/// Decoding arbitrary bytes agrees with the test kit's reference walk
/// (CMSG_FIRSTHDR / CMSG_NXTHDR / CMSG_DATA, every flavour) where that walk
/// is defined; decode_clamped never reads past the claimed length.
#[test]
fn p11_codec_decode_matches_libc_walk() {
    run_property(
        "p11_codec_decode_matches_libc_walk",
        file!(),
        (raw_buf(), any::<usize>()),
        |(raw, claim)| {
            let aligned = AlignedBuf::from_bytes(&raw.0);
            count_ops(1);
            for &flavor in Flavor::ALL {
                compare_walks(&aligned, flavor)?;
            }
            let buf = aligned.as_bytes();
            // decode_clamped must not look past `claimed`: poison every
            // byte after it and the walk must not change, and every data
            // slice must lie inside the claimed prefix.
            let claimed = claim % (buf.len() + 16);
            let clamp = claimed.min(buf.len());
            let mut poisoned = raw.0.clone();
            poisoned[clamp..].fill(0xA5);
            let paligned = AlignedBuf::from_bytes(&poisoned);
            let pbuf = paligned.as_bytes();
            let walk = |b: &[u8]| -> Vec<Result<(i32, i32, usize, usize), ErrorKind>> {
                decode_clamped(b, claimed)
                    .map(|r| {
                        r.map(|c| {
                            let off = c.data.as_ptr() as usize - b.as_ptr() as usize;
                            (c.level, c.kind, off, c.data.len())
                        })
                        .map_err(|e| e.kind())
                    })
                    .collect()
            };
            let a = walk(buf);
            if a != walk(pbuf) {
                return Err(fail(format!(
                    "decode_clamped({claimed}) of {} bytes changed when the bytes after the claim changed",
                    buf.len()
                )));
            }
            for (off, len) in a.iter().flatten().map(|&(_, _, o, l)| (o, l)) {
                if off + len > clamp {
                    return Err(fail(format!(
                        "decode_clamped({claimed}): data at {off}..{} lies past the claimed {clamp} bytes",
                        off + len
                    )));
                }
            }
            Ok(())
        },
    );
}
