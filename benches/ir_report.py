#!/usr/bin/env python3
"""Instruction counts of one round trip (benches/ir.rs, callgrind through
gungraun) turned into ratios against raw libc, checked against the gates.

Input: the JSON lines `cargo bench --bench ir -- --output-format=json`
prints (one object per benchmark; function names `<impl>_k<k>`,
`send_<impl>_k<k>`, `recv_<impl>_k<k>`). Output: a Markdown report (stdout
or --markdown FILE), a JSON summary (--json FILE, read by report.py for the
plot), and an exit status: 1 when a gate fails.

Gates (--gates FILE), one per line, `gate IMPLEMENTATION MAX-RATIO [K...]`:
the implementation's instructions divided by raw libc's at the same k, in
this very run, must not exceed MAX-RATIO at any listed k (every k when none
is listed). `target ...` lines have the same form and are reported, not
enforced. Ratios, not absolute counts: a new compiler or libc moves both
sides. Standard library only.
"""

import argparse
import json
import re
import sys

KS = [1, 4, 16, 64, 253]
IMPLS = ["libc", "inflight_array", "inflight_vec", "inflight_batch", "rustix", "nix"]
LABELS = {
    "libc": "raw libc",
    "inflight_array": "inflight `recv_fds::<k>`",
    "inflight_vec": "inflight `recv_fds_vec`",
    "inflight_batch": "inflight batch (per message, M = 8)",
    "rustix": "rustix",
    "nix": "nix",
}
BATCH = 8


def load(path):
    counts = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line.startswith("{"):
                continue
            d = json.loads(line)
            ir = d["profiles"][0]["data"]["total"]["metrics"]["Ir"]["values"]["new"]
            counts[d["function_name"]] = ir
    if not counts:
        sys.exit(f"{path}: no benchmark results (did the benchmark run?)")
    return counts


def table(counts):
    """{impl: {k: instructions per message}} for the round trips."""
    out = {}
    for name, ir in counts.items():
        m = re.fullmatch(r"(.+)_k(\d+)", name)
        if not m or m.group(1) not in IMPLS:
            continue
        imp, k = m.group(1), int(m.group(2))
        out.setdefault(imp, {})[k] = ir / BATCH if imp == "inflight_batch" else ir
    return out


def halves(counts):
    rows = []
    for k in KS:
        row = [k]
        for name in ("send_libc", "send_inflight", "recv_libc", "recv_inflight_array"):
            row.append(counts.get(f"{name}_k{k}"))
        rows.append(row)
    return rows


def gates(path):
    out = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.split("#", 1)[0].split()
            if not line:
                continue
            if len(line) < 3 or line[0] not in ("gate", "target"):
                sys.exit(f"{path}:{n}: expected gate|target IMPLEMENTATION MAX-RATIO [K...]")
            out.append((line[0], line[1], float(line[2]), [int(k) for k in line[3:]] or KS))
    return out


def check(rt, gate_list):
    failures, lines = [], []
    for kind, imp, limit, ks in gate_list:
        if imp not in rt:
            failures.append(f"{kind} on {imp}: no such implementation in the run")
            continue
        for k in ks:
            base, got = rt["libc"].get(k), rt[imp].get(k)
            if base is None or got is None:
                failures.append(f"gate on {imp} at k = {k}: no count in the run")
                continue
            ratio = got / base
            if kind == "target":
                verdict = "target met" if ratio <= limit else "target not met"
            else:
                verdict = "ok" if ratio <= limit else "FAIL"
            lines.append(f"{verdict}: {imp} at k = {k}: {got:.0f} / {base:.0f} = {ratio:.2f}x ({kind} {limit:.2f}x)")
            if kind == "gate" and ratio > limit:
                failures.append(lines[-1])
    return failures, lines


def markdown(rt, hv, command):
    md = ["User-space instructions per round trip (callgrind through gungraun): a",
          "1-byte payload with k memfds over a stream socket pair, received with",
          "room for exactly k, what arrived closed. Ratio to raw libc in brackets.",
          f"Command: `{command}`.", "",
          "| implementation | " + " | ".join(f"k = {k}" for k in KS) + " |",
          "|---|" + "---:|" * len(KS)]
    for imp in IMPLS:
        if imp not in rt:
            continue
        cells = []
        for k in KS:
            v, base = rt[imp].get(k), rt["libc"].get(k)
            cells.append("-" if v is None else f"{v:.0f} ({v / base:.2f}x)")
        md.append(f"| {LABELS[imp]} | " + " | ".join(cells) + " |")
    md += ["", "The send and the receive alone (instructions):", "",
           "| k | send, libc | send, inflight | receive, libc | receive, inflight array |",
           "|---:|---:|---:|---:|---:|"]
    for row in hv:
        md.append("| " + " | ".join("-" if c is None else f"{c:.0f}" for c in row) + " |")
    return "\n".join(md) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("jsonl")
    ap.add_argument("--gates")
    ap.add_argument("--markdown")
    ap.add_argument("--json")
    ap.add_argument("--command", default="ci/ir.sh")
    a = ap.parse_args()
    counts = load(a.jsonl)
    rt = table(counts)
    if "libc" not in rt:
        sys.exit("no raw libc counts: nothing to compare with")
    md = markdown(rt, halves(counts), a.command)
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write(md)
    else:
        sys.stdout.write(md)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"ks": KS, "instructions": rt}, f, indent=1, sort_keys=True)
    if a.gates:
        failures, lines = check(rt, gates(a.gates))
        print("\n".join(lines))
        if failures:
            print(f"{len(failures)} instruction-count gate(s) failed", file=sys.stderr)
            sys.exit(1)


if __name__ == "__main__":
    main()
