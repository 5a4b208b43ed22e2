#!/usr/bin/env bash
# `inflight-audit trace` (audit/TRACE.md): inflight's own echo program traced
# under the auditor must be clean, then the real programs of
# ci/trace-programs.sh (CPython, Perl, Ruby, Go, s6, dbus), each with the
# findings its row in audit/README.md states. JUnit reports in
# target/audit/trace-*.xml.
set -euo pipefail
cd "$(dirname "$0")/../.."
. ci/lib.sh

if [ "$(uname -m)" != x86_64 ]; then
    echo "skipped: trace runs on x86_64 Linux only (this is $(uname -m))"
    exit 0
fi
need cc gcc
need python3 python3

cargo build --release -p inflight-audit
audit=target/release/inflight-audit
out=target/audit
mkdir -p "$out"

echo "--> inflight-audit trace -- inflight-audit program -- inflight-audit echo"
"$audit" trace --format junit --output "$out/trace-self-echo.xml" -- \
    "$audit" program -- "$audit" echo

if [ -x ci/trace-programs.sh ]; then
    bash ci/trace-programs.sh "$audit"
fi
