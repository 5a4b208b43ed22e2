//! Rendering reports: table (coloured on a terminal), JSON, JUnit XML,
//! Markdown; and writing them out.

mod json;
mod junit;
mod markdown;
mod matrix;
mod table;

use std::io::Write;
use std::path::Path;

use anyhow::Context as _;

use crate::runner::{CaseReport, Totals};

/// Output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A plain (or coloured) table.
    Table,
    /// One JSON document.
    Json,
    /// JUnit XML, one test suite per group.
    Junit,
    /// A Markdown table.
    Markdown,
}

/// What the report is about.
pub struct Meta<'a> {
    /// The command that ran (`kernel`, `crates`, `program`, `default`).
    pub command: &'a str,
    /// What was audited (the program's command line, or a description).
    pub subject: String,
    /// How the traced program ended (`trace` only).
    pub program: Option<ProgramStatus>,
}

/// How a traced program ended: its own exit status, never the verdict.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct ProgramStatus {
    /// The first process's pid.
    pub pid: i32,
    /// Its exit code, if it exited.
    pub exit_code: Option<i32>,
    /// The signal that killed it, if one did.
    pub signal: Option<String>,
    /// In words (`exited with status 3`, `killed by SIGSEGV`).
    pub status: String,
    /// Wall time of the trace.
    pub seconds: f64,
    /// Syscall stops the tracer handled.
    pub syscall_stops: u64,
}

/// The line that says how a traced program ended.
fn program_line(p: &ProgramStatus) -> String {
    format!(
        "traced program (pid {}): {} (its own exit status, not the verdict)",
        p.pid, p.status
    )
}

/// Renders `reports` in `format`. The table carries ANSI styles, which
/// [`write()`] keeps or strips as the destination wants.
///
/// # Errors
///
/// The JSON or XML serialiser failed.
pub fn render(format: Format, meta: &Meta<'_>, reports: &[CaseReport]) -> anyhow::Result<String> {
    Ok(match format {
        Format::Table => table::render(meta, reports),
        Format::Json => json::render(meta, reports)?,
        Format::Junit => junit::render(meta, reports)?,
        Format::Markdown => markdown::render(meta, reports),
    })
}

/// Writes a rendered report to `path`, or to standard output. Styles reach
/// only a terminal that wants them (`NO_COLOR`, `CLICOLOR_FORCE` and
/// `TERM=dumb` are honoured); a file never gets them.
///
/// # Errors
///
/// The file cannot be created or written (its directory is created first).
pub fn write(format: Format, text: &str, path: Option<&Path>) -> anyhow::Result<()> {
    let Some(path) = path else {
        let mut out = anstream::stdout().lock();
        // Standard output going away (a closed pipe) is not the audit's
        // failure.
        let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
        return Ok(());
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let file =
        std::fs::File::create(path).with_context(|| format!("writing {}", path.display()))?;
    let result = if format == Format::Table {
        anstream::StripStream::new(file).write_all(text.as_bytes())
    } else {
        (&file).write_all(text.as_bytes())
    };
    result.with_context(|| format!("writing {}", path.display()))
}

/// The report's title line (with the opt-in for undecided identities,
/// when it is active).
fn header(meta: &Meta<'_>) -> String {
    let mut line = format!(
        "inflight-audit {} — {} — Linux {} ({})",
        meta.command,
        meta.subject,
        crate::sys::kernel_release(),
        std::env::consts::ARCH
    );
    if let Some(note) = crate::oracle::header_note() {
        line.push_str(" — ");
        line.push_str(&note);
    }
    line
}

/// The closing line: counts by status.
fn totals_line(reports: &[CaseReport]) -> String {
    let t = Totals::of(reports);
    let mut line = format!(
        "{} cases: {} passed, {} failed, {} skipped",
        reports.len(),
        t.pass,
        t.fail,
        t.skipped
    );
    if t.warn > 0 {
        line.push_str(&format!(", {} warnings", t.warn));
    }
    if t.known > 0 {
        line.push_str(&format!(", {} known findings (--expect)", t.known));
    }
    line
}
