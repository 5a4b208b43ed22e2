//! `inflight-audit trace -- CMD [ARGS...]`: runs an unmodified program
//! under ptrace, follows every process and thread it starts, models every
//! descriptor that arrives by `SCM_RIGHTS`/`SCM_PIDFD`, and reports
//! findings with their evidence (see `audit/TRACE.md`). x86_64 Linux only.

mod calls;
mod events;
mod exits;
mod findings;
mod inject;
mod memory;
mod model;
mod probe;
mod spawn;
mod syscalls;
mod tracer;

use std::ffi::OsString;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure};
use clap::Args;

use crate::cli::Common;
use crate::expect::Expectations;
use crate::output::{self, Meta, ProgramStatus};
use crate::runner::{CaseReport, Outcome, Status, Totals};
use crate::select::Selection;

/// The `trace` subcommand's own flags.
#[derive(Args, Debug, Clone)]
pub struct TraceArgs {
    /// Inject a fault so the program meets a rare path: `ctrunc` (shrink
    /// msg_controllen at recvmsg entry so the kernel truncates), `emfile`
    /// (lower RLIMIT_NOFILE around recvmsg so the kernel truncates at the
    /// receiver's limit), `eintr` (interrupt a blocking sendmsg/recvmsg
    /// with a signal). `=EVERY` disturbs every EVERY-th eligible call
    /// (default 1). Repeatable.
    #[arg(long = "inject", value_name = "FAULT[=EVERY]")]
    pub inject: Vec<String>,
    /// Kill every traced process after SECS and report the program as hung
    /// (default: no limit; 30 with --inject). `--timeout` does not apply
    /// to `trace`.
    #[arg(long, value_name = "SECS")]
    pub kill_after: Option<f64>,
    /// The program and its arguments (after `--`). While the report goes to
    /// standard output, the program's standard output goes to standard
    /// error, so the report stays whole; with --output it keeps its own.
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<OsString>,
}

/// Every case name `trace` can report (`trace/process/<pid>` stands for
/// the per-process passing cases).
pub fn case_names() -> Vec<String> {
    findings::names()
}

/// Runs the `trace` subcommand. Exit status 1 when a case failed; an
/// error is a usage or environment error (exit status 2).
///
/// # Errors
///
/// Not x86_64 Linux, a bad flag, a malformed `--case` glob, the program
/// not found, ptrace refused, or the report not written.
pub fn run(common: &Common, args: TraceArgs) -> anyhow::Result<ExitCode> {
    if !cfg!(all(target_os = "linux", target_arch = "x86_64")) {
        bail!("trace runs on x86_64 Linux only (syscall numbers and structure layouts)");
    }
    let selection = Selection::new(&common.cases)?;
    let names = case_names();
    let selectable: Vec<&String> = names
        .iter()
        .filter(|n| selection.selects(n) || selection.selects(&n.replace("<pid>", "1")))
        .collect();
    if common.list {
        for n in &selectable {
            println!("{n}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    ensure!(
        !selectable.is_empty(),
        "no trace case matches {:?}",
        common.cases
    );
    let expect = Expectations::read(common.expect.as_deref(), common.expect_skips.as_deref())?;
    let specs = args
        .inject
        .iter()
        .map(|s| s.parse::<inject::Spec>())
        .collect::<anyhow::Result<Vec<_>>>()?;
    let kill_after = match args.kill_after {
        Some(s) => {
            ensure!(
                s > 0.0 && s.is_finite(),
                "--kill-after must be a positive number of seconds"
            );
            Some(Duration::from_secs_f64(s))
        }
        None if !specs.is_empty() => Some(Duration::from_secs(30)),
        None => None,
    };
    let display = args
        .command
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    let program = spawn::resolve(&args.command[0])?;
    crate::sys::raise_nofile_limit();
    let t0 = Instant::now();
    let child = spawn::spawn(&program, &args.command[1..], common.output.is_none())?;
    let mut tr = tracer::Tracer::new(child, display.clone(), inject::Injector::new(specs));
    tr.run(kill_after)?;
    let elapsed = t0.elapsed();
    tr.model.finish();
    let extra = outcomes(&tr);
    let mut cases = findings::cases(&tr.model, child.as_raw(), &tr.unchecked, extra);
    // A case the --expect file lists that found nothing is reported as
    // passing, so that the stale entry fails the run.
    for name in &names {
        if expect.lists(name) && !cases.iter().any(|(n, _)| n == name) {
            cases.push((name.clone(), Outcome::pass("no finding")));
        }
    }
    let reports: Vec<CaseReport> = cases
        .into_iter()
        .filter(|(name, _)| selection.selects(name))
        .map(|(name, outcome)| {
            let o = expect.apply(&name, outcome);
            CaseReport {
                name,
                status: o.status,
                detail: o.detail,
                duration: Duration::ZERO,
            }
        })
        .collect();
    let exit = tr.exit.clone().unwrap_or_default();
    let status = ProgramStatus {
        pid: exit.pid,
        exit_code: exit.code,
        signal: exit.signal.clone(),
        status: if exit.text.is_empty() {
            "not seen".into()
        } else {
            exit.text.clone()
        },
        seconds: elapsed.as_secs_f64(),
        syscall_stops: tr.stops,
    };
    eprintln!(
        "inflight-audit trace: the traced program `{display}` (pid {}) {}; traced for {:.2} s, {} syscall stops",
        status.pid, status.status, status.seconds, status.syscall_stops
    );
    let meta = Meta {
        command: "trace",
        subject: format!("program `{display}`"),
        program: Some(status),
    };
    let text = output::render(common.format, &meta, &reports)?;
    output::write(common.format, &text, common.output.as_deref())?;
    if let Some(path) = &common.output {
        let t = Totals::of(&reports);
        eprintln!(
            "inflight-audit trace: {} cases, {} passed, {} warnings, {} failed, {} skipped, {} known; report in {}",
            reports.len(),
            t.pass,
            t.warn,
            t.fail,
            t.skipped,
            t.known,
            path.display()
        );
    }
    let failed = reports.iter().any(|r| r.status == Status::Fail);
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// One case per injected fault: what was done and what the program did
/// next (closed what arrived, reported an error, retried, crashed, hung,
/// leaked).
fn outcomes(tr: &tracer::Tracer) -> Vec<(String, Outcome)> {
    let mut out = Vec::new();
    for fault in tr.inject.faults() {
        let name = format!("trace/inject/{}", fault.name());
        let done: Vec<&inject::Injection> =
            tr.inject.done.iter().filter(|i| i.fault == fault).collect();
        if done.is_empty() {
            out.push((
                name,
                Outcome::skip(format!(
                    "skipped: no call was eligible for {} (no {})",
                    fault.name(),
                    match fault {
                        inject::Fault::Eintr => "sendmsg/recvmsg that blocked",
                        _ => "recvmsg with a control buffer",
                    }
                )),
            ));
            continue;
        }
        let mut bad = false;
        let mut parts = Vec::new();
        for i in &done {
            let p = tr.model.processes().find(|p| p.pid == i.pid);
            let exit = p
                .and_then(|p| p.exit.clone())
                .unwrap_or_else(|| "ended unseen".into());
            let stderr = p.map_or(0, |p| p.counts.stderr_writes)
                - i.stderr_before.min(p.map_or(0, |p| p.counts.stderr_writes));
            let leaked = tr
                .model
                .findings()
                .iter()
                .any(|f| f.injected && f.pid == i.pid);
            let mut then = Vec::new();
            if leaked {
                then.push("leaked what arrived (see trace/ctrunc/leak)".to_string());
            } else if !i.installed.is_empty() {
                then.push(format!("closed what arrived ({:?})", i.installed));
            }
            if i.fault == inject::Fault::Eintr {
                then.push(
                    if i.retried {
                        "retried the call"
                    } else {
                        "did not retry the call"
                    }
                    .into(),
                );
            }
            if stderr > 0 {
                then.push(format!("wrote to stderr {stderr} time(s)"));
            }
            let crashed = exit.starts_with("killed by") && !tr.hung;
            if crashed {
                then.push(format!("crashed: {exit}"));
            } else if tr.hung {
                then.push(format!("hung: {exit}"));
            } else {
                then.push(exit);
            }
            bad |= leaked || crashed || tr.hung;
            parts.push(format!(
                "pid {}: {}; then {}",
                i.pid,
                i.what,
                then.join(", ")
            ));
        }
        let shown = parts.len().min(3);
        let mut detail = format!(
            "{} injection(s): {}",
            done.len(),
            parts[..shown].join(" | ")
        );
        if parts.len() > shown {
            detail.push_str(&format!(" | and {} more", parts.len() - shown));
        }
        out.push((
            name,
            if bad {
                Outcome::fail(detail)
            } else {
                Outcome::pass(detail)
            },
        ));
    }
    out
}
