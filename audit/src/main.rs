//! `inflight-audit`: a conformance auditor for descriptor passing over Unix
//! sockets (`SCM_RIGHTS`).
//!
//! * `kernel`: what the running kernel really does (pass / fail / skipped
//!   with the reason, each with its evidence);
//! * `crates`: the same questions asked of every compiled-in implementation
//!   (inflight and the peer crates), as a matrix;
//! * `peer -- CMD [ARGS...]`: any external program, through the echo
//!   protocol of `PROTOCOL.md`;
//! * `echo`: inflight's own echo peer.
//!
//! Without a subcommand: the kernel battery plus a self-audit of the echo
//! peer.

#![deny(
    unsafe_op_in_unsafe_fn,
    clippy::undocumented_unsafe_blocks,
    missing_docs
)]

mod child;
mod crates;
mod echo;
mod kernel;
mod output;
mod peer;
mod runner;
mod sys;

use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use inflight::SocketKind;

use crate::output::{Format, Meta};
use crate::runner::{Case, Expectations, Settings, Status};

/// Audits SCM_RIGHTS descriptor passing: the kernel, the Rust crates, and
/// any program that speaks the echo protocol (see audit/PROTOCOL.md).
///
/// Without a subcommand: the kernel battery plus a self-audit of inflight's
/// echo peer.
#[derive(Parser, Debug)]
#[command(name = "inflight-audit", version)]
struct Cli {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Args, Debug, Clone)]
struct Common {
    /// Run only cases whose name matches GLOB (`*`, `?`; a plain prefix
    /// like `kernel/scm-max-fd` selects everything under it). Repeatable.
    #[arg(long = "case", value_name = "GLOB", global = true)]
    cases: Vec<String>,
    /// List the selected cases and exit.
    #[arg(long, global = true)]
    list: bool,
    /// Report format.
    #[arg(long, value_enum, default_value_t = Format::Table, global = true)]
    format: Format,
    /// Write the report to FILE instead of standard output.
    #[arg(long, value_name = "FILE", global = true)]
    output: Option<std::path::PathBuf>,
    /// Seconds one exchange or wait may take before the case fails.
    #[arg(long, value_name = "SECS", default_value_t = 10.0, global = true)]
    timeout: f64,
    /// A file of known findings (case name, optionally a tab and a text the
    /// failure must mention): those fail as KNOWN without failing the run,
    /// and one that passes fails the run (the file is out of date).
    #[arg(long, value_name = "FILE", global = true)]
    expect: Option<String>,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// The running kernel's SCM_RIGHTS semantics.
    Kernel,
    /// The applicable cases through every compiled-in implementation.
    Crates,
    /// Audit an external program through the echo protocol.
    Peer {
        /// Socket kinds to audit (comma separated).
        #[arg(long, value_delimiter = ',', default_value = "stream,seqpacket,dgram")]
        kind: Vec<String>,
        /// The peer command and its arguments (after `--`).
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<OsString>,
    },
    /// inflight's own echo peer (speaks the protocol on INFLIGHT_PEER_FD).
    Echo {
        /// Misbehave on purpose (for the auditor's own tests).
        #[arg(long = "break", value_enum, hide = true)]
        brk: Option<echo::Break>,
    },
    /// Internal helpers run in a child process.
    #[command(name = "__child", hide = true)]
    Child {
        /// What to do.
        what: String,
        /// Its arguments.
        args: Vec<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let common = cli.common;
    let mut kinds = SocketKind::ALL.to_vec();
    let (command, subject, cases): (&str, String, Vec<Case>) = match cli.command {
        Some(Cmd::Echo { brk }) => return ExitCode::from(echo::run(brk) as u8),
        Some(Cmd::Child { what, args }) => return ExitCode::from(child::run(&what, &args) as u8),
        Some(Cmd::Kernel) => (
            "kernel",
            "kernel SCM_RIGHTS semantics".into(),
            kernel::cases(),
        ),
        Some(Cmd::Crates) => {
            let names: Vec<&str> = inflight_impls::all().iter().map(|a| a.name()).collect();
            (
                "crates",
                format!("implementations: {}", names.join(", ")),
                crates::cases(),
            )
        }
        Some(Cmd::Peer { kind, command }) => {
            kinds.clear();
            for k in kind {
                match k.parse::<SocketKind>() {
                    Ok(k) => kinds.push(k),
                    Err(e) => {
                        eprintln!("inflight-audit: --kind: {e}");
                        return ExitCode::from(2);
                    }
                }
            }
            let cmd = peer::PeerCmd {
                program: command[0].clone(),
                args: command[1..].to_vec(),
            };
            (
                "peer",
                format!("peer `{}`", cmd.display()),
                peer::cases(&cmd, &kinds),
            )
        }
        None => {
            let exe = match std::env::current_exe() {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("inflight-audit: cannot find its own executable: {e}");
                    return ExitCode::from(2);
                }
            };
            let cmd = peer::PeerCmd {
                program: exe.into_os_string(),
                args: vec!["echo".into()],
            };
            let mut cases = kernel::cases();
            cases.extend(peer::cases(&cmd, &kinds));
            (
                "default",
                "kernel battery and self-audit of `inflight-audit echo`".into(),
                cases,
            )
        }
    };
    let cases: Vec<Case> = cases
        .into_iter()
        .filter(|c| runner::selected(&common.cases, &c.name))
        .collect();
    if common.list {
        for c in &cases {
            println!("{}", c.name);
        }
        return ExitCode::SUCCESS;
    }
    if cases.is_empty() {
        eprintln!("inflight-audit: no case matches {:?}", common.cases);
        return ExitCode::from(2);
    }
    let expect = match &common.expect {
        Some(path) => match runner::read_expectations(path) {
            Ok(e) => e,
            Err(e) => {
                eprintln!("inflight-audit: {e}");
                return ExitCode::from(2);
            }
        },
        None => Expectations::new(),
    };
    if !(common.timeout > 0.0 && common.timeout.is_finite()) {
        eprintln!("inflight-audit: --timeout must be a positive number of seconds");
        return ExitCode::from(2);
    }
    sys::raise_nofile_limit();
    let settings = Settings {
        timeout: Duration::from_secs_f64(common.timeout),
    };
    let reports = runner::run(cases, &settings, &expect);
    let to_terminal = common.output.is_none() && std::io::stdout().is_terminal();
    let colour = to_terminal && std::env::var_os("NO_COLOR").is_none();
    let meta = Meta { command, subject };
    let text = output::render(common.format, &meta, &reports, colour);
    match &common.output {
        Some(path) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                let _ = std::fs::create_dir_all(dir);
            }
            if let Err(e) = std::fs::write(path, &text) {
                eprintln!("inflight-audit: writing {}: {e}", path.display());
                return ExitCode::from(2);
            }
            // A one-line summary where the report went elsewhere.
            let failed: Vec<&str> = reports
                .iter()
                .filter(|r| r.status == Status::Fail)
                .map(|r| r.name.as_str())
                .collect();
            let s = runner::summary(&reports);
            eprintln!(
                "inflight-audit {command}: {} cases, {} passed, {} failed, {} skipped, {} known; report in {}",
                reports.len(),
                s.get(&Status::Pass).unwrap_or(&0),
                failed.len(),
                s.get(&Status::Skip).unwrap_or(&0),
                s.get(&Status::Known).unwrap_or(&0),
                path.display()
            );
            for r in reports.iter().filter(|r| r.status == Status::Fail) {
                eprintln!("  FAIL {}: {}", r.name, r.detail);
            }
        }
        None => {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(text.as_bytes());
            let _ = out.flush();
        }
    }
    if reports.iter().any(|r| r.status == Status::Fail) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
