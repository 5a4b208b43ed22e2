//! The auditor against deliberately broken echo programs: each must fail
//! the right case with the right diagnosis, and a correct program must pass.

use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_inflight-audit");

fn audit(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("running inflight-audit")
}

/// Runs `program` on the given cases against `program_cmd`, returning the
/// exit code and the parsed JSON report.
fn program(cases: &[&str], program_cmd: &[&str], extra: &[&str]) -> (i32, serde_json::Value) {
    program_as("program", cases, program_cmd, extra)
}

/// [`program`] under another name of the subcommand (its hidden alias).
fn program_as(
    subcommand: &str,
    cases: &[&str],
    program_cmd: &[&str],
    extra: &[&str],
) -> (i32, serde_json::Value) {
    let mut args = vec![subcommand, "--format", "json"];
    args.extend_from_slice(extra);
    for c in cases {
        args.push("--case");
        args.push(c);
    }
    args.push("--");
    args.extend_from_slice(program_cmd);
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
fn a_program_that_reopens_by_path_is_not_the_same_open_file_description() {
    let (code, r) = program(
        &["program/seqpacket/kind-file"],
        &[BIN, "echo", "--break", "reopen"],
        &[],
    );
    assert_eq!(code, 1);
    assert_fails(
        &r,
        "program/seqpacket/kind-file",
        &[
            "same file (fstat dev/inode equal)",
            "not the same open file description (kcmp(KCMP_FILE))",
            "reopened",
        ],
    );
}

#[test]
fn a_program_that_keeps_its_copies_is_named_as_leaking_them() {
    let (code, r) = program(
        &["program/dgram/repeats", "program/dgram/kind-dev-null"],
        &[BIN, "echo", "--break", "leak"],
        &[],
    );
    assert_eq!(code, 1);
    assert_fails(
        &r,
        "program/dgram/repeats",
        &["program leaked 6 descriptor(s)", "pipe:[", "(deleted)"],
    );
    assert_fails(
        &r,
        "program/dgram/kind-dev-null",
        &["program leaked 1 descriptor(s)", "-> /dev/null"],
    );
}

#[test]
fn a_program_that_reverses_descriptors_breaks_the_order() {
    let (code, r) = program(
        &["program/stream/repeats"],
        &[BIN, "echo", "--break", "reverse"],
        &[],
    );
    assert_eq!(code, 1);
    assert_fails(
        &r,
        "program/stream/repeats",
        &["order not preserved: received descriptor #0 is sent descriptor #1 (pipe-read)"],
    );
}

#[test]
fn a_program_that_drops_a_descriptor_has_the_wrong_count() {
    let (code, r) = program(
        &["program/seqpacket/fds-16"],
        &[BIN, "echo", "--break", "drop"],
        &[],
    );
    assert_eq!(code, 1);
    assert_fails(
        &r,
        "program/seqpacket/fds-16",
        &["descriptor count differs: sent 16", "received 15"],
    );
}

#[test]
fn a_program_that_truncates_the_payload_is_caught() {
    // The program echoes the start-up exchange intact and truncates every
    // later message: the payload case fails, with the truncation named.
    let (code, r) = program(
        &["program/dgram/payload-100", "program/seqpacket/payload-100"],
        &[BIN, "echo", "--break", "truncate"],
        &[],
    );
    assert_eq!(code, 1);
    for name in ["program/dgram/payload-100", "program/seqpacket/payload-100"] {
        assert_fails(
            &r,
            name,
            &["payload differs: sent 100 bytes, echoed 99 bytes (first difference at byte 99)"],
        );
        let (_, detail) = case(&r, name);
        assert!(!detail.contains("start-up"), "{name}: {detail}");
    }
    // On a stream the missing byte never comes: a timeout that says why.
    let (code, r) = program(
        &["program/stream/payload-100"],
        &[BIN, "echo", "--break", "truncate"],
        &["--timeout", "1"],
    );
    assert_eq!(code, 1);
    assert_fails(
        &r,
        "program/stream/payload-100",
        &[
            "got 99 of 100 bytes, 1 of 1 descriptors",
            "payload truncated",
        ],
    );
    let (_, detail) = case(&r, "program/stream/payload-100");
    assert!(!detail.contains("start-up"), "{detail}");
}

#[test]
fn a_program_that_sends_unasked_after_its_last_echo_does_not_exit_cleanly() {
    let (code, r) = program(
        &["program/*/fds-2", "program/*/clean-exit"],
        &[BIN, "echo", "--break", "unsolicited"],
        &[],
    );
    assert_eq!(code, 1);
    for kind in ["stream", "seqpacket", "dgram"] {
        // The echoes themselves are right...
        let (status, detail) = case(&r, &format!("program/{kind}/fds-2"));
        assert_eq!(status, "pass", "{kind}: {detail}");
        // ...but a 4096-byte message follows the end of input.
        assert_fails(
            &r,
            &format!("program/{kind}/clean-exit"),
            &["program sent 1 unexpected message(s): 4096 byte(s) and 0 descriptor(s) after its last echo"],
        );
    }
}

#[test]
fn a_program_that_hangs_or_dies_fails_without_hanging_the_auditor() {
    let t0 = std::time::Instant::now();
    let (code, r) = program(
        &["program/stream/fds-1"],
        &["sleep", "30"],
        &["--timeout", "1"],
    );
    assert_eq!(code, 1);
    assert_fails(
        &r,
        "program/stream/fds-1",
        &["no complete echo within 1s", "program hung"],
    );
    assert!(
        t0.elapsed() < std::time::Duration::from_secs(15),
        "{:?}",
        t0.elapsed()
    );
    let (code, r) = program(
        &["program/dgram/fds-1"],
        &["sh", "-c", "echo boom >&2; exit 7"],
        &[],
    );
    assert_eq!(code, 1);
    assert_fails(&r, "program/dgram/fds-1", &["exit status 7", "boom"]);
}

#[test]
fn the_echo_program_passes_and_exits_cleanly() {
    let (code, r) = program(
        &[
            "program/*/fds-2",
            "program/*/empty-payload",
            "program/*/payload-61440",
            "program/*/clean-exit",
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
        "program",
        "--format",
        "junit",
        "--output",
        xml.to_str().unwrap(),
        "--case",
        "program/stream/kind-file",
        "--case",
        "program/stream/repeats",
        "--",
        BIN,
        "echo",
        "--break",
        "reverse",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let x = std::fs::read_to_string(&xml).unwrap();
    assert!(x.starts_with("<?xml"), "{x}");
    let suites = x
        .lines()
        .find(|l| l.trim_start().starts_with("<testsuites"))
        .unwrap_or_else(|| panic!("no <testsuites> in {x}"));
    assert!(suites.contains(" tests=\"2\""), "{x}");
    assert!(suites.contains(" failures=\"1\""), "{x}");
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

#[test]
fn the_old_subcommand_name_still_works_and_prints_nothing_extra() {
    let via_alias = audit(&[
        "peer",
        "--list",
        "--case",
        "program/dgram/fds-*",
        "--",
        BIN,
        "echo",
    ]);
    let via_name = audit(&[
        "program",
        "--list",
        "--case",
        "program/dgram/fds-*",
        "--",
        BIN,
        "echo",
    ]);
    assert_eq!(via_alias.status.code(), Some(0));
    assert_eq!(via_alias.stdout, via_name.stdout);
    assert!(via_alias.stderr.is_empty(), "{via_alias:?}");
    let names = String::from_utf8_lossy(&via_alias.stdout);
    assert_eq!(names.lines().count(), 4, "{names}");
    let (code, r) = program_as("peer", &["program/dgram/fds-2"], &[BIN, "echo"], &[]);
    assert_eq!(code, 0, "{r}");
    assert_eq!(case(&r, "program/dgram/fds-2").0, "pass");
    assert_eq!(r["command"], "program");
}

#[test]
fn the_program_gets_the_socket_under_both_environment_names() {
    // A program that insists on every variable before it serves: the
    // current names and the deprecated ones, with the right values.
    let script = format!(
        "test \"$INFLIGHT_ECHO_FD\" = 3 && test \"$INFLIGHT_PEER_FD\" = 3 \
         && test \"$INFLIGHT_ECHO_TYPE\" = seqpacket && test \"$INFLIGHT_PEER_TYPE\" = seqpacket \
         && exec '{BIN}' echo || {{ env | grep INFLIGHT >&2; exit 9; }}"
    );
    let (code, r) = program(
        &["program/seqpacket/fds-1"],
        &["sh", "-c", &script],
        &["--kind", "seqpacket"],
    );
    assert_eq!(code, 0, "{r}");
    assert_eq!(case(&r, "program/seqpacket/fds-1").0, "pass", "{r}");
    // The same check fails where a variable is wrong (the check can fail).
    let wrong = script.replace("= seqpacket &&", "= stream &&");
    let (code, r) = program(
        &["program/seqpacket/fds-1"],
        &["sh", "-c", &wrong],
        &["--kind", "seqpacket"],
    );
    assert_eq!(code, 1, "{r}");
    assert_fails(&r, "program/seqpacket/fds-1", &["exit status 9"]);
}

#[test]
fn usage_errors_exit_with_status_2() {
    for args in [
        &["kernel", "--case", "kernel/["][..],
        &["kernel", "--case", "no-such-case"],
        &["kernel", "--timeout", "0", "--case", "kernel/gc-cycle"],
        &["kernel", "--expect", "/nonexistent/expect.txt"],
        &["program", "--kind", "raw", "--", "true"],
        &["no-such-subcommand"],
    ] {
        let out = audit(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        assert!(!out.stderr.is_empty(), "{args:?}: no message");
    }
}
