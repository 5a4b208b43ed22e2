#!/usr/bin/env bash
# The conformance kit from outside the workspace: a crate made in a
# temporary folder (ci/conformance-outside: raw libc in under 60 lines)
# depends on conformance/ by path and runs the kit's battery and property
# in its own `cargo test`; the cases it finds failing must be the ones
# `inflight-audit crates` finds failing in inflight's own libc adapter.
# It shares the workspace's target folder and lock file, so that only the
# new crate is compiled.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
. ci/lib.sh
need python3 python3

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp -r ci/conformance-outside/src ci/conformance-outside/tests "$tmp/"
sed "s|@KIT@|$root/conformance|" ci/conformance-outside/Cargo.toml.in >"$tmp/Cargo.toml"
cp Cargo.lock "$tmp/Cargo.lock"
lines=$(wc -l <"$tmp/src/lib.rs")
echo "--> the implementation: $lines lines of raw libc"
[ "$lines" -lt 60 ] || { echo "the outside implementation has $lines lines (60 at most)" >&2; exit 1; }

echo "--> cargo test in $tmp (the kit's battery and property, tests in parallel as a user runs them)"
FINDINGS_OUT="$tmp/findings" CARGO_TARGET_DIR="$root/target" \
    cargo test --manifest-path "$tmp/Cargo.toml" 2>&1 | tee "$tmp/test.log"
grep -q '^test conformance_property \.\.\. ok$' "$tmp/test.log" ||
    { echo "the property did not run and pass" >&2; exit 1; }
grep -q '^test case_truncation_leak \.\.\. ok$' "$tmp/test.log" ||
    { echo "the battery's tests did not run" >&2; exit 1; }

echo "--> inflight-audit crates, libc adapter"
cargo build --release -p inflight-audit
target/release/inflight-audit --case 'crates/libc/*' --format json --output "$tmp/audit.json" crates || true
python3 - "$tmp/audit.json" "$tmp/findings" <<'PY'
import json, sys
audit = json.load(open(sys.argv[1]))
cases = [c for c in audit["cases"] if c["name"].startswith("crates/libc/")]
assert len(cases) > 0, "the auditor ran no crates/libc case"
auditor = sorted(c["name"].removeprefix("crates/libc/") for c in cases if c["status"] in ("fail", "known"))
outside = sorted(l for l in open(sys.argv[2]).read().split() if l)
print("inflight-audit crates (libc adapter) fails:", ", ".join(auditor) or "nothing")
print("the outside crate's report fails:         ", ", ".join(outside) or "nothing")
if auditor != outside:
    sys.exit("the findings differ")
print(f"same findings ({len(cases)} cases each)")
PY
