//! inflight's own adapters as ordinary users of the conformance kit: one
//! test per case of its battery and its property over random messages, for
//! the adapters whose findings are the kit's to name (inflight has none;
//! raw libc and rustix have the two every plain receive has, as
//! `audit/expected-crates.txt` lists them). The auditor runs the same
//! battery over every adapter (`inflight-audit crates`).

mod inflight {
    inflight_conformance::tests!(inflight_impls::Inflight);
}

mod inflight_array {
    inflight_conformance::tests!(inflight_impls::InflightArray);
}

mod libc {
    inflight_conformance::tests!(
        inflight_impls::RawLibc,
        known = ["creds-beside-rights", "empty-payload-stream"]
    );
}

mod rustix {
    inflight_conformance::tests!(
        inflight_impls::Rustix,
        known = ["creds-beside-rights", "empty-payload-stream"]
    );
}
