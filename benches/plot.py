"""The plot of benches/report.py: the ratio to raw libc against k, one
panel for time and one for instructions, one line per implementation."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FixedLocator, NullLocator  # noqa: E402

STYLE = {  # colour, marker
    "inflight-array": ("#d62728", "o"),
    "inflight-vec": ("#ff7f0e", "s"),
    "inflight-batch": ("#9467bd", "D"),
    "rustix": ("#2ca02c", "^"),
    "nix": ("#1f77b4", "v"),
}


def ratio_to_libc(svg, png, ks, labels, time_ratios, ir_ratios, runs, noise):
    """time_ratios: {impl: {k: (median, low, high)}}; ir_ratios: {impl: {k:
    ratio}}; noise: {k: the run's noise as a fraction} (a band around 1)."""
    plt.rcParams.update({"svg.hashsalt": "inflight", "font.size": 10})
    fig, (t_ax, i_ax) = plt.subplots(1, 2, figsize=(11, 4.8))
    band = sorted(noise.items())
    if band:
        t_ax.fill_between([k for k, _ in band], [1 - n for _, n in band], [1 + n for _, n in band],
                          color="#bbbbbb", alpha=0.45, lw=0, label="noise (raw libc against itself)")
    names = [n for n in STYLE if time_ratios.get(n) or ir_ratios.get(n)]
    for n_i, name in enumerate(names):
        colour, marker = STYLE[name]
        label = labels[name].replace("`", "")
        # Each line a little to the side of the next, so that error bars and
        # markers at the same k do not hide each other.
        shift = 1 + 0.035 * (n_i - (len(names) - 1) / 2)
        pts = sorted(time_ratios.get(name, {}).items())
        if pts:
            xs = [k * shift for k, _ in pts]
            ys = [m for _, (m, _, _) in pts]
            err = [[m - lo for _, (m, lo, _) in pts], [hi - m for _, (m, _, hi) in pts]]
            t_ax.errorbar(xs, ys, yerr=err, color=colour, marker=marker, ms=5, lw=1.6,
                          capsize=2.5, label=label)
        pts = sorted(ir_ratios.get(name, {}).items())
        if pts:
            i_ax.plot([k * shift for k, _ in pts], [v for _, v in pts], color=colour,
                      marker=marker, ms=5, lw=1.6, label=label)
    for ax, title in ((t_ax, f"Wall-clock time (criterion; bars: range of {runs} runs)"),
                      (i_ax, "User-space instructions (callgrind)")):
        ax.axhline(1.0, color="black", lw=1.2, ls="--", label="raw libc (= 1)")
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(FixedLocator(ks))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xticklabels([str(k) for k in ks])
        ax.set_xlim(ks[0] / 1.35, ks[-1] * 1.35)
        ax.set_xlabel("descriptors per message (k, log scale)")
        ax.set_title(title, fontsize=10.5)
        ax.grid(True, alpha=0.3)
    t_ax.set_ylabel("ratio to raw libc (below 1 = faster)")
    i_ax.set_yscale("log", base=2)
    i_ax.yaxis.set_major_locator(FixedLocator([0.25, 0.5, 1, 2, 4, 8]))
    i_ax.yaxis.set_minor_locator(NullLocator())
    i_ax.set_yticklabels(["0.25", "0.5", "1", "2", "4", "8"])
    lo = min([v for d in ir_ratios.values() for v in d.values()] + [1.0])
    hi = max([v for d in ir_ratios.values() for v in d.values()] + [1.0])
    i_ax.set_ylim(lo / 1.25, hi * 1.25)
    seen = {}
    for ax in (t_ax, i_ax):
        for handle, text in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(text, handle)
    texts = list(seen)
    handles = [seen[t] for t in texts]
    fig.legend(handles, texts, loc="lower center", ncol=3, frameon=False)
    fig.suptitle("Cost of one round trip relative to raw libc sendmsg/recvmsg "
                 "(stream pair, 1-byte payload)", fontsize=12)
    fig.tight_layout(rect=(0, 0.15, 1, 1))
    fig.savefig(svg, metadata={"Date": None})
    if png:
        fig.savefig(png, dpi=100)
    plt.close(fig)
