#!/usr/bin/env python3
"""Writes benches/RESULTS.md and an SVG plot from criterion's saved baselines.

Reads target/criterion/**/run<i>/{benchmark,estimates}.json for i in 1..RUNS
(written by `ci/bench.sh`, which runs the suite RUNS times with
`--save-baseline run<i>`), takes each benchmark's median time per iteration
in every run, and reports the median across runs (and the spread).
Standard library only.
"""

import argparse
import json
import math
import os
import platform
import statistics
from collections import defaultdict

ORDER = ["inflight", "inflight-array", "inflight-batch", "libc", "nix", "rustix", "uds", "sendfd", "passfd"]
COLOURS = {
    "inflight": "#d62728",
    "inflight-array": "#ff7f0e",
    "libc": "#000000",
    "nix": "#1f77b4",
    "rustix": "#2ca02c",
    "uds": "#9467bd",
    "sendfd": "#8c564b",
    "passfd": "#7f7f7f",
}


def load(root, runs):
    data = defaultdict(list)  # full_id -> [ns per iteration, one per run]
    meta = {}
    for dirpath, _dirs, files in os.walk(root):
        base = os.path.basename(dirpath)
        if not base.startswith("run") or "benchmark.json" not in files:
            continue
        try:
            run = int(base[3:])
        except ValueError:
            continue
        if run < 1 or run > runs:
            continue
        with open(os.path.join(dirpath, "benchmark.json")) as f:
            b = json.load(f)
        with open(os.path.join(dirpath, "estimates.json")) as f:
            e = json.load(f)
        data[b["full_id"]].append(e["median"]["point_estimate"])
        meta[b["full_id"]] = b
    return data, meta


def machine():
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            kb = int(f.readline().split()[1])
            mem = f", {kb / 1024 / 1024:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return f"{model}, {os.cpu_count()} cores{mem}; Linux {platform.release()} ({platform.machine()})"


def group_sort_key(g):
    kinds = ["fds_per_message", "socket_kind", "payload", "batch", "cross_process"]
    head = g.split("/")[0]
    rank = kinds.index(head) if head in kinds else len(kinds)
    nums = [int("".join(ch for ch in part if ch.isdigit()) or 0) for part in g.split("/")[1:]]
    sub = g.split("/")[1] if head == "socket_kind" else ""
    if head == "payload":
        nums = [{"1B": 1, "4KiB": 4096, "64KiB": 65536}.get(g.split("/")[1], 0)]
    return (rank, sub, nums)


def fmt(ns):
    return f"{ns:,.0f}" if ns >= 100 else f"{ns:.1f}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--criterion", default="target/criterion")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--load", default=None)
    ap.add_argument("--command", default="ci/bench.sh")
    ap.add_argument("--out", default="benches/RESULTS.md")
    ap.add_argument("--svg", default="benches/ns_per_fd.svg")
    a = ap.parse_args()

    data, meta = load(a.criterion, a.runs)
    if not data:
        raise SystemExit("no saved baselines found")
    groups = defaultdict(dict)  # group -> impl -> row
    for full_id, times in data.items():
        b = meta[full_id]
        group, impl = b["group_id"], b["function_id"]
        med = statistics.median(times)
        elements = b["throughput"]["Elements"]
        msgs = 1
        if group.startswith("batch/"):
            msgs = int(b["value_str"])
        groups[group][impl] = {
            "ns": med,
            "runs": len(times),
            "spread": (max(times) - min(times)) / med * 100 if med else 0.0,
            "per_msg": med / msgs,
            "per_fd": med / elements,
        }

    load_lines = []
    if a.load and os.path.exists(a.load):
        with open(a.load) as f:
            load_lines = [l.strip() for l in f if l.strip()]

    def ratio(group, impl):
        rows = groups[group]
        if "libc" not in rows or impl not in rows:
            return None
        return rows[impl]["ns"] / rows["libc"]["ns"]

    out = []
    out.append("# Benchmark results\n")
    out.append("Produced by `" + a.command + "` (criterion, `benches/benches/fdpass.rs`); "
               "tables and plot written by `benches/report.py`. Do not edit by hand.\n")
    out.append(f"* Machine: {machine()}.")
    out.append(f"* Runs: the whole suite {a.runs} times in a row; each figure is the median, "
               "across runs, of criterion's median time per iteration; *spread* is "
               "(max - min) / median across runs. Within a run, every group holds all "
               "implementations for one parameter, so the implementations compared with each "
               "other are measured seconds apart, and the repeats catch load that comes and "
               "goes. Each benchmark: 0.2 s warm-up, 0.5 s measurement, 20 samples.")
    if load_lines:
        peaks = []
        for l in load_lines:
            try:
                peaks.append(float(l.split(":", 1)[1].split()[0]))
            except (IndexError, ValueError):
                pass
        busy = any(p > 1.5 for p in peaks)
        verdict = ("The machine was shared with other work while this ran (2 cores), so absolute "
                   "figures are noisy; ratios within a group are the meaningful part."
                   if busy else
                   "Nothing else ran (a benchmark keeps about one core busy, and the load "
                   "average includes the benchmark itself).")
        out.append("* Load average (1, 5, 15 min) around each run: " + "; ".join(load_lines) +
                   ". " + verdict)
    out.append("* One iteration moves every descriptor of the group (k, or M x k for batches) "
               "from one end of a socket pair to the other, through the implementation's send "
               "and receive, and closes what arrived. *ns/message* is per logical message "
               "(per message of M for batches; passfd needs k system-level messages for one), "
               "*ns/fd* per descriptor, *x libc* the time relative to raw "
               "`sendmsg`/`recvmsg` in the same group.")
    out.append("* Every implementation returns a `Vec<OwnedFd>` (the shared trait's type), so the "
               "single-message rows all pay the same one allocation per receive; "
               "`inflight-batch` uses the batch API directly and does not.\n")

    # Headline figures.
    out.append("## Headline\n")
    hl = []
    for k in [1, 4, 16, 64, 253]:
        g = f"fds_per_message/k={k}"
        if g not in groups:
            continue
        parts = []
        for impl in ["inflight-array", "inflight", "rustix"]:
            r = ratio(g, impl)
            if r is not None:
                parts.append(f"{impl} {r:.2f}x")
        hl.append(f"* k = {k}: " + ", ".join(parts) + " of raw libc")
    for k in [1, 4]:
        g = f"batch/k={k}/m=32"
        r = ratio(g, "inflight-batch")
        if r is not None:
            hl.append(f"* batched, k = {k}, 32 messages per system call: {r:.2f}x raw libc per message "
                      f"({fmt(groups[g]['inflight-batch']['per_msg'])} ns vs "
                      f"{fmt(groups[g]['libc']['per_msg'])} ns)")
    out.extend(hl)
    out.append("")
    out.append("![ns per descriptor against k](ns_per_fd.svg)\n")

    titles = {
        "fds_per_message": "Descriptors per message (stream socket pair, 1-byte payload)",
        "socket_kind": "Socket kind",
        "payload": "Payload size (k = 1, seqpacket pair; passfd cannot receive a payload and is left out)",
        "batch": "Batched messages per system call (stream pair; libc and inflight-array send and receive the same M messages one system call each)",
        "cross_process": "Cross-process (a spawned child echoes the descriptors back through the same implementation; one iteration is a round trip)",
    }
    seen = set()
    for g in sorted(groups, key=group_sort_key):
        head = g.split("/")[0]
        if head not in seen:
            seen.add(head)
            out.append(f"## {titles.get(head, head)}\n")
        out.append(f"### {g}\n")
        out.append("| implementation | ns/iteration | ns/message | ns/fd | x libc | spread |")
        out.append("| --- | ---: | ---: | ---: | ---: | ---: |")
        rows = groups[g]
        for impl in sorted(rows, key=lambda i: ORDER.index(i) if i in ORDER else 99):
            r = rows[impl]
            x = ratio(g, impl)
            xs = f"{x:.2f}" if x is not None else "-"
            out.append(f"| {impl} | {fmt(r['ns'])} | {fmt(r['per_msg'])} | {fmt(r['per_fd'])} | "
                       f"{xs} | {r['spread']:.1f}% |")
        out.append("")

    with open(a.out, "w") as f:
        f.write("\n".join(out))

    # Plot: ns per descriptor against k, log-log.
    series = defaultdict(list)
    for k in [1, 4, 16, 64, 253]:
        g = groups.get(f"fds_per_message/k={k}", {})
        for impl, r in g.items():
            series[impl].append((k, r["per_fd"]))
    if series:
        write_svg(a.svg, series)


def write_svg(path, series):
    w, h = 760, 480
    left, right, top, bottom = 80, 170, 40, 60
    xs = [k for pts in series.values() for k, _ in pts]
    ys = [v for pts in series.values() for _, v in pts]
    xmin, xmax = math.log10(min(xs)), math.log10(max(xs))
    ymin = math.floor(math.log10(min(ys)) * 4) / 4
    ymax = math.ceil(math.log10(max(ys)) * 4) / 4
    if ymax == ymin:
        ymax += 1

    def px(k):
        return left + (math.log10(k) - xmin) / (xmax - xmin or 1) * (w - left - right)

    def py(v):
        return top + (ymax - math.log10(v)) / (ymax - ymin) * (h - top - bottom)

    s = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
         f'font-family="sans-serif" font-size="12">',
         f'<rect width="{w}" height="{h}" fill="white"/>',
         f'<text x="{w / 2 - 60}" y="22" font-size="15">ns per descriptor against descriptors per message '
         '(stream pair, log-log)</text>']
    # Axes and grid.
    for k in sorted(set(xs)):
        x = px(k)
        s.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{h - bottom}" stroke="#ddd"/>')
        s.append(f'<text x="{x:.1f}" y="{h - bottom + 18}" text-anchor="middle">{k}</text>')
    e = math.floor(ymin)
    while e <= ymax:
        for m in (1, 2, 5):
            v = m * 10 ** e
            if ymin <= math.log10(v) <= ymax:
                y = py(v)
                s.append(f'<line x1="{left}" y1="{y:.1f}" x2="{w - right}" y2="{y:.1f}" stroke="#eee"/>')
                s.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{v:g}</text>')
        e += 1
    s.append(f'<rect x="{left}" y="{top}" width="{w - left - right}" height="{h - top - bottom}" '
             'fill="none" stroke="#333"/>')
    s.append(f'<text x="{(left + w - right) / 2}" y="{h - 18}" text-anchor="middle">'
             'descriptors per message (k)</text>')
    s.append(f'<text x="18" y="{(top + h - bottom) / 2}" text-anchor="middle" '
             f'transform="rotate(-90 18 {(top + h - bottom) / 2})">ns per descriptor</text>')
    impls = sorted(series, key=lambda i: ORDER.index(i) if i in ORDER else 99)
    for n, impl in enumerate(impls):
        pts = sorted(series[impl])
        colour = COLOURS.get(impl, "#17becf")
        dash = ' stroke-dasharray="6 3"' if impl == "libc" else ""
        points = " ".join(f"{px(k):.1f},{py(v):.1f}" for k, v in pts)
        s.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2"{dash}/>')
        for k, v in pts:
            s.append(f'<circle cx="{px(k):.1f}" cy="{py(v):.1f}" r="3" fill="{colour}"/>')
        ly = top + 10 + n * 20
        lx = w - right + 15
        s.append(f'<line x1="{lx}" y1="{ly}" x2="{lx + 25}" y2="{ly}" stroke="{colour}" '
                 f'stroke-width="2"{dash}/>')
        s.append(f'<text x="{lx + 32}" y="{ly + 4}">{impl}</text>')
    s.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(s) + "\n")


if __name__ == "__main__":
    main()
