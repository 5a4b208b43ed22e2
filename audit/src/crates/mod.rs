//! The crates matrix: the conformance kit's battery
//! (`inflight_conformance::battery`) through every implementation in
//! `inflight_impls::all()`. The kit owns the cases, their evidence and
//! their oracles; the auditor names each `crates/<implementation>/<case>`,
//! gives it a fresh instance of the implementation and its `--timeout`, and
//! reports it like any other case. inflight's own adapters are ordinary
//! users of the kit: one battery, whoever runs it.

use anyhow::Context as _;
use inflight_conformance::battery::{self, Status};
use inflight_impls::Implementation;

use crate::runner::{Case, Outcome, Settings};

/// A fresh instance of implementation number `index` of
/// `inflight_impls::all()`.
fn passer(index: usize) -> anyhow::Result<Box<dyn Implementation>> {
    inflight_impls::all()
        .into_iter()
        .nth(index)
        .context("the implementation list changed")
}

/// The kit's verdict as the auditor's.
fn outcome(o: battery::Outcome) -> Outcome {
    match o.status {
        Status::Pass => Outcome::pass(o.detail),
        Status::Fail => Outcome::fail(o.detail),
        Status::Skip => Outcome::skip(o.detail),
    }
}

/// Every case of the kit's battery, for every implementation.
pub fn cases() -> Vec<Case> {
    let mut v = Vec::new();
    for (i, a) in inflight_impls::all().iter().enumerate() {
        let name = a.name();
        for case in battery::CASES {
            v.push(Case::new(
                format!("crates/{name}/{}", case.name()),
                move |s: &Settings| {
                    let mut p = passer(i)?;
                    let settings = battery::Settings { timeout: s.timeout };
                    Ok(outcome(case.run(p.as_mut(), &settings)))
                },
            ));
        }
    }
    v
}
