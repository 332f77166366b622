"""Recipes: what `minigrok ticket`, `minigrok sweep` and `minigrok experiment NAME` run.
Each is a module with NAME, check(cfg, seeds, opts) -> opts (its own options' checks,
nothing written; optional), run(cfg, root, folder, seeds, opts, quiet) -> summary and report(summary) -> the
text printed. Every run they train is a unit of the run store under ROOT/runs/
(common.py), so recipes sharing ROOT share their dense runs and rerun idempotently.

    ticket        dense run, magnitude mask, rewind, ticket run (the main job)
    rate-sweep    ticket t_gen vs pruning rate 0.0 ... 0.9 (`minigrok sweep`)   (stacked)
    no-decay      wd = 0 tickets, the critical rate, its ticket with / without wd (stacked)
    non-grokking  masks from dense checkpoints before grokking vs the grokked one (stacked)
    norm-control  ticket vs L1- / L2-norm-matched dense nets
    pai           ticket vs random, SNIP, GraSP, SynFlow (both variants)      (stacked)
    edge-popup    Table 1: wd only and edge-popup in three settings from the memorising weights
    imp           iterative magnitude pruning levels vs one-shot
    ops           dense vs ticket t_gen and speed-up for every modular operation
    when-to-prune tickets of many seeds pruned at the cap, N epochs after grokking, later
"""
import os
import time

from .. import io, store
from ..errors import MinigrokError
from ..models import get_model
from ..parallel import executor
from ..threads import DEFAULT_THREADS, set_blas_threads
from ..pruning.magnitude import check_kept
from ..runs import TOKEN_MODELS, check_hyperparameters
from ..settings import check_setting
from . import (edge_popup, imp, no_decay, non_grokking, norm_control, ops, pai, rate_sweep,
               ticket, when_to_prune)
from .common import DEFAULT_SEEDS, parse_seeds, recipe_config

RECIPES = {m.NAME: m for m in (ticket, rate_sweep, no_decay, non_grokking, norm_control, pai,
                               edge_popup, imp, ops, when_to_prune)}
EXPERIMENTS = tuple(name for name in RECIPES if name != "ticket")


def resolve(name, cfg, seeds, opts):
    """Recipe `name`'s settings with every default filled in and checked, nothing read or
    written: (recipe, cfg, seeds, opts), opts holding every option the recipe takes (None
    where unset). What a results record pins (settings_record)."""
    if name not in RECIPES:
        raise MinigrokError(f"unknown experiment {name!r}; allowed: {', '.join(EXPERIMENTS)}")
    recipe = RECIPES[name]
    cfg = recipe_config(cfg)
    check_hyperparameters(cfg)  # the training settings first, then the recipe's own
    any_task = getattr(recipe, "ANY_TASK", False)
    if not any_task and cfg["task"] != "modular":
        raise MinigrokError(f"the {name} experiment runs on the modular task, not {cfg['task']!r}")
    if not any_task and cfg["model"] not in TOKEN_MODELS:
        raise MinigrokError(f"model {cfg['model']!r} does not run the experiments: use "
                            f"{' or '.join(TOKEN_MODELS)}")
    seeds = parse_seeds(seeds)
    opts = dict(opts or {})
    unknown = sorted(set(opts) - set(recipe.OPTIONS))
    if unknown:
        raise MinigrokError(f"{name} does not take {', '.join(unknown)}; it takes "
                            f"{', '.join(recipe.OPTIONS)}")
    if "rate" in recipe.OPTIONS and check_setting("rate", opts.setdefault("rate", 0.6)) == 0:
        raise MinigrokError("rate = 0 is not allowed here: a ticket needs a rate in (0, 1)")
    opts = recipe.check(cfg, seeds, opts) if hasattr(recipe, "check") else opts
    return recipe, cfg, seeds, {key: opts.get(key) for key in recipe.OPTIONS}


def settings_record(name, cfg, seeds, opts):
    """What recipe `name` runs for these settings, as plain JSON values: {"recipe", "config"
    (the training settings, defaults filled in), "model" (the model's widths, its defaults
    unless cfg sets them), "seeds", "options" (every option the recipe takes)}."""
    _, cfg, seeds, opts = resolve(name, cfg, seeds, opts)
    model = get_model(cfg["model"])
    widths = {k: cfg.get(k, v) for k, v in getattr(model, "DEFAULTS", {}).items()}
    return io.as_json({"recipe": name, "config": cfg, "model": widths, "seeds": seeds,
                       "options": opts})


def run_recipe(name, cfg, root, folder=None, seeds=DEFAULT_SEEDS, opts=None, quiet=False,
               workers=1, scheduler=None, blas_threads=DEFAULT_THREADS):
    """Check everything, then run recipe `name` with training settings cfg, its units in
    ROOT/runs/ and its report in folder (default ROOT/<name>/), holding folder's lock.
    workers > 1 (local processes) or scheduler (a Dask address) train independent units
    in parallel (parallel.py); this process's BLAS gets blas_threads threads, as every
    worker's (threads.py). Returns the summary dict (also in folder/summary.json)."""
    set_blas_threads(check_setting("blas_threads", blas_threads))
    recipe, cfg, seeds, opts = resolve(name, cfg, seeds, opts)
    from ..runs import plan
    spec = plan({**cfg, "seed": seeds[0]})  # the settings themselves: every check, nothing written
    check_setting("workers", workers)
    if scheduler is not None and not (isinstance(scheduler, str) and scheduler):
        raise MinigrokError(f"scheduler = {scheduler!r} is not allowed: give a Dask address such as tcp://HOST:8786")
    for rate in [opts.get("rate") or 0.0, *(opts.get("rates") or [])]:  # every mask keeps some weight
        check_kept(spec["params"], 1 - check_setting("rate", rate), opts.get("scope") or "global")
    folder = folder or os.path.join(root, name)
    store.check_output_folder(root)
    store.check_output_folder(folder)
    if hasattr(recipe, "check_store"):  # what the recipe needs of runs already on disk
        recipe.check_store(cfg, root, seeds, opts)
    os.makedirs(folder, exist_ok=True)
    handle = store.open_for_writing(folder)
    try:
        t0 = time.perf_counter()
        with executor(workers, scheduler) as pool:
            where = {"root": root, "pool": pool, "parallel": workers > 1 or scheduler is not None}
            summary = recipe.run(cfg, where, folder, seeds, opts, quiet)
        summary.setdefault("wall_time_s", time.perf_counter() - t0)
        return summary
    finally:
        store.unlock(handle)


def every_report_file():
    """The files a recipe may write into its report folder besides summary.json,
    results.csv and metrics/ (report_files), and `minigrok analyze`'s analysis/ of it: a
    new report removes them all first (store.clear_report), since `ticket` and `sweep`
    given one --out share the folder."""
    return sorted({"mask.npz", "accuracy.png", "attention.png", "analysis",
                   *(f"{name}.png" for name in RECIPES)})


def report(summary):
    """The text printed after an experiment (its recipe's report)."""
    return RECIPES[summary.get("experiment", "ticket")].report(summary)


def report_files(name, summary):
    """The files recipe `name` wrote into its report folder for this summary."""
    if name == "ticket":
        return ["summary.json", "mask.npz", "accuracy.png"] + (
            ["attention.png"] if summary["config"]["model"] == "transformer" else [])
    return ["results.csv", "summary.json", "metrics/", f"{name}.png"]


__all__ = ["RECIPES", "EXPERIMENTS", "resolve", "settings_record", "run_recipe", "report", "report_files", "parse_seeds"]
