#!/usr/bin/env bash
# The kernel matrix: the auditor's kernel battery, its crates matrix and
# inflight's own tests on several kernels booted under QEMU (TCG) and on the
# running kernel, as one table of case x kernel (inflight-audit kernels).
# Differences between kernels that audit/expected-differences.txt does not
# explain fail, and so does a guest that hangs or panics.
#
# Usage: ci/kernels.sh [--markdown FILE] [--battery-only] [KERNEL...] [-- AUDIT-ARGS...]
#   KERNEL   6.1 or 6.12: Debian's newest kernel package of that series
#            (bookworm), fetched with apt-get and cached in
#            ${INFLIGHT_KERNEL_CACHE:-~/.cache/inflight/kernels};
#            linux-image-...: that Debian package;
#            [LABEL=]PATH: any bzImage.
#            Default: 6.1 6.12.
#   --markdown FILE   also write the matrix as Markdown (audit/KERNELS.md).
#   --battery-only    leave inflight's tests out (the auditor's batteries only).
# Reports: target/kernels/matrix.{json,xml}; guest logs: target/kernels/logs.
set -euo pipefail
cd "$(dirname "$0")/.."
. ci/lib.sh

markdown=""
battery_only=0
kernels=()
extra=()
while [ $# -gt 0 ]; do
    case $1 in
    --markdown) markdown=$2; shift 2 ;;
    --battery-only) battery_only=1; shift ;;
    --) shift; extra=("$@"); break ;;
    *) kernels+=("$1"); shift ;;
    esac
done
[ ${#kernels[@]} -gt 0 ] || kernels=(6.1 6.12)

# QEMU without its recommendations (graphical front ends, UEFI firmware):
# the guests boot with -kernel under TCG, on serial ports only.
need qemu-system-x86_64 qemu-system-x86 --no-install-recommends
need python3 python3
# A guest has no shared libraries: busybox-static (Debian's plain busybox is
# dynamically linked; the static one replaces it).
busybox=$(command -v busybox || true)
if [ -z "$busybox" ] || ldd "$busybox" >/dev/null 2>&1; then
    echo "installing busybox-static (the guests' shell and tools)"
    apt_install busybox-static
fi

cache=${INFLIGHT_KERNEL_CACHE:-$HOME/.cache/inflight/kernels}
mkdir -p "$cache"

# newest REGEX: the newest Debian package whose name matches REGEX in the
# package lists as they are.
newest() {
    apt-cache search --names-only "^$1\$" | cut -d' ' -f1 | sort -V | tail -n1
}

# download PACKAGE: its kernel image, under $cache/PACKAGE/boot.
download() {
    local dir="$cache/$1"
    rm -rf "$dir" && mkdir -p "$dir"
    (cd "$dir" && apt-get download -qq "$1" 2>/dev/null) || return 1
    dpkg-deb --fsys-tarfile "$dir"/*.deb | tar -x -C "$dir" --wildcards './boot/vmlinuz-*'
    rm -f "$dir"/*.deb
}

# cached PACKAGE: the kernel image of a package fetched earlier.
cached() {
    ls "$cache/$1"/boot/vmlinuz-* 2>/dev/null | head -n1
}

# vmlinuz PACKAGE-OR-REGEX: the kernel image of that Debian package (or of
# the newest one matching), downloaded once. When the package lists lack
# it or are stale (the download fails), they are refreshed and the name
# looked up again.
vmlinuz() {
    local pkg image
    pkg=$(newest "$1")
    if [ -n "$pkg" ]; then
        image=$(cached "$pkg")
        [ -n "$image" ] && { echo "$image"; return; }
        echo "fetching $pkg into $cache" >&2
        download "$pkg" && { cached "$pkg"; return; }
    fi
    echo "refreshing the package lists (apt-get update)" >&2
    if [ "$(id -u)" = 0 ]; then apt-get update -qq; else sudo apt-get update -qq; fi >/dev/null
    pkg=$(newest "$1")
    [ -n "$pkg" ] || { echo "no Debian package matches $1" >&2; return 1; }
    image=$(cached "$pkg")
    [ -n "$image" ] && { echo "$image"; return; }
    echo "fetching $pkg into $cache" >&2
    download "$pkg" || { echo "apt-get download $pkg failed" >&2; return 1; }
    cached "$pkg"
}

args=()
for k in "${kernels[@]}"; do
    case $k in
    6.1) args+=(--kernel "6.1=$(vmlinuz 'linux-image-6\.1\.0-[0-9]+-amd64')") ;;
    6.12) args+=(--kernel "6.12=$(vmlinuz 'linux-image-6\.12\.[0-9]+\+deb12-amd64')") ;;
    linux-image-*) args+=(--kernel "$k=$(vmlinuz "$(printf '%s' "$k" | sed 's/[.+]/\\&/g')")") ;;
    *) args+=(--kernel "$k") ;;
    esac
done

# Static programs: a guest has no shared libraries.
target=x86_64-unknown-linux-musl
need_target "$target"
# Without debug information (a guest's memory holds them all); only this
# target's artifacts are affected.
export CARGO_TARGET_X86_64_UNKNOWN_LINUX_MUSL_RUSTFLAGS="-C debuginfo=0 -C strip=debuginfo"
cargo build -p inflight-audit --target "$target"
audit=target/$target/debug/inflight-audit
if [ "$battery_only" = 0 ]; then
    tests=$(cargo test -p inflight --all-features --target "$target" --no-run --message-format=json |
        python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["profile"]["test"]:
        name = "lib" if "lib" in m["target"]["kind"] else m["target"]["name"]
        print(name + "=" + m["executable"])
')
    for t in $tests; do args+=(--test "$t"); done
fi

out=target/kernels
mkdir -p "$out"
status=0
"$audit" kernels "${args[@]}" --expect audit/expected-crates.txt \
    --expect-differences audit/expected-differences.txt --logs "$out/logs" \
    --format json --output "$out/matrix.json" "${extra[@]}" || status=$?
[ "$status" -le 1 ] || exit "$status"
render() { # FORMAT: the same run, judged again and rendered
    "$audit" kernels --from-json "$out/matrix.json" \
        --expect-differences audit/expected-differences.txt --format "$1" || true
}
render junit >"$out/matrix.xml"
render table
if [ -n "$markdown" ]; then
    {
        echo "# Kernel matrix"
        echo
        echo "Generated by \`ci/kernels.sh --markdown $markdown\` ($(date -u +%Y-%m-%d)); do not edit."
        echo "Expected differences: \`audit/expected-differences.txt\`. How to read it and run it: \`audit/README.md\`."
        echo
        render markdown
    } >"$markdown"
    echo "wrote $markdown"
fi
exit "$status"
