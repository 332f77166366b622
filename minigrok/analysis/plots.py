"""Plots of runs (matplotlib, Agg backend: works without a screen)."""
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ..io import _atomic_write  # noqa: E402


def plot_accuracy_curves(runs, path, title="", ylabel="accuracy"):
    """Train (dashed) and test (solid) accuracy (or R^2: ylabel) vs epoch, log x, one
    colour per run; the axis is cut at [0, 1].

    runs: {label: metrics dict with 'epoch', 'train_acc', 'test_acc'}.
    """
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for i, (label, m) in enumerate(runs.items()):
        colour = f"C{i}"
        epochs = [e + 1 for e in m["epoch"]]  # log axis: plot epoch n at n + 1
        ax.plot(epochs, m["train_acc"], "--", color=colour, lw=1.2, label=f"{label} train")
        ax.plot(epochs, m["test_acc"], "-", color=colour, lw=1.6, label=f"{label} test")
    ax.set_xscale("log")
    ax.set_xlabel("epoch + 1")
    ax.set_ylabel(ylabel)
    ax.set_ylim(-0.02, 1.02)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    _atomic_write(path, lambda f: fig.savefig(f, format=os.path.splitext(path)[1][1:] or "png", dpi=120))
    plt.close(fig)


def plot_attention_patterns(patterns, p, path, title=""):
    """Heat maps of the attention the last position pays to the first token a, over all
    inputs (a, b): one panel per run. patterns: {label: array (p, p)} with entry [a, b] =
    att[query = last, key = first] for the input [a, b] (the rest, 1 - that, goes to b)."""
    fig, axes = plt.subplots(1, len(patterns), figsize=(4.2 * len(patterns), 3.8), squeeze=False)
    for ax, (label, weight_on_a) in zip(axes[0], patterns.items()):
        image = ax.imshow(weight_on_a, cmap="viridis", origin="lower")  # colours span its range
        ax.set_title(f"{label}: attention to a, {weight_on_a.min():.3f}-{weight_on_a.max():.3f}",
                     fontsize=9)
        ax.set_xlabel("b")
        ax.set_ylabel("a")
        fig.colorbar(image, ax=ax, fraction=0.046)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    _atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=110))
    plt.close(fig)
