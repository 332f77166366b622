"""`minigrok experiment NAME`: the control experiments of the grokking-tickets papers, one
small module each, sharing the cached dense runs and the output format of common.py.

    rate-sweep    ticket t_gen vs pruning rate 0.0 ... 0.9                 (stacked)
    no-decay      wd = 0 tickets, the critical rate, its ticket with / without wd (stacked)
    non-grokking  masks from dense checkpoints before grokking vs the grokked one (stacked)
    norm-control  ticket vs L1- / L2-norm-matched dense nets
    pai           ticket vs random, SNIP, GraSP, SynFlow (both variants)      (stacked)
    edge-popup    Table 1: wd only / EP w/o wd / EP + wd from the memorising weights
    imp           iterative magnitude pruning levels vs one-shot
    ops           dense vs ticket t_gen and speed-up for every modular operation
"""
import time

from ..errors import MinigrokError
from . import edge_popup, imp, no_decay, non_grokking, norm_control, ops, pai, rate_sweep
from .common import DEFAULT_SEEDS, experiment_config, format_table, parse_seeds

EXPERIMENTS = {m.NAME: m for m in (rate_sweep, no_decay, non_grokking, norm_control, pai,
                                   edge_popup, imp, ops)}


def run_experiment(name, cfg, out="runs/experiments", seeds=DEFAULT_SEEDS, opts=None, quiet=False):
    """Run experiment `name` with training settings cfg (runs.TRAIN_DEFAULTS keys) into
    OUT/<name>/; returns its summary dict. opts: the experiment's own options (rate,
    rates, at, ops, from_epoch, ep_epochs, ep_lr, grok_threshold, scope)."""
    if name not in EXPERIMENTS:
        raise MinigrokError(f"unknown experiment {name!r}; allowed: {', '.join(EXPERIMENTS)}")
    cfg = experiment_config(cfg)
    seeds = parse_seeds(seeds)
    opts = dict(opts or {})
    rate = opts.get("rate", 0.6)
    if not 0.0 < rate < 1.0:
        raise MinigrokError(f"--rate {rate} is outside (0, 1) (the fraction of weights removed)")
    t0 = time.perf_counter()
    summary = EXPERIMENTS[name].run(cfg, out, seeds, opts, quiet)
    summary.setdefault("wall_time_s", time.perf_counter() - t0)
    return summary


def report(summary):
    """The text printed after an experiment: the common table, plus its own table if any."""
    text = format_table(summary)
    if summary["experiment"] == "ops":
        text += "\n\n" + ops.format_ops_table(summary)
    elif summary["experiment"] == "edge-popup":
        text += "\n\n" + edge_popup.format_table1(summary)
    elif summary["experiment"] == "no-decay":
        text += (f"\ncritical rate without weight decay (t_gen@{summary['grok_threshold']}): "
                 f"{summary['critical_rate']} (paper 0.81)")
    elif summary["experiment"] == "rate-sweep" and summary["fastest"]:
        f = summary["fastest"]
        text += f"\nfastest rate {f['rate']:g}: mean t_gen {f['mean_t_gen']:.0f}, speed-up {f['mean_speedup']}"
    return text


__all__ = ["EXPERIMENTS", "run_experiment", "report", "parse_seeds"]
