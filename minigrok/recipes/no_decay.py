"""no-decay: grokking tickets trained without weight decay, and the critical pruning rate.

1. Tickets at rates 0.7, 0.8, 0.9 (--rates) trained with wd = 0 (stacked, all seeds),
   each stopping once its test accuracy has held the grok threshold for stop_after epochs.
2. The critical rate: the largest rate on a 0.01 grid whose wd = 0 ticket still "groks"
   within the epoch cap, i.e. reaches test accuracy >= --grok-threshold (default 0.95, the
   paper's latest threshold: a wd = 0 ticket of the reference code reaches ~0.97, never 0.99).
   The paper scans up from 0.80 in steps of 0.01 (and finds 0.81). We assume, as that
   scan does, that grokking fails for every rate above the first failing one, and bisect
   the 0.01 grid between the largest grokking and the smallest failing rate of step 1
   (each seed on its own; the probes of one round train as one stacked model and stop at
   the threshold). Same answer as the scan, in log2(#grid points) rounds instead of one
   run per grid point. No rate of step 1 groks: the critical rate is reported as None
   (below the smallest rate); the largest rate groks: the search goes up to 0.99.
3. The ticket at each seed's critical rate, trained with wd = 1 (cfg's wd) and wd = 0,
   logged as often as cfg asks (steps 1 and 2 log every 10 epochs: pass / fail only).
"""
import time

from ..errors import MinigrokError
from ..figures import plotter
from ..fmt import fmt_count, fmt_rate
from ..pruning.magnitude import magnitude_prune
from ..settings import check_setting
from .common import (check_rates, dense_runs, finish, format_table, result_row, say, ticket_hp,
                     train_masked)

NAME = "no-decay"
OPTIONS = ("rate", "rates", "grok_threshold")  # the options it takes besides the training settings
RATES = (0.7, 0.8, 0.9)
STEP = 0.01
SEARCH_EVAL_EVERY = 10


def bracket(groks_by_rate):
    """(good, bad) from {rate: groks?}: the largest grokking rate below the first failing
    one (None if the smallest fails), and that first failing rate (None if none fails)."""
    good = bad = None
    for rate in sorted(groks_by_rate):
        if groks_by_rate[rate]:
            good = rate
        else:
            bad = rate
            break
    return good, bad


def critical_rate_search(evaluate, brackets, step=STEP, top=1.0):
    """Bisect each seed's bracket on the grid k * step. brackets: {seed: (good, bad)};
    evaluate({seed: rate}) -> {seed: groks?}, called once per round with every seed still
    searching. Returns ({seed: critical rate or None}, [(seed, rate, groks), ...] probes).
    A bad of None stands for `top` (rate 1.0: no weight left, never groks)."""
    lo, hi = {}, {}
    for s, (good, bad) in brackets.items():
        lo[s] = None if good is None else round(good / step)
        hi[s] = round((top if bad is None else bad) / step)
    probes = []
    while True:
        asked = {s: round((lo[s] + hi[s]) // 2 * step, 10) for s in lo
                 if lo[s] is not None and hi[s] - lo[s] > 1}
        if not asked:
            break
        answers = evaluate(asked)
        for s, rate in asked.items():
            probes.append((s, rate, bool(answers[s])))
            if answers[s]:
                lo[s] = round(rate / step)
            else:
                hi[s] = round(rate / step)
    return {s: None if lo[s] is None else round(lo[s] * step, 10) for s in lo}, probes


def _jobs(dense, rate_by_seed):
    jobs = []
    for s, rate in rate_by_seed.items():
        masks = magnitude_prune(dense[s]["params"], rate=rate)
        jobs.append({"seed": s, "rate": rate, "masks": masks, "params": dense[s]["theta_0"]})
    return jobs


def check(cfg, seeds, opts):
    threshold = f"{float(check_setting('grok_threshold', opts.get('grok_threshold', 0.95))):g}"
    if threshold not in ("0.95", "0.99"):
        raise MinigrokError(f"--grok-threshold {threshold} is not allowed: use 0.95 or 0.99")
    return {**opts, "rates": check_rates(opts.get("rates") or RATES), "grok_threshold": threshold}


def run(cfg, where, folder, seeds, opts, quiet=False):
    rates, threshold = opts["rates"], opts["grok_threshold"]
    t0 = time.perf_counter()
    dense = dense_runs(cfg, where, seeds, quiet)
    rows, curves, dirs = [], {}, [d["dir"] for d in dense.values()]

    def record(cond, job, result, **extra):
        rows.append(result_row(cond, job["seed"], result, job["masks"], rate=job["rate"], **extra))
        curves[(cond, job["seed"])] = result["metrics"]

    for s in seeds:
        record("dense wd=1", {"seed": s, "rate": 0.0, "masks": None}, dense[s],
               weight_decay=cfg["weight_decay"])
    jobs = [j for r in rates for j in _jobs(dense, {s: r for s in seeds})]
    say(f"{NAME}: {fmt_count(len(jobs), 'ticket')} with wd=0", quiet)
    # A wd = 0 ticket plateaus near 0.97, never 0.99: it stops once it has held the grok
    # threshold for stop_after epochs (wd = 1 tickets keep the usual 0.99 stop). Steps 1
    # and 2 log every SEARCH_EVAL_EVERY epochs: t_gen to 10 epochs, since evaluating
    # every epoch would cost more than the training steps.
    every = max(cfg["eval_every"], SEARCH_EVAL_EVERY)
    wd0_hp = ticket_hp(cfg, weight_decay=0.0, stop_threshold=float(threshold), eval_every=every)
    for job, result in zip(jobs, train_masked(jobs, wd0_hp, where, "wd=0 tickets", quiet)):
        dirs.append(result["dir"])
        record(f"wd=0 rate={fmt_rate(job['rate'])}", job, result, weight_decay=0.0)

    def groks(result):
        return result["times"][threshold]["t_gen"] is not None

    brackets = {s: bracket({row["rate"]: row[_col(threshold)] is not None for row in rows
                            if row["seed"] == s and row["condition"].startswith("wd=0")})
                for s in seeds}
    search_hp = {**wd0_hp, "stop_after": 0}

    def evaluate(asked):
        say(f"{NAME}: critical-rate probes {asked}", quiet)
        probe_jobs = _jobs(dense, asked)
        results = train_masked(probe_jobs, search_hp, where, "wd=0 probes", quiet)
        for job, result in zip(probe_jobs, results):
            dirs.append(result["dir"])
            rows.append(result_row(f"probe wd=0 rate={fmt_rate(job['rate'])}", job["seed"], result,
                                   job["masks"], rate=job["rate"], weight_decay=0.0))
        return {j["seed"]: groks(r) for j, r in zip(probe_jobs, results)}

    critical, probes = critical_rate_search(evaluate, brackets)
    found = {s: r for s, r in critical.items() if r is not None}
    critical_hp = {cfg["weight_decay"]: ticket_hp(cfg), 0.0: {**wd0_hp, "eval_every": cfg["eval_every"]}}
    for wd, hp in critical_hp.items():
        crit_jobs = _jobs(dense, found)
        for job, result in zip(crit_jobs, train_masked(crit_jobs, hp, where, f"critical wd={wd:g}", quiet)):
            dirs.append(result["dir"])
            record(f"critical wd={wd:g}", job, result, weight_decay=wd)
    values = list(found.values())
    extra = {"rates": rates, "grok_threshold": threshold, "brackets": brackets,
             "critical_rate": critical, "probes": probes, "paper_critical_rate": 0.81,
             "critical_rate_mean": sum(values) / len(values) if values else None,
             "critical_rate_range": [min(values), max(values)] if values else None}
    return finish(NAME, folder, cfg, seeds, rows, curves, t0, extra=extra,
                  plot=plotter("tickets without weight decay; critical rate"), runs=dirs,
                  quiet=quiet)


def report(summary):
    """The table, then each seed's critical rate (None: below the smallest rate tried)."""
    below = f"below {fmt_rate(min(summary['rates']))}"
    per_seed = ", ".join(f"seed {s} {below if r is None else fmt_rate(r)}"
                         for s, r in summary["critical_rate"].items())
    mean = summary["critical_rate_mean"]
    return (format_table(summary) + f"\ncritical rate without weight decay "
            f"(t_gen@{summary['grok_threshold']}): {per_seed}; "
            f"mean {'n/a' if mean is None else f'{mean:.2f}'} (paper 0.81)")


def _col(threshold):
    return "t_gen" if threshold == "0.99" else f"t_gen_{threshold}"
