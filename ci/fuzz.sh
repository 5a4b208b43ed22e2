#!/usr/bin/env bash
# Fuzzes every cargo-fuzz target of fuzz/ for SECONDS each (default 30),
# with nightly and AddressSanitizer, then checks that the ClusterFuzzLite
# build script still produces every binary and seed archive.
#
#   ci/fuzz.sh [SECONDS] [TARGET...]
#
# Installs cargo-fuzz (--locked) when missing. Fails on any crash, leak or
# timeout (libFuzzer's exit status). Prints executions per second and the
# final coverage per target. The corpus grows in fuzz/corpus/<target>
# (git-ignored), seeded from fuzz/seeds/<target>; findings land in
# fuzz/artifacts/<target>.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS="${1:-30}"
shift || true
if ! [[ "$SECS" =~ ^[0-9]+$ ]] || [ "$SECS" -eq 0 ]; then
    echo "usage: ci/fuzz.sh [SECONDS-PER-TARGET] [TARGET...]" >&2
    exit 2
fi

if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "ci/fuzz.sh: installing the nightly toolchain (AddressSanitizer builds need it)"
    rustup toolchain install nightly --profile minimal || {
        echo "ci/fuzz.sh: the nightly toolchain is needed and could not be installed" >&2
        exit 1
    }
fi
if ! command -v zip >/dev/null 2>&1; then # for the seed archives of build.sh
    echo "installing zip"
    sudo=""
    [ "$(id -u)" = 0 ] || sudo=sudo
    { $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq zip; } ||
        true
    command -v zip >/dev/null 2>&1 || {
        echo "ci/fuzz.sh: zip is needed (for the seed archives) and could not be installed" >&2
        exit 1
    }
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "ci/fuzz.sh: installing cargo-fuzz"
    cargo install --locked cargo-fuzz
fi

cd fuzz
if [ "$#" -gt 0 ]; then
    TARGETS=("$@")
else
    listed=$(cargo fuzz list)
    mapfile -t TARGETS <<< "$listed"
fi
if [ "${#TARGETS[@]}" -eq 0 ] || [ -z "${TARGETS[0]}" ]; then
    echo "ci/fuzz.sh: no fuzz targets" >&2
    exit 1
fi
# -O: optimised with debug assertions; cargo-fuzz's default sanitizer is
# AddressSanitizer.
cargo +nightly fuzz build -O --sanitizer address

LOGS="target/fuzz-logs"
mkdir -p "$LOGS"
declare -a SUMMARY
status=0
for t in "${TARGETS[@]}"; do
    mkdir -p "corpus/$t"
    dict=()
    [ -f "dict/$t.dict" ] && dict=("-dict=dict/$t.dict")
    [ -f "dict/cmsg.dict" ] && [ ! -f "dict/$t.dict" ] && case "$t" in
        decode_*) dict=("-dict=dict/cmsg.dict") ;;
    esac
    echo "== $t: ${SECS}s"
    set +e
    # The fixed crashes run first, under ASan too (read-only: libFuzzer
    # writes new inputs to the first directory only).
    extra=()
    [ -d "regressions/$t" ] && extra=("regressions/$t")
    cargo +nightly fuzz run -O --sanitizer address "$t" "corpus/$t" "seeds/$t" "${extra[@]}" -- \
        -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        "${dict[@]}" > "$LOGS/$t.log" 2>&1
    rc=$?
    set -e
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$LOGS/$t.log" | tail -1)
    eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$LOGS/$t.log" | tail -1)
    last=$(grep -E '^#[0-9]+' "$LOGS/$t.log" | tail -1 || true)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<< "$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<< "$last")
    if [ "$rc" -ne 0 ]; then
        status=1
        SUMMARY+=("$(printf '%-20s FAILED (exit %s): see fuzz/%s/%s.log and fuzz/artifacts/%s' "$t" "$rc" "$LOGS" "$t" "$t")")
        tail -40 "$LOGS/$t.log"
    else
        SUMMARY+=("$(printf '%-20s %8s exec/s %10s runs  cov %6s  ft %6s' "$t" "${eps:-?}" "${runs:-?}" "${cov:-?}" "${ft:-?}")")
    fi
done

echo
echo "== fuzzing summary (${SECS}s per target, $(nproc) cpu, $(uname -r))"
printf '%s\n' "${SUMMARY[@]}"
[ "$status" -eq 0 ] || { echo "ci/fuzz.sh: a target failed" >&2; exit 1; }

# The ClusterFuzzLite/OSS-Fuzz build script, run as their builder would,
# into a temporary $OUT: it must produce every binary and seed archive.
echo
echo "== .clusterfuzzlite/build.sh with a temporary \$SRC/\$OUT"
cd ..
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/src" "$tmp/out"
ln -s "$PWD" "$tmp/src/inflight"
SRC="$tmp/src" OUT="$tmp/out" CARGO_FUZZ_TOOLCHAIN=+nightly \
    bash .clusterfuzzlite/build.sh > "$tmp/build.log" 2>&1 || {
    tail -30 "$tmp/build.log"
    echo "ci/fuzz.sh: .clusterfuzzlite/build.sh failed" >&2
    exit 1
}
missing=0
all=$(cd fuzz && cargo fuzz list)
[ -n "$all" ] || { echo "ci/fuzz.sh: no fuzz targets" >&2; exit 1; }
for t in $all; do
    want=("$t" "${t}_seed_corpus.zip" "$t.options")
    case "$t" in decode_*) want+=("$t.dict") ;; esac
    for f in "${want[@]}"; do
        if [ ! -s "$tmp/out/$f" ]; then
            echo "missing in \$OUT: $f" >&2
            missing=1
        fi
    done
done
[ "$missing" -eq 0 ] || exit 1
echo "build.sh: $(ls "$tmp/out" | wc -l) files in \$OUT, every target with binary, seed zip and options (and dictionaries for the decoders)"
