//! `decode_differential`: inflight's decoder against the test kit's
//! reference walks, which use `CMSG_FIRSTHDR`/`CMSG_NXTHDR`/`CMSG_DATA`:
//! the `libc` crate's (which follow the kernel's own walk) and glibc's
//! `__cmsg_nxthdr` (which, before glibc 2.37, also stops when the next
//! message's padding would pass the end).

use inflight::codec::{self, Cmsg};
use inflight::ErrorKind;
use inflight_testkit::cmsg::{self as kit, align};
use inflight_testkit::reference::{self, End, Flavor, Walk};
use inflight_testkit::AlignedBuf;

type Ours<'a> = [Result<Cmsg<'a>, inflight::Error>];

/// The fuzz target body; see the module documentation.
///
/// # Panics
///
/// When inflight's walk and a reference walk disagree where the reference
/// is defined.
pub fn decode_differential(data: &[u8]) {
    // The references read through `*const cmsghdr`: give them an aligned
    // copy. inflight decodes the fuzzer's own (exactly sized) allocation.
    let aligned = AlignedBuf::from_bytes(data);
    let ours: Vec<_> = codec::decode(data).collect();
    for &flavor in Flavor::ALL {
        compare(&ours, &reference::walk(&aligned, flavor), data, flavor);
    }
}

fn compare(ours: &Ours<'_>, walk: &Walk, buf: &[u8], flavor: Flavor) {
    let name = flavor.name();
    let len = buf.len();
    for (i, step) in walk.steps.iter().enumerate() {
        let Some(item) = ours.get(i) else {
            panic!("{name}: inflight ended before reference step {i} {step:?}");
        };
        let last = i + 1 == walk.steps.len();
        match (step.data(len), item) {
            (Some(data), Ok(c)) => assert_eq!(
                (c.offset, c.level, c.kind, c.data_range.clone(), c.truncated),
                (step.offset, step.level, step.kind, data, false),
                "{name}: step {i}"
            ),
            (None, Err(e)) if last && walk.end == End::Short => {
                assert_eq!(e.kind(), ErrorKind::MalformedControl, "{name}: step {i}");
            }
            (None, Ok(c)) if last && walk.end == End::Overrun => {
                // Only where the header is, and that inflight clamps.
                assert_eq!(
                    (c.offset, c.level, c.kind),
                    (step.offset, step.level, step.kind),
                    "{name}: step {i} (overrun)"
                );
                assert!(c.truncated, "{name}: overrun not marked truncated");
                assert_eq!(
                    c.data_range,
                    step.data_offset..len,
                    "{name}: overrun not clamped"
                );
            }
            (_, item) => panic!(
                "{name}: step {i} ({:?} end): reference {step:?}, inflight {item:?}",
                walk.end
            ),
        }
    }
    let extra = &ours[walk.steps.len()..];
    match walk.end {
        // The reference's last step ends the walk (a negative data range,
        // or data past the end): inflight's matched it, and must be last.
        End::Short | End::Overrun => assert!(
            extra.is_empty(),
            "{name}: inflight went on after the {:?} step: {extra:?}",
            walk.end
        ),
        End::Undefined => undefined_next(extra, walk, buf, name),
        End::Null => null_end(extra, walk, len, flavor),
    }
}

/// The reference stopped before a whole header whose `cmsg_len` runs past
/// the buffer (the macros' arithmetic is not defined there). Where it is
/// (the last step's offset plus `CMSG_ALIGN` of its `cmsg_len`) and what
/// it says are plain bytes: the kernel's walk returns that header, cut at
/// the end, and stops; inflight must do the same.
fn undefined_next(extra: &Ours<'_>, walk: &Walk, buf: &[u8], name: &str) {
    let last = walk.steps.last().expect("Undefined follows a step");
    let at = last.offset + align(last.cmsg_len);
    let next = kit::messages(&buf[at..])
        .next()
        .expect("a whole header after the last step");
    assert!(
        next.truncated,
        "{name}: {next:?} at {at} is not past the end"
    );
    let [item] = extra else {
        panic!("{name}: after the reference's last step, inflight yields {extra:?}, not one cut message at {at}");
    };
    let c = item
        .as_ref()
        .unwrap_or_else(|e| panic!("{name}: message at {at}: {e:?}"));
    assert_eq!(
        (c.offset, c.level, c.kind, c.truncated),
        (at, next.level, next.kind, true),
        "{name}: the message past the end"
    );
    assert_eq!(
        c.data_range,
        at + kit::DATA_OFFSET..buf.len(),
        "{name}: the message past the end is not clamped"
    );
}

/// `CMSG_FIRSTHDR` or `CMSG_NXTHDR` returned null.
fn null_end(extra: &Ours<'_>, walk: &Walk, len: usize, flavor: Flavor) {
    match flavor {
        Flavor::LibcCrate => assert!(
            extra.is_empty(),
            "libc crate: inflight yields more than the reference: {extra:?}"
        ),
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        Flavor::Glibc => {
            // glibc before 2.37 (without the backported fix) also stops when
            // the next message's padding passes the end. inflight returns
            // that one message (whole, or clamped), then stops.
            assert!(extra.len() <= 1, "glibc: inflight yields {extra:?}");
            if let Some(item) = extra.first() {
                let expected_off = walk
                    .steps
                    .last()
                    .map_or(0, |s| s.offset + align(s.cmsg_len));
                let c = item
                    .as_ref()
                    .unwrap_or_else(|e| panic!("glibc: extra item {e:?}"));
                assert_eq!(c.offset, expected_off, "glibc: extra item offset");
                assert!(
                    c.truncated || c.offset + align(c.data_range.end - c.offset) > len,
                    "glibc: stopped before {c:?}, which fits with its padding"
                );
            }
        }
    }
}
