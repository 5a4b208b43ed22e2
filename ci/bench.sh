#!/usr/bin/env bash
# The wall-clock comparison: the criterion suite of inflight-benches RUNS
# times (default 3), interleaved, then benches/RESULTS.md and
# benches/ratio_to_libc.svg (benches/report.py) from the medians, beside the
# instruction counts of target/ir/ir.json (ci/ir.sh; run first when missing).
#
# Interleaved: run i saves criterion baseline run<i> and sets
# INFLIGHT_BENCH_ROTATE=i-1, which rotates the implementations' order in
# every group, so no implementation is always first or last; within a run,
# the rows compared with each other run seconds apart. Extra arguments go to
# criterion (e.g. a filter). About 8 minutes on the 2-core machine.
#
# It builds nothing while measuring but shares the machine: run it on a
# quiet machine and, where other sessions build, under their cargo lock
# (the script takes no lock itself, so that this nests):
#   flock /tmp/inflight-cargo.lock bash ci/bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${RUNS:-3}"
OUT="target/bench-runs"

python3 -c 'import matplotlib' 2>/dev/null || {
    echo "installing matplotlib (for the plot)"
    python3 -m pip install --quiet matplotlib
}
if [ ! -f target/ir/ir.json ]; then
    echo "no target/ir/ir.json: counting instructions first (ci/ir.sh)"
    bash ci/ir.sh || echo "ci/ir.sh failed: RESULTS.md will say what it lacks" >&2
fi

cargo bench -p inflight-benches --bench fdpass --no-run
# Baselines of an earlier run (perhaps of benchmarks since renamed) must not
# mix into this one.
rm -rf target/criterion "$OUT"
mkdir -p "$OUT"
# Jiffies of all CPUs from /proc/stat: busy (user, nice, system, irq,
# softirq), idle (idle, iowait), steal.
jiffies() { awk '/^cpu /{print $2+$3+$4+$7+$8, $5+$6, $9}' /proc/stat; }
# Waits (45 s at most) until the machine has been quiet for 2 s: under 0.3
# cores busy. Prints the seconds waited.
settle() {
    local waited=0 b0 i0 s0 b1 i1 s1
    while [ "$waited" -lt 45 ]; do
        read -r b0 i0 s0 < <(jiffies)
        sleep 2
        read -r b1 i1 s1 < <(jiffies)
        waited=$((waited + 2))
        awk -v b=$((b1 - b0)) -v t=$((b1 - b0 + i1 - i0 + s1 - s0)) -v n="$(nproc)" \
            'BEGIN { exit !(t > 0 && b / t * n < 0.3) }' && break
    done
    echo "$waited"
}
for i in $(seq 1 "$RUNS"); do
    waited=$(settle)
    load_before=$(cut -d' ' -f1-3 /proc/loadavg)
    read -r busy0 idle0 steal0 < <(jiffies)
    INFLIGHT_BENCH_ROTATE=$((i - 1)) cargo bench -p inflight-benches --bench fdpass -- \
        --save-baseline "run$i" --noplot "$@" | tee "$OUT/run$i.log"
    read -r busy1 idle1 steal1 < <(jiffies)
    # How many cores were busy on average: the benchmark keeps about one
    # busy; more means other work shared the machine.
    awk -v b=$((busy1 - busy0)) -v i=$((idle1 - idle0)) -v s=$((steal1 - steal0)) \
        -v n="$(nproc)" -v run="$i" -v before="$load_before" -v waited="$waited" \
        -v after="$(cut -d' ' -f1-3 /proc/loadavg)" 'BEGIN {
            t = b + i + s; if (t == 0) t = 1
            printf "run %d: %s s waited for a quiet machine; load %s before, %s after; %.2f of %d cores busy on average, steal %.1f %%\n",
                run, waited, before, after, b / t * n, n, s / t * 100
        }' >> "$OUT/load.txt"
done

commit=$(git rev-parse --short HEAD)
git diff --quiet HEAD -- . ':!benches/RESULTS.md' ':!benches/ratio_to_libc.svg' ':!benches/IR.md' ||
    commit="$commit (with uncommitted changes)"
python3 benches/report.py --criterion target/criterion --runs "$RUNS" \
    --load "$OUT/load.txt" --command "ci/bench.sh${*:+ $*}" \
    --date "$(date -u '+%Y-%m-%d %H:%M UTC')" --commit "$commit" \
    --out benches/RESULTS.md --svg benches/ratio_to_libc.svg --png "$OUT/ratio_to_libc.png"
echo "wrote benches/RESULTS.md and benches/ratio_to_libc.svg ($OUT/ratio_to_libc.png to look at)"
