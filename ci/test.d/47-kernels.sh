#!/usr/bin/env bash
# CI's share of the kernel matrix (audit/README.md, "Across kernels"): Linux
# 6.1 (Debian's newest 6.1 package, cached outside the repository) booted
# under QEMU, and the running kernel, with the auditor's batteries; the
# differences must be those audit/expected-differences.txt lists. The whole
# matrix (6.12 too, and inflight's own tests in every kernel) is
# ci/kernels.sh, which takes longer than CI's budget for it.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec bash ci/kernels.sh --battery-only 6.1
