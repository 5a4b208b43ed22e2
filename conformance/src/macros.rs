//! [`tests!`](crate::tests): one `#[test]` per case of the battery, and
//! one for the property, over an implementation.

/// Generates one `#[test]` per battery case (`case_truncation_leak`, ...)
/// and one for the property (`conformance_property`), each over a fresh
/// value of the expression given, plus `conformance_case_list`, which
/// checks that this macro knows every case of the kit.
///
/// A failing case fails its test with the evidence; a skipped one passes
/// and prints `skipped: reason`. `known = [...]` lists cases that are
/// known to fail (findings you track): each must fail, and passing fails
/// the test, so the list shrinks when a finding is fixed.
///
/// Put it in a test file of its own (`tests/conformance.rs`): every case
/// holds the kit's process-wide lock, and a test of the same binary that
/// opens descriptors without it could be counted as a leak.
///
/// ```no_run
/// # use std::{io, os::fd::BorrowedFd};
/// # use inflight_conformance::{Implementation, Recv};
/// # struct MyImpl;
/// # impl MyImpl { fn new() -> Self { MyImpl } }
/// # impl Implementation for MyImpl {
/// #     fn name(&self) -> &'static str { "mine" }
/// #     fn send(&mut self, _: BorrowedFd<'_>, _: &[u8], _: &[BorrowedFd<'_>]) -> io::Result<usize> { todo!() }
/// #     fn recv(&mut self, _: BorrowedFd<'_>, _: &mut [u8], _: usize) -> io::Result<Recv> { todo!() }
/// # }
/// # mod all { use super::*;
/// inflight_conformance::tests!(MyImpl::new());
/// # }
/// # mod known { use super::*;
/// inflight_conformance::tests!(MyImpl::new(), known = ["creds-beside-rights"]);
/// # }
/// ```
#[macro_export]
macro_rules! tests {
    ($make:expr $(,)?) => {
        $crate::tests!($make, known = []);
    };
    ($make:expr, known = [$($known:literal),* $(,)?] $(,)?) => {
        $crate::__case_tests! {
            $make, [$($known),*];
            case_roundtrip_stream "roundtrip/stream",
            case_roundtrip_seqpacket "roundtrip/seqpacket",
            case_roundtrip_dgram "roundtrip/dgram",
            case_payload_kept "payload-kept",
            case_several_per_message "several-per-message",
            case_all_kinds "all-kinds",
            case_exact_capacity "exact-capacity",
            case_max_253 "max-253",
            case_refuse_254 "refuse-254",
            case_cloexec_across_exec "cloexec-across-exec",
            case_truncation_leak "truncation-leak",
            case_truncation_reported "truncation-reported",
            case_creds_beside_rights "creds-beside-rights",
            case_payload_truncation "payload-truncation",
            case_empty_payload_stream "empty-payload-stream",
        }

        #[test]
        fn conformance_property() {
            let mut p = $make;
            $crate::__property_test(&mut p);
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __case_tests {
    ($make:expr, $known:tt; $($test:ident $name:literal),* $(,)?) => {
        $(
            #[test]
            fn $test() {
                let mut p = $make;
                $crate::battery::__case_test(&mut p, $name, &$known);
            }
        )*

        #[test]
        fn conformance_case_list() {
            $crate::battery::__case_list(&[$($name),*], &$known);
        }
    };
}
