//! The command line.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::ensure;
use clap::{Args, Parser, Subcommand};

use crate::output::Format;

/// Audits SCM_RIGHTS descriptor passing: the kernel, the Rust crates, and
/// any program that speaks the echo protocol (see audit/PROTOCOL.md).
///
/// Without a subcommand: the kernel battery plus a self-audit of inflight's
/// echo program.
#[derive(Parser, Debug)]
#[command(name = "inflight-audit", version)]
pub struct Cli {
    /// Flags every subcommand takes.
    #[command(flatten)]
    pub common: Common,
    /// What to audit (default: the kernel and the self-audit).
    #[command(subcommand)]
    pub command: Option<Cmd>,
}

/// Flags every subcommand takes.
#[derive(Args, Debug, Clone)]
pub struct Common {
    /// Run only cases whose name matches GLOB (`*` and `?`, also across
    /// `/`; `[...]` and `{a,b}` too; a plain prefix like
    /// `kernel/scm-max-fd` selects everything under it). Repeatable.
    #[arg(long = "case", value_name = "GLOB", global = true)]
    pub cases: Vec<String>,
    /// List the selected cases and exit.
    #[arg(long, global = true)]
    pub list: bool,
    /// Report format.
    #[arg(long, value_enum, default_value_t = Format::Table, global = true)]
    pub format: Format,
    /// Write the report to FILE instead of standard output.
    #[arg(long, value_name = "FILE", global = true)]
    pub output: Option<PathBuf>,
    /// Seconds one exchange or wait may take before the case fails.
    #[arg(long, value_name = "SECS", default_value_t = 10.0, global = true)]
    pub timeout: f64,
    /// A file of known findings (case name, optionally a tab and a text the
    /// failure must mention): those fail as KNOWN without failing the run;
    /// one that passes, skips or fails otherwise fails the run (the file is
    /// out of date), and so does a name that names no case.
    #[arg(long, value_name = "FILE", global = true)]
    pub expect: Option<String>,
    /// A file of expected skips (case name, a tab, and a text the skip's
    /// reason must contain). With it, a skip it does not list fails the
    /// run, and so does a listed case that no longer skips, or skips for
    /// another reason, and a name that names no case.
    #[arg(long, value_name = "FILE", global = true)]
    pub expect_skips: Option<String>,
}

impl Common {
    /// `--timeout` as a duration.
    ///
    /// # Errors
    ///
    /// It is not a positive, finite number of seconds.
    pub fn timeout(&self) -> anyhow::Result<Duration> {
        ensure!(
            self.timeout > 0.0 && self.timeout.is_finite(),
            "--timeout must be a positive number of seconds"
        );
        Ok(Duration::from_secs_f64(self.timeout))
    }
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// The running kernel's SCM_RIGHTS semantics.
    Kernel,
    /// The applicable cases through every compiled-in implementation.
    Crates,
    /// Audit an external program through the echo protocol.
    #[command(alias = "peer")]
    Program {
        /// Socket kinds to audit (comma separated).
        #[arg(long, value_delimiter = ',', default_value = "stream,seqpacket,dgram")]
        kind: Vec<String>,
        /// The program and its arguments (after `--`).
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<OsString>,
    },
    /// Run any unmodified program under ptrace and judge how it passes
    /// descriptors (close-on-exec, truncation, leaks, discarded
    /// descriptors; see audit/TRACE.md). x86_64 Linux only.
    Trace(crate::trace::TraceArgs),
    /// inflight's own echo program (speaks the protocol on INFLIGHT_ECHO_FD).
    Echo {
        /// Misbehave on purpose (for the auditor's own tests).
        #[arg(long = "break", value_enum, hide = true)]
        brk: Option<crate::echo::Break>,
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
