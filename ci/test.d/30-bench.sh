#!/usr/bin/env bash
# Every criterion benchmark once, in criterion's test mode (one iteration
# each, no timing), so that none of them can rot. The timed comparison is
# ci/bench.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo bench -p inflight-benches --bench fdpass -- --test
