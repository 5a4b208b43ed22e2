#!/usr/bin/env bash
# Instruction counts of one round trip per implementation and k
# (benches/ir.rs: callgrind through gungraun), their ratios to raw libc,
# and the gates of benches/ir-gates.txt (ratios computed in this very run).
#
#   ci/ir.sh            run, print the report, enforce the gates
#   ci/ir.sh --write    also write the report to benches/IR.md
#
# Installs valgrind and the gungraun-runner of the exact version in
# Cargo.lock when missing. Instruction counts are repeatable (same binary,
# same inputs), so this may gate CI; wall-clock times never do.
set -euo pipefail
cd "$(dirname "$0")/.."
. ci/lib.sh
write=0
[ "${1:-}" = "--write" ] && write=1

need valgrind valgrind
version=$(sed -n '/^name = "gungraun"$/{n;s/^version = "\(.*\)"/\1/p;q}' Cargo.lock)
[ -n "$version" ] || { echo "ci/ir.sh: no gungraun in Cargo.lock" >&2; exit 1; }
need_cargo_tool gungraun-runner gungraun-runner "$version"

out=target/ir
mkdir -p "$out"
cargo bench -p inflight-benches --bench ir -- --output-format=json > "$out/ir.jsonl"
args=("$out/ir.jsonl" --json "$out/ir.json" --gates benches/ir-gates.txt --command "ci/ir.sh")
[ "$write" = 1 ] && args+=(--markdown benches/IR.md)
python3 benches/ir_report.py "${args[@]}"
