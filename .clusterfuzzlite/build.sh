#!/usr/bin/env bash
# ClusterFuzzLite / OSS-Fuzz build of inflight's fuzz targets. The builder
# image runs it with $SRC (the checkout is $SRC/inflight) and $OUT set, and
# with its own cargo wrapper that adds the sanitizer flags. ci/fuzz.sh runs
# it locally with temporary $SRC/$OUT so that it cannot rot.
#
# For every target it copies to $OUT: the binary, <target>_seed_corpus.zip
# (fuzz/seeds/<target> plus fuzz/regressions/<target>), <target>.dict when
# there is one, and <target>.options.
set -euo pipefail
: "${SRC:?}" "${OUT:?}"
cd "$SRC/inflight/fuzz"

# Locally (ci/fuzz.sh) the toolchain is chosen with CARGO_FUZZ_TOOLCHAIN
# (+nightly); in the builder image cargo already is nightly.
cargo ${CARGO_FUZZ_TOOLCHAIN:-} fuzz build -O
bin_dir=target/x86_64-unknown-linux-gnu/release
targets=$(cargo fuzz list)
[ -n "$targets" ] || { echo "build.sh: no fuzz targets" >&2; exit 1; }

for t in $targets; do
    cp "$bin_dir/$t" "$OUT/$t"
    zip_in=()
    [ -d "seeds/$t" ] && zip_in+=("seeds/$t")
    [ -d "regressions/$t" ] && zip_in+=("regressions/$t")
    rm -f "$OUT/${t}_seed_corpus.zip"
    if [ "${#zip_in[@]}" -gt 0 ]; then
        # -j: flat archive, as the runners expect; notes (.md) stay out.
        find "${zip_in[@]}" -type f ! -name '*.md' -print0 \
            | xargs -0 zip -q -j "$OUT/${t}_seed_corpus.zip"
    fi
    dict=""
    case "$t" in
        decode_*) dict=dict/cmsg.dict ;;
    esac
    [ -f "dict/$t.dict" ] && dict="dict/$t.dict"
    {
        echo "[libfuzzer]"
        echo "timeout = 10"
        echo "rss_limit_mb = 2048"
        if [ -n "$dict" ]; then
            cp "$dict" "$OUT/$t.dict"
            echo "dict = $t.dict"
        fi
    } > "$OUT/$t.options"
done
