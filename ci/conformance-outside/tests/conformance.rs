//! The kit's battery (one test per case) and its property over RawLibc,
//! with the two findings raw libc code has (as inflight-audit finds them in
//! inflight's own libc adapter), and the findings written where the script
//! compares them with the auditor's.
use outside_libc::RawLibc;

const KNOWN: [&str; 2] = ["creds-beside-rights", "empty-payload-stream"];

inflight_conformance::tests!(RawLibc, known = ["creds-beside-rights", "empty-payload-stream"]);

#[test]
fn report() {
    let report = inflight_conformance::check(&mut RawLibc);
    println!("{report}");
    if let Some(path) = std::env::var_os("FINDINGS_OUT") {
        std::fs::write(path, report.failed().join("\n") + "\n").unwrap();
    }
    report.assert_failures(&KNOWN);
}
