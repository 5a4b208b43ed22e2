#!/usr/bin/env bash
# Fuzzing in CI: the stable replay of every seed and fixed crash input
# (fuzz/tests/replay.rs; fuzz/ is its own workspace, so `cargo test
# --workspace` does not reach it), then every libFuzzer target for a short
# budget with nightly and AddressSanitizer (ci/fuzz.sh; FUZZ_SECONDS, default
# 15 per target). Long runs: ci/fuzz.sh 600.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo fmt --manifest-path fuzz/Cargo.toml --check
cargo clippy --manifest-path fuzz/Cargo.toml --no-default-features --all-targets -- -D warnings
cargo test --manifest-path fuzz/Cargo.toml --no-default-features
bash ci/fuzz.sh "${FUZZ_SECONDS:-15}"
