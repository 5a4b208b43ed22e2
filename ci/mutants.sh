#!/usr/bin/env bash
# Mutation testing of the core with cargo-mutants.
#
#   ci/mutants.sh ci     the codec and the claim-and-classify code against
#                        the core's unit tests and tests/codec.rs (about 6
#                        minutes): fails on a missed mutant that
#                        core/mutants-justified.txt does not list with a
#                        reason
#   ci/mutants.sh full   every function of core/src against the core's unit
#                        and integration tests; each survivor is then tried
#                        against the property tests and the fuzz replay (its
#                        diff applied to a scratch worktree); writes
#                        target/mutants/summary.md (see core/MUTANTS.md)
#
# Installs cargo-mutants (--locked) when missing. Exit status: 0 when every
# viable mutant is caught or justified, 1 otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
. ci/lib.sh
mode=${1:-ci}
need_cargo_tool cargo-mutants cargo-mutants
out=target/mutants
mkdir -p "$out"
justified=core/mutants-justified.txt

# Mutant names listed (before a tab) in the justified file.
listed() { grep -v '^#' "$justified" | cut -f1 | sed '/^$/d'; }

# The missed mutants of an outcomes.json, one name per line.
missed() {
    python3 - "$1" <<'PY'
import json, sys
for o in json.load(open(sys.argv[1]))["outcomes"]:
    if o["summary"] == "MissedMutant":
        print(o["scenario"]["Mutant"]["name"])
PY
}

# Every justified name must still name a mutant: a line that moved (code
# added above it) turns a justified mutant into an unlisted one, which the
# run below would report only after minutes. Checked first, in a second.
stale=$(comm -23 <(listed | sort) <(cargo mutants -p inflight --list | sort))
if [ -n "$stale" ]; then
    echo "ci/mutants.sh: names in $justified that match no mutant of today's code" >&2
    echo "(did their lines move? \`cargo mutants -p inflight --list\` gives today's names):" >&2
    echo "$stale" >&2
    exit 1
fi

case "$mode" in
ci)
    # The parts every guarantee rests on, small enough for CI (about 230
    # mutants, about 7 minutes on 2 cores): the whole codec (the one checked
    # parser, the encoder, the wire layout), the sinks a claim fills, the
    # claim and its classification.
    # No debug info: the build of each mutant is mostly linking. Incremental
    # builds on, whatever the caller set (ci/test.sh turns them off to save
    # disk): each mutant rebuilds one crate, and this step took 10 minutes
    # instead of 6 without them.
    CARGO_PROFILE_DEV_DEBUG=0 CARGO_INCREMENTAL=1 \
    cargo mutants -p inflight --no-shuffle -o "$out/ci" --timeout 10 --jobs 2 \
        -f core/src/codec/decode.rs -f core/src/codec/encode.rs -f core/src/codec/wire.rs \
        -f core/src/sys/sink.rs -f core/src/sys/control.rs -f core/src/sys/fdarray.rs \
        -f core/src/transfer.rs \
        --re 'codec/|sys/sink\.rs|sys/control\.rs|close_all|FdArray<N>::push|\bclaim\b|\bfinish\b|\btruncated\b' \
        -- --lib --test codec || true
    outcomes="$out/ci/mutants.out/outcomes.json"
    [ -f "$outcomes" ] || { echo "ci/mutants.sh: no outcomes (did cargo-mutants run?)" >&2; exit 1; }
    bad=$(comm -23 <(missed "$outcomes" | sort) <(listed | sort))
    python3 - "$outcomes" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
viable = d["caught"] + d["missed"] + d["timeout"]
print(f"mutants: {d['total_mutants']}, caught {d['caught']}, missed {d['missed']}, "
      f"timeouts {d['timeout']}, unviable {d['unviable']}; "
      f"score {100 * d['caught'] / max(viable, 1):.1f}% of viable")
PY
    if [ -n "$bad" ]; then
        echo "missed mutants not justified in $justified:" >&2
        echo "$bad" >&2
        exit 1
    fi
    ;;
full)
    CARGO_INCREMENTAL=1 \
    cargo mutants -p inflight --all-features --no-shuffle -o "$out/full" --timeout 180 \
        -- --lib --tests || true
    outcomes="$out/full/mutants.out/outcomes.json"
    [ -f "$outcomes" ] || { echo "ci/mutants.sh: no outcomes" >&2; exit 1; }
    python3 ci/mutants_second_pass.py "$out/full/mutants.out" "$justified" "$out/summary.md"
    ;;
*)
    echo "usage: ci/mutants.sh ci|full" >&2
    exit 2
    ;;
esac
