#!/usr/bin/env bash
# The conformance auditor (audit/): the kernel battery, the crates matrix
# (findings in the other fd-passing crates compared with
# audit/expected-crates.txt), the self-audit of inflight's echo program, and
# the example echo programs in C and Python.
# JUnit reports are kept in target/audit/*.xml; any failing case fails CI,
# and so does any skip that audit/expected-skips.txt does not list (or a
# listed one that no longer skips): every run gets --expect-skips.
set -euo pipefail
cd "$(dirname "$0")/../.."

need() { # need COMMAND DEBIAN-PACKAGE: install the package if the command is missing
    command -v "$1" >/dev/null 2>&1 && return 0
    echo "installing $2 (for $1)"
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2"
    else
        sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2"
    fi
}
need cc gcc
need python3 python3

cargo build --release -p inflight-audit
audit=target/release/inflight-audit
out=target/audit
mkdir -p "$out"
cc -O2 -Wall -Wextra -Werror -o "$out/echo_c" audit/programs/echo.c

status=0
run() { # run NAME ARGS...: one audit, JUnit report in $out/NAME.xml
    local name=$1
    shift
    echo "--> inflight-audit --expect-skips audit/expected-skips.txt $*"
    "$audit" --format junit --output "$out/$name.xml" \
        --expect-skips audit/expected-skips.txt "$@" || status=1
}
run kernel --expect audit/expected-kernel.txt kernel
run crates --expect audit/expected-crates.txt crates
run self-echo program -- "$audit" echo
run program-c program -- "$out/echo_c"
run program-python program -- python3 audit/programs/echo.py
exit $status
