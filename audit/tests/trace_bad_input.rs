//! `trace` on bad input and odd programs: each gets a clear message and
//! the right exit code, and no tracee is left stopped or killed that
//! should not be.

#[path = "trace/support.rs"]
mod support;

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use support::{cc, trace, BIN};

fn audit(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("running inflight-audit")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn command_not_found_is_a_usage_error() {
    let o = audit(&["trace", "--", "no-such-command-here"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("command not found: no-such-command-here"),
        "{}",
        stderr(&o)
    );
    let o = audit(&["trace", "--", "/etc/passwd"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("not an executable file"),
        "{}",
        stderr(&o)
    );
    let o = audit(&["trace"]);
    assert_eq!(o.status.code(), Some(2), "no command: clap's usage error");
}

#[test]
fn a_program_that_exits_at_once() {
    let r = trace(&[], &["true"]);
    assert_eq!(r.code, 0);
    assert_eq!(r.not_passing(), vec![]);
    assert_eq!(r.json["program"]["exit_code"], 0);
    assert_eq!(r.process_cases().len(), 1, "the program's own case");
}

#[test]
fn the_programs_exit_status_is_not_the_verdict() {
    let r = trace(&[], &["sh", "-c", "exit 7"]);
    assert_eq!(r.code, 0);
    assert_eq!(r.json["program"]["exit_code"], 7);
    assert!(r.stderr.contains("exited with status 7"), "{}", r.stderr);
}

#[test]
fn a_program_killed_by_a_signal() {
    let r = trace(&[], &["sh", "-c", "kill -SEGV $$"]);
    assert_eq!(r.code, 0, "{}", r.json);
    assert_eq!(r.json["program"]["signal"], "SIGSEGV");
    assert_eq!(r.json["program"]["exit_code"], serde_json::Value::Null);
    assert!(r.stderr.contains("killed by SIGSEGV"), "{}", r.stderr);
}

#[test]
fn a_program_that_forks_a_hundred_children() {
    let r = trace(
        &[],
        &["sh", "-c", "for i in $(seq 100); do /bin/true & done; wait"],
    );
    assert_eq!(r.code, 0, "{}", r.json);
    let root = r.process_cases();
    let d = r.detail(&root[0]);
    // sh, seq's subshell and seq, and 100 children.
    let before = d.split(" process(es) traced in all").next().unwrap();
    let n: usize = before
        .rsplit(' ')
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no count in {d}"));
    assert!(n >= 101, "{n} processes traced: {d}");
}

#[test]
fn a_child_that_outlives_its_parent_is_followed_to_its_end() {
    let dir = tempfile::tempdir().unwrap();
    let mark = dir.path().join("done");
    let script = format!("(sleep 0.3; echo done > {}) & exit 0", mark.display());
    let t0 = Instant::now();
    let r = trace(&[], &["sh", "-c", &script]);
    assert!(
        t0.elapsed() >= Duration::from_millis(300),
        "the tracer waited for the child"
    );
    assert_eq!(r.json["program"]["exit_code"], 0);
    assert!(mark.exists(), "the child ran to its end");
    assert!(r
        .detail(&r.process_cases()[0])
        .contains("process(es) traced in all"));
}

#[test]
fn a_stopped_and_continued_child_is_not_left_stopped() {
    let r = trace(
        &[],
        &[
            "sh",
            "-c",
            "sh -c 'kill -STOP $$; echo resumed' & sleep 0.3; kill -CONT $!; wait",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.json);
    assert_eq!(r.json["program"]["exit_code"], 0);
    assert!(r.stderr.contains("resumed"), "{}", r.stderr);
}

#[test]
fn ptrace_refused_because_already_traced() {
    // The outer trace follows the inner auditor's fork: the inner one
    // cannot seize its own child.
    let r = trace(&[], &[BIN, "trace", "--", "true"]);
    assert_eq!(r.json["program"]["exit_code"], 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("ptrace(PTRACE_SEIZE) of the program was refused")
            && r.stderr.contains("already traced by pid"),
        "{}",
        r.stderr
    );
}

#[test]
fn ptrace_refused_by_seccomp() {
    let Some(wrapper) = cc("no_ptrace", &[]) else {
        return;
    };
    let o = Command::new(wrapper)
        .args([BIN, "trace", "--", "true"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("a seccomp filter is on"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn ptrace_scope_is_reported_where_yama_exists() {
    match std::fs::read_to_string("/proc/sys/kernel/yama/ptrace_scope") {
        Err(_) => println!("skipped: no Yama here (/proc/sys/kernel/yama/ptrace_scope absent)"),
        Ok(scope) if scope.trim() == "3" => {
            let o = audit(&["trace", "--", "true"]);
            assert_eq!(o.status.code(), Some(2));
            assert!(stderr(&o).contains("ptrace_scope is 3"), "{}", stderr(&o));
        }
        Ok(scope) => println!(
            "skipped: Yama ptrace_scope is {} here, which allows tracing a child",
            scope.trim()
        ),
    }
}

#[test]
fn tracees_go_on_when_the_tracer_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let started = dir.path().join("started");
    let mark = dir.path().join("survived");
    let script = format!(
        "touch {}; sleep 0.5; echo ok > {}",
        started.display(),
        mark.display()
    );
    let mut child = Command::new(BIN)
        .args(["trace", "--", "sh", "-c", &script])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while !started.exists() && t0.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(started.exists(), "the traced program started");
    child.kill().unwrap();
    child.wait().unwrap();
    let t0 = Instant::now();
    while !mark.exists() && t0.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(mark.exists(), "the traced program was detached and ran on");
}

#[test]
fn list_and_case_selection() {
    let o = audit(&["trace", "--list", "--", "true"]);
    assert_eq!(o.status.code(), Some(0));
    let names = String::from_utf8_lossy(&o.stdout);
    for n in [
        "trace/cloexec/exec-leak",
        "trace/discarded",
        "trace/scm-max-fd",
        "trace/process/<pid>",
    ] {
        assert!(names.lines().any(|l| l == n), "{n} not listed: {names}");
    }
    let o = audit(&["trace", "--case", "kernel", "--", "true"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let r = trace(&["--case", "trace/cloexec"], &["true"]);
    assert_eq!(
        r.cases().count(),
        0,
        "the process case is not selected: {}",
        r.json
    );
}

#[test]
fn a_held_read_is_let_go_when_a_signal_comes() {
    let Some(exe) = cc("signal_wakeup", &[]) else {
        return;
    };
    let r = trace(&["--kill-after", "20"], &[exe.to_str().unwrap()]);
    assert_eq!(
        r.json["program"]["exit_code"], 0,
        "{}\n{}",
        r.json, r.stderr
    );
    assert!(
        r.stderr
            .contains("read returned -1 (Interrupted system call)"),
        "{}",
        r.stderr
    );
    let d = r.detail("trace/discarded");
    assert!(
        d.starts_with("skipped: 1 read(s)") && d.contains("a signal was pending"),
        "{d}"
    );
}
