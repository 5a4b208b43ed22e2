#!/usr/bin/env bash
# The test command: what CI runs (via .ci/run) and what you run before a push.
# Everything it needs it installs itself on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# Property tests: CI scale. ci/soak.sh runs the same suites at tens of thousands.
export PROPTEST_CASES="${PROPTEST_CASES:-64}"

# Each step's heading says when it started and how long the run has taken.
step() { printf '\n==> %s (%s, %d s in)\n' "$*" "$(date +%T)" "$SECONDS"; }

step "rustfmt"
cargo fmt --all --check

step "clippy (workspace, all targets, all features)"
cargo clippy --workspace --all-targets --all-features -- -D warnings

step "tests (workspace, all features, doc tests included)"
cargo test --workspace --all-features

for extra in ci/test.d/*.sh; do
    [ -e "$extra" ] || continue
    step "$extra"
    bash "$extra"
done

step "ok"
