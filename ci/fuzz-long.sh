#!/usr/bin/env bash
# Long fuzzing: every target (or those named) until it has used CPU_SECS of
# CPU time (default 3600: one CPU-hour), two at a time, at the lowest
# priority so that other work on the machine keeps its share; then each
# target's corpus is merged into fuzz/seeds/<target>/ with libFuzzer's
# -merge=1, which adds only the inputs that bring new coverage.
#
#   CPU_SECS=3600 ci/fuzz-long.sh [TARGET...]
#
# Prints executions, coverage and features per target (compare with the
# 10-minute figures in fuzz/README.md). Fails on any crash, leak or timeout.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
CPU_SECS="${CPU_SECS:-3600}"
PARALLEL="${PARALLEL:-2}"
cargo +nightly fuzz build -O --sanitizer address
bin=target/x86_64-unknown-linux-gnu/release
if [ "$#" -gt 0 ]; then TARGETS=("$@"); else mapfile -t TARGETS < <(cargo fuzz list); fi
LOGS=target/fuzz-long
mkdir -p "$LOGS"

# cpu_of PID: user + system seconds the process has used.
cpu_of() {
    awk -v hz="$(getconf CLK_TCK)" '{print int(($14 + $15) / hz)}' "/proc/$1/stat" 2>/dev/null || echo 0
}

# run TARGET: fuzz until CPU_SECS of CPU, then stop it with SIGINT (libFuzzer
# prints its final statistics and exits 0/non-zero as usual).
run() {
    local t=$1 dict=()
    mkdir -p "corpus/$t" "artifacts/$t"
    case "$t" in decode_*) dict=(-dict=dict/cmsg.dict) ;; esac
    extra=()
    [ -d "regressions/$t" ] && extra=("regressions/$t")
    nice -n 19 "$bin/$t" "corpus/$t" "seeds/$t" "${extra[@]}" -max_total_time=100000 \
        -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="artifacts/$t/" \
        "${dict[@]}" > "$LOGS/$t.log" 2>&1 &
    local pid=$!
    while kill -0 "$pid" 2>/dev/null; do
        if [ "$(cpu_of "$pid")" -ge "$CPU_SECS" ]; then
            kill -INT "$pid"
            break
        fi
        sleep 10
    done
    local rc=0
    wait "$pid" || rc=$?
    echo "$rc" > "$LOGS/$t.rc"
}

for t in "${TARGETS[@]}"; do
    while [ "$(jobs -rp | wc -l)" -ge "$PARALLEL" ]; do sleep 5; done
    echo "== $t: until ${CPU_SECS} s of CPU ($(date +%T))"
    run "$t" &
done
wait

status=0
echo
echo "== long fuzzing summary (${CPU_SECS} CPU-seconds per target, $(uname -r))"
for t in "${TARGETS[@]}"; do
    rc=$(cat "$LOGS/$t.rc" 2>/dev/null || echo "?")
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$LOGS/$t.log" | tail -1)
    eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$LOGS/$t.log" | tail -1)
    last=$(grep -E '^#[0-9]+' "$LOGS/$t.log" | tail -1 || true)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<< "$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<< "$last")
    # SIGINT ends libFuzzer with status 0 (or 72/130 on some versions):
    # anything that left a crash file is a failure.
    if ls "artifacts/$t"/crash-* "artifacts/$t"/leak-* "artifacts/$t"/timeout-* >/dev/null 2>&1; then
        status=1
        printf '%-20s FAILED: see fuzz/%s/%s.log and fuzz/artifacts/%s\n' "$t" "$LOGS" "$t" "$t"
    else
        printf '%-20s %8s exec/s %12s runs  cov %6s  ft %6s  (exit %s)\n' "$t" "${eps:-?}" "${runs:-?}" "${cov:-?}" "${ft:-?}" "$rc"
    fi
done
[ "$status" -eq 0 ] || exit 1

echo
echo "== merging new coverage into seeds/"
for t in "${TARGETS[@]}"; do
    before=$(find "seeds/$t" -type f | wc -l)
    "$bin/$t" -merge=1 "seeds/$t" "corpus/$t" > "$LOGS/$t.merge.log" 2>&1
    after=$(find "seeds/$t" -type f | wc -l)
    echo "$t: $before -> $after seed files"
done
