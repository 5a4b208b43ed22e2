//! Tests of the sinks: the sign check and the all-or-none claim.

use super::*;
use crate::sys::tests::{encode_numbers, rights_of};

/// `all_valid` on the numbers of an SCM_RIGHTS message encoded at an
/// aligned address and copied to an odd one (unaligned reads).
#[test]
fn all_valid_finds_any_negative_number() {
    let lists: [&[i32]; 9] = [
        &[3],
        &[-1],
        &[-1, -1],
        &[3, -1],
        &[3, 4, 5],
        &[3, -1, 5],
        &[-1, -1, -1, -1],
        &[i32::MIN, 4, 5, 6],
        &[3, 4, 5, 6, 7, -7],
    ];
    for list in lists {
        let want = list.iter().all(|&fd| fd >= 0);
        let mut buf = [0u8; 128];
        let bytes = encode_numbers(list, &mut buf);
        let mut odd = vec![0u8; bytes.len() + 1];
        odd[1..].copy_from_slice(bytes);
        for (at, b) in [("aligned", bytes), ("odd", &odd[1..])] {
            let r = rights_of(b);
            assert_eq!(all_valid(&r, r.len()), want, "{list:?} {at}");
        }
    }
}

/// Claims the numbers `list` (descriptors of the test's own, given
/// away, or negative numbers) into `sink`; returns the numbers the sink
/// and the surplus ended up with.
fn claim_into<S: FdStore>(mut sink: S, list: &[RawFd]) -> (Vec<RawFd>, Vec<RawFd>) {
    use std::os::fd::AsRawFd;
    let mut buf = [0u8; 128];
    let r = rights_of(encode_numbers(list, &mut buf));
    let mut surplus = Vec::new();
    // SAFETY: every non-negative number of `list` is a descriptor the
    // test opened and gave away, claimed once, here.
    unsafe { sink.claim(r, &mut surplus) };
    let mut kept = Vec::new();
    sink.drain_into(&mut kept);
    let nums = |v: &[OwnedFd]| v.iter().map(AsRawFd::as_raw_fd).collect::<Vec<_>>();
    (nums(&kept), nums(&surplus))
}

/// [`claim_into`] an empty `FdArray` of capacity `cap` (0 to 6).
fn claim_into_array(cap: usize, list: &[RawFd]) -> (Vec<RawFd>, Vec<RawFd>) {
    match cap {
        0 => claim_into(FdArray::<0>::new(), list),
        1 => claim_into(FdArray::<1>::new(), list),
        2 => claim_into(FdArray::<2>::new(), list),
        3 => claim_into(FdArray::<3>::new(), list),
        4 => claim_into(FdArray::<4>::new(), list),
        5 => claim_into(FdArray::<5>::new(), list),
        _ => claim_into(FdArray::<6>::new(), list),
    }
}

/// A claim takes every number or none, for every count the copy treats
/// apart (1 to 4) and beyond, within and past the capacity, in both
/// sinks: one negative number anywhere sends the others to the surplus,
/// in order, and none to the sink; with none, the sink takes what fits
/// and the surplus the rest.
#[test]
fn a_claim_takes_all_or_none() {
    use std::os::fd::IntoRawFd;
    let _g = crate::sys::tests::SERIAL
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    for len in 1..=6usize {
        for bad in [None, Some(0), Some(len - 1)] {
            for cap in [len, len - 1] {
                let list = |bad_value| -> Vec<RawFd> {
                    (0..len)
                        .map(|i| match bad {
                            Some(b) if b == i => bad_value,
                            _ => OwnedFd::from(std::fs::File::open("/dev/null").unwrap())
                                .into_raw_fd(),
                        })
                        .collect()
                };
                let fits = cap.min(len);
                for (sink, list) in [("vec", list(-1)), ("array", list(i32::MIN))] {
                    let valid: Vec<RawFd> = list.iter().copied().filter(|&fd| fd >= 0).collect();
                    let got = if sink == "vec" {
                        claim_into(
                            BoundedVec {
                                vec: Vec::new(),
                                cap,
                            },
                            &list,
                        )
                    } else {
                        claim_into_array(cap, &list)
                    };
                    let want = if bad.is_some() {
                        (Vec::new(), valid.clone())
                    } else {
                        (valid[..fits].to_vec(), valid[fits..].to_vec())
                    };
                    assert_eq!(
                        got, want,
                        "{sink}, {len} numbers, bad {bad:?}, capacity {cap}"
                    );
                }
            }
        }
    }
}
