#!/usr/bin/env bash
# Instruction counts per round trip against raw libc (callgrind through
# gungraun), with the ratio gates of benches/ir-gates.txt. See ci/ir.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash ci/ir.sh
