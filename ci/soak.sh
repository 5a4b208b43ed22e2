#!/usr/bin/env bash
# Soak run of the property tests: the suites of inflight-proptests at
# PROPTEST_CASES (default 20000) cases per property, in release mode, then
# the number of cases and operations executed, per property and in all,
# and for the state machine (p10) its operations by kind and outcome.
#
#   ci/soak.sh                                   # every property, 20000 cases each
#   PROPTEST_CASES=50000 ci/soak.sh
#   PROPTEST_CASES=55000 ci/soak.sh p10_state_machine   # only tests whose name contains it
#   SOAK_MIN_OPS=1000000 ci/soak.sh p10          # fail below 10^6 operations in all
#
# It fails when a property fails, when a property did not report its
# counts, when fewer than SOAK_MIN_OPS operations ran, or when a child
# peer of p10 (inflight-prop-peer) is still running after the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
export PROPTEST_CASES="${PROPTEST_CASES:-20000}"
filter="${1:-}"
min_ops="${SOAK_MIN_OPS:-0}"
stats=$(mktemp)
trap 'rm -f "$stats"' EXIT
start=$(date +%s)
status=0
INFLIGHT_PROPTEST_STATS="$stats" cargo test --release --no-fail-fast -p inflight-proptests \
    -- ${filter:+"$filter"} || status=$?
end=$(date +%s)
echo
echo "== soak: PROPTEST_CASES=$PROPTEST_CASES${filter:+, filter $filter}, $((end - start)) s, $(uname -r)"
# Property lines: `name cases=N ops=M`; operation lines: `name/op outcome=N`.
awk '$1 !~ /\// {
    split($2, c, "="); split($3, o, "=");
    printf "%-28s %10d cases %12d operations\n", $1, c[2], o[2];
    cases += c[2]; ops += o[2]
} END { printf "%-28s %10d cases %12d operations\n", "total", cases, ops }' "$stats"
if grep -q / "$stats"; then
    echo
    echo "== operations by kind: total, then per outcome"
    awk '$1 ~ /\// {
        split($2, kv, "="); total[$1] += kv[2]; detail[$1] = detail[$1] " " $2
    } END { for (k in total) printf "%-40s %10d %s\n", k, total[k], detail[k] }' "$stats" | sort
fi
properties=$(awk '$1 !~ /\//' "$stats" | wc -l)
want=12
[ -z "$filter" ] || want=1
if [ "$properties" -lt "$want" ]; then
    echo "ci/soak.sh: only $properties of the $want properties reported their counts" >&2
    status=1
fi
ops=$(awk '$1 !~ /\// { split($3, o, "="); n += o[2] } END { print n + 0 }' "$stats")
if [ "$ops" -lt "$min_ops" ]; then
    echo "ci/soak.sh: $ops operations, fewer than SOAK_MIN_OPS=$min_ops" >&2
    status=1
fi
peer="$(realpath -m "${CARGO_TARGET_DIR:-target}")/release/inflight-prop-peer"
if pgrep -f "^$peer" >/dev/null; then
    echo "ci/soak.sh: a child peer outlived the tests: $(pgrep -af "^$peer" | head -3)" >&2
    status=1
fi
if [ "$status" -eq 0 ]; then
    cases=$(awk '$1 !~ /\// { split($2, c, "="); n += c[2] } END { print n + 0 }' "$stats")
    # A leak fails its property: the leak guard after every case, and p10
    # compares the whole descriptor table after every step.
    echo "leaked: nothing (leak guard clean after all $cases cases; no child peer left running)"
else
    echo "ci/soak.sh: FAILED (see the test output above)" >&2
fi
exit "$status"
