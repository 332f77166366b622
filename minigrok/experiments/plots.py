"""The experiments' figures: test accuracy curves (every seed, one colour per condition)
next to t_gen per condition (mean +- std over seeds, one dot per seed, 'x' = never
reached within the run); an experiment may add panels (norm-control's norm curves)."""
from ..io import _atomic_write


def _pyplot():
    """matplotlib.pyplot on the Agg backend, imported only when a figure is drawn."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _curves(ax, summary, curves, column="test_acc", ylabel="test accuracy", log_y=False):
    colours = {c: f"C{i % 10}" for i, c in enumerate(summary["by_condition"])}
    shown = set()
    for (cond, seed), m in curves.items():
        if cond not in colours:
            continue
        label = None if cond in shown else cond
        shown.add(cond)
        ax.plot([e + 1 for e in m["epoch"]], m[column], color=colours[cond], lw=1.1,
                alpha=0.85, label=label)
    ax.set_xscale("log")
    if log_y:
        ax.set_yscale("log")
    ax.set_xlabel("epoch + 1")
    ax.set_ylabel(ylabel)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=6, loc="best")


def _t_gen_bars(ax, summary, threshold="0.99"):
    conds = list(summary["by_condition"])
    cap = summary["config"]["epochs"]
    for i, cond in enumerate(conds):
        s = summary["by_condition"][cond][threshold]
        if s["mean"] is not None:
            ax.bar(i, s["mean"], yerr=s["std"], color=f"C{i % 10}", alpha=0.6, capsize=3)
        for v in s["values"]:
            if v is None:
                ax.plot(i, cap, "kx")
            else:
                ax.plot(i, v, "k.", ms=4)
    ax.set_xticks(range(len(conds)))
    ax.set_xticklabels(conds, rotation=45, ha="right", fontsize=7)
    ax.set_yscale("log")
    ax.set_ylabel(f"t_gen (test acc >= {threshold})")
    ax.grid(True, axis="y", which="both", alpha=0.3)


def plot_experiment(summary, curves, path, title="", extra_panels=()):
    """Accuracy curves | t_gen at 0.99 | t_gen at 0.95 | extra panels (each f(ax))."""
    plt = _pyplot()
    n = 3 + len(extra_panels)
    fig, axes = plt.subplots(1, n, figsize=(4.6 * n, 4.4))
    _curves(axes[0], summary, curves)
    axes[0].set_ylim(-0.02, 1.02)
    _t_gen_bars(axes[1], summary, "0.99")
    _t_gen_bars(axes[2], summary, "0.95")
    for ax, panel in zip(axes[3:], extra_panels):
        panel(ax)
    cfg = summary["config"]
    ops = ",".join(summary.get("ops") or [cfg["op"]])  # the ops experiment runs several
    fig.suptitle(f"{title}  ({cfg['model']}, p={cfg['p']}, {ops}, {cfg['split']} split, seeds "
                 f"{summary['seeds']}; x = never)", fontsize=10)
    fig.tight_layout()
    _atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=100))
    plt.close(fig)


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
