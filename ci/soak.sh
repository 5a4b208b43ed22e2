#!/usr/bin/env bash
# Soak run of the property tests: every suite of inflight-proptests at
# PROPTEST_CASES (default 20000) cases per property, in release mode, then
# the total number of cases and operations executed, per property and in all.
#
#   ci/soak.sh                 # 20000 cases per property
#   PROPTEST_CASES=50000 ci/soak.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export PROPTEST_CASES="${PROPTEST_CASES:-20000}"
stats=$(mktemp)
trap 'rm -f "$stats"' EXIT
start=$(date +%s)
status=0
INFLIGHT_PROPTEST_STATS="$stats" cargo test --release --no-fail-fast -p inflight-proptests || status=$?
end=$(date +%s)
echo
echo "== soak: PROPTEST_CASES=$PROPTEST_CASES, $((end - start)) s, $(uname -r)"
awk '{
    split($2, c, "="); split($3, o, "=");
    printf "%-28s %10d cases %12d operations\n", $1, c[2], o[2];
    cases += c[2]; ops += o[2]
} END { printf "%-28s %10d cases %12d operations\n", "total", cases, ops }' "$stats"
properties=$(wc -l < "$stats")
if [ "$properties" -lt 12 ]; then
    echo "ci/soak.sh: only $properties of the 12 properties reported their counts" >&2
    status=1
fi
[ "$status" -eq 0 ] || echo "ci/soak.sh: FAILED (see the test output above)" >&2
exit "$status"
