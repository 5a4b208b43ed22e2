//! Shared by the `trace` integration tests: run the auditor's `trace` on a
//! command, compile the C test programs, find interpreters.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use serde_json::Value;

/// The auditor under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_inflight-audit");

/// One `trace` run: exit code, JSON report, standard error.
pub struct Run {
    pub code: i32,
    pub json: Value,
    pub stderr: String,
}

impl Run {
    /// `(name, status)` of every case that did not pass.
    pub fn not_passing(&self) -> Vec<(String, String)> {
        self.cases()
            .filter(|c| c["status"] != "pass")
            .map(|c| {
                (
                    c["name"].as_str().unwrap_or("").to_string(),
                    c["status"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect()
    }

    /// Every case object.
    pub fn cases(&self) -> impl Iterator<Item = &Value> {
        self.json["cases"].as_array().into_iter().flatten()
    }

    /// The detail of case `name`.
    pub fn detail(&self, name: &str) -> String {
        self.cases()
            .find(|c| c["name"] == name)
            .and_then(|c| c["detail"].as_str())
            .unwrap_or_else(|| panic!("no case {name} in {}", self.json))
            .to_string()
    }

    /// Passing `trace/process/*` cases.
    pub fn process_cases(&self) -> Vec<String> {
        self.cases()
            .filter(|c| c["status"] == "pass")
            .filter_map(|c| c["name"].as_str())
            .filter(|n| n.starts_with("trace/process/"))
            .map(String::from)
            .collect()
    }
}

/// `inflight-audit trace --format json FLAGS -- CMD...`.
pub fn trace(flags: &[&str], cmd: &[&str]) -> Run {
    let mut args = vec!["trace", "--format", "json"];
    args.extend_from_slice(flags);
    args.push("--");
    args.extend_from_slice(cmd);
    let out = Command::new(BIN)
        .args(&args)
        .output()
        .expect("running inflight-audit");
    let text = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let json = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {text}\nstderr: {stderr}"));
    Run {
        code: out.status.code().unwrap_or(-1),
        json,
        stderr,
    }
}

/// Whether `cmd` runs (`cmd --version` or similar exits).
pub fn have(cmd: &str) -> bool {
    Command::new(cmd)
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// The directory of the test programs' sources.
pub fn sources() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/trace")
}

/// Compiles `tests/trace/NAME.c` (with `extra` flags) once per test
/// binary; `None` after saying why when there is no C compiler.
pub fn cc(name: &str, extra: &[&str]) -> Option<PathBuf> {
    static BUILT: Mutex<BTreeMap<String, PathBuf>> = Mutex::new(BTreeMap::new());
    if !have("cc") {
        println!("skipped: cc not installed (package gcc)");
        return None;
    }
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = built.get(name) {
        return Some(p.clone());
    }
    let dir =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(concat!("trace-", env!("CARGO_CRATE_NAME")));
    std::fs::create_dir_all(&dir).expect("creating the test program directory");
    let out = dir.join(name);
    let src = sources().join(format!("{name}.c"));
    let status = Command::new("cc")
        .args(["-O1", "-Wall", "-Wextra", "-Werror", "-o"])
        .arg(&out)
        .arg(&src)
        .args(extra)
        .status()
        .expect("running cc");
    assert!(status.success(), "cc {} failed", src.display());
    built.insert(name.to_string(), out.clone());
    Some(out)
}

/// The path of `tests/trace/NAME` as a string.
pub fn script(name: &str) -> String {
    sources().join(name).display().to_string()
}
