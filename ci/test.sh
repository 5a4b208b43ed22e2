#!/usr/bin/env bash
# The test command: what CI runs (via .ci/run) and what you run before a push.
# Everything it needs it installs itself on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# Property tests: CI scale. ci/soak.sh runs the same suites at tens of thousands.
export PROPTEST_CASES="${PROPTEST_CASES:-64}"
# Disk: a CI machine's disk can be small (a run once died of "No space left
# on device" three minutes in). A clean build never reuses incremental
# artefacts, and line tables are all a test's backtrace reads; together they
# take about half of what target/ would otherwise hold.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
export CARGO_PROFILE_DEV_DEBUG="${CARGO_PROFILE_DEV_DEBUG:-line-tables-only}"

# Each step's heading says when it started, how long the run has taken and
# how much disk is left, so that a run that dies of a full disk says so.
free_disk() { df -Pm . | awk 'NR == 2 { printf "%.1f GiB free", $4 / 1024 }'; }
step() { printf '\n==> %s (%s, %d s in, %s)\n' "$*" "$(date +%T)" "$SECONDS" "$(free_disk)"; }

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
