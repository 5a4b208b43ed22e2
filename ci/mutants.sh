#!/usr/bin/env bash
# Do the property tests catch a broken core? Applies each one-line breakage
# below to a scratch work tree of HEAD (this checkout is not touched), runs
# the property suites, and prints which properties failed. Exits 1 when a
# breakage survives (no property fails) or when the unbroken tree fails.
#
#   ci/mutants.sh            # PROPTEST_CASES=64, about 5 minutes on 2 cores
set -euo pipefail
cd "$(dirname "$0")/.."
export PROPTEST_CASES="${PROPTEST_CASES:-64}"
tree=$(mktemp -d)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR_MUTANTS:-target/mutants}"
CARGO_TARGET_DIR=$(realpath -m "$CARGO_TARGET_DIR")
git worktree add -q --detach "$tree" HEAD
trap 'git worktree remove --force "$tree"' EXIT

python3 - "$tree" <<'PY'
import os, re, subprocess, sys
tree = sys.argv[1]
os.chdir(tree)
# name, file, the line as it is, the line broken
MUTANTS = [
    ("M1 drop MSG_CMSG_CLOEXEC", "core/src/transfer.rs",
     "            f |= CMSG_CLOEXEC;", "            // f |= CMSG_CLOEXEC;"),
    ("M2 leak the surplus on truncation", "core/src/transfer.rs",
     "            surplus.push(fd);", "            std::mem::forget(fd);"),
    ("M3 read only the first control message", "core/src/sys.rs",
     "        for cmsg in codec::decode(self.buf).flatten() {",
     "        for cmsg in codec::decode(self.buf).flatten().take(1) {"),
    ("M4 capacity off by one", "core/src/fdarray.rs",
     "        if self.vec.len() < self.cap {", "        if self.vec.len() <= self.cap {"),
    ("none (the unbroken core)", None, None, None),
]
survived = []
for name, path, line, broken in MUTANTS:
    subprocess.run(["git", "checkout", "-q", "--", "core", "proptests"], check=True)
    subprocess.run(["git", "clean", "-fdq", "proptests/proptest-regressions"], check=True)
    if path:
        text = open(path).read()
        if text.count(line) != 1:
            sys.exit(f"{name}: the line to break is not (uniquely) in {path}: {line.strip()!r}")
        open(path, "w").write(text.replace(line, broken))
    run = subprocess.run(["cargo", "test", "--release", "-p", "inflight-proptests", "--no-fail-fast"],
                         capture_output=True, text=True)
    out = run.stdout + run.stderr
    failed = sorted(set(re.findall(r"^test (\S+) \.\.\. FAILED$", out, re.M)))
    print(f"{name:42} failing: {', '.join(failed) or '-'}", flush=True)
    for prop, why in re.findall(r"property (\S+) failed: (.{0,160})", out):
        print(f"    {prop}: {why}", flush=True)
    if path and not failed:
        survived.append(name)
    if not path and (failed or run.returncode != 0):
        survived.append("the unbroken core fails")
subprocess.run(["git", "checkout", "-q", "--", "core", "proptests"], check=True)
if survived:
    sys.exit("not caught: " + "; ".join(survived))
print("every breakage was caught")
PY
