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
trap 'git worktree remove --force "$tree" 2>/dev/null || rm -rf "$tree"; git worktree prune' EXIT
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR_MUTANTS:-target/mutants}"
CARGO_TARGET_DIR=$(realpath -m "$CARGO_TARGET_DIR")
git worktree add -q --detach "$tree" HEAD

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
]
TIMEOUT = 1800  # seconds per run; a hang is reported, not waited out


def run_suites():
    """Runs the property suites; returns (passed tests, failed tests, output, note)."""
    subprocess.run(["git", "clean", "-fdq", "proptests/proptest-regressions"], check=True)
    subprocess.run(["git", "checkout", "-q", "--", "proptests"], check=True)
    try:
        run = subprocess.run(["cargo", "test", "--release", "-p", "inflight-proptests", "--no-fail-fast"],
                             capture_output=True, text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        return set(), set(), "", f"timed out after {TIMEOUT} s"
    out = run.stdout + run.stderr
    passed = set(re.findall(r"^test (\S+) \.\.\. ok$", out, re.M))
    failed = set(re.findall(r"^test (\S+) \.\.\. FAILED$", out, re.M))
    note = "did not compile" if "could not compile" in out else ""
    return passed, failed, out, note


subprocess.run(["git", "checkout", "-q", "--", "core"], check=True)
base_passed, base_failed, out, note = run_suites()
print(f"{'none (the unbroken core)':42} passing: {len(base_passed)}, failing: {', '.join(sorted(base_failed)) or '-'} {note}", flush=True)
if base_failed or note or not base_passed:
    sys.exit("the unbroken core does not pass: fix that first\n" + out[-3000:])

survived = []
for name, path, line, broken in MUTANTS:
    subprocess.run(["git", "checkout", "-q", "--", "core"], check=True)
    text = open(path).read()
    if text.count(line) != 1:
        sys.exit(f"{name}: the line to break is not (uniquely) in {path}: {line.strip()!r}")
    open(path, "w").write(text.replace(line, broken))
    passed, failed, out, note = run_suites()
    # Caught: a test that passes on the unbroken core fails with this one.
    caught = sorted(failed & base_passed)
    print(f"{name:42} failing: {', '.join(caught) or '-'} {note}", flush=True)
    for prop, why in re.findall(r"property (\S+) failed: (.{0,160})", out):
        print(f"    {prop}: {why}", flush=True)
    if note or not caught:
        survived.append(f"{name} ({note or 'no property failed'})")
subprocess.run(["git", "checkout", "-q", "--", "core", "proptests"], check=True)
if survived:
    sys.exit("not caught: " + "; ".join(survived))
print("every breakage was caught")
PY
