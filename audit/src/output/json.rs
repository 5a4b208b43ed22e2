//! The JSON report.

use serde::Serialize;

use super::Meta;
use crate::runner::{CaseReport, Status, Totals};

#[derive(Serialize)]
struct Report<'a> {
    tool: &'static str,
    command: &'a str,
    subject: &'a str,
    kernel: String,
    arch: &'static str,
    /// `INFLIGHT_ALLOW_UNKNOWN_IDENTITY=1`: undecided identities skipped.
    allow_unknown_identity: bool,
    summary: Summary,
    #[serde(skip_serializing_if = "Option::is_none")]
    program: Option<&'a super::ProgramStatus>,
    cases: Vec<Case<'a>>,
}

#[derive(Serialize)]
struct Summary {
    total: usize,
    pass: usize,
    fail: usize,
    skipped: usize,
    warn: usize,
    known: usize,
}

#[derive(Serialize)]
struct Case<'a> {
    name: &'a str,
    status: Status,
    detail: &'a str,
    duration_ms: f64,
}

/// The JSON report: the run (tool, command, subject, kernel, arch, whether
/// undecided identities are allowed), a summary of counts, how a traced
/// program ended (`trace` only), and every case with its status and detail.
///
/// # Errors
///
/// The serialiser failed.
pub fn render(meta: &Meta<'_>, reports: &[CaseReport]) -> anyhow::Result<String> {
    let t = Totals::of(reports);
    let report = Report {
        tool: "inflight-audit",
        command: meta.command,
        subject: &meta.subject,
        kernel: crate::sys::kernel_release(),
        arch: std::env::consts::ARCH,
        allow_unknown_identity: crate::oracle::unknown_allowed(),
        program: meta.program.as_ref(),
        summary: Summary {
            total: reports.len(),
            pass: t.pass,
            fail: t.fail,
            skipped: t.skipped,
            warn: t.warn,
            known: t.known,
        },
        cases: reports
            .iter()
            .map(|r| Case {
                name: &r.name,
                status: r.status,
                detail: &r.detail,
                duration_ms: r.duration.as_secs_f64() * 1000.0,
            })
            .collect(),
    };
    let mut text = serde_json::to_string_pretty(&report)?;
    text.push('\n');
    Ok(text)
}
