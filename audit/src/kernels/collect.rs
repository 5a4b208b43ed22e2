//! Turning what each step printed into cells: the auditor's JSON reports
//! (`kernel`, `crates`) and libtest's plain output (inflight's tests), plus
//! one `run/...` cell per step saying whether it ran to the end.

use serde::Deserialize;

use super::model::{Cell, CellStatus};

/// What one step left behind.
#[derive(Clone, Debug)]
pub struct StepOutput {
    /// The step's name (`kernel`, `crates`, `core/creds`).
    pub name: String,
    /// The exit status; `None` when it did not finish (killed at its time
    /// limit, or never reported).
    pub status: Option<i32>,
    /// Its standard output (for tests: output and errors together).
    pub stdout: String,
    /// Its standard error (empty for tests).
    pub stderr: String,
}

#[derive(Deserialize)]
struct AuditReport {
    cases: Vec<AuditCase>,
}

#[derive(Deserialize)]
struct AuditCase {
    name: String,
    status: String,
    detail: String,
}

/// The cells of a step, its own `run/<name>` cell first.
pub fn cells(step: &StepOutput) -> Vec<(String, Cell)> {
    let (run, mut rest) = if step.name.starts_with("core/") {
        libtest(step)
    } else {
        audit(step)
    };
    rest.insert(0, (format!("run/{}", step.name), run));
    rest
}

/// The last non-empty lines of `text`, for evidence.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join(" | ")
}

fn exit(status: Option<i32>) -> String {
    match status {
        Some(c) => format!("exit status {c}"),
        None => "did not finish (killed at its time limit, or the guest stopped)".into(),
    }
}

/// An auditor run: its JSON report on standard output.
fn audit(step: &StepOutput) -> (Cell, Vec<(String, Cell)>) {
    let report: AuditReport = match serde_json::from_str(&step.stdout) {
        Ok(r) => r,
        Err(e) => {
            let why = format!(
                "no JSON report ({e}); {}; stderr: {}",
                exit(step.status),
                tail(&step.stderr, 3)
            );
            return (Cell::from_detail(CellStatus::Fail, &why), Vec::new());
        }
    };
    let mut out = Vec::new();
    let mut bad = Vec::new();
    for c in report.cases {
        match CellStatus::parse(&c.status) {
            Some(st) => out.push((c.name, Cell::from_detail(st, &c.detail))),
            None => bad.push(c.name),
        }
    }
    let run = if bad.is_empty() && matches!(step.status, Some(0 | 1)) {
        let why = format!("{} cases reported, {}", out.len(), exit(step.status));
        Cell::from_detail(CellStatus::Pass, &why)
    } else {
        let why = format!(
            "{} cases reported, {}, unknown statuses for {bad:?}",
            out.len(),
            exit(step.status)
        );
        Cell::from_detail(CellStatus::Fail, &why)
    };
    (run, out)
}

/// One test's result line and everything it printed.
#[derive(Default)]
struct TestRun {
    result: String,
    lines: Vec<String>,
}

/// The tests of a libtest run (`--test-threads=1 --show-output`): result
/// lines (`test NAME ... ok`, with anything written straight to the
/// terminal between the name and the result, even a nested libtest run of
/// a child process), then the captured output blocks (`---- NAME stdout
/// ----`).
fn parse_libtest(text: &str) -> (Vec<(String, TestRun)>, Option<String>) {
    let mut tests: Vec<(String, TestRun)> = Vec::new();
    // The test running now, and how many nested tests inside it are open.
    let mut open: Option<usize> = None;
    let mut nested = 0usize;
    let mut block: Option<usize> = None;
    let mut results_done = false;
    let mut summary = None;
    let find = |tests: &[(String, TestRun)], n: &str| tests.iter().position(|(t, _)| t == n);
    for line in text.lines() {
        if let Some(i) = open {
            let run = &mut tests[i].1;
            match line
                .strip_prefix("test ")
                .and_then(|l| l.split_once(" ... "))
            {
                Some((_, rest)) if !is_result(rest) => nested += 1,
                _ if is_result(line.trim()) && nested == 0 => {
                    run.result = line.trim().to_string();
                    open = None;
                    continue;
                }
                _ if is_result(line.trim()) => nested -= 1,
                _ => {}
            }
            run.lines.push(line.to_string());
            continue;
        }
        if line.starts_with("test result:") {
            summary = Some(line.to_string());
            block = None;
            continue;
        }
        if line == "successes:" || line == "failures:" {
            results_done = true;
            block = None;
            continue;
        }
        if let Some(name) = line
            .strip_prefix("---- ")
            .and_then(|l| l.strip_suffix(" stdout ----"))
        {
            block = find(&tests, name);
            continue;
        }
        if let Some(i) = block {
            tests[i].1.lines.push(line.to_string());
            continue;
        }
        if results_done {
            continue;
        }
        if let Some((name, rest)) = line
            .strip_prefix("test ")
            .and_then(|l| l.split_once(" ... "))
        {
            let mut run = TestRun::default();
            if is_result(rest) {
                run.result = rest.to_string();
            } else {
                run.lines.push(rest.to_string());
                open = Some(tests.len());
                nested = 0;
            }
            tests.push((name.to_string(), run));
        }
    }
    (tests, summary)
}

fn is_result(s: &str) -> bool {
    s == "ok" || s == "FAILED" || s.starts_with("ignored")
}

/// The cell of one test.
fn test_cell(run: &TestRun) -> Cell {
    let said = |needle: &str| {
        run.lines
            .iter()
            .map(|l| l.trim())
            .find(|l| l.contains(needle))
            .map(str::to_string)
    };
    match run.result.as_str() {
        "ok" => {
            if let Some(l) = said("skipped:") {
                Cell::from_detail(CellStatus::Skip, &l)
            } else if let Some(l) = said("unsupported path taken:") {
                Cell::from_detail(CellStatus::Pass, &format!("[unsupported] {l}"))
            } else {
                let l = said("path taken:").unwrap_or_else(|| "passed".into());
                Cell::from_detail(CellStatus::Pass, &l)
            }
        }
        "FAILED" => {
            let why: Vec<&str> = run
                .lines
                .iter()
                .map(|l| l.trim())
                .filter(|l| !l.is_empty() && !l.starts_with("note:"))
                .take(4)
                .collect();
            Cell::from_detail(CellStatus::Fail, &why.join(" | "))
        }
        "" => Cell::from_detail(CellStatus::Fail, "no result (the test binary stopped)"),
        other => Cell::from_detail(CellStatus::Skip, other),
    }
}

/// A test binary's run: one cell per test, named `core/<binary>/<test>`.
fn libtest(step: &StepOutput) -> (Cell, Vec<(String, Cell)>) {
    let (tests, summary) = parse_libtest(&step.stdout);
    let out: Vec<(String, Cell)> = tests
        .iter()
        .map(|(n, r)| (format!("{}/{n}", step.name), test_cell(r)))
        .collect();
    let run = match (&summary, step.status) {
        (Some(s), Some(0 | 101)) => Cell::from_detail(CellStatus::Pass, s),
        _ => Cell::from_detail(
            CellStatus::Fail,
            &format!(
                "{}, {} tests seen; last output: {}",
                exit(step.status),
                tests.len(),
                tail(&step.stdout, 3)
            ),
        ),
    };
    (run, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(name: &str, status: Option<i32>, stdout: &str) -> StepOutput {
        StepOutput {
            name: name.into(),
            status,
            stdout: stdout.into(),
            stderr: String::new(),
        }
    }

    #[test]
    fn libtest_output() {
        let text = "\nrunning 4 tests\ntest a ... ok\ntest b ... skipped: no kcmp\nok\n\
test c ... FAILED\ntest d ... ignored\ntest e ... ok\n\nsuccesses:\n\n---- e stdout ----\n\
unsupported path taken: SO_PASSPIDFD gave Unsupported\ntest nested ... FAILED\n\n\
successes:\n    a\n\nfailures:\n\n---- c stdout ----\nthread 'c' panicked at x.rs:1:2:\n\
boom\nnote: run with RUST_BACKTRACE\n\nfailures:\n    c\n\n\
test result: FAILED. 2 passed; 1 failed; 1 ignored\n";
        let got = cells(&step("core/t", Some(101), text));
        let labels: Vec<(String, String)> =
            got.iter().map(|(n, c)| (n.clone(), c.label())).collect();
        let want = [
            ("run/core/t", "ok"),
            ("core/t/a", "ok"),
            ("core/t/b", "skip"),
            ("core/t/c", "FAIL"),
            ("core/t/d", "skip"),
            ("core/t/e", "ok[unsupported]"),
        ];
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        assert_eq!(labels, want);
        assert!(got[3].1.detail.contains("boom"), "{}", got[3].1.detail);
        assert_eq!(got[2].1.detail, "skipped: no kcmp");
    }

    #[test]
    fn nested_runs_of_a_child_process() {
        let text = "running 1 test\ntest t ... \nrunning 1 test\ntest t ... child said\nok\n\n\
test result: ok. 1 passed\n\nok\n\nsuccesses:\n    t\n\ntest result: ok. 1 passed; 0 failed\n";
        let got = cells(&step("core/c", Some(0), text));
        assert_eq!(got.len(), 2);
        assert_eq!(got[1].1.label(), "ok");
        assert_eq!(got[0].1.detail, "test result: ok. 1 passed; 0 failed");
    }

    #[test]
    fn a_crashed_binary_fails_its_run() {
        let got = cells(&step(
            "core/t",
            None,
            "running 2 tests\ntest a ... ok\ntest b ... ",
        ));
        assert_eq!(got[0].1.status, CellStatus::Fail);
        assert_eq!(got[2].1.status, CellStatus::Fail, "b never finished");
    }

    #[test]
    fn audit_reports() {
        let json = r#"{"cases":[{"name":"kernel/x","status":"skipped","detail":"no"},
            {"name":"kernel/y","status":"pass","detail":"[pidfd] fine"},
            {"name":"kernel/z","status":"warn","detail":"worth a look"}]}"#;
        let got = cells(&step("kernel", Some(0), json));
        assert_eq!(got.len(), 4);
        assert_eq!(got[0].1.status, CellStatus::Pass, "{}", got[0].1.detail);
        assert_eq!(got[2].1.label(), "ok[pidfd]");
        assert_eq!(got[3].1.label(), "warn");
        let odd = r#"{"cases":[{"name":"kernel/x","status":"maybe","detail":""}]}"#;
        let odd = cells(&step("kernel", Some(0), odd));
        assert_eq!(odd[0].1.status, CellStatus::Fail, "an unknown status");
        let broken = cells(&step("kernel", Some(2), "oops"));
        assert_eq!(broken.len(), 1);
        assert_eq!(broken[0].1.status, CellStatus::Fail);
    }
}
