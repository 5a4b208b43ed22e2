//! The auditor against deliberately broken peers: each must fail the right
//! case with the right diagnosis, and a correct peer must pass.

use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_inflight-audit");

fn audit(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("running inflight-audit")
}

/// Runs `peer` on the given cases against `peer_cmd`, returning the exit
/// code and the parsed JSON report.
fn peer(cases: &[&str], peer_cmd: &[&str], extra: &[&str]) -> (i32, serde_json::Value) {
    let mut args = vec!["peer", "--format", "json"];
    args.extend_from_slice(extra);
    for c in cases {
        args.push("--case");
        args.push(c);
    }
    args.push("--");
    args.extend_from_slice(peer_cmd);
    let out = audit(&args);
    let text = String::from_utf8_lossy(&out.stdout);
    let json: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {text}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), json)
}

fn case<'a>(report: &'a serde_json::Value, name: &str) -> (&'a str, &'a str) {
    let c = report["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no case {name} in {report}"));
    (c["status"].as_str().unwrap(), c["detail"].as_str().unwrap())
}

fn assert_fails(report: &serde_json::Value, name: &str, needles: &[&str]) {
    let (status, detail) = case(report, name);
    assert_eq!(status, "fail", "{name}: {detail}");
    for n in needles {
        assert!(
            detail.contains(n),
            "{name}: diagnosis lacks {n:?}: {detail}"
        );
    }
}

#[test]
fn a_peer_that_reopens_by_path_is_not_the_same_open_file_description() {
    let (code, r) = peer(
        &["peer/seqpacket/kind-file"],
        &[BIN, "echo", "--break", "reopen"],
        &[],
    );
    assert_eq!(code, 1);
    assert_fails(
        &r,
        "peer/seqpacket/kind-file",
        &[
            "same file (fstat dev/inode equal)",
            "not the same open file description (kcmp)",
            "reopened",
        ],
    );
}

#[test]
fn a_peer_that_keeps_its_copies_is_named_as_leaking_them() {
    let (code, r) = peer(
        &["peer/dgram/repeats", "peer/dgram/kind-dev-null"],
        &[BIN, "echo", "--break", "leak"],
        &[],
    );
    assert_eq!(code, 1);
    assert_fails(
        &r,
        "peer/dgram/repeats",
        &["peer leaked 6 descriptor(s)", "pipe:[", "(deleted)"],
    );
    assert_fails(
        &r,
        "peer/dgram/kind-dev-null",
        &["peer leaked 1 descriptor(s)", "-> /dev/null"],
    );
}

#[test]
fn a_peer_that_reverses_descriptors_breaks_the_order() {
    let (code, r) = peer(
        &["peer/stream/repeats"],
        &[BIN, "echo", "--break", "reverse"],
        &[],
    );
    assert_eq!(code, 1);
    assert_fails(
        &r,
        "peer/stream/repeats",
        &["order not preserved: echoed descriptor #0 is sent descriptor #1 (pipe-read)"],
    );
}

#[test]
fn a_peer_that_drops_a_descriptor_has_the_wrong_count() {
    let (code, r) = peer(
        &["peer/seqpacket/fds-16"],
        &[BIN, "echo", "--break", "drop"],
        &[],
    );
    assert_eq!(code, 1);
    assert_fails(
        &r,
        "peer/seqpacket/fds-16",
        &["descriptor count differs: sent 16", "echoed 15"],
    );
}

#[test]
fn a_peer_that_truncates_the_payload_is_caught() {
    let (code, r) = peer(
        &["peer/dgram/payload-100"],
        &[BIN, "echo", "--break", "truncate"],
        &[],
    );
    assert_eq!(code, 1);
    assert_fails(
        &r,
        "peer/dgram/payload-100",
        &["payload differs: sent 20 bytes, echoed 19 bytes"],
    );
    // On a stream the missing byte never comes: a timeout that says why.
    let (code, r) = peer(
        &["peer/stream/payload-1"],
        &[BIN, "echo", "--break", "truncate"],
        &["--timeout", "1"],
    );
    assert_eq!(code, 1);
    assert_fails(
        &r,
        "peer/stream/payload-1",
        &["got 19 of 20 bytes", "payload truncated"],
    );
}

#[test]
fn a_peer_that_hangs_or_dies_fails_without_hanging_the_auditor() {
    let t0 = std::time::Instant::now();
    let (code, r) = peer(
        &["peer/stream/fds-1"],
        &["sleep", "30"],
        &["--timeout", "1"],
    );
    assert_eq!(code, 1);
    assert_fails(
        &r,
        "peer/stream/fds-1",
        &["no complete echo within 1s", "peer hung"],
    );
    assert!(
        t0.elapsed() < std::time::Duration::from_secs(15),
        "{:?}",
        t0.elapsed()
    );
    let (code, r) = peer(
        &["peer/dgram/fds-1"],
        &["sh", "-c", "echo boom >&2; exit 7"],
        &[],
    );
    assert_eq!(code, 1);
    assert_fails(&r, "peer/dgram/fds-1", &["exit status 7", "boom"]);
}

#[test]
fn the_echo_peer_passes_and_exits_cleanly() {
    let (code, r) = peer(
        &[
            "peer/*/fds-2",
            "peer/*/empty-payload",
            "peer/*/payload-61440",
            "peer/*/clean-exit",
        ],
        &[BIN, "echo"],
        &[],
    );
    assert_eq!(code, 0, "{r}");
    let cases = r["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 3 + 2 + 3 + 3);
    for c in cases {
        assert_eq!(c["status"], "pass", "{c}");
    }
}

#[test]
fn list_and_report_formats() {
    let out = audit(&["kernel", "--list", "--case", "kernel/scm-max-fd/254*"]);
    let text = String::from_utf8_lossy(&out.stdout);
    let names: Vec<&str> = text.lines().collect();
    assert_eq!(names.len(), 6, "{text}");
    assert!(
        names.contains(&"kernel/scm-max-fd/254-split/dgram"),
        "{text}"
    );

    let dir = std::env::temp_dir().join(format!("inflight-audit-test-{}", std::process::id()));
    let xml = dir.join("r.xml");
    let out = audit(&[
        "peer",
        "--format",
        "junit",
        "--output",
        xml.to_str().unwrap(),
        "--case",
        "peer/stream/kind-file",
        "--case",
        "peer/stream/repeats",
        "--",
        BIN,
        "echo",
        "--break",
        "reverse",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let x = std::fs::read_to_string(&xml).unwrap();
    assert!(x.starts_with("<?xml"), "{x}");
    assert!(x.contains("tests=\"2\" failures=\"1\""), "{x}");
    assert!(x.contains("<failure message=\"order not preserved"), "{x}");
    let md = audit(&[
        "kernel",
        "--format",
        "markdown",
        "--case",
        "kernel/identity/file",
    ]);
    let m = String::from_utf8_lossy(&md.stdout);
    assert!(m.contains("| PASS | `kernel/identity/file` |"), "{m}");
    let _ = std::fs::remove_dir_all(dir);
}
