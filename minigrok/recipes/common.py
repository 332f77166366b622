"""What the recipes share: seeds, the dense runs and retrained masks as units of the run
store, result rows, aggregates over seeds and the report files.

Every run a recipe trains is a unit of the store under ROOT/runs/ (runs.unit_folder):
named by what it is and a prefix of its run key, reused only when the key matches, and
resumed after a kill. Recipes writing to the same ROOT share their dense runs (`ticket`,
`sweep` and every `experiment` with one --out reuse each other's).

`where` = {"root": ROOT, "pool": an executor (parallel.py), "parallel": bool}: with
parallel, units that are not on disk yet are trained by the pool's workers (one unit
each) and read back from the store; without, in this process, stacked where asked. The
numbers are the same either way, bit for bit.

    ROOT/runs/<model>-<op>-p<p>-seed<s>-dense-<key>/   a dense run, trained to the epoch cap
    ROOT/runs/<model>-<op>-p<p>-seed<s>-d<density>-<key>/   a retrained mask (ticket, ...)
    FOLDER/results.csv                one row per (condition, seed): t_mem, t_gen at 0.99
                                      and 0.95, final test acc, extras
    FOLDER/summary.json               settings, rows, mean / std / min / max of t_gen per
                                      condition over seeds, the run folders used
    FOLDER/metrics/<condition>_seed<s>.csv   the curves (io.METRIC_COLUMNS)
    FOLDER/<name>.png                 the figure
"""
import math
import os
import re
import statistics
import sys
import time

from .. import store
from ..backend import to_device
from ..errors import MinigrokError
from ..fmt import fmt_acc
from ..parallel import run_units
from ..masks import density as mask_density
from ..runs import fork_run, plan, stored_sibling, train_runs, unit_folder, with_defaults
from ..settings import check_setting
from ..threads import blas_info
from ..train import DATA_KEYS, grokking_times

DEFAULT_SEEDS = (0, 1, 2)
TICKET_STOP_AFTER = 1000  # tickets stop once test accuracy has held the threshold this long
BASE_COLUMNS = ("condition", "seed", "density", "t_mem", "t_gen", "t_mem_0.95", "t_gen_0.95",
                "final_test_acc", "epochs_run")


def say(text, quiet=False):
    """A progress line on stderr (stdout keeps the tables)."""
    if not quiet:
        print(f"[minigrok] {text}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------------------
# settings and seeds

def parse_list(text, kind, what):
    """'0.1,0.2' (or a list) -> [0.1, 0.2] (kind float or int), distinct, with one-line errors."""
    if isinstance(text, (list, tuple)):
        values = list(text)
    else:
        try:
            values = [kind(v) for v in str(text).split(",") if v.strip()]
        except ValueError:
            raise MinigrokError(f"{what} {text!r} is not a comma-separated list of {kind.__name__}s") from None
    if not values:
        raise MinigrokError(f"{what} is empty")
    if len(set(values)) != len(values):
        raise MinigrokError(f"{what} {text!r} repeats a value")
    return values


def parse_seeds(text):
    """'0,1,2' (or a list of ints) -> [0, 1, 2]; distinct integers >= 0, at least one."""
    values = parse_list(text, int, "--seeds")
    for v in values:
        check_setting("seed", v)
    return values


def recipe_config(cfg):
    """cfg completed by the defaults, tickets stopping once they have held the threshold."""
    return with_defaults({"stop_after": TICKET_STOP_AFTER, **cfg})


def check_rates(rates, what="rate"):
    for r in rates:
        check_setting("rate", r)
    if len(set(rates)) != len(rates):
        raise MinigrokError(f"{what}s must not repeat a value: {rates}")
    return list(rates)


def ticket_hp(cfg, **changes):
    """Training settings of a ticket (or any retrained net): cfg with its early stop."""
    return {**cfg, "init": None, "mask": None, **changes}


def dense_config(cfg, seed, stop_after=None):
    """The dense run's settings: no mask, trained to the cap unless stop_after is given."""
    return {**cfg, "seed": seed, "init": None, "mask": None, "stop_after": stop_after}


# ----------------------------------------------------------------------------------------
# training units

def train_units(units, where, label, quiet=False, stacked=False):
    """The results (store.load_result) of units [{"spec", "dir"}], trained where needed:
    by the pool's workers when `where` is parallel and more than one unit is not on disk
    yet, then all read back from the store; else here, stacked if asked."""
    todo = [u for u in units if not (store.is_run(u["dir"]) and
                                     store.decide(u["dir"], u["spec"])["action"] == "done")]
    if where.get("parallel") and len(todo) > 1:
        run_units(where["pool"], [{"cfg": u["spec"]["cfg"], "params0": u["spec"]["params"],
                                   "masks": u["spec"]["masks"], "dir": u["dir"],
                                   "label": os.path.basename(u["dir"])} for u in todo],
                  label=label, quiet=quiet)
    return train_runs(units, stacked=stacked, label=label, quiet=quiet)


def train_dense(cfgs, where, quiet=False, start_from=None):
    """{key: the dense run of cfgs[key]} in ROOT/runs/ (trained if missing, resumed if
    interrupted, reused if finished; all of them at once through train_units):
    {"model", "data", "theta_0", "params" (final), "metrics", "summary", "dir", "seed"},
    arrays on the host. A new run that differs from a run already in ROOT/runs/ only in
    when it stops (the ticket's dense run and an experiment's, one pruned once it has
    held the threshold, the other at the cap) starts from that run's checkpoint
    (runs.fork_run): the same numbers, fewer epochs. start_from: {key: the folder of such
    a run} to start from, instead of looking (runs.stored_sibling)."""
    specs = {k: plan(c) for k, c in cfgs.items()}
    units = [{"spec": spec, "dir": unit_folder(where["root"], spec)} for spec in specs.values()]
    for k, u in zip(specs, units):
        source = (start_from or {}).get(k)
        if source is None and not store.is_run(u["dir"]):
            source = stored_sibling(u["spec"], u["dir"])
        started = fork_run(u["spec"], u["dir"], source) if source else None
        if started is not None:
            say(f"dense: {u['dir']} starts from epoch {started} of {source}", quiet)
        else:
            say(f"dense: {'reusing' if store.is_run(u['dir']) else 'training'} {u['dir']}", quiet)
    results = train_units(units, where, "dense", quiet)
    return {k: {**r, "model": spec["model"], "data": spec["data"], "theta_0": spec["params"],
                "seed": spec["cfg"]["seed"], "times": grokking_times(r["metrics"])}
            for (k, spec), r in zip(specs.items(), results)}


def dense_runs(cfg, where, seeds, quiet=False, stop_after=None):
    """{seed: the dense run of (cfg, seed)} (train_dense)."""
    return train_dense({s: dense_config(cfg, s, stop_after) for s in seeds}, where, quiet)


def train_masked(jobs, hp, where, label, quiet=False, stacked=True):
    """Train each job {"seed", "params" (theta_0 or any start), "masks" (or None), and
    optionally its own "hp"} with the settings hp as a unit of ROOT/runs/ (see
    train_units; stacked=True stacks those trained here). Jobs of the same run key (the
    same start, mask and settings) share one run. Returns one {"params", "metrics",
    "times", "dir"} per job."""
    if not jobs:
        return []
    units = [{"spec": plan({**j.get("hp", hp), "seed": j["seed"]}, params0=j["params"], masks=j["masks"])}
             for j in jobs]
    for u in units:
        u["dir"] = unit_folder(where["root"], u["spec"])
    unique = list({u["dir"]: u for u in units}.values())  # two jobs of one run key: one run
    results = train_units(unique, where, label, quiet, stacked)
    by_dir = {r["dir"]: r for r in results}
    return [{**by_dir[u["dir"]], "times": grokking_times(by_dir[u["dir"]]["metrics"])} for u in units]


def train_one(params, seed, hp, masks, where, label, quiet=False):
    """One unit trained on its own (see train_masked)."""
    return train_masked([{"seed": seed, "params": params, "masks": masks}], hp, where, label,
                        quiet, stacked=False)[0]


def device_data(data):
    return {k: to_device(data[k]) for k in DATA_KEYS}


def on_device(arrays):
    return None if arrays is None else {k: to_device(v) for k, v in arrays.items()}


# ----------------------------------------------------------------------------------------
# rows, aggregates, files

def result_row(condition, seed, result, masks=None, **extra):
    """One results.csv row; masks None = dense (density 1)."""
    times, m = result["times"], result["metrics"]
    return {"condition": condition, "seed": seed,
            "density": 1.0 if masks is None else mask_density(masks),
            "t_mem": times["0.99"]["t_mem"], "t_gen": times["0.99"]["t_gen"],
            "t_mem_0.95": times["0.95"]["t_mem"], "t_gen_0.95": times["0.95"]["t_gen"],
            "final_test_acc": float(m["test_acc"][-1]), "epochs_run": int(m["epoch"][-1]), **extra}


def stats(values):
    """mean / std (sample, 0 for one value) / min / max over the values reached."""
    reached = [v for v in values if v is not None]
    out = {"values": values, "reached": len(reached), "n": len(values)}
    if reached:
        out.update(mean=statistics.fmean(reached), min=min(reached), max=max(reached),
                   std=statistics.stdev(reached) if len(reached) > 1 else 0.0)
    else:
        out.update(mean=None, std=None, min=None, max=None)
    return out


def spread(values, fmt):
    """'median M [Q1-Q3] (min-max)', quartiles by linear interpolation between the values."""
    q1, median, q3 = (statistics.quantiles(values, n=4, method="inclusive") if len(values) > 1
                      else values * 3)
    return f"median {fmt(median)} [{fmt(q1)}-{fmt(q3)}] ({fmt(min(values))}-{fmt(max(values))})"


def aggregate(rows):
    """{condition: {"0.99": stats of t_gen, "0.95": ..., "final_test_acc": mean}} in row order."""
    out = {}
    for cond in dict.fromkeys(r["condition"] for r in rows):
        mine = [r for r in rows if r["condition"] == cond]
        out[cond] = {"0.99": stats([r["t_gen"] for r in mine]),
                     "0.95": stats([r["t_gen_0.95"] for r in mine]),
                     "final_test_acc": statistics.fmean(r["final_test_acc"] for r in mine)}
    return out


def slug(text):
    return re.sub(r"[^A-Za-z0-9.+=-]+", "_", str(text)).strip("_")


def finish(name, folder, cfg, seeds, rows, curves, t0, extra=None, plot=None, runs=(), quiet=False):
    """Write FOLDER/{results.csv, summary.json, metrics/, <name>.png}; returns the summary.

    curves: {(condition, seed): metrics dict}; plot(summary, curves, path) draws the figure;
    runs: the run folders the results were read from (recorded in the summary).
    """
    columns = list(dict.fromkeys(list(BASE_COLUMNS) + [c for r in rows for c in r]))
    summary = {"experiment": name, "config": {k: v for k, v in cfg.items() if k != "seed"},  # seeds: below
               "seeds": list(seeds), "blas_threads": blas_info().get("threads"),
               "runs": sorted({os.path.relpath(r, folder) for r in runs}),
               "results": rows, "by_condition": aggregate(rows), **(extra or {}),
               "wall_time_s": time.perf_counter() - t0}
    from . import every_report_file
    figure = f"{name}.png"
    store.save_report(folder, summary, rows, columns,
                      {f"{slug(cond)}_seed{seed}": m for (cond, seed), m in curves.items()},
                      replaces=every_report_file())
    if plot is not None:
        plot(summary, curves, os.path.join(folder, figure))
    say(f"{name}: wrote {folder}/results.csv, summary.json, {name}.png", quiet)
    return summary


def format_table(summary):
    """condition | t_gen(0.99) mean +- std (reached/n) | t_gen(0.95) | final test acc."""
    def cell(s):
        if s["mean"] is None:
            return f"never (0/{s['n']})"
        return f"{s['mean']:.0f} +- {s['std']:.0f} ({s['reached']}/{s['n']})"
    lines = [f"{'condition':<28}{'t_gen@.99':>24}{'t_gen@.95':>24}{'final test':>11}"]
    for cond, agg in summary["by_condition"].items():
        lines.append(f"{cond:<28}{cell(agg['0.99']):>24}{cell(agg['0.95']):>24}"
                     f"{fmt_acc(agg['final_test_acc']):>11}")
    lines.append(f"mean +- std over the seeds that reached the threshold (reached/seeds); "
                 f"seeds {summary['seeds']}, wall time {summary['wall_time_s']:.0f}s")
    return "\n".join(lines)


def eval_grid(every, epochs):
    """An eval interval dividing every report epoch (the gcd), for runs read at fixed epochs."""
    return math.gcd(every, *epochs) if epochs else every
