//! Property 11, the codec, on the receive's fast path: `sole_rights`
//! answers exactly when the whole walk of a buffer yields one message, an
//! `SCM_RIGHTS`, and gives that message's numbers.

use inflight::codec::{decode, sole_rights, Message};
use inflight_proptests::check::fail;
use inflight_proptests::harness::{count_ops, run_property};
use inflight_proptests::rawbuf::{raw_buf, RawBuf};
use inflight_testkit::cmsg;
use inflight_testkit::AlignedBuf;
use proptest::prelude::*;

/// A buffer that often holds one `SCM_RIGHTS` message alone, the receive's
/// fast path: the message (sometimes of another type, with a lying length,
/// or cut short), then nothing, a few bytes too short for a header, or
/// arbitrary control bytes.
fn rights_first() -> impl Strategy<Value = RawBuf> {
    let kind = prop_oneof![
        8 => Just((libc::SOL_SOCKET, libc::SCM_RIGHTS)),
        1 => Just((libc::SOL_SOCKET, libc::SCM_CREDENTIALS)),
        1 => (any::<i32>(), any::<i32>()),
    ];
    let numbers = proptest::collection::vec(any::<i32>(), 0..=8);
    // 0: nothing after; 1..=15: that many bytes; 16: arbitrary messages;
    // 17: the message cut short by `cut` bytes.
    (
        kind,
        numbers,
        0usize..=17,
        1usize..=12,
        raw_buf(),
        -8isize..=8,
    )
        .prop_map(|((level, kind), numbers, after, cut, tail, lie)| {
            let data: Vec<u8> = numbers.iter().flat_map(|n| n.to_ne_bytes()).collect();
            let honest = cmsg::len(data.len());
            let claimed = if lie == 0 {
                honest
            } else {
                honest.saturating_add_signed(lie)
            };
            let mut out = cmsg::concat(&[cmsg::Cmsg::raw(level, kind, &data).with_len(claimed)]);
            match after {
                0 => {}
                16 => out.extend(&tail.0),
                17 => out.truncate(out.len().saturating_sub(cut)),
                n => out.extend(tail.0.iter().copied().chain(std::iter::repeat(0)).take(n)),
            }
            RawBuf(out)
        })
}

/// `sole_rights` finds the numbers of a buffer exactly when the whole walk
/// yields one message, an `SCM_RIGHTS`; both answers occur in the run.
#[test]
fn p11_codec_sole_rights_matches_the_walk() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static FOUND: AtomicUsize = AtomicUsize::new(0);
    static NOT: AtomicUsize = AtomicUsize::new(0);
    run_property(
        "p11_codec_sole_rights_matches_the_walk",
        file!(),
        prop_oneof![4 => rights_first(), 1 => raw_buf()],
        |raw| {
            let aligned = AlignedBuf::from_bytes(&raw.0);
            let buf = aligned.as_bytes();
            count_ops(1);
            let walk: Vec<_> = decode(buf).collect();
            let want = match walk.as_slice() {
                [Ok(c)] => match c.parse() {
                    Message::Rights(r) => Some(r.iter().collect::<Vec<_>>()),
                    _ => None,
                },
                _ => None,
            };
            let got = sole_rights(buf).map(|r| r.iter().collect::<Vec<_>>());
            if got != want {
                return Err(fail(format!(
                    "sole_rights gave {got:?}; the walk ({} items: {walk:?}) says {want:?}",
                    walk.len()
                )));
            }
            let counter = if got.is_some() { &FOUND } else { &NOT };
            counter.fetch_add(1, Ordering::Relaxed);
            Ok(())
        },
    );
    let (found, not) = (FOUND.load(Ordering::Relaxed), NOT.load(Ordering::Relaxed));
    assert!(
        found > 0 && not > 0,
        "the generator must reach both answers: {found} buffers with a sole SCM_RIGHTS, {not} without"
    );
}
