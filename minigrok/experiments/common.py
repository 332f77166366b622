"""What every `minigrok experiment NAME` shares: settings, seeds, the cached dense runs,
training masks (stacked or one by one), and the files written.

    OUT/dense_seed<s>/<model>_<op>_p<p>_<hash>/   one dense run per (settings, seed), trained
                                                  to the epoch cap (no early stop) with
                                                  checkpoints; reused, resumed or extended by
                                                  every experiment writing to the same OUT
    OUT/<name>/results.csv                        one row per (condition, seed): t_mem, t_gen
                                                  at 0.99 and 0.95, final test acc, extras
    OUT/<name>/summary.json                       settings, rows, mean / std / min / max of
                                                  t_gen per condition over seeds, notes
    OUT/<name>/metrics/<condition>_seed<s>.csv    the curves (train.METRIC_COLUMNS)
    OUT/<name>/<name>.png                         the figure

<hash> is the first 8 hex digits of the SHA-1 of the dense run's settings (everything but
the seed), so a change of any setting (lr, wd, epochs, eval_every, split, ...) gets its
own dense run and never mixes with a cached one. Tickets stop once their test accuracy
has held >= stop_threshold (0.99) for stop_after (1000) epochs, as in ticket.py.
"""
import hashlib
import json
import math
import os
import re
import statistics
import sys
import time

from .. import io
from ..backend import set_backend, to_device
from ..errors import MinigrokError
from ..masks import density as mask_density
from ..masks import ones_like
from ..models import MODELS
from ..runs import _write_metrics, build_run, with_defaults
from ..stacked import train_stacked
from ..ticket import TICKET_DEFAULTS, _run_or_resume
from ..train import grokking_times, train_loop

DEFAULT_SEEDS = (0, 1, 2)
DATA_KEYS = ("train_x", "train_y", "test_x", "test_y")
BASE_COLUMNS = ("condition", "seed", "density", "t_mem", "t_gen", "t_mem_0.95", "t_gen_0.95",
                "final_test_acc", "epochs_run")
TOKEN_MODELS = ("mlp", "transformer")


def say(text, quiet=False):
    """A progress line on stderr (stdout keeps the tables)."""
    if not quiet:
        print(f"[experiment] {text}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------------------
# settings and seeds

def parse_seeds(text):
    """'0,1,2' (or a list of ints) -> [0, 1, 2]; distinct integers >= 0, at least one."""
    if isinstance(text, (list, tuple)):
        values = list(text)
    else:
        try:
            values = [int(v) for v in str(text).split(",") if v.strip()]
        except ValueError:
            raise MinigrokError(f"--seeds {text!r} is not a comma-separated list of integers") from None
    if not values:
        raise MinigrokError("--seeds is empty: give at least one seed, e.g. 0,1,2")
    if any((not isinstance(v, int)) or v < 0 for v in values) or len(set(values)) != len(values):
        raise MinigrokError(f"--seeds {text!r} must be distinct integers >= 0")
    return values


def experiment_config(cfg):
    """cfg completed by the defaults, tickets stopping as ticket.py's; modular tasks only."""
    cfg = with_defaults({"stop_after": TICKET_DEFAULTS["stop_after"], **cfg})
    if cfg["task"] != "modular":
        raise MinigrokError(f"experiments run on the modular task, not {cfg['task']!r}")
    if cfg["model"] not in TOKEN_MODELS:
        raise MinigrokError(f"unknown model {cfg['model']!r} for experiments; allowed: "
                            f"{', '.join(m for m in TOKEN_MODELS if m in MODELS)}")
    set_backend(cfg["backend"])
    return cfg


def check_rates(rates, what="rate"):
    for r in rates:
        if not 0.0 <= r < 1.0:
            raise MinigrokError(f"{what} {r} is outside [0, 1) (the fraction of weights removed)")
    if len(set(rates)) != len(rates):
        raise MinigrokError(f"{what}s must not repeat a value: {rates}")
    return list(rates)


def ticket_hp(cfg, **changes):
    """Training settings of a ticket (or any retrained net): cfg with its early stop."""
    return {**cfg, "init": None, "mask": None, **changes}


# ----------------------------------------------------------------------------------------
# the dense run cache

def dense_config(cfg, seed):
    """The dense run's settings: trained to the cap, no early stop, no mask."""
    return {**cfg, "seed": seed, "init": None, "mask": None, "stop_after": None}


def dense_tag(cfg):
    """<model>_<op>_p<p>_<hash of every setting but the seed>."""
    settings = {k: v for k, v in cfg.items() if k != "seed"}
    digest = hashlib.sha1(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()
    return f"{cfg['model']}_{cfg['op']}_p{cfg['p']}_{digest[:8]}"


def dense_dir(out, cfg, seed):
    run_cfg = dense_config(cfg, seed)
    return os.path.join(out, f"dense_seed{seed}", dense_tag(run_cfg))


def dense_run(cfg, out, seed, quiet=False):
    """The cached dense run of (cfg, seed) under OUT/dense_seed<s>/ (trained if missing,
    resumed if interrupted, reused if finished). Returns {"model", "data" (host),
    "device_data", "theta_0", "params" (final), "metrics", "summary", "dir"}."""
    run_cfg = dense_config(cfg, seed)
    folder = dense_dir(out, cfg, seed)
    cached = os.path.isfile(os.path.join(folder, "summary.json"))
    say(f"dense seed {seed}: {'reusing' if cached else 'training'} {folder}", quiet)
    result = _run_or_resume(run_cfg, folder, f"dense {cfg['op']} seed {seed}", quiet)
    model, data, _, _ = build_run(run_cfg)
    theta_0 = io.load_params(os.path.join(folder, "init.npz"), model.PARAM_NAMES)
    return {**result, "model": model, "data": data, "device_data": device_data(data),
            "theta_0": theta_0, "seed": seed}


def device_data(data):
    return {k: to_device(data[k]) for k in DATA_KEYS}


def on_device(arrays):
    return None if arrays is None else {k: to_device(v) for k, v in arrays.items()}


# ----------------------------------------------------------------------------------------
# training

def train_group(model, jobs, hp, label, quiet=False):
    """Train jobs (dicts with "params" = effective initial weights, "masks" or None,
    "data" = host data) as one stacked model; returns one {"params", "metrics", "times"}
    per job. Dense jobs in a masked group get the all-ones mask (the same updates)."""
    if not jobs:
        return []
    masks = [j["masks"] for j in jobs]
    if all(m is None for m in masks):
        masks_list = None
    else:
        masks_list = [on_device(m if m is not None else ones_like(j["params"]))
                      for m, j in zip(masks, jobs)]
    return train_stacked(model, [on_device(j["params"]) for j in jobs],
                         [device_data(j["data"]) for j in jobs], hp, masks_list,
                         label=label, quiet=quiet)


def train_one(model, params, data, hp, masks=None, label="train", quiet=False):
    """One run with plain train_loop; same return shape as train_group's items."""
    params, _, metrics = train_loop(model, on_device(params), device_data(data), hp,
                                    on_device(masks), label=label, quiet=quiet)
    return {"params": params, "metrics": metrics, "times": grokking_times(metrics)}


def as_result(run):
    """A cached dense run in the shape of a training result."""
    return {"params": run["params"], "metrics": run["metrics"], "times": grokking_times(run["metrics"])}


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


def finish(name, out, cfg, seeds, rows, curves, t0, extra=None, plot=None, quiet=False):
    """Write OUT/<name>/{results.csv, summary.json, metrics/, <name>.png}; returns the summary.

    curves: {(condition, seed): metrics dict}; plot(summary, curves, path) draws the figure.
    """
    folder = os.path.join(out, name)
    for (cond, seed), metrics in curves.items():
        _write_metrics(os.path.join(folder, "metrics", f"{slug(cond)}_seed{seed}.csv"), metrics)
    columns = list(BASE_COLUMNS) + [c for r in rows for c in r if c not in BASE_COLUMNS]
    columns = list(dict.fromkeys(columns))
    write_csv_rows_with(os.path.join(folder, "results.csv"), rows, columns)
    summary = {"experiment": name, "config": cfg, "seeds": list(seeds),
               "dense_runs": sorted({dense_dir(out, cfg, s) for s in seeds}),
               "results": rows, "by_condition": aggregate(rows), **(extra or {}),
               "wall_time_s": time.perf_counter() - t0}
    io.save_json(os.path.join(folder, "summary.json"), summary)
    if plot is not None:
        plot(summary, curves, os.path.join(folder, f"{name}.png"))
    say(f"{name}: wrote {folder}/results.csv, summary.json, {name}.png", quiet)
    return summary


def write_csv_rows_with(path, rows, columns):
    """results.csv with the given columns ('' for a missing value or None)."""
    import csv
    import io as _io
    buf = _io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if row.get(c) is None else row[c] for c in columns])
    io._atomic_write(path, lambda f: f.write(buf.getvalue().encode()))


def format_table(summary):
    """condition | t_gen(0.99) mean +- std (reached/n) | t_gen(0.95) | final test acc."""
    def cell(s):
        if s["mean"] is None:
            return f"never (0/{s['n']})"
        return f"{s['mean']:.0f} +- {s['std']:.0f} ({s['reached']}/{s['n']})"
    lines = [f"{'condition':<28}{'t_gen@.99':>24}{'t_gen@.95':>24}{'final test':>11}"]
    for cond, agg in summary["by_condition"].items():
        lines.append(f"{cond:<28}{cell(agg['0.99']):>24}{cell(agg['0.95']):>24}"
                     f"{agg['final_test_acc']:>11.4f}")
    lines.append(f"mean +- std over the seeds that reached the threshold (reached/seeds); "
                 f"seeds {summary['seeds']}, wall time {summary['wall_time_s']:.0f}s")
    return "\n".join(lines)


def eval_grid(every, epochs):
    """An eval interval dividing every report epoch (the gcd), for runs read at fixed epochs."""
    return math.gcd(every, *epochs) if epochs else every
