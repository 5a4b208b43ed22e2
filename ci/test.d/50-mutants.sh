#!/usr/bin/env bash
# Mutation testing of the codec and the claim-and-classify code (the parts
# every guarantee rests on) with cargo-mutants against the core's unit
# tests; a missed mutant not justified in core/mutants-justified.txt fails.
# The full run over the whole core is `ci/mutants.sh full`.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash ci/mutants.sh ci
