#!/bin/sh
# s6 (Debian package s6): s6-fdholder-daemon holds a pipe's read end that
# s6-fdholder-store sends it, and hands it back to s6-fdholder-retrieve,
# which runs `cat` on it. Usage: s6_fdholder.sh WORKDIR
set -eu
dir=$1
mkdir -p "$dir/rules/uid/$(id -u)/env"
touch "$dir/rules/uid/$(id -u)/allow"
echo '.*' > "$dir/rules/uid/$(id -u)/env/S6_FDHOLDER_STORE_REGEX"
echo '.*' > "$dir/rules/uid/$(id -u)/env/S6_FDHOLDER_RETRIEVE_REGEX"
sock=$dir/fdholder.sock
rm -f "$sock"
s6-fdholder-daemon -1 -i "$dir/rules" "$sock" > "$dir/ready" &
daemon=$!
while [ ! -s "$dir/ready" ]; do sleep 0.05; done
echo "held through s6" > "$dir/data"
s6-fdholder-store "$sock" "file:data" < "$dir/data"
s6-fdholder-retrieve "$sock" "file:data" cat
kill "$daemon"
wait "$daemon" || true
