#!/usr/bin/env bash
# The full benchmark comparison: every criterion benchmark of
# inflight-benches, RUNS times (default 3) in a row, then
# benches/RESULTS.md and benches/ns_per_fd.svg from the per-benchmark
# medians across runs. Extra arguments go to criterion (e.g. a filter).
# About 6 minutes on a 2-core machine (RUNS=3). Run it on a quiet machine; the
# load average before and after each run is recorded in RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${RUNS:-3}"
OUT="target/bench-runs"
mkdir -p "$OUT"
: > "$OUT/load.txt"

cargo bench -p inflight-benches --bench fdpass --no-run
for i in $(seq 1 "$RUNS"); do
    echo "run $i before: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/load.txt"
    cargo bench -p inflight-benches --bench fdpass -- --save-baseline "run$i" --noplot "$@" \
        | tee "$OUT/run$i.log"
    echo "run $i after: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/load.txt"
done

python3 benches/report.py --criterion target/criterion --runs "$RUNS" \
    --load "$OUT/load.txt" --command "ci/bench.sh${*:+ $*}" \
    --out benches/RESULTS.md --svg benches/ns_per_fd.svg
echo "wrote benches/RESULTS.md and benches/ns_per_fd.svg"
