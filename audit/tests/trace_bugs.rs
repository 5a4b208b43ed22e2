//! `trace` against small programs with exactly one bug each: the bug is
//! flagged with the right case and nothing else, and its corrected twin
//! passes.

#[path = "trace/support.rs"]
mod support;

use support::{cc, have, script, trace, Run};

/// The bug run has `case` with `status` as its only non-passing case and
/// exits with `code`; the twin run passes everything and exits 0.
fn check(cmd: &[&str], case: &str, status: &str, code: i32, needles: &[&str]) {
    let mut bug: Vec<&str> = cmd.to_vec();
    bug.push("bug");
    let r = trace(&[], &bug);
    assert_eq!(
        r.not_passing(),
        vec![(case.to_string(), status.to_string())],
        "{cmd:?}: {}",
        r.json
    );
    assert_eq!(r.code, code, "{cmd:?}: verdict exit code\n{}", r.stderr);
    let detail = r.detail(case);
    for n in needles {
        assert!(detail.contains(n), "{case}: {n:?} missing from {detail}");
    }
    let mut twin: Vec<&str> = cmd.to_vec();
    twin.push("twin");
    let t: Run = trace(&[], &twin);
    assert_eq!(t.not_passing(), vec![], "{cmd:?} twin: {}", t.json);
    assert_eq!(t.code, 0, "{cmd:?} twin\n{}", t.stderr);
    assert!(!t.process_cases().is_empty(), "twin has its process case");
    assert_eq!(t.json["program"]["exit_code"], 0, "{}", t.json);
}

fn c_program(name: &str, case: &str, status: &str, code: i32, needles: &[&str]) {
    let Some(exe) = cc(name, &[]) else { return };
    check(&[exe.to_str().unwrap()], case, status, code, needles);
}

fn python(name: &str, case: &str, status: &str, code: i32, needles: &[&str]) {
    if !have("python3") {
        println!("skipped: python3 not installed");
        return;
    }
    check(&["python3", &script(name)], case, status, code, needles);
}

#[test]
fn exec_leak() {
    c_program(
        "exec_leak",
        "trace/cloexec/exec-leak",
        "fail",
        1,
        &[
            "flags=0",
            "carried into execve of `sh -c exit 0`",
            "/dev/null in the new image",
            "inherited across fork",
        ],
    );
}

#[test]
fn ctrunc_leak() {
    c_program(
        "ctrunc_leak",
        "trace/ctrunc/leak",
        "fail",
        1,
        &["MSG_CTRUNC", "still open", "(/dev/null)"],
    );
}

#[test]
fn ctrunc_undersized() {
    c_program(
        "undersized",
        "trace/ctrunc/undersized",
        "warn",
        0,
        &["needed 32 bytes", "24 given", "4 descriptor(s)"],
    );
}

#[test]
fn passcred_crowded() {
    c_program(
        "passcred_crowded",
        "trace/passcred/crowded",
        "fail",
        1,
        &[
            "SO_PASSCRED on",
            "2 descriptor(s) were queued",
            "56 bytes needed",
        ],
    );
}

#[test]
fn scm_max_fd() {
    c_program(
        "scm_max",
        "trace/scm-max-fd",
        "fail",
        1,
        &["254 descriptors", "EINVAL"],
    );
}

#[test]
fn discarded_by_read() {
    c_program(
        "discarded",
        "trace/discarded",
        "fail",
        1,
        &[
            "consumed a message carrying 2 descriptor(s)",
            "16 bytes) returned 4",
        ],
    );
}

#[test]
fn cloexec_missing() {
    python(
        "cloexec_missing.py",
        "trace/cloexec/missing",
        "warn",
        0,
        &["flags=0", "never marked close-on-exec"],
    );
}

#[test]
fn leak_at_exit() {
    python(
        "leak_at_exit.py",
        "trace/leak/at-exit",
        "warn",
        0,
        &["still open", "/dev/null", "MSG_CMSG_CLOEXEC"],
    );
}

#[test]
fn stream_empty_payload() {
    python(
        "stream_empty.py",
        "trace/stream/empty-payload",
        "fail",
        1,
        &["stream socket", "0 payload bytes", "returned 0"],
    );
}

#[test]
fn inflights_own_echo_program_traced_is_clean() {
    let bin = support::BIN;
    let r = trace(&[], &[bin, "program", "--", bin, "echo"]);
    assert_eq!(r.not_passing(), vec![], "{}", r.json);
    assert_eq!(r.code, 0);
    let cases = r.process_cases();
    assert!(
        cases.len() >= 2,
        "the auditor and the echo program: {cases:?}"
    );
    // Both sides passed descriptors, and the counts match.
    let echo = r
        .cases()
        .find(|c| c["detail"].as_str().unwrap_or("").contains("echo`"))
        .expect("the echo program's case");
    let d = echo["detail"].as_str().unwrap();
    assert!(!d.contains("received 0 message(s)"), "{d}");
}

/// Runs `trace --format FORMAT` on the leak-at-exit bug (one warning).
fn formatted(format: &str, extra: &[&str]) -> (i32, String) {
    let mut args = vec!["trace", "--format", format];
    args.extend_from_slice(extra);
    let script = script("leak_at_exit.py");
    args.extend_from_slice(&["--", "python3", &script, "bug"]);
    let out = std::process::Command::new(support::BIN)
        .args(&args)
        .output()
        .expect("running inflight-audit");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn a_warning_is_rendered_in_every_format_and_never_fails_the_run() {
    if !have("python3") {
        println!("skipped: python3 not installed");
        return;
    }
    let (code, table) = formatted("table", &[]);
    assert_eq!(code, 0);
    assert!(table.contains("WARN   trace/leak/at-exit"), "{table}");
    assert!(table.contains(", 1 warnings"), "{table}");
    assert!(table.contains("traced program (pid "), "{table}");
    let (code, md) = formatted("markdown", &[]);
    assert_eq!(code, 0);
    assert!(md.contains("| WARN | `trace/leak/at-exit` |"), "{md}");
    let (code, xml) = formatted("junit", &[]);
    assert_eq!(code, 0);
    assert!(
        xml.contains("failures=\"0\"") && xml.contains("WARN: pid"),
        "{xml}"
    );
    let (code, json) = formatted("json", &[]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["summary"]["warn"], 1, "{v}");
    assert_eq!(v["command"], "trace");
}

#[test]
fn a_known_finding_in_the_expect_file_does_not_fail_the_run() {
    let Some(exe) = cc("exec_leak", &[]) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let expect = dir.path().join("expect.txt");
    std::fs::write(&expect, "trace/cloexec/exec-leak\tcarried into execve\n").unwrap();
    let r = trace(
        &["--expect", expect.to_str().unwrap()],
        &[exe.to_str().unwrap(), "bug"],
    );
    assert_eq!(r.code, 0, "{}", r.json);
    assert_eq!(
        r.not_passing(),
        vec![("trace/cloexec/exec-leak".to_string(), "known".to_string())]
    );
    // The twin passes where a failure is expected: the file is out of date.
    let r = trace(
        &["--expect", expect.to_str().unwrap()],
        &[exe.to_str().unwrap(), "twin"],
    );
    assert_eq!(r.code, 1, "{}", r.json);
    assert!(
        r.detail("trace/cloexec/exec-leak")
            .contains("update the file"),
        "{}",
        r.json
    );
}

#[test]
fn scm_pidfd_is_followed_and_always_has_close_on_exec() {
    if !have("python3") {
        println!("skipped: python3 not installed");
        return;
    }
    let probe = std::process::Command::new("python3")
        .args([&script("pidfd.py"), "close"])
        .status()
        .unwrap();
    if probe.code() == Some(77) {
        println!("skipped: SO_PASSPIDFD not supported by this kernel");
        return;
    }
    let run = |mode: &str| trace(&[], &["python3", &script("pidfd.py"), mode]);
    let r = run("close");
    assert_eq!(r.not_passing(), vec![], "{}", r.json);
    let r = run("keep-pidfd");
    assert_eq!(
        r.not_passing(),
        vec![("trace/leak/at-exit".to_string(), "warn".to_string())]
    );
    assert!(r
        .detail("trace/leak/at-exit")
        .contains("anon_inode:[pidfd]"));
    let r = run("bare");
    assert_eq!(
        r.not_passing(),
        vec![("trace/cloexec/missing".to_string(), "warn".to_string())]
    );
    let d = r.detail("trace/cloexec/missing");
    let unmarked = d.split("fd(s) ").nth(1).unwrap_or("");
    assert!(
        unmarked.starts_with('[') && !unmarked.split(']').next().unwrap().contains(','),
        "only the SCM_RIGHTS descriptor is missing close-on-exec: {d}"
    );
}
