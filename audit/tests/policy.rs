//! What the auditor counts as a pass: an undecided identity fails unless
//! the run opts in; the `--expect` and `--expect-skips` files are strict in
//! both directions.

use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_inflight-audit");

/// Makes the test kit's oracle work without `kcmp` (the status-flag flip),
/// which cannot decide for an `O_PATH` descriptor.
const NO_KCMP: &str = "INFLIGHT_CONFORMANCE_NO_KCMP";
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

/// A list file in a fresh temporary directory.
fn list_file(name: &str, text: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(name);
    std::fs::write(&path, text).expect("writing the list");
    let path = path.to_str().expect("utf-8 path").to_string();
    (dir, path)
}

/// `kernel/identity/dir-o-path` skipped: no kcmp, and the opt-in.
const SKIPPING: [(&str, &str); 2] = [(NO_KCMP, "1"), (ALLOW, "1")];

#[test]
fn a_known_finding_that_now_skips_fails_the_run() {
    let (_d, path) = list_file("expect.txt", "kernel/identity/dir-o-path\tanything\n");
    let args = [
        "kernel",
        "--expect",
        &path,
        "--case",
        "kernel/identity/dir-o-path",
    ];
    let (code, r) = json(&args, &SKIPPING);
    assert_eq!(code, 1, "{r}");
    let (status, detail) = case(&r, "kernel/identity/dir-o-path");
    assert_eq!(status, "fail", "{detail}");
    assert!(
        detail.contains("listed as a known finding in the --expect file")
            && detail.contains("expect.txt:1) but skipped now")
            && detail.contains("the finding is no longer checked"),
        "{detail}"
    );
}

#[test]
fn a_listed_name_that_names_no_case_is_a_usage_error() {
    for flag in ["--expect", "--expect-skips"] {
        let (_d, path) = list_file(
            "list.txt",
            "# a comment\ncrates/nix/truncation-leak\tleaked\ncrates/nix/truncation-laek\tleaked\n",
        );
        // The misspelt name is an error even though the run selects
        // another battery; the valid crates entry is not.
        let out = audit(&["kernel", flag, &path, "--case", "kernel/gc-cycle"], &[]);
        assert_eq!(out.status.code(), Some(2), "{flag}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("name no case of the auditor")
                && err.contains("list.txt:3: crates/nix/truncation-laek"),
            "{flag}: {err}"
        );
        assert!(!err.contains("truncation-leak "), "{err}");
    }
}

#[test]
fn an_unlisted_skip_fails_the_run_with_expect_skips() {
    let cases = [
        "--case",
        "kernel/identity/dir-o-path",
        "--case",
        "kernel/identity/file",
    ];
    let (_d, empty) = list_file("skips.txt", "# nothing is expected to skip\n");
    let mut args = vec!["kernel", "--expect-skips", &empty];
    args.extend_from_slice(&cases);
    let (code, r) = json(&args, &SKIPPING);
    assert_eq!(code, 1, "{r}");
    let (status, detail) = case(&r, "kernel/identity/dir-o-path");
    assert_eq!(status, "fail", "{detail}");
    assert!(
        detail.contains("but the --expect-skips file does not list it: an unexpected skip")
            && detail.contains("status flags cannot be flipped"),
        "{detail}"
    );
    assert_eq!(case(&r, "kernel/identity/file").0, "pass");

    // Listed with its reason: a skip, and the run passes.
    let (_d, listed) = list_file(
        "skips.txt",
        "kernel/identity/dir-o-path\tstatus flags cannot be flipped\n",
    );
    let mut args = vec!["kernel", "--expect-skips", &listed];
    args.extend_from_slice(&cases);
    let (code, r) = json(&args, &SKIPPING);
    assert_eq!(code, 0, "{r}");
    assert_eq!(case(&r, "kernel/identity/dir-o-path").0, "skipped");

    // The same list where the case runs (kcmp decides): the run fails.
    let (code, r) = json(&args, &[]);
    assert_eq!(code, 1, "{r}");
    let (status, detail) = case(&r, "kernel/identity/dir-o-path");
    assert_eq!(status, "fail", "{detail}");
    assert!(detail.contains("but ran and passed"), "{detail}");

    // Listed with another reason: the run fails.
    let (_d, other) = list_file(
        "skips.txt",
        "kernel/identity/dir-o-path\tno SO_PASSRIGHTS\n",
    );
    let mut args = vec!["kernel", "--expect-skips", &other];
    args.extend_from_slice(&cases);
    let (code, r) = json(&args, &SKIPPING);
    assert_eq!(code, 1, "{r}");
    let (_, detail) = case(&r, "kernel/identity/dir-o-path");
    assert!(
        detail.contains("expects the reason \"no SO_PASSRIGHTS\""),
        "{detail}"
    );

    // An entry without its reason is a usage error.
    let (_d, bare) = list_file("skips.txt", "kernel/identity/dir-o-path\n");
    let out = audit(
        &[
            "kernel",
            "--expect-skips",
            &bare,
            "--case",
            "kernel/gc-cycle",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("has no reason"));
}

#[test]
fn the_ci_lists_are_valid() {
    // The files CI passes name only real cases (a usage error otherwise).
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/");
    let crates = format!("{root}expected-crates.txt");
    let skips = format!("{root}expected-skips.txt");
    let out = audit(
        &[
            "kernel",
            "--expect",
            &crates,
            "--expect-skips",
            &skips,
            "--list",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}
