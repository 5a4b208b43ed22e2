//! `trace --inject`: the fault happens, and the report says what the
//! program did next (closed what arrived, reported an error, retried,
//! crashed, hung, leaked). The target is `tests/trace/inject.c`.

#[path = "trace/support.rs"]
mod support;

use support::{cc, trace, Run};

/// Traces the inject target in `mode` with `--inject fault`; `None` when
/// there is no C compiler.
fn run(fault: &str, mode: &str) -> Option<Run> {
    let exe = cc("inject", &[])?;
    Some(trace(
        &["--inject", fault, "--kill-after", "5"],
        &[exe.to_str().unwrap(), mode],
    ))
}

fn assert_case(r: &Run, name: &str, status: &str, needles: &[&str]) {
    let c = r
        .cases()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no {name}: {}", r.json));
    let d = c["detail"].as_str().unwrap();
    assert_eq!(c["status"], status, "{name}: {d}");
    for n in needles {
        assert!(d.contains(n), "{name}: {n:?} missing from {d}");
    }
}

#[test]
fn ctrunc_on_a_careful_program() {
    let Some(r) = run("ctrunc", "careful") else {
        return;
    };
    assert_case(
        &r,
        "trace/inject/ctrunc",
        "pass",
        &[
            "msg_controllen shrunk from 32 to 24",
            "MSG_CTRUNC",
            "closed what arrived",
            "wrote to stderr 1 time(s)",
            "exited with status 1",
        ],
    );
    assert_eq!(r.not_passing(), vec![], "{}", r.json);
    assert_eq!(r.code, 0, "the program's status 1 is not the verdict");
    assert_eq!(r.json["program"]["exit_code"], 1);
}

#[test]
fn ctrunc_on_a_leaking_program() {
    let Some(r) = run("ctrunc", "leak") else {
        return;
    };
    assert_case(&r, "trace/inject/ctrunc", "fail", &["leaked what arrived"]);
    assert_case(
        &r,
        "trace/ctrunc/leak",
        "fail",
        &["[injected: msg_controllen shrunk"],
    );
    assert_eq!(r.code, 1);
}

#[test]
fn ctrunc_on_a_crashing_program() {
    let Some(r) = run("ctrunc", "abort") else {
        return;
    };
    assert_case(
        &r,
        "trace/inject/ctrunc",
        "fail",
        &["crashed: killed by SIGABRT"],
    );
    assert_eq!(r.json["program"]["signal"], "SIGABRT");
}

#[test]
fn emfile_truncates_at_the_receivers_limit() {
    let Some(r) = run("emfile", "careful") else {
        return;
    };
    assert_case(
        &r,
        "trace/inject/emfile",
        "pass",
        &[
            "RLIMIT_NOFILE lowered from",
            "room for 2 more descriptor(s)",
            "MSG_CTRUNC",
            "closed what arrived",
        ],
    );
}

#[test]
fn eintr_retried() {
    let Some(r) = run("eintr", "careful") else {
        return;
    };
    assert_case(
        &r,
        "trace/inject/eintr",
        "pass",
        &[
            "blocked; SIGWINCH interrupted it and it returned EINTR",
            "retried the call",
            "exited with status 0",
        ],
    );
    assert_eq!(r.not_passing(), vec![], "{}", r.json);
}

#[test]
fn eintr_then_hang_is_killed_and_reported() {
    let Some(r) = run("eintr", "hang") else {
        return;
    };
    assert_case(
        &r,
        "trace/inject/eintr",
        "fail",
        &[
            "did not retry the call",
            "hung: killed by SIGKILL (--kill-after: it hung)",
        ],
    );
    assert_eq!(r.code, 1);
}

#[test]
fn eintr_then_abort_is_a_crash() {
    let Some(r) = run("eintr", "abort") else {
        return;
    };
    assert_case(
        &r,
        "trace/inject/eintr",
        "fail",
        &["crashed: killed by SIGABRT"],
    );
}

#[test]
fn a_fault_with_nothing_to_disturb_is_skipped() {
    let Some(exe) = cc("scm_max", &[]) else {
        return;
    };
    let r = trace(&["--inject", "ctrunc"], &[exe.to_str().unwrap(), "twin"]);
    assert_case(
        &r,
        "trace/inject/ctrunc",
        "skipped",
        &["skipped: no call was eligible"],
    );
    assert_eq!(r.code, 0);
}

#[test]
fn a_bad_inject_spec_is_a_usage_error() {
    let out = std::process::Command::new(support::BIN)
        .args(["trace", "--inject", "ctrunc=0", "--", "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("EVERY must be a positive integer"), "{err}");
}
