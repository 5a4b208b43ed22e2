#!/usr/bin/env python3
"""The second pass of ci/mutants.sh full: every mutant the core's own tests
missed is applied (cargo-mutants' diff) to a scratch worktree and tried
against the property tests and the fuzz replay; then the summary.

    mutants_second_pass.py MUTANTS_OUT JUSTIFIED SUMMARY_MD

MUTANTS_OUT may list several cargo-mutants output directories separated by
commas (a run split by file). A survivor of both passes is either listed
in JUSTIFIED (`NAME<TAB>REASON`, an equivalent mutant) or counted missed.
Survivors justified as "off Linux:" (code compiled only on other systems)
are not re-run: no Linux build contains the mutation. Exit status 1 when a
survivor is not justified. Standard library only.
"""

import json
import os
import subprocess
import sys
from collections import Counter, defaultdict

ROOT = subprocess.run(["git", "rev-parse", "--show-toplevel"], capture_output=True,
                      text=True, check=True).stdout.strip()
SCRATCH = os.path.join(ROOT, "target", "mutants", "scratch")
SUITES = [
    ("property tests", ["cargo", "test", "-p", "inflight-proptests"]),
    ("fuzz replay", ["cargo", "test", "--manifest-path", "fuzz/Cargo.toml", "--no-default-features"]),
]


def outcomes(dirs):
    out = []
    for d in dirs.split(","):
        with open(os.path.join(d, "outcomes.json")) as f:
            data = json.load(f)
        for o in data["outcomes"]:
            if o["scenario"] == "Baseline":
                continue
            m = o["scenario"]["Mutant"]
            out.append({"name": m["name"], "file": m["file"], "summary": o["summary"],
                        "diff": os.path.join(d, o["diff_path"]) if o.get("diff_path") else None})
    return out


def justified(path):
    reasons = {}
    with open(path) as f:
        for line in f:
            if line.startswith("#") or "\t" not in line:
                continue
            name, reason = line.rstrip("\n").split("\t", 1)
            reasons[name] = reason
    return reasons


def scratch():
    if not os.path.isdir(SCRATCH):
        subprocess.run(["git", "worktree", "add", "--detach", SCRATCH, "HEAD"], cwd=ROOT, check=True)
    subprocess.run(["git", "checkout", "--", "."], cwd=SCRATCH, check=True)
    subprocess.run(["git", "checkout", "--detach", subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
        check=True).stdout.strip()], cwd=SCRATCH, check=True, capture_output=True)


def second_pass(m):
    """The suite that catches mutant `m`, or None."""
    subprocess.run(["git", "checkout", "--", "."], cwd=SCRATCH, check=True)
    # cargo-mutants writes the mutant's description where the new file's
    # name belongs (`+++ replace ...`): name the file on both sides.
    with open(m["diff"]) as f:
        lines = f.read().split("\n")
    lines[0], lines[1] = f"--- {m['file']}", f"+++ {m['file']}"
    applied = subprocess.run(["git", "apply", "-p0", "-"], cwd=SCRATCH, input="\n".join(lines),
                             capture_output=True, text=True)
    if applied.returncode != 0:
        sys.exit(f"cannot apply {m['diff']}: {applied.stderr}")
    env = dict(os.environ, CARGO_TARGET_DIR=os.path.join(ROOT, "target", "mutants", "scratch-target"))
    try:
        for name, cmd in SUITES:
            r = subprocess.run(cmd, cwd=SCRATCH, env=env, capture_output=True, timeout=900)
            if r.returncode != 0:
                return name
        return None
    except subprocess.TimeoutExpired:
        return "timeout"
    finally:
        subprocess.run(["git", "checkout", "--", "."], cwd=SCRATCH, check=True)


def main():
    dirs, just_path, summary_path = sys.argv[1:4]
    ms = outcomes(dirs)
    reasons = justified(just_path)
    caught_later = {}
    missed = [m for m in ms if m["summary"] == "MissedMutant"]
    # Code compiled only on other systems: no Linux build holds the mutation.
    off_linux = [m for m in missed if reasons.get(m["name"], "").startswith("off Linux:")]
    rerun = [m for m in missed if m not in off_linux]
    if rerun:
        scratch()
    for m in off_linux:
        print(f"not re-run (not compiled on Linux): {m['name']}", flush=True)
    for i, m in enumerate(rerun, 1):
        by = second_pass(m)
        print(f"[{i}/{len(rerun)}] {'caught by ' + by if by else 'survives'}: {m['name']}", flush=True)
        if by:
            caught_later[m["name"]] = by
    counts = Counter(m["summary"] for m in ms)
    survivors = [m for m in missed if m["name"] not in caught_later]
    unjustified = [m for m in survivors if m["name"] not in reasons]
    caught = counts["CaughtMutant"] + len(caught_later)
    viable = caught + len(survivors) + counts["Timeout"]
    per_file = defaultdict(Counter)
    for m in ms:
        s = m["summary"]
        if s == "MissedMutant" and m["name"] in caught_later:
            s = "CaughtMutant"
        per_file[m["file"]][s] += 1
    lines = [
        "| file | mutants | caught | missed | timeouts | unviable |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for f in sorted(per_file):
        c = per_file[f]
        lines.append(f"| `{f}` | {sum(c.values())} | {c['CaughtMutant']} | {c['MissedMutant']} | "
                     f"{c['Timeout']} | {c['Unviable']} |")
    text = [
        f"Mutants: {len(ms)}; caught {caught} ({counts['CaughtMutant']} by the core's tests, "
        f"{len(caught_later)} more by the property tests or the fuzz replay); missed {len(survivors)} "
        f"({len(survivors) - len(unjustified)} justified as equivalent); timeouts {counts['Timeout']}; "
        f"unviable {counts['Unviable']}.",
        f"Score: {100 * (caught + counts['Timeout']) / max(viable, 1):.1f}% of viable mutants detected "
        f"(caught, or their tests hung until the time limit: {caught + counts['Timeout']} of {viable}); "
        f"{100 * caught / max(viable, 1):.1f}% caught outright; "
        f"{100 * (caught + counts['Timeout'] + len(survivors) - len(unjustified)) / max(viable, 1):.1f}% "
        f"detected or justified.",
        f"Second pass: {len(rerun)} survivors of the core's tests re-run against the property tests "
        f"(PROPTEST_CASES={os.environ.get('PROPTEST_CASES', 'unset: 256')}) and the fuzz replay; "
        f"{len(off_linux)} not re-run (not compiled on Linux).",
        "", *lines, "",
    ]
    if caught_later:
        text += ["Caught only by the second pass:", ""]
        text += [f"- `{n}`: {by}" for n, by in sorted(caught_later.items())] + [""]
    if survivors:
        text += ["Survivors:", ""]
        text += [f"- `{m['name']}`: {reasons.get(m['name'], 'NOT JUSTIFIED')}" for m in survivors] + [""]
    with open(summary_path, "w") as f:
        f.write("\n".join(text))
    print("\n".join(text))
    if unjustified:
        sys.exit(1)


if __name__ == "__main__":
    main()
