#!/usr/bin/env bash
# `inflight-audit trace` on real programs no one here wrote, each driven by a
# small script in audit/tests/trace/programs/: CPython (socket.send_fds /
# recv_fds, multiprocessing.reduction), Perl IO::FDPass, Ruby send_io /
# recv_io, Go WriteMsgUnix / ReadMsgUnix, s6-fdholder-daemon, dbus-daemon.
# Installs each Debian package when missing (each takes seconds), runs the
# trace, and compares the cases that did not pass with
# audit/tests/trace/programs/expected.tsv. Reports: target/audit/trace-*.json.
# Usage: ci/trace-programs.sh [PATH-TO-inflight-audit]
set -euo pipefail
cd "$(dirname "$0")/.."
. ci/lib.sh

need_pkg() { # need_pkg PACKAGE...: install Debian packages
    echo "installing $*"
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get update -qq &&
        $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

audit=${1:-target/release/inflight-audit}
[ -x "$audit" ] || cargo build --release -p inflight-audit
progs=audit/tests/trace/programs
out=target/audit
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"

need python3 python3
need perl perl
perl -MIO::FDPass -e1 2>/dev/null || need_pkg libio-fdpass-perl
need ruby ruby
need go golang-go
need s6-fdholder-daemon s6
need dbus-run-session dbus-daemon
/usr/bin/python3 -c 'import dbus, gi' 2>/dev/null || need_pkg python3-dbus python3-gi

export GOCACHE="$work/gocache" GOPATH="$work/gopath"
go build -o "$work/go_unixrights" "$progs/go_unixrights.go"

status=0
check() { # check NAME CMD...: trace CMD, compare with expected.tsv
    local name=$1
    shift
    echo "--> inflight-audit trace -- $*"
    "$audit" trace --format json --output "$out/trace-$name.json" -- "$@" || true
    local want got
    want=$(awk -F'\t' -v n="$name" '$1 == n { print $2 }' "$progs/expected.tsv")
    got=$(python3 - "$out/trace-$name.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
print(" ".join(sorted(f'{c["name"]}={c["status"]}' for c in d["cases"] if c["status"] != "pass")))
print("program:", d["program"]["status"], file=sys.stderr)
PY
    )
    if [ "$got" = "$(echo "$want" | tr ' ' '\n' | sort | xargs)" ]; then
        echo "ok: $name: ${got:-clean}"
    else
        echo "MISMATCH: $name: expected '${want}', got '${got}'" >&2
        status=1
    fi
}

check py-socket python3 "$progs/py_socket.py"
check py-socket-exec python3 "$progs/py_socket_exec.py"
check py-multiprocessing python3 "$progs/py_multiprocessing.py"
check perl-fdpass perl "$progs/perl_fdpass.pl"
check ruby-send-io ruby "$progs/ruby_send_io.rb"
check go-unixrights "$work/go_unixrights"
check s6-fdholder sh "$progs/s6_fdholder.sh" "$work/s6"
check dbus dbus-run-session -- /usr/bin/python3 "$progs/dbus_fd.py"
exit $status
