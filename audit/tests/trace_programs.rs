//! `trace` on real programs no one here wrote (CPython, Perl IO::FDPass,
//! Ruby, Go, s6, dbus-daemon), each driven by a script in
//! `tests/trace/programs/`; each run must match its line of
//! `tests/trace/programs/expected.tsv`. A program whose package is missing
//! is reported as skipped (ci/trace-programs.sh installs them all).

#[path = "trace/support.rs"]
mod support;

use std::path::Path;
use std::process::Command;

use support::{have, sources, trace};

/// The expected non-passing cases of `name`, sorted, as `case=status`.
fn expected(name: &str) -> Vec<String> {
    let text = std::fs::read_to_string(sources().join("programs/expected.tsv"))
        .expect("reading expected.tsv");
    let line = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| l.split('\t').next() == Some(name))
        .unwrap_or_else(|| panic!("{name} not in expected.tsv"));
    let mut v: Vec<String> = line
        .split('\t')
        .nth(1)
        .unwrap_or("")
        .split_whitespace()
        .map(String::from)
        .collect();
    v.sort();
    v
}

/// Traces `cmd` and compares with `name`'s expected line; the program
/// itself must exit 0 and have passed descriptors.
fn check(name: &str, cmd: &[&str]) {
    let r = trace(&[], cmd);
    let mut got: Vec<String> = r
        .not_passing()
        .into_iter()
        .map(|(n, s)| format!("{n}={s}"))
        .collect();
    got.sort();
    assert_eq!(got, expected(name), "{name}: {}", r.json);
    assert_eq!(r.json["program"]["exit_code"], 0, "{name}: {}", r.stderr);
    // A finding quotes the receive; a passing process case counts it.
    let traffic = r.cases().any(|c| {
        let d = c["detail"].as_str().unwrap_or("");
        d.contains("recvmsg(")
            || d.match_indices("received ").any(|(i, m)| {
                d[i + m.len()..].starts_with(|ch: char| ch.is_ascii_digit() && ch != '0')
            })
    });
    assert!(traffic, "{name}: no descriptor traffic seen: {}", r.json);
}

fn script(name: &str) -> String {
    sources().join("programs").join(name).display().to_string()
}

#[test]
fn cpython_socket_send_fds_recv_fds() {
    if !have("python3") {
        println!("skipped: python3 not installed");
        return;
    }
    check("py-socket", &["python3", &script("py_socket.py")]);
    let r = trace(&[], &["python3", &script("py_socket.py")]);
    let d = r.detail("trace/cloexec/missing");
    assert!(d.contains("recvmsg(") && d.contains("flags=0"), "{d}");
}

#[test]
fn cpython_recv_fds_then_os_system_leaks_into_the_shell() {
    if !have("python3") {
        println!("skipped: python3 not installed");
        return;
    }
    check("py-socket-exec", &["python3", &script("py_socket_exec.py")]);
    let r = trace(&[], &["python3", &script("py_socket_exec.py")]);
    let d = r.detail("trace/cloexec/exec-leak");
    assert!(d.contains("carried into execve of `sh -c true`"), "{d}");
    assert!(d.contains("-> pipe:["), "{d}");
}

#[test]
fn cpython_multiprocessing_reduction() {
    if !have("python3") {
        println!("skipped: python3 not installed");
        return;
    }
    check(
        "py-multiprocessing",
        &["python3", &script("py_multiprocessing.py")],
    );
}

#[test]
fn perl_io_fdpass() {
    let ok = Command::new("perl")
        .args(["-MIO::FDPass", "-e1"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        println!("skipped: libio-fdpass-perl not installed");
        return;
    }
    check("perl-fdpass", &["perl", &script("perl_fdpass.pl")]);
}

#[test]
fn ruby_send_io_recv_io() {
    if !have("ruby") {
        println!("skipped: ruby not installed");
        return;
    }
    check("ruby-send-io", &["ruby", &script("ruby_send_io.rb")]);
}

#[test]
fn go_unix_rights() {
    if !have("go") && Command::new("go").arg("version").output().is_err() {
        println!("skipped: golang-go not installed");
        return;
    }
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("trace-go");
    std::fs::create_dir_all(&dir).unwrap();
    let exe = dir.join("go_unixrights");
    let built = Command::new("go")
        .args(["build", "-o"])
        .arg(&exe)
        .arg(script("go_unixrights.go"))
        .env("GOCACHE", dir.join("cache"))
        .env("GOPATH", dir.join("path"))
        .status()
        .expect("running go build");
    assert!(built.success(), "go build failed");
    check("go-unixrights", &[exe.to_str().unwrap()]);
}

#[test]
fn s6_fdholder_daemon() {
    if Command::new("s6-fdholder-daemon").output().is_err() {
        println!("skipped: s6 not installed");
        return;
    }
    let work = Path::new(env!("CARGO_TARGET_TMPDIR")).join("trace-s6");
    let _ = std::fs::remove_dir_all(&work);
    check(
        "s6-fdholder",
        &["sh", &script("s6_fdholder.sh"), work.to_str().unwrap()],
    );
}

#[test]
fn dbus_daemon_unix_fd() {
    let ok = Command::new("/usr/bin/python3")
        .args(["-c", "import dbus, gi"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok
        || Command::new("dbus-run-session")
            .arg("--version")
            .output()
            .is_err()
    {
        println!("skipped: dbus-daemon, python3-dbus or python3-gi not installed");
        return;
    }
    check(
        "dbus",
        &[
            "dbus-run-session",
            "--",
            "/usr/bin/python3",
            &script("dbus_fd.py"),
        ],
    );
}
