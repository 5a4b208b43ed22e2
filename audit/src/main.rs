//! `inflight-audit`: a conformance auditor for descriptor passing over Unix
//! sockets (`SCM_RIGHTS`).
//!
//! * `kernel`: what the running kernel really does (pass / fail / skipped
//!   with the reason, each with its evidence);
//! * `crates`: the same questions asked of every compiled-in implementation
//!   (inflight and the other fd-passing crates), as a matrix;
//! * `program -- CMD [ARGS...]`: any external program, through the echo
//!   protocol of `PROTOCOL.md`;
//! * `echo`: inflight's own echo program;
//! * `trace -- CMD [ARGS...]`: any unmodified program under ptrace, with
//!   verdicts on how it passes descriptors (x86_64 Linux).
//!
//! Without a subcommand: the kernel battery plus a self-audit of the echo
//! program.

#![deny(
    unsafe_op_in_unsafe_fn,
    clippy::undocumented_unsafe_blocks,
    missing_docs
)]

mod child;
mod cli;
mod compare;
mod crates;
mod echo;
mod expect;
mod kernel;
mod oracle;
mod output;
mod program;
mod runner;
mod select;
mod sys;
mod trace;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{ensure, Context as _};
use clap::Parser;
use inflight::SocketKind;

use crate::cli::{Cli, Cmd};
use crate::expect::Expectations;
use crate::output::Meta;
use crate::program::ProgramCmd;
use crate::runner::{Case, CaseReport, Settings, Status, Totals};
use crate::select::Selection;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Cmd::Echo { brk }) => return ExitCode::from(echo::run(brk) as u8),
        Some(Cmd::Trace(args)) => {
            return trace::run(&cli.common, args).unwrap_or_else(|e| {
                eprintln!("inflight-audit trace: {e:#}");
                ExitCode::from(2)
            })
        }
        Some(Cmd::Child { what, args }) => return ExitCode::from(child::run(&what, &args) as u8),
        _ => {}
    }
    match audit(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("inflight-audit: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// What a run audits.
struct Plan {
    /// The subcommand (`kernel`, `crates`, `program`, `default`).
    command: &'static str,
    /// What is audited, in words.
    subject: String,
    /// Every case of the subcommand.
    cases: Vec<Case>,
}

/// The socket kinds named by `--kind`.
fn kinds(names: &[String]) -> anyhow::Result<Vec<SocketKind>> {
    names
        .iter()
        .map(|k| k.parse::<SocketKind>().context("--kind"))
        .collect()
}

/// The plan of a subcommand (`None`: the default run).
fn plan(command: Option<Cmd>) -> anyhow::Result<Plan> {
    Ok(match command {
        Some(Cmd::Kernel) => Plan {
            command: "kernel",
            subject: "kernel SCM_RIGHTS semantics".into(),
            cases: kernel::cases(),
        },
        Some(Cmd::Crates) => {
            let names: Vec<&str> = inflight_impls::all().iter().map(|a| a.name()).collect();
            Plan {
                command: "crates",
                subject: format!("implementations: {}", names.join(", ")),
                cases: crates::cases(),
            }
        }
        Some(Cmd::Program { kind, command }) => {
            let cmd = ProgramCmd {
                program: command[0].clone(),
                args: command[1..].to_vec(),
            };
            Plan {
                command: "program",
                subject: format!("program `{}`", cmd.display()),
                cases: program::cases(&cmd, &kinds(&kind)?),
            }
        }
        Some(Cmd::Echo { .. } | Cmd::Child { .. } | Cmd::Trace(_)) => {
            unreachable!("handled in main")
        }
        None => {
            let exe = std::env::current_exe().context("cannot find its own executable")?;
            let cmd = ProgramCmd {
                program: exe.into_os_string(),
                args: vec!["echo".into()],
            };
            let mut cases = kernel::cases();
            cases.extend(program::cases(&cmd, &SocketKind::ALL));
            Plan {
                command: "default",
                subject: "kernel battery and self-audit of `inflight-audit echo`".into(),
                cases,
            }
        }
    })
}

/// The name of every case of every battery (the program battery's names
/// do not depend on the program), to check the `--expect` files against.
fn every_case_name() -> BTreeSet<String> {
    let any_program = ProgramCmd {
        program: "program".into(),
        args: Vec::new(),
    };
    kernel::cases()
        .into_iter()
        .chain(crates::cases())
        .chain(program::cases(&any_program, &SocketKind::ALL))
        .map(|c| c.name)
        .collect()
}

/// Runs the selected cases and reports them. Exit status 1 when a case
/// failed; an error is a usage error (exit status 2).
fn audit(cli: Cli) -> anyhow::Result<ExitCode> {
    let common = cli.common;
    let selection = Selection::new(&common.cases)?;
    let plan = plan(cli.command)?;
    let cases: Vec<Case> = plan
        .cases
        .into_iter()
        .filter(|c| selection.selects(&c.name))
        .collect();
    let expect = Expectations::read(common.expect.as_deref(), common.expect_skips.as_deref())?;
    expect.check_names(&every_case_name())?;
    if common.list {
        for c in &cases {
            println!("{}", c.name);
        }
        return Ok(ExitCode::SUCCESS);
    }
    ensure!(!cases.is_empty(), "no case matches {:?}", common.cases);
    let settings = Settings {
        timeout: common.timeout()?,
    };
    sys::raise_nofile_limit();
    let reports = runner::run(cases, &settings, &expect);
    let meta = Meta {
        command: plan.command,
        subject: plan.subject,
        program: None,
    };
    let text = output::render(common.format, &meta, &reports)?;
    output::write(common.format, &text, common.output.as_deref())?;
    if let Some(path) = &common.output {
        summarise(plan.command, &reports, path);
    }
    let failed = reports.iter().any(|r| r.status == Status::Fail);
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// A short summary on standard error where the report went to a file.
fn summarise(command: &str, reports: &[CaseReport], path: &Path) {
    let t = Totals::of(reports);
    eprintln!(
        "inflight-audit {command}: {} cases, {} passed, {} failed, {} skipped, {} known; report in {}",
        reports.len(),
        t.pass,
        t.fail,
        t.skipped,
        t.known,
        path.display()
    );
    for r in reports.iter().filter(|r| r.status == Status::Fail) {
        eprintln!("  FAIL {}: {}", r.name, r.detail);
    }
}
