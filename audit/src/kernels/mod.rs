//! `inflight-audit kernels`: the kernel battery, the crates matrix and
//! inflight's own tests on several kernels (each booted under QEMU, plus
//! the running one), as one matrix of case x kernel. Differences between
//! kernels are highlighted; those the `--expect-differences` file does not
//! explain fail the run, and so does a guest that hangs or panics (its
//! column fails, with the console's tail as evidence).
//!
//! `ci/kernels.sh` builds the static programs, fetches the kernels and runs
//! this; `audit/KERNELS.md` is its output.

mod collect;
mod evaluate;
mod expect;
mod frames;
mod guest;
mod host;
mod model;
mod payload;
mod render;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{ensure, Context as _};

use crate::cli::Common;
use crate::select::Selection;
use evaluate::{evaluate, Filter};
use model::Column;
use payload::Payload;

/// The `kernels` subcommand's flags.
#[derive(clap::Args, Debug)]
pub struct KernelsArgs {
    /// A kernel image (bzImage) to boot under QEMU, optionally labelled
    /// (`6.1=/path/to/vmlinuz`; the label defaults to the file name).
    /// Repeatable; the columns keep this order, the running kernel last.
    #[arg(long = "kernel", value_name = "[LABEL=]PATH")]
    pub kernels: Vec<String>,
    /// Leave out the running kernel's column.
    #[arg(long)]
    pub no_host: bool,
    /// A statically linked test binary (libtest) to run on every kernel,
    /// optionally named (`creds=/path`; the name defaults to the file name
    /// without cargo's hash). Its tests become rows `core/NAME/TEST`.
    #[arg(long = "test", value_name = "[NAME=]PATH")]
    pub tests: Vec<String>,
    /// The expected differences between kernels (see
    /// audit/expected-differences.txt for the format).
    #[arg(long, value_name = "FILE")]
    pub expect_differences: Option<PathBuf>,
    /// Seconds a guest may run before it is killed (its column fails).
    #[arg(long, value_name = "SECS", default_value_t = 120)]
    pub guest_timeout: u64,
    /// Seconds one step (a battery, a test binary) may run.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub step_timeout: u64,
    /// Guest memory, MiB.
    #[arg(long, value_name = "MIB", default_value_t = 512)]
    pub memory: u32,
    /// The QEMU system emulator.
    #[arg(long, value_name = "PATH", default_value = "qemu-system-x86_64")]
    pub qemu: PathBuf,
    /// A statically linked busybox for the guests' shell and tools.
    #[arg(long, value_name = "PATH", default_value = "/bin/busybox")]
    pub busybox: PathBuf,
    /// Keep every guest's console and data logs in DIR.
    #[arg(long, value_name = "DIR")]
    pub logs: Option<PathBuf>,
    /// Judge and render the columns of an earlier run's JSON report
    /// instead of running anything.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["kernels", "tests", "no_host"])]
    pub from_json: Option<PathBuf>,
}

/// `NAME=VALUE`, or the value alone with `name` giving its default name.
fn labelled(arg: &str, name: impl Fn(&std::path::Path) -> String) -> (String, PathBuf) {
    match arg.split_once('=') {
        Some((l, p)) if !l.is_empty() && !l.contains('/') => (l.to_string(), PathBuf::from(p)),
        _ => {
            let p = PathBuf::from(arg);
            (name(&p), p)
        }
    }
}

fn file_name(p: &std::path::Path) -> String {
    p.file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| p.display().to_string())
}

/// `path` made absolute (steps run in their own directories).
fn absolute(path: &std::path::Path) -> anyhow::Result<PathBuf> {
    std::fs::canonicalize(path).with_context(|| format!("finding {}", path.display()))
}

/// Runs every column.
fn run_columns(args: &KernelsArgs, common: &Common) -> anyhow::Result<Vec<Column>> {
    let tests = args.tests.iter().map(|t| {
        let (name, path) = labelled(t, payload::test_name);
        Ok((name, absolute(&path)?))
    });
    let payload = Payload {
        audit: std::env::current_exe().context("finding the auditor's own executable")?,
        tests: tests.collect::<anyhow::Result<_>>()?,
        expect: common
            .expect
            .as_ref()
            .map(|e| absolute(e.as_ref()))
            .transpose()?,
        timeout: common.timeout()?.as_secs_f64(),
        step_limit: args.step_timeout,
    };
    let mut columns = Vec::new();
    if !args.kernels.is_empty() {
        payload.check_static()?;
        let qemu = guest::Qemu {
            program: args.qemu.clone(),
            busybox: args.busybox.clone(),
            memory: args.memory,
            limit: Duration::from_secs(args.guest_timeout),
            logs: args.logs.clone(),
        };
        ensure!(
            payload::is_static(&qemu.busybox)
                .with_context(|| format!("reading {}", qemu.busybox.display()))?,
            "{} is dynamically linked: install busybox-static",
            qemu.busybox.display()
        );
        let image = guest::Image::build(&payload, &qemu)?;
        for k in &args.kernels {
            let (label, path) = labelled(k, file_name);
            guest::check_kernel(&path)?;
            eprintln!(
                "inflight-audit kernels: booting {label} ({})",
                path.display()
            );
            let col = guest::run(&label, &path, &image, &qemu)?;
            eprintln!(
                "inflight-audit kernels: {label} done in {:.1} s",
                col.seconds
            );
            columns.push(col);
        }
    }
    if !args.no_host {
        eprintln!("inflight-audit kernels: running on the host");
        columns.push(host::run(&payload)?);
    }
    Ok(columns)
}

/// Runs the `kernels` subcommand. Exit status 1 when anything is
/// unexpected; an error is a usage error (exit status 2).
///
/// # Errors
///
/// Unreadable files, malformed expectations, programs that cannot start.
pub fn main(args: &KernelsArgs, common: &Common) -> anyhow::Result<ExitCode> {
    ensure!(!common.list, "--list does not apply to `kernels`");
    let expect = match &args.expect_differences {
        Some(p) => {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            expect::parse(&text).with_context(|| p.display().to_string())?
        }
        None => Vec::new(),
    };
    let selection = Selection::new(&common.cases)?;
    let columns = match &args.from_json {
        Some(p) => {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            let report: render::JsonReport =
                serde_json::from_str(&text).with_context(|| p.display().to_string())?;
            report.columns
        }
        None => run_columns(args, common)?,
    };
    ensure!(
        !columns.is_empty(),
        "no kernel to run: give --kernel, or drop --no-host"
    );
    let keep = |n: &str| selection.selects(n);
    let filter = Filter {
        keep: &keep,
        partial: !common.cases.is_empty(),
    };
    let m = evaluate(columns, &expect, &filter);
    let text = render::render(common.format, &m)?;
    crate::output::write(common.format, &text, common.output.as_deref())?;
    if let Some(path) = &common.output {
        eprintln!(
            "inflight-audit kernels: {} cases on {} kernels, {} unexpected; report in {}",
            m.rows.len(),
            m.columns.len(),
            m.unexpected(),
            path.display()
        );
    }
    Ok(if m.unexpected() > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
