//! What the auditor counts as a pass: an undecided identity fails unless
//! the run opts in; the `--expect` and `--expect-skips` files are strict in
//! both directions.

use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_inflight-audit");

/// Makes the test kit's oracle work without `kcmp` (the status-flag flip),
/// which cannot decide for an `O_PATH` descriptor.
const NO_KCMP: &str = "INFLIGHT_TESTKIT_NO_KCMP";
const ALLOW: &str = "INFLIGHT_ALLOW_UNKNOWN_IDENTITY";

fn audit(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(BIN);
    c.args(args).env_remove(ALLOW).env_remove(NO_KCMP);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("running inflight-audit")
}

/// Runs with `--format json`: the exit code and the report.
fn json(args: &[&str], env: &[(&str, &str)]) -> (i32, serde_json::Value) {
    let mut all = vec!["--format", "json"];
    all.extend_from_slice(args);
    let out = audit(&all, env);
    let text = String::from_utf8_lossy(&out.stdout);
    let report = serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {text}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), report)
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

#[test]
fn an_undecided_identity_fails_unless_the_run_allows_it() {
    let cases = [
        "kernel",
        "--case",
        "kernel/identity/dir-o-path",
        "--case",
        "kernel/identity/file",
    ];
    let (code, r) = json(&cases, &[(NO_KCMP, "1")]);
    assert_eq!(code, 1, "{r}");
    assert_eq!(r["allow_unknown_identity"], false);
    let (status, detail) = case(&r, "kernel/identity/dir-o-path");
    assert_eq!(status, "fail", "{detail}");
    for needle in [
        "cannot tell whether they are the same open file description",
        "status flags cannot be flipped",
        "an undecided identity is a failure (set INFLIGHT_ALLOW_UNKNOWN_IDENTITY=1",
    ] {
        assert!(detail.contains(needle), "{needle:?} not in {detail}");
    }
    // The flag flip decides for a regular file.
    let (status, detail) = case(&r, "kernel/identity/file");
    assert_eq!(status, "pass", "{detail}");
    assert!(detail.contains("status-flag flip, no kcmp"), "{detail}");

    let (code, r) = json(&cases, &[(NO_KCMP, "1"), (ALLOW, "1")]);
    assert_eq!(code, 0, "{r}");
    assert_eq!(r["allow_unknown_identity"], true);
    let (status, detail) = case(&r, "kernel/identity/dir-o-path");
    assert_eq!(status, "skipped", "{detail}");
    assert!(
        detail.contains("status flags cannot be flipped")
            && detail.contains("[reported as skipped: INFLIGHT_ALLOW_UNKNOWN_IDENTITY=1]"),
        "{detail}"
    );
    // The table says so in its header.
    let out = audit(&cases, &[(NO_KCMP, "1"), (ALLOW, "1")]);
    let table = String::from_utf8_lossy(&out.stdout);
    let head = table.lines().next().unwrap_or_default();
    assert!(
        head.contains(
            "INFLIGHT_ALLOW_UNKNOWN_IDENTITY=1: undecided identity checks are reported as skipped"
        ),
        "{table}"
    );
    // Only "1" opts in.
    let (code, _) = json(&cases, &[(NO_KCMP, "1"), (ALLOW, "yes")]);
    assert_eq!(code, 1);
}

#[test]
fn an_undecided_identity_fails_the_crates_and_program_batteries_too() {
    let (code, r) = json(
        &["crates", "--case", "crates/inflight/all-kinds"],
        &[(NO_KCMP, "1")],
    );
    assert_eq!(code, 1, "{r}");
    let (status, detail) = case(&r, "crates/inflight/all-kinds");
    assert_eq!(status, "fail", "{detail}");
    assert!(detail.contains("descriptor #9 (dir-o-path)"), "{detail}");
    let (code, r) = json(
        &[
            "program",
            "--case",
            "program/seqpacket/kind-dir-o-path",
            "--",
            BIN,
            "echo",
        ],
        &[(NO_KCMP, "1")],
    );
    assert_eq!(code, 1, "{r}");
    let (status, detail) = case(&r, "program/seqpacket/kind-dir-o-path");
    assert_eq!(status, "fail", "{detail}");
    assert!(detail.contains("cannot tell"), "{detail}");
}
