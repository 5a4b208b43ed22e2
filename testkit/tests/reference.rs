//! The reference walk (the C library's macros) agrees with the builder's
//! layout, and the kit's own walk agrees with the reference wherever the
//! reference is defined.

use inflight_testkit::cmsg::{self, Cmsg, DATA_OFFSET, HEADER_LEN};
use inflight_testkit::reference::{self, End, Flavor, Walk};

/// Where the builder put each message: (offset, message).
fn layout(msgs: &[Cmsg]) -> Vec<(usize, &Cmsg)> {
    let mut off = 0;
    msgs.iter()
        .map(|m| {
            let at = off;
            off += m.space();
            (at, m)
        })
        .collect()
}

fn sample_lists() -> Vec<Vec<Cmsg>> {
    let mut lists = vec![
        vec![],
        vec![Cmsg::rights(&[0])],
        vec![Cmsg::rights(&[0, 1, 2]), Cmsg::credentials(1, 2, 3)],
        vec![Cmsg::raw(0, 0, &[]), Cmsg::raw(-1, -1, &[0xff; 3])],
    ];
    lists.push(
        (0..17)
            .map(|n| Cmsg::raw(n, 100 + n, &vec![n as u8; n as usize]))
            .collect(),
    );
    lists
}

#[test]
fn the_reference_reads_the_builders_layout() {
    for msgs in sample_lists() {
        for padded in [true, false] {
            let buf = if padded {
                cmsg::concat(&msgs)
            } else {
                cmsg::concat_unpadded(&msgs)
            };
            let want = layout(&msgs);
            for &flavor in Flavor::ALL {
                let Walk { steps, end } = reference::walk_bytes(&buf, flavor);
                let what = format!("{} padded={padded} {msgs:?}", flavor.name());
                assert_eq!(end, End::Null, "{what}");
                // Old glibc may stop before an unpadded last message.
                let old_glibc_stop = !padded && flavor != Flavor::LibcCrate;
                if old_glibc_stop && steps.len() + 1 == want.len() {
                    println!("{}: stops before an unpadded last message", flavor.name());
                } else {
                    assert_eq!(steps.len(), want.len(), "{what}");
                }
                for (s, (at, m)) in steps.iter().zip(&want) {
                    assert_eq!(
                        (s.offset, s.level, s.kind),
                        (*at, m.level, m.kind),
                        "{what}"
                    );
                    assert_eq!(s.cmsg_len, cmsg::len(m.data.len()), "{what}");
                    assert_eq!(s.data_offset, at + DATA_OFFSET, "{what}");
                    let range = s.data(buf.len()).expect("in the buffer");
                    assert_eq!(&buf[range], &m.data[..], "{what}");
                }
            }
        }
    }
}

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> usize {
        (self.next() % n) as usize
    }
}

/// A buffer of messages some of which lie about their length, cut or
/// extended by junk.
fn hostile_buffer(rng: &mut Rng) -> Vec<u8> {
    let msgs: Vec<Cmsg> = (0..rng.below(5))
        .map(|_| {
            let data = vec![rng.below(256) as u8; rng.below(24)];
            let m = Cmsg::raw(rng.below(3) as i32, rng.below(3) as i32, &data);
            match rng.below(8) {
                0 => m.with_len(rng.below(HEADER_LEN as u64)),
                1 => m.with_len(cmsg::len(data.len()) + rng.below(64)),
                2 => m.with_len(usize::MAX - rng.below(16)),
                _ => m,
            }
        })
        .collect();
    let mut buf = cmsg::concat(&msgs);
    match rng.below(3) {
        0 => buf.truncate(rng.below(buf.len() as u64 + 1)),
        1 => buf.extend((0..rng.below(20)).map(|i| i as u8)),
        _ => {}
    }
    buf
}

#[test]
fn the_kits_walk_agrees_with_the_reference() {
    let mut rng = Rng(0x1f2e_3d4c_5b6a_7980);
    let mut ends = [0usize; 4];
    for case in 0..20_000 {
        let buf = hostile_buffer(&mut rng);
        let ours: Vec<_> = cmsg::messages(&buf).collect();
        let Walk { steps, end } = reference::walk_bytes(&buf, Flavor::LibcCrate);
        let what = format!("case {case}: {buf:02x?}\nreference {steps:?} {end:?}\nkit {ours:?}");
        let expected = match end {
            End::Null => steps.len(),
            End::Short => steps.len() - 1,
            End::Overrun => steps.len(),
            End::Undefined => steps.len() + 1,
        };
        ends[end as usize] += 1;
        assert_eq!(ours.len(), expected, "{what}");
        for (i, (s, f)) in steps.iter().zip(&ours).enumerate() {
            assert_eq!(
                (f.offset, f.cmsg_len, f.level, f.kind),
                (s.offset, s.cmsg_len, s.level, s.kind),
                "{what}"
            );
            let overrun = end == End::Overrun && i + 1 == steps.len();
            assert_eq!(f.truncated, overrun, "{what}");
            match s.data(buf.len()) {
                Some(r) => assert_eq!(f.data, &buf[r], "{what}"),
                None => assert_eq!(f.data, &buf[s.data_offset..], "{what}"),
            }
        }
        if end == End::Undefined {
            assert!(ours.last().unwrap().truncated, "{what}");
        }
        #[cfg(target_env = "gnu")]
        {
            let g = reference::walk_bytes(&buf, Flavor::Glibc);
            assert!(g.steps.len() <= steps.len(), "{what}\nglibc {g:?}");
            assert_eq!(g.steps[..], steps[..g.steps.len()], "{what}\nglibc {g:?}");
        }
    }
    // Every way a walk ends was exercised.
    assert!(ends.iter().all(|&n| n > 100), "ends seen: {ends:?}");
}
