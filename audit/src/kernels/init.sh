#!/bin/busybox sh
# /init of an `inflight-audit kernels` guest (generated steps follow).
# Each step's output goes to the second serial port, framed and in base64:
#   @@inflight start NAME
#   @@inflight begin NAME / base64 lines / @@inflight end NAME EXIT-STATUS
#   @@inflight time NAME START END   (seconds since boot)
# and `@@inflight done` once every step has run.
/bin/busybox --install -s /bin
export PATH=/bin HOME=/root TMPDIR=/tmp
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
ip link set lo up 2>/dev/null
data=/dev/ttyS1
stty -F "$data" raw -echo 2>/dev/null

frame() { # NAME FILE EXIT-STATUS
    echo "@@inflight begin $1"
    base64 "$2"
    echo "@@inflight end $1 $3"
}

step() { # NAME SECONDS MERGED PROGRAM ARGS...
    name=$1 secs=$2 merged=$3
    shift 3
    echo "@@inflight start $name" >"$data"
    echo "inflight-audit kernels: step $name" # on the console, for the evidence
    t0=$(cut -d' ' -f1 /proc/uptime)
    if [ "$merged" = 1 ]; then
        timeout -s KILL "$secs" "$@" >/tmp/step.out 2>&1
    else
        timeout -s KILL "$secs" "$@" >/tmp/step.out 2>/tmp/step.err
    fi
    rc=$?
    t1=$(cut -d' ' -f1 /proc/uptime)
    frame "$name" /tmp/step.out "$rc" >"$data"
    [ "$merged" = 1 ] || frame "$name.stderr" /tmp/step.err "$rc" >"$data"
    echo "@@inflight time $name $t0 $t1" >"$data"
}

finish() {
    echo "@@inflight done" >"$data"
    sync
    poweroff -f
}

uname -r >/tmp/release
frame release /tmp/release 0 >"$data"
