"""Every figure minigrok draws (matplotlib on the Agg backend, imported only when a figure
is drawn, so that training never needs it; works without a screen).

    runs         accuracy curves of runs with their t_gen marked, attention patterns of
                 Transformers
    recipes      an experiment's curves next to its t_gen per condition: each seed, the
                 mean and the min-max range as points on a log axis (never: at the cap)
    analyze      the figures of `minigrok analyze`, drawn from analysis/report.py's tables;
                 values at checkpoints are markers, and a note says which checkpoints

Epoch axes are logarithmic (epoch n drawn at n + 1) so a ticket that groks in a few
hundred epochs and a dense net that groks in tens of thousands fit one picture.
"""
import math
import os
import statistics

import numpy as np

from . import io
from .fmt import fmt_epoch
from .train import first_epoch_reaching


def _pyplot():
    """matplotlib.pyplot on the Agg backend, imported only when a figure is drawn."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _save(fig, path, dpi=110, note=None):
    """Write fig to path (atomically); note: a line of small text under the panels."""
    plt = _pyplot()
    if note:
        fig.text(0.5, 0.005, note, ha="center", va="bottom", fontsize=8, wrap=True)
    fig.tight_layout(rect=(0, 0.06 if note else 0, 1, 1))
    io.atomic_write(path, lambda f: fig.savefig(f, format=os.path.splitext(path)[1][1:] or "png", dpi=dpi))
    plt.close(fig)
    return path


# ----------------------------------------------------------------------------------------
# runs

def plot_accuracy_curves(runs, path, title="", ylabel="accuracy", threshold=0.99):
    """Train (dashed) and test (solid) accuracy (or R^2: ylabel) vs epoch, log x, one
    colour per run; the axis is cut at [0, 1]. A dotted vertical line marks each run's
    t_gen (first epoch with test >= threshold); the legend gives it, or 'never'.

    runs: {label: metrics dict with 'epoch', 'train_acc', 'test_acc'}.
    """
    fig, ax = _pyplot().subplots(figsize=(7, 4.2))
    for i, (label, m) in enumerate(runs.items()):
        colour = f"C{i}"
        epochs = [e + 1 for e in m["epoch"]]  # log axis: plot epoch n at n + 1
        ax.plot(epochs, m["train_acc"], "--", color=colour, lw=1.2, label=f"{label} train")
        ax.plot(epochs, m["test_acc"], "-", color=colour, lw=1.6, label=f"{label} test")
        t_gen = first_epoch_reaching(m["epoch"], m["test_acc"], threshold)
        marker = f"{label} t_gen({threshold:g}) = {fmt_epoch(t_gen)}"
        if t_gen is None:
            ax.plot([], [], ":", color=colour, lw=1.2, label=marker)  # in the legend only
        else:
            ax.axvline(t_gen + 1, color=colour, ls=":", lw=1.2, label=marker)
            ax.plot(t_gen + 1, threshold, "o", color=colour, ms=4)
    ax.axhline(threshold, color="0.5", lw=0.6)
    ax.set_xscale("log")
    ax.set_xlabel("epoch + 1")
    ax.set_ylabel(ylabel)
    ax.set_ylim(-0.02, 1.02)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title(title, fontsize=10)
    _save(fig, path, dpi=120)


def plot_attention_patterns(patterns, p, path, title=""):
    """Heat maps of the attention the last position pays to the first token a, over all
    inputs (a, b): one panel per run. patterns: {label: array (p, p)} with entry [a, b] =
    att[query = last, key = first] for the input [a, b] (the rest, 1 - that, goes to b)."""
    fig, axes = _pyplot().subplots(1, len(patterns), figsize=(4.2 * len(patterns), 3.8), squeeze=False)
    for ax, (label, weight_on_a) in zip(axes[0], patterns.items()):
        image = ax.imshow(weight_on_a, cmap="viridis", origin="lower")  # colours span its range
        ax.set_title(f"{label}: attention to a, {weight_on_a.min():.3f}-{weight_on_a.max():.3f}",
                     fontsize=9)
        ax.set_xlabel("b")
        ax.set_ylabel("a")
        fig.colorbar(image, ax=ax, fraction=0.046)
    fig.suptitle(title, fontsize=10)
    _save(fig, path)


# ----------------------------------------------------------------------------------------
# recipes

LINE_STYLES = ("-", "--", ":", "-.")


def condition_styles(conditions):
    """{condition: (colour, line style)}, no two alike: tab10 up to ten conditions, else
    the 20 colours of tab20, then each colour again with the next line style."""
    conditions = list(conditions)
    if len(conditions) <= 10:
        return {c: (f"C{i}", "-") for i, c in enumerate(conditions)}
    tab20 = _pyplot().get_cmap("tab20")
    return {c: (tab20(i % 20), LINE_STYLES[(i // 20) % len(LINE_STYLES)])
            for i, c in enumerate(conditions)}


def _curves(ax, summary, curves, column="test_acc", ylabel="test accuracy", log_y=False):
    styles = condition_styles(summary["by_condition"])
    shown = set()
    for (cond, seed), m in curves.items():
        if cond not in styles:
            continue
        label = None if cond in shown else cond
        shown.add(cond)
        colour, style = styles[cond]
        ax.plot([e + 1 for e in m["epoch"]], m[column], color=colour, ls=style, lw=1.1,
                alpha=0.85, label=label)
    ax.set_xscale("log")
    if log_y:
        ax.set_yscale("log")
    ax.set_xlabel("epoch + 1")
    ax.set_ylabel(ylabel)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=6, loc="best", ncol=2 if len(shown) > 10 else 1)


def _t_gen_points(ax, summary, threshold="0.99"):
    """Per condition on a log axis: each seed's t_gen (dot), their mean (circle) and range
    (bar) over the seeds that reached the threshold; x at the epoch cap: a seed that never did."""
    styles = condition_styles(summary["by_condition"])
    conds = list(summary["by_condition"])
    cap = summary["config"]["epochs"]
    for i, cond in enumerate(conds):
        s = summary["by_condition"][cond][threshold]
        colour = styles[cond][0]
        if s["mean"] is not None:
            ax.errorbar(i, s["mean"], yerr=[[s["mean"] - s["min"]], [s["max"] - s["mean"]]],
                        fmt="o", color=colour, ms=7, capsize=4, lw=1.5)
        for v in s["values"]:
            ax.plot(i, cap if v is None else v, "kx" if v is None else "k.", ms=5 if v is None else 4)
    ax.axhline(cap, color="0.5", ls="--", lw=0.8)
    ax.set_xticks(range(len(conds)))
    ax.set_xticklabels(conds, rotation=45, ha="right", fontsize=7)
    ax.set_yscale("log")
    _plain_log_labels(ax.yaxis)
    ax.set_ylabel(f"t_gen: first epoch with test acc >= {threshold}")
    ax.set_title(f"t_gen({threshold}): mean (o), min-max (bar), each seed (.);\n"
                 f"x on the dashed line: never within the {cap:,}-epoch cap", fontsize=8)
    ax.grid(True, axis="y", which="both", alpha=0.3)


def _plain_log_labels(axis):
    """Tick labels of a log axis as plain numbers (1,500, not 1.5 x 10^3), with labelled
    minor ticks at 2 and 5 (and 3 within a decade) when the axis spans under two decades."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
    plain = FuncFormatter(lambda v, _: f"{v:,.0f}")
    axis.set_major_formatter(plain)
    lo, hi = axis.get_view_interval()
    span = hi / lo if lo > 0 else math.inf
    if span < 100:
        axis.set_minor_locator(LogLocator(subs=(2, 3, 5) if span < 10 else (2, 5)))
        axis.set_minor_formatter(plain)
    else:
        axis.set_minor_formatter(NullFormatter())


def plot_experiment(summary, curves, path, title="", extra_panels=()):
    """Accuracy curves | t_gen at 0.99 | t_gen at 0.95 | extra panels (each f(ax)), three
    panels a row."""
    n = 3 + len(extra_panels)
    ncols, nrows = min(n, 3), math.ceil(n / 3)
    fig, axes = _pyplot().subplots(nrows, ncols, figsize=(4.8 * ncols, 4.6 * nrows), squeeze=False)
    axes = axes.ravel()
    _curves(axes[0], summary, curves)
    axes[0].set_ylim(-0.02, 1.02)
    _t_gen_points(axes[1], summary, "0.99")
    _t_gen_points(axes[2], summary, "0.95")
    for ax, panel in zip(axes[3:], extra_panels):
        panel(ax)
    for ax in axes[n:]:
        ax.set_visible(False)
    cfg = summary["config"]
    ops = ",".join(summary.get("ops") or [cfg["op"]])  # the ops experiment runs several
    task = (f"p={cfg['p']}, {ops}, {cfg['split']} split" if cfg["task"] == "modular"
            else f"{cfg['task']} task")
    fig.suptitle(f"{title}  ({cfg['model']}, {task}, seeds {summary['seeds']})", fontsize=10)
    _save(fig, path, dpi=100)


def norm_panels(summary, curves):
    """Two extra panels: L1 and L2 norm of the effective weights over training."""
    return [lambda ax: _curves(ax, summary, curves, "l1", "L1 norm", log_y=True),
            lambda ax: _curves(ax, summary, curves, "l2", "L2 norm", log_y=True)]


def plotter(title, extra=None):
    """plot(summary, curves, path) for common.finish; extra(summary, curves) -> panels."""
    def plot(summary, curves, path):
        panels = extra(summary, curves) if extra else ()
        plot_experiment(summary, curves, path, title, panels)
    return plot


def plot_prune_timing(rows, path):
    """when-to-prune: each ticket's t_gen(0.99) against the gap between its dense run's
    t_gen and the epoch pruned at (left), and each policy's speed-ups (right); tickets
    that never reached 0.99 are drawn at the top of the left panel as x."""
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    policies = list(dict.fromkeys(r["condition"] for r in rows))
    styles = condition_styles(policies)
    top = max([r["t_gen"] for r in rows if r["t_gen"] is not None] or [1]) * 1.5
    for i, policy in enumerate(policies):
        mine = [r for r in rows if r["condition"] == policy and r["gap"] is not None]
        colour = styles[policy][0]
        left.scatter([r["gap"] for r in mine if r["t_gen"] is not None],
                     [r["t_gen"] for r in mine if r["t_gen"] is not None], color=colour, s=18, label=policy)
        left.scatter([r["gap"] for r in mine if r["t_gen"] is None],
                     [top] * sum(r["t_gen"] is None for r in mine), color=colour, marker="x", s=24)
        speedups = [r["speedup"] for r in rows if r["condition"] == policy and r["speedup"] is not None]
        right.scatter([i] * len(speedups), speedups, color=colour, s=18)
        if speedups:
            right.plot([i - 0.3, i + 0.3], [statistics.median(speedups)] * 2, color="k", lw=1.5)
    if any(r["gap"] is not None for r in rows):
        left.set_yscale("log")
        _plain_log_labels(left.yaxis)
        left.legend(fontsize=8)
    else:
        left.text(0.5, 0.5, "no dense run reached 0.99", ha="center", transform=left.transAxes)
    left.set_xlabel("epochs from the dense t_gen(0.99) to pruning")
    left.set_ylabel("ticket t_gen(0.99)")
    right.set_xticks(range(len(policies)), policies, rotation=20, fontsize=8)
    right.set_ylabel("speed-up dense / ticket (bar: median)")
    right.set_ylim(bottom=0)
    fig.suptitle("when to prune: the ticket against the epoch its mask was taken at")
    return _save(fig, path)


# ----------------------------------------------------------------------------------------
# analyze

def _runs(rows):
    """{run label: its rows} in first-seen order."""
    out = {}
    for r in rows:
        out.setdefault(r["run"], []).append(r)
    return out


def _series(rows, key):
    x = np.array([r["epoch"] + 1 for r in rows], dtype=float)
    y = np.array([np.nan if r.get(key) in (None, "") else r[key] for r in rows], dtype=float)
    return x, y


def _colour(labels, label):
    return f"C{list(labels).index(label) % 10}" if label in labels else "C7"


def _with_test_acc(ax, metrics_by_run):
    """Each run's test accuracy (every logged epoch), faint, on a right-hand axis."""
    twin = ax.twinx()
    for label, m in metrics_by_run.items():
        if m:
            twin.plot(np.asarray(m["epoch"]) + 1, m["test_acc"], color=_colour(metrics_by_run, label),
                      lw=0.8, alpha=0.3)
    twin.set_ylim(-0.02, 1.02)
    twin.set_ylabel("test accuracy (faint)", fontsize=8)
    return twin


def _epoch_axis(ax):
    ax.set_xscale("log")
    ax.set_xlabel("epoch + 1")
    ax.grid(True, which="both", alpha=0.3)


def plot_spectrum(path, rows, info):
    """Left: spectrum of each run's final W_E and of the first run's initial W_E. Right
    (ticket folders): the mask in the Fourier basis."""
    has_mask = "mask_W_E_fraction" in rows[0]
    fig, axes = _pyplot().subplots(1, 2 if has_mask else 1, figsize=(12 if has_mask else 7, 4.2), squeeze=False)
    ax = axes[0][0]
    k = np.array([r["frequency"] for r in rows])[1:]
    column = lambda c: np.array([r[c] for r in rows], dtype=float)[1:]  # noqa: E731
    finals = [c for c in rows[0] if c.endswith("_final_fraction")]
    cols = finals + [c for c in rows[0] if c.endswith("_init_fraction")][:1]
    width = 0.8 / max(len(cols), 1)
    for i, c in enumerate(cols):
        ax.bar(k + (i - (len(cols) - 1) / 2) * width, column(c), width=width,
               label=c.replace("_fraction", " W_E"), color="0.6" if "_init_" in c else f"C{i}")
    ax.set_xlabel("frequency k")
    ax.set_ylabel("fraction of ||W_E||^2 at k (k >= 1)")
    ax.set_title("Fourier spectrum of the embedding", fontsize=10)
    ax.legend(fontsize=8)
    if has_mask:
        ax = axes[0][1]
        for c, label in (("dense_final_x_mask_fraction", "dense final W_E * mask"),
                         ("ticket_init_fraction", "theta_0 * mask (ticket's start)"),
                         ("mask_W_E_fraction", "0/1 W_E mask itself")):
            if c in rows[0]:
                ax.plot(k, column(c), "o-", ms=3, label=label)
        ax.axhline(1 / len(k), color="k", ls=":", lw=1, label="flat spectrum")
        ax.set_xlabel("frequency k")
        ax.set_ylabel("fraction of energy at k (k >= 1)")
        ax.set_title(f"the ticket's mask in the Fourier basis (density {info['density']:.2f})", fontsize=10)
        ax.legend(fontsize=8)
    return _save(fig, path)


def _at_checkpoints(ax, x, y, style, colour, label):
    """Values at the checkpoints: a marker at each, joined by a thin line (dotted when
    there are few, where a straight line on a log axis would suggest data between them)."""
    marker = style.replace("-", "").replace(":", "") or "o"
    line = ":" if len(x) < 10 or ":" in style else "-"
    ax.plot(x, y, marker=marker, ls=line, lw=0.9, ms=4, color=colour, label=label)


def plot_over_training(path, rows, metrics, panels, title, baseline=None, note=None):
    """One panel per (title, [(column, style, label suffix)]), a line per run; note: which
    checkpoints the points are (under the panels)."""
    ncols = min(3, len(panels))  # at most three panels a row: readable at any count
    nrows = math.ceil(len(panels) / ncols)
    fig, axes = _pyplot().subplots(nrows, ncols, figsize=(5 * ncols, 4.4 * nrows), squeeze=False)
    for ax in axes.ravel()[len(panels):]:
        ax.axis("off")
    by_run = _runs(rows)
    for ax, (panel_title, columns) in zip(axes.ravel(), panels):
        for label, rs in by_run.items():
            for column, style, suffix in columns:
                x, y = _series(rs, column)
                if np.isfinite(y).any():
                    _at_checkpoints(ax, x, y, style, _colour(by_run, label), f"{label}{suffix}")
        for brow in baseline or []:
            for column, style, suffix in columns:
                if column in brow:
                    ax.axhline(brow[column], color="k", ls=":", lw=1, label=f"{brow['run']}{suffix}")
        _epoch_axis(ax)
        ax.set_title(panel_title, fontsize=10)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, loc="best")
        _with_test_acc(ax, metrics)
    fig.suptitle(title, fontsize=10)
    return _save(fig, path, note=note)


LAYER_MARKERS = ("v", "^", "s", "D", "P", "X")


def plot_jaccard(path, rows, metrics, info):
    layers = [c[len("final_"):] for c in rows[0] if c.startswith("final_") and c != "final_global"]
    panels = []
    for which, name in (("final", "with the final mask"), ("previous", "with the previous checkpoint's")):
        cols = [(f"{which}_global", "o-", " global")]
        cols += [(f"{which}_{k}", f"{LAYER_MARKERS[i % len(LAYER_MARKERS)]}:", f" {k}")
                 for i, k in enumerate(layers)]  # dotted, a marker per matrix
        panels.append((f"Jaccard overlap {name}", cols))
    return plot_over_training(path, rows, metrics, panels,
                              f"magnitude masks at each checkpoint (density {info['density']:.2f}, "
                              f"{info['scope']} scope)", note=info.get("note"))


def plot_progress(path, rows, metrics, note=None):
    """A 2 x 2 grid: MED and the scale-free MED at the checkpoints (markers); accuracy and
    weight norms at every logged epoch."""
    fig, grid = _pyplot().subplots(2, 2, figsize=(11, 8))
    axes = grid.ravel()
    by_run = _runs(rows)
    for label, rs in by_run.items():
        c = _colour(by_run, label)
        for ax, key in ((axes[0], "med"), (axes[1], "med_relative")):
            x, y = _series(rs, key)
            if np.isfinite(y).any():
                _at_checkpoints(ax, x, y, "o-", c, label)
        m = metrics.get(label)
        if m:
            e = np.asarray(m["epoch"]) + 1
            axes[2].plot(e, m["test_acc"], "-", color=c, label=f"{label} test")
            axes[2].plot(e, m["train_acc"], "--", color=c, lw=0.8, label=f"{label} train")
            axes[3].plot(e, m["l2"], "-", color=c, label=f"{label} L2")
            axes[3].plot(e, np.asarray(m["l1"]) / 100, "--", color=c, lw=0.8, label=f"{label} L1 / 100")
    titles = ("mean embedding difference (MED), at the checkpoints",
              "MED / mean ||W_E[:, i]|| (scale-free), at the checkpoints",
              "accuracy, every logged epoch", "weight norms, every logged epoch")
    for ax, title in zip(axes, titles):
        _epoch_axis(ax)
        ax.set_title(title, fontsize=10)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
        else:
            ax.text(0.5, 0.5, "no metrics.csv" if ax in axes[2:] else "no embedding W_E",
                    transform=ax.transAxes, ha="center")
    for ax in axes[:2]:
        _with_test_acc(ax, metrics)
    return _save(fig, path, note=note)


def plot_neurons(path, density_rows, dead_rows):
    """Left: fraction of weights kept per matrix. Right: fraction of units dead by the mask
    per inner layer (count on the bar) and, for the MLP's hidden layer, never active."""
    fig, axes = _pyplot().subplots(1, 2, figsize=(12, 4.2))
    for ax, rows, group, title in (
            (axes[0], density_rows, "matrix", "fraction of weights kept, per matrix"),
            (axes[1], dead_rows, "layer", "fraction of units dead by the mask (no input or output)")):
        by_run = _runs(rows)
        names = list(dict.fromkeys(r[group] for r in rows))
        width = 0.8 / max(len(by_run), 1)
        top = 0.0
        for i, (label, rs) in enumerate(by_run.items()):
            found = {r[group]: r for r in rs}
            x = np.arange(len(names)) + (i - (len(by_run) - 1) / 2) * width
            if group == "matrix":
                heights = [found[n]["kept_fraction"] if n in found else 0 for n in names]
                texts = [f"{h:.2f}" for h in heights]
            else:
                heights = [found[n]["dead"] / found[n]["units"] if n in found else 0 for n in names]
                texts = [f"{found[n]['dead']}/{found[n]['units']}" + (
                    f"\n({found[n]['never_active']} inactive)" if found[n]["never_active"] != "" else "")
                    if n in found else "" for n in names]
            bars = ax.bar(x, heights, width=width, color=f"C{i}", label=label)
            for bar, text in zip(bars, texts):
                ax.annotate(text, (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center",
                            va="bottom", fontsize=7)
            top = max([top] + heights)
        ax.set_ylim(0, max(top * 1.3, 0.05))
        ax.set_xticks(np.arange(len(names)))
        ax.set_xticklabels(names)
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=8, loc="upper right")
    return _save(fig, path)


def write_figures(out_dir, tables, metrics, info):
    """Every figure whose table is non-empty; returns the paths written."""
    files, ckpt = [], tables["checkpoints"]
    if tables["fourier_spectrum"]:
        files.append(plot_spectrum(os.path.join(out_dir, "fourier_spectrum.png"),
                                   tables["fourier_spectrum"], info))
    if "entropy_W_E" in ckpt[0]:
        files.append(plot_over_training(
            os.path.join(out_dir, "fourier_entropy.png"), ckpt, metrics,
            [("spectral entropy of W_E (nats, k >= 1)", [("entropy_W_E", "o-", "")]),
             ("mean entropy of each neuron's input W_in W_E", [("entropy_neuron_in_per_row", "o-", "")]),
             ("reference code's self cross-entropy (a slip)", [("reference_code_self_xent", "o-", "")])],
            "Fourier entropy over training (lower = sparser in frequency)", note=info.get("note")))
    if tables["jaccard"]:
        files.append(plot_jaccard(os.path.join(out_dir, "jaccard.png"), tables["jaccard"], metrics, info))
    if "graph_aspl" in ckpt[0]:
        files.append(plot_over_training(
            os.path.join(out_dir, "graph.png"), ckpt, metrics,
            [("average shortest path length (hops)", [("graph_aspl", "o-", "")]),
             ("weighted ASPL, edge length mean|w| / |w|", [("graph_aspl_len_inv_w", "o-", "")]),
             ("weighted ASPL, edge length |w| (networkx)", [("graph_aspl_len_w", "o-", "")]),
             ("bipartite clustering (Robins-Alexander)", [("graph_clustering", "o-", ""),
                                                          ("graph_clustering_random", "x:", " random mask")]),
             ("bipartite clustering (Latapy)", [("graph_clustering_latapy", "o-", ""),
                                               ("graph_clustering_latapy_random", "x:", " random mask")])],
            f"layered graph of the mask at each checkpoint (density {info['density']:.2f}; "
            "dotted black: a random mask on the final weights)",
            baseline=tables["graph_random_baseline"], note=info.get("note")))
    files.append(plot_progress(os.path.join(out_dir, "progress.png"), ckpt, metrics, info.get("note")))
    if tables["dead_neurons"]:
        files.append(plot_neurons(os.path.join(out_dir, "neurons.png"), tables["density_per_layer"],
                                  tables["dead_neurons"]))
    return files
