//! The running kernel's column: the same steps as in a guest, run here, each
//! in a fresh temporary directory and killed at its time limit.

use std::io::Read as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;

use super::collect::{cells, StepOutput};
use super::model::Column;
use super::payload::{Payload, Program, Step, EXPECT};

/// Runs one step with its time limit.
fn run_step(step: &Step, payload: &Payload, tmp: &Path) -> anyhow::Result<StepOutput> {
    let program = match step.program {
        Program::Audit => payload.audit.as_path(),
        Program::Test(i) => payload.tests[i].1.as_path(),
    };
    let args = step
        .args
        .iter()
        .map(|a| match (a.as_str(), &payload.expect) {
            (EXPECT, Some(e)) => e.as_os_str().to_owned(),
            _ => a.into(),
        });
    let out_path = tmp.join("step.out");
    let err_path = tmp.join("step.err");
    let out = std::fs::File::create(&out_path)?;
    let err = if step.merged {
        out.try_clone()?
    } else {
        std::fs::File::create(&err_path)?
    };
    let mut child = Command::new(program)
        .args(args)
        .current_dir(tmp)
        .env("TMPDIR", tmp)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .with_context(|| format!("starting {}", program.display()))?;
    let t0 = Instant::now();
    let limit = Duration::from_secs(payload.step_limit);
    let status = loop {
        if let Some(st) = child.try_wait()? {
            break st.code();
        }
        if t0.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let read = |p: &Path| -> String {
        let mut s = Vec::new();
        let _ = std::fs::File::open(p).and_then(|mut f| f.read_to_end(&mut s));
        String::from_utf8_lossy(&s).into_owned()
    };
    Ok(StepOutput {
        name: step.name.clone(),
        status,
        stdout: read(&out_path),
        stderr: if step.merged {
            String::new()
        } else {
            read(&err_path)
        },
    })
}

/// The host's column.
///
/// # Errors
///
/// A program cannot be started, or a temporary directory created.
pub fn run(payload: &Payload) -> anyhow::Result<Column> {
    let t0 = Instant::now();
    let mut all = Vec::new();
    for step in payload.steps() {
        let tmp = tempfile::tempdir().context("creating a temporary directory")?;
        let out = run_step(&step, payload, tmp.path())?;
        all.extend(cells(&out));
    }
    Ok(Column {
        label: "host".into(),
        release: crate::sys::kernel_release(),
        source: "the running kernel".into(),
        seconds: t0.elapsed().as_secs_f64(),
        failure: None,
        cells: all,
    })
}
