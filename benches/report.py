#!/usr/bin/env python3
"""Writes benches/RESULTS.md and benches/ratio_to_libc.svg.

Time: criterion's saved baselines, target/criterion/**/run<i>/
{benchmark,estimates}.json for i in 1..RUNS (ci/bench.sh runs the suite
RUNS times, `--save-baseline run<i>`, the implementations' order rotated
by i - 1 places). Each benchmark's figure is criterion's median time per
iteration; across runs the report takes the median. Ratios to raw libc are
taken within each run (the two rows seconds apart) and then the median
across runs. Instructions: target/ir/ir.json (ci/ir.sh). The plot needs
matplotlib (ci/bench.sh installs it); the rest is standard library.
"""

import argparse
import json
import os
import platform
import re
import statistics
import time
from collections import defaultdict

import plot

KS = [1, 4, 16, 64, 253]
# Report name -> (label, name in ir.json). The order is the tables' order.
LEAN = {
    "libc": ("raw libc", "libc"),
    "libc-again": ("raw libc again (control)", None),
    "inflight-array": ("inflight `recv_fds::<k>`", "inflight_array"),
    "inflight-vec": ("inflight `recv_fds_vec`", "inflight_vec"),
    "inflight-batch": ("inflight batch (M = 8, per message)", "inflight_batch"),
    "rustix": ("rustix", "rustix"),
    "nix": ("nix", "nix"),
}
BATCH_ORDER = ["libc", "inflight-array", "inflight-batch", "inflight-batch-close-range"]
ADAPTER_ORDER = ["libc", "inflight-array", "inflight", "rustix", "nix", "uds", "sendfd", "passfd"]


def load(root, runs):
    """{group: {impl: row}}; row["per_msg"] maps (run, round) -> ns per
    message. Rounds (`<group>/round=<r>`) fold into their group."""
    groups = defaultdict(dict)
    for dirpath, _dirs, files in os.walk(root):
        m = re.fullmatch(r"run(\d+)", os.path.basename(dirpath))
        if not m or "benchmark.json" not in files or not 1 <= int(m.group(1)) <= runs:
            continue
        with open(os.path.join(dirpath, "benchmark.json")) as f:
            b = json.load(f)
        with open(os.path.join(dirpath, "estimates.json")) as f:
            e = json.load(f)
        rm = re.search(r"/round=(\d+)$", b["group_id"])
        group = b["group_id"][:rm.start()] if rm else b["group_id"]
        km = re.search(r"k=(\d+)", group)
        k = int(km.group(1)) if km else 1
        msgs = max(b["throughput"]["Elements"] // k, 1)
        row = groups[group].setdefault(b["function_id"], {"per_msg": {}})
        row["per_msg"][(int(m.group(1)), int(rm.group(1)) if rm else 0)] = \
            e["median"]["point_estimate"] / msgs
    return groups


def by_run(values):
    """{(run, round): v} -> {run: median over its rounds}."""
    runs = defaultdict(list)
    for (run, _round), v in values.items():
        runs[run].append(v)
    return {run: statistics.median(vs) for run, vs in runs.items()}


def summarise(groups):
    """Adds to every row: ns (the median of all its measurements, every
    round of every run), spread (the range of the runs' medians over ns, %),
    ratio (the median of its ratios to raw libc, each taken within one
    round) and ratios (each run's median of them, sorted)."""
    for rows in groups.values():
        base = rows.get("libc")
        for row in rows.values():
            per_run = by_run(row["per_msg"])
            row["ns"] = statistics.median(row["per_msg"].values())
            row["spread"] = (max(per_run.values()) - min(per_run.values())) / row["ns"] * 100
            row["runs"] = len(per_run)
            row["rounds"] = len(row["per_msg"]) // max(len(per_run), 1)
            pairs = {}
            if base is not None:
                pairs = {key: v / base["per_msg"][key]
                         for key, v in row["per_msg"].items() if key in base["per_msg"]}
            row["ratios"] = sorted(by_run(pairs).values())
            row["ratio"] = statistics.median(pairs.values()) if pairs else None


def load_ir(path):
    """{report name: {k: instructions per message}} from ci/ir.sh's JSON."""
    if not path or not os.path.exists(path):
        return {}
    with open(path) as f:
        d = json.load(f)["instructions"]
    out = {}
    for name, (_label, ir_name) in LEAN.items():
        if ir_name and ir_name in d:
            out[name] = {int(k): v for k, v in d[ir_name].items()}
    return out


def machine():
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            model = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), model)
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores; Linux {platform.release()} ({platform.machine()})"


def fmt(ns):
    return f"{ns:,.0f}" if ns >= 100 else f"{ns:.1f}"


def noise(rows):
    """The run's noise at one k: how far raw libc measured again strays
    from raw libc in the same run (the largest |ratio - 1| of the control
    row across runs); the larger run-to-run spread of the two rows' times
    when there is no control row."""
    control = rows.get("libc-again")
    if control and control["ratios"]:
        return max(abs(r - 1) for r in control["ratios"]), "control"
    return rows["libc"]["spread"] / 100, "spread"


def verdict(row, limit):
    """At or below raw libc within the run's noise."""
    r = row["ratio"]
    if r <= 1.0:
        return "at or below"
    if r - 1 <= limit:
        return f"within noise (+{(r - 1) * 100:.1f} % ≤ {limit * 100:.1f} %)"
    return f"**above** (+{(r - 1) * 100:.1f} % > {limit * 100:.1f} %)"


def ratio_range(row):
    rs = row["ratios"]
    return f"{min(rs):.2f}-{max(rs):.2f}" if rs else "-"


def lean_tables(groups, ir):
    out = ["## Instructions and time per message, against raw libc\n",
           "Cells: time ratio / instruction ratio to raw libc at the same k (lower "
           "is better; per message for the batch).\n",
           "| implementation | " + " | ".join(f"k = {k}" for k in KS) + " |",
           "|---|" + "---:|" * len(KS)]
    for name, (label, _) in LEAN.items():
        cells = []
        for k in KS:
            row = groups.get(f"fds_per_message/k={k}", {}).get(name)
            t = f"{row['ratio']:.2f}" if row and row["ratio"] is not None else "-"
            i = ir.get(name, {}).get(k)
            b = ir.get("libc", {}).get(k)
            cells.append(f"{t} / {i / b:.2f}" if i and b else f"{t} / -")
        out.append(f"| {label} | " + " | ".join(cells) + " |")
    out += ["", "![ratio to raw libc against k, time and instructions](ratio_to_libc.svg)\n",
            "Every implementation and k in full. *ns/message*: the median of criterion's "
            "medians over every round of every run. *x libc*: the median of the ratios to "
            "raw libc, each taken within one round (the two rows seconds apart), over every "
            "round of every run; *range*: the lowest and highest of the runs' own medians of "
            "those ratios. *spread*: the range of the runs' medians of ns/message over "
            "their median (it includes whatever slowed a whole run, which the ratios "
            "cancel). *verdict*: the time ratio's excess over 1.00 against the run's noise "
            "at that k, the farthest any run's ratio of the control row (raw libc measured "
            "again in the same rounds, as if another implementation: a ratio that should "
            "be exactly 1) strays from 1.00.\n",
           "| k | implementation | instructions | x libc | ns/message | x libc | range | spread | verdict |",
           "|---:|---|---:|---:|---:|---:|---:|---:|---|"]
    for k in KS:
        rows = groups.get(f"fds_per_message/k={k}", {})
        base = rows.get("libc")
        limit, _ = noise(rows) if base else (None, None)
        for name, (label, _) in LEAN.items():
            row = rows.get(name)
            i, b = ir.get(name, {}).get(k), ir.get("libc", {}).get(k)
            ic = f"{i:,.0f} | {i / b:.2f}" if i and b else "- | -"
            if row is None or base is None:
                out.append(f"| {k} | {label} | {ic} | - | - | - | - | - |")
                continue
            v = {"libc": "(the floor)",
                 "libc-again": f"(the control: noise {limit * 100:.1f} %)"}.get(name)
            v = v or verdict(row, limit)
            out.append(f"| {k} | {label} | {ic} | {fmt(row['ns'])} | {row['ratio']:.2f} | "
                       f"{ratio_range(row)} | {row['spread']:.1f} % | {v} |")
    out.append("")
    return out


def batch_tables(groups):
    out = ["## Batches (per message)\n",
           "`batch/k=K/m=M`: M messages of K descriptors per iteration on a stream pair. "
           "raw libc and inflight `recv_fds::<k>` send the M messages one `sendmsg` each, "
           "then receive them one `recvmsg` each (lean round trips); inflight batch sends "
           "them in one `sendmmsg` and receives them in one `recvmmsg`, each message's "
           "descriptors closed as it drops (one `close` each at k = 1, one `close_range` per "
           "message at k > 1); *close_range per batch* is the same batch with the whole "
           "batch's descriptors closed by one `close_range` in user code "
           "(`lean::InflightBatchOneClose`): the idea the issue left open.\n",
           "| group | implementation | ns/message | x libc | range | spread |",
           "|---|---|---:|---:|---:|---:|"]
    names = {"libc": "raw libc, one call each", "inflight-array": "inflight `recv_fds::<k>`, one call each",
             "inflight-batch": "inflight batch", "inflight-batch-close-range": "inflight batch, close_range per batch"}
    for g in sorted((g for g in groups if g.startswith("batch/")), key=numbers):
        for name in BATCH_ORDER:
            row = groups[g].get(name)
            if row is None:
                continue
            x = f"{row['ratio']:.2f}" if row["ratio"] is not None else "-"
            out.append(f"| {g} | {names[name]} | {fmt(row['ns'])} | {x} | {ratio_range(row)} | "
                       f"{row['spread']:.1f} % |")
    out.append("")
    return out


def numbers(group):
    return [int(n) for n in re.findall(r"\d+", group)]


def adapter_tables(groups):
    out = ["## Through the adapters (`inflight_impls::Implementation`)\n",
           "Every receive returned as a `Vec<OwnedFd>` (the auditor's trait), so each row "
           "pays that allocation; the only rows with uds, sendfd and passfd. Here `inflight` "
           "is `recv_fds_vec` and `libc` the adapter's raw `sendmsg`/`recvmsg`. passfd "
           "carries one descriptor per message (k messages for one at k > 1) and takes no "
           "payload larger than 4 bytes, so it is not in the payload groups.\n"]
    titles = {"socket_kind": "Socket kind (k = 1 and 64, 1-byte payload)",
              "payload": "Payload size (k = 1, seqpacket pair)",
              "cross_process": "Cross-process (a spawned child echoes the descriptors back "
                               "through the same implementation; one iteration is a round trip)"}
    for head, title in titles.items():
        gs = sorted((g for g in groups if g.split("/")[0] == head), key=payload_key)
        if not gs:
            continue
        out += [f"### {title}\n",
                "| group | " + " | ".join(ADAPTER_ORDER) + " |",
                "|---|" + "---:|" * len(ADAPTER_ORDER)]
        for g in gs:
            cells = []
            for name in ADAPTER_ORDER:
                row = groups[g].get(name)
                if row is None:
                    cells.append("-")
                elif name == "libc":
                    cells.append(f"{fmt(row['ns'])} ns")
                else:
                    cells.append(f"{row['ratio']:.2f}")
            out.append(f"| {g} | " + " | ".join(cells) + " |")
        out.append("")
    out.append("libc in ns per message; the others as ratios to it (median across runs of "
               "the per-run ratio). Spreads across runs, largest per group: " +
               "; ".join(f"{g} {max(r['spread'] for r in groups[g].values()):.1f} %"
                         for g in sorted(groups, key=payload_key)
                         if g.split("/")[0] in titles) + ".\n")
    return out


def payload_key(g):
    """Groups in reading order: by kind, socket kind, payload size, k."""
    parts = g.split("/")
    sizes = {"1B": 1, "4KiB": 4096, "64KiB": 65536}
    kind = parts[1] if parts[0] == "socket_kind" else ""
    return (parts[0], kind, sizes.get(parts[-1], 0), [int(n) for n in re.findall(r"\d+", g)])


def header(a, groups):
    load = []
    if a.load and os.path.exists(a.load):
        with open(a.load) as f:
            load = [l.strip() for l in f if l.strip()]
    ir_when = "not found: instruction columns empty"
    if a.ir and os.path.exists(a.ir):
        ir_when = "written " + time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(os.path.getmtime(a.ir)))
    runs = max((row["runs"] for rows in groups.values() for row in rows.values()), default=0)
    rounds = max((row["rounds"] for rows in groups.values() for row in rows.values()), default=0)
    out = ["# Benchmark results\n",
           "Written by `benches/report.py`; do not edit by hand. Produced by:\n",
           "```sh",
           "flock /tmp/inflight-cargo.lock bash ci/ir.sh --write   # instructions: target/ir/ir.json, benches/IR.md",
           f"flock /tmp/inflight-cargo.lock bash {a.command}        # time: criterion, then this file and the plot",
           "```\n",
           f"* Machine: {machine()}. Date: {a.date or 'unknown'}; commit {a.commit or 'unknown'}.",
           f"* Instructions: `target/ir/ir.json` ({ir_when}), user-space instructions of one "
           "round trip under callgrind (`benches/benches/ir.rs`); see [IR.md](IR.md) and the "
           "gates in `ir-gates.txt`.",
           f"* Time: {runs} runs of the whole criterion suite (`benches/benches/fdpass.rs`), "
           "each with `--save-baseline run<i>` and `INFLIGHT_BENCH_ROTATE=i-1`, which rotates "
           "the order of the implementations in every group by i - 1 places. The runs are "
           "interleaved in two ways: within a run, every group holds all implementations "
           "for one parameter, so the rows compared with each other run seconds apart; "
           "across runs, the rotation moves each implementation to a different place in "
           "its group, so none is always first after a change of k, or always last. "
           f"Within a run, `fds_per_message` and `batch` groups come in {rounds} rounds "
           "(`.../round=r`, the order rotated one place further every round), so that load "
           "which comes and goes hits one round of an implementation, not all of its time. "
           "Ratios to raw libc are taken within a round; the figure is their median over "
           "all rounds of all runs. Each lean benchmark: 0.1 s "
           "warm-up, 0.4 s measurement, 20 samples; the adapter groups 0.1 s, 0.3 s, 20.",
           "* Rows: `fds_per_message` and `batch` run the lean round trips of "
           "`benches/src/lean.rs` (raw libc with stack buffers, inflight `recv_fds::<k>`, "
           "`recv_fds_vec`, the batch API, rustix, nix), the same code the instruction "
           "counts run; every receive has room for exactly k and closes what arrived. "
           "uds, sendfd and passfd are measured only through the adapters (last section)."]
    if load:
        busy = [float(m.group(1)) for l in load for m in [re.search(r"([\d.]+) of \d+ cores busy", l)] if m]
        shared = [n + 1 for n, b in enumerate(busy) if b > 1.3]
        verdict = ("Nothing else of note ran: the benchmark itself keeps about one core busy."
                   if not shared else
                   "Other work shared the machine during run(s) " + ", ".join(map(str, shared)) +
                   " (more than 1.3 cores busy where the benchmark keeps about one busy): "
                   "the spreads below show what that did.")
        out.append("* Load (1, 5, 15 min load average; cores busy from /proc/stat): " +
                   "; ".join(load) + ". " + verdict)
    out.append("")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--criterion", default="target/criterion")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--ir", default="target/ir/ir.json")
    ap.add_argument("--load")
    ap.add_argument("--command", default="ci/bench.sh")
    ap.add_argument("--date")
    ap.add_argument("--commit")
    ap.add_argument("--out", default="benches/RESULTS.md")
    ap.add_argument("--svg", default="benches/ratio_to_libc.svg")
    ap.add_argument("--png", help="also a PNG of the plot (to look at it)")
    a = ap.parse_args()

    groups = load(a.criterion, a.runs)
    if not groups:
        raise SystemExit(f"{a.criterion}: no saved baselines run1..run{a.runs}")
    summarise(groups)
    ir = load_ir(a.ir)
    out = header(a, groups) + lean_tables(groups, ir) + batch_tables(groups) + adapter_tables(groups)
    with open(a.out, "w") as f:
        f.write("\n".join(out))

    time_ratios = {name: {} for name in LEAN}
    for k in KS:
        for name, row in groups.get(f"fds_per_message/k={k}", {}).items():
            if name in time_ratios and row["ratios"]:
                time_ratios[name][k] = (row["ratio"], min(row["ratios"]), max(row["ratios"]))
    ir_ratios = {name: {k: v / ir["libc"][k] for k, v in ks.items() if k in ir.get("libc", {})}
                 for name, ks in ir.items()}
    noise_band = {k: noise(groups[f"fds_per_message/k={k}"])[0] for k in KS
                  if "libc" in groups.get(f"fds_per_message/k={k}", {})}
    labels = {name: label for name, (label, _) in LEAN.items()}
    runs = max((row["runs"] for rows in groups.values() for row in rows.values()), default=0)
    plot.ratio_to_libc(a.svg, a.png, KS, labels, time_ratios, ir_ratios, runs, noise_band)


if __name__ == "__main__":
    main()
