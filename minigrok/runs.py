"""A run: from its settings to what it starts from, and where training is started.

    plan(cfg)            settings -> a run spec: model, data, theta_0 (x mask), mask and
                         the run key (store/); every check, nothing written
    train_runs(units)    the one place training starts: each unit {"spec", "dir"} is set
                         up, resumed or reused through store/ and trained by
                         train.train_loop (one at a time, or K stacked), checkpointing
                         and finishing in its own folder; returns each run's result
    resume_run(dir)      continue a run folder with its own settings (more epochs)
    fork_run(spec, dir, source)  set up a run that differs from a stored run only in when
                         it stops from that run's checkpoint before its own stop

A unit's numbers depend only on its spec: the same spec gives the same numbers whether it
was trained alone, stacked, resumed after a kill or reused from disk.
"""
import json
import os
import sys
import time

import numpy as np

from . import io, store
from .backend import set_backend, to_device, to_numpy
from .data import TASK_DEFAULTS, make_dataset
from .errors import MinigrokError
from .fingerprint import fingerprint
from .masks import apply, check_matches, density, ones_like
from .models import get_model, model_config
from .settings import check_memory, check_settings
from .threads import blas_info
from .train import DATA_KEYS, stack, stop_epoch, train_loop

TRAIN_DEFAULTS = {
    "task": "modular", "op": "add", "p": 67, "frac": 0.4, "split": "sym", "seed": 0,
    "model": "mlp", "dtype": "float32", "backend": "numpy",
    "lr": 1e-3, "weight_decay": 1.0, "betas": [0.9, 0.98], "eps": 1e-8,
    "epochs": 30000, "eval_every": 1, "checkpoint_every": 1000,
    "stop_after": None, "stop_threshold": 0.99, "init": None, "mask": None,
}
# settings that only change what is reported or how often it is saved, not the numbers:
# a run may be continued or re-reported with other values
VIEW_SETTINGS = ("epochs", "report_threshold", "checkpoint_every", "init", "mask", "data_dir")
TOKEN_MODELS = ("mlp", "transformer")  # models of the modular task; vector tasks use fc
# the modular split each model trains on unless --split says otherwise: the MLP sums its two
# embeddings, so the unordered pairs are all there is to learn (the reference code's sym);
# the Transformer reads the second token as its query, so it needs both orders: on the
# sym split it plateaus at 0.93-0.98, on all p^2 ordered pairs it groks within a few
# thousand epochs (README, "The Transformer")
MODEL_SPLITS = {"mlp": "sym", "transformer": "all"}


def with_defaults(cfg):
    """cfg completed by its task's defaults (data.TASK_DEFAULTS), then TRAIN_DEFAULTS; a
    modular task without a split gets its model's (MODEL_SPLITS)."""
    task = cfg.get("task", "modular")
    if task not in TASK_DEFAULTS:
        raise MinigrokError(f"unknown task {task!r}; allowed: {', '.join(TASK_DEFAULTS)}")
    full = {**TRAIN_DEFAULTS, **TASK_DEFAULTS[task], **cfg}
    if cfg.get("split") is None and full["model"] in MODEL_SPLITS:
        full["split"] = MODEL_SPLITS[full["model"]]
    return full


def check_hyperparameters(cfg):
    """One-line errors for bad settings (settings.RULES) and a model that does not run on
    the task."""
    check_settings(cfg)
    fits = cfg["model"] in TOKEN_MODELS if cfg["task"] == "modular" else cfg["model"] == "fc"
    if not fits:
        allowed = " or ".join(TOKEN_MODELS) if cfg["task"] == "modular" else "fc"
        raise MinigrokError(f"model {cfg['model']!r} does not run on the {cfg['task']} task: "
                            f"use {allowed}")


# ----------------------------------------------------------------------------------------
# plan: settings -> spec

def identity(cfg, mcfg, data, params, masks):
    """Everything that determines a run's numbers (store/'s run key hashes it): the
    model and its sizes, the optimiser / logging / stopping settings, the backend, the
    BLAS thread count and the numerics fingerprint of this code on this machine
    (fingerprint.py), and the content of the data split, of theta_0 and of the mask.
    Numbers are written as floats / ints so that 1 and 1.0 name the same run."""
    settings = {"lr": float(cfg["lr"]), "weight_decay": float(cfg["weight_decay"]),
                "betas": [float(b) for b in cfg["betas"]], "eps": float(cfg["eps"]),
                "eval_every": int(cfg["eval_every"]), "objective": cfg.get("objective", "ce"),
                "stop_after": None if cfg["stop_after"] is None else int(cfg["stop_after"]),
                "stop_threshold": float(cfg["stop_threshold"]), "backend": cfg["backend"],
                "blas_threads": blas_info().get("threads"),  # how float32 sums are split
                "numerics": fingerprint(cfg["model"])}  # how this code rounds, here
    found = {"format": store.FORMAT, "model": mcfg, "settings": settings,
             "data": store.digest({k: data[k] for k in DATA_KEYS}),
             "theta_0": store.digest(params), "mask": store.digest(masks)}
    return json.loads(json.dumps(found))  # tuples -> lists, as read back from disk


def plan(cfg, params0=None, masks=None):
    """A run spec from its settings, on the host, every check done and nothing written:
    {"cfg", "model", "data", "params" (theta_0 * mask), "masks", "identity", "key"}.

    theta_0: params0 if given, else cfg['init'] (a checkpoint file), else a fresh init
    drawn with numpy.random.default_rng(cfg['seed']). The mask: masks if given, else
    cfg['mask'] (a mask file), else none (dense); it is applied to theta_0 and kept fixed.
    """
    cfg = with_defaults(cfg)
    check_hyperparameters(cfg)
    set_backend(cfg["backend"])
    model = get_model(cfg["model"])
    check_memory({**model.DEFAULTS, **cfg})
    data = make_dataset(cfg)
    model_settings = {k: cfg[k] for k in model.DEFAULTS if k in cfg}  # e.g. sizes, kappa
    sizes, meta = model_settings.get("sizes"), data["meta"]
    if sizes and "n_in" in meta and (sizes[0], sizes[-1]) != (meta["n_in"], meta["n_out"]):
        raise MinigrokError(f"layer sizes {sizes} do not fit the {meta['task']} data: it has "
                            f"{meta['n_in']} inputs and {meta['n_out']} outputs")
    mcfg = model_config(cfg["model"], meta.get("vocab"), cfg["dtype"], **model_settings)
    fresh = model.init(mcfg, np.random.default_rng(cfg["seed"]))
    params = fresh
    if params0 is None and cfg.get("init"):
        params0 = io.load_params(cfg["init"], list(fresh))
    if params0 is not None:
        where = f"init weights {cfg.get('init') or ''}".strip()
        check_matches(params0, fresh, where=where)
        check_weights(params0, where)
        params = {k: np.asarray(params0[k]).astype(cfg["dtype"]) for k in fresh}
    if masks is None and cfg.get("mask"):
        masks = io.load_masks(cfg["mask"])
    if masks is not None:
        where = f"mask {cfg.get('mask') or ''}".strip()
        check_matches(masks, fresh, where=where)
        masks = {k: np.asarray(masks[k], dtype=bool) for k in fresh}
        if not any(m.any() for m in masks.values()):
            raise MinigrokError(f"{where} keeps no weight at all: the network would be zero")
        params = apply(params, masks)
    found = identity(cfg, mcfg, data, params, masks)
    return {"cfg": cfg, "model": model, "data": data, "params": params, "masks": masks,
            "identity": found, "key": store.run_key(found)}


def check_weights(params, where):
    """Initial weights must be real floating-point numbers and finite."""
    for k, w in params.items():
        w = np.asarray(w)
        if w.dtype.kind != "f":
            raise MinigrokError(f"{where}[{k!r}] holds {w.dtype} values: weights must be "
                                "float16, float32 or float64")
        if not np.isfinite(w).all():
            raise MinigrokError(f"{where}[{k!r}] holds NaN or inf")


def unit_folder(root, spec):
    """Where a recipe keeps the run of `spec`: root/runs/<what it is>-<key prefix>, e.g.
    runs/mlp-add-p67-seed0-dense-3f2a9c1d0b7e. The name is for people; reuse is decided by
    the full key inside (store.decide)."""
    cfg = spec["cfg"]
    what = f"{cfg['op']}-p{cfg['p']}" if cfg["task"] == "modular" else cfg["task"]
    kept = "dense" if spec["masks"] is None else f"d{density(spec['masks']):.3f}"
    return os.path.join(root, "runs", f"{cfg['model']}-{what}-seed{cfg['seed']}-{kept}-{spec['key'][:12]}")


# ----------------------------------------------------------------------------------------
# train: the one place training starts

def train_runs(units, stacked=False, label="train", quiet=False, overlap_eval=True):
    """Train every unit {"spec", "dir"} to its cfg['epochs'] in its own run folder, and
    return their results (store.load_result) in order. Units whose folder already holds
    the finished run are reused; interrupted ones continue from their newest commit.
    stacked=True trains the units that need it as one stacked model (they must share the
    model, shapes and settings); else one after another. overlap_eval=False: the test
    evaluation stays in this process (train_loop, evaluator.py)."""
    units = list({u["dir"]: u for u in units}.values()) if units else []
    if stacked and len({json.dumps(_shared_settings(u["spec"]), sort_keys=True) for u in units}) > 1:
        raise MinigrokError("stacked runs must share their model, optimiser and schedule settings")
    for u in units:  # every check before the first write
        _decide(u)
    handles, todo = [], []
    try:
        for u in units:
            spec = u["spec"]
            if store.is_run(u["dir"]):
                handles.append(store.open_for_writing(u["dir"]))
                decision = _decide(u)  # again, under the lock
                store.write_config(u["dir"], spec["cfg"])
            else:
                handles.append(store.setup(u["dir"], spec["key"], spec["identity"], spec["cfg"],
                                           spec["data"], spec["params"], spec["masks"]))
                decision = {"action": "resume", "epoch": 0}
            if decision["action"] == "resume":
                todo.append((u, decision["epoch"]))
        groups = [todo] if (stacked and todo) else [[t] for t in todo]
        diverged = []
        for group in groups:
            diverged += _train_group(group, label if len(group) == 1 else f"{len(group)} runs stacked", quiet,
                                     overlap_eval)
        if diverged:
            raise MinigrokError(store.divergence_message(*diverged[0])
                                + (f" ({len(diverged) - 1} more runs diverged)" if len(diverged) > 1 else ""))
        return [store.load_result(u["dir"], u["spec"]["key"]) for u in units]
    finally:
        for h in handles:
            store.unlock(h)


def _decide(unit):
    """store.decide for a unit; a run that diverged is refused (it would diverge again)."""
    decision = store.decide(unit["dir"], unit["spec"], VIEW_SETTINGS)
    if decision["action"] == "diverged":
        raise MinigrokError(store.divergence_message(unit["dir"], decision["diverged"]))
    return decision


def _shared_settings(spec):
    cfg = spec["cfg"]
    return {"model": spec["identity"]["model"], "settings": spec["identity"]["settings"],
            "epochs": cfg["epochs"], "checkpoint_every": cfg["checkpoint_every"]}


def _train_group(todo, label, quiet, overlap_eval=True):
    """Train one group of units, todo = [(unit, the epoch it resumes from)], from a common
    commit epoch (its own for one unit; the newest one they all have for a stack), writing
    checkpoints and finals into each unit's folder. Returns [(folder, divergence)] of the
    units that diverged."""
    group = [u for u, _ in todo]
    cfg, model = group[0]["spec"]["cfg"], group[0]["spec"]["model"]
    if len(group) == 1:
        epoch = todo[0][1]
    else:
        epoch = max(set.intersection(*(store.available_epochs(u["dir"], u["spec"]["key"], cfg["epochs"])
                                       for u in group)))
    states = [store.start_state(u["dir"], u["spec"]["key"], epoch, u["spec"]["params"]) for u in group]
    host_masks = [u["spec"]["masks"] for u in group]
    walls = [s[3] for s in states]
    t0 = time.perf_counter()
    device = lambda arrays: None if arrays is None else {k: to_device(v) for k, v in arrays.items()}

    def write_checkpoint(epoch_n, snapshots):
        for i, snap in snapshots.items():
            store.write_checkpoint(group[i]["dir"], group[i]["spec"]["key"], epoch_n, _host(snap),
                                   host_masks[i], walls[i] + time.perf_counter() - t0)

    diverged = []

    def write_final(i, outcome):
        wall = walls[i] + time.perf_counter() - t0
        if outcome.get("diverged"):
            store.write_divergence(group[i]["dir"], group[i]["spec"]["key"], outcome, wall)
            diverged.append((group[i]["dir"], outcome["diverged"]))
            return
        store.write_final(group[i]["dir"], group[i]["spec"]["key"], _host(outcome), host_masks[i], wall)

    if not quiet and group[0]["spec"]["data"]["meta"].get("source"):
        print(f"[data] {label}: {group[0]['spec']['data']['meta']['source']}", file=sys.stderr)
    datas = [{k: u["spec"]["data"][k] for k in DATA_KEYS} for u in group]
    if len(group) == 1:
        params, opt_state, metrics, _ = states[0]
        train_loop(model, device(params), device(datas[0]), cfg, device(host_masks[0]),
                   _device_state(opt_state), metrics, epoch, stacked=False,
                   on_checkpoint=write_checkpoint, on_stop=write_final, label=label, quiet=quiet,
                   overlap_eval=overlap_eval)
        return diverged
    masks = None
    if any(m is not None for m in host_masks):  # dense members of a masked stack: all ones
        masks = stack([device(m if m is not None else ones_like(s[0])) for m, s in zip(host_masks, states)])
    opt_state = None
    if epoch > 0:
        opt_state = {"step": states[0][1]["step"],
                     "m": stack([device(s[1]["m"]) for s in states]),
                     "v": stack([device(s[1]["v"]) for s in states])}
    train_loop(model, stack([device(s[0]) for s in states]), stack([device(d) for d in datas]), cfg,
               masks, opt_state, [s[2] for s in states], epoch, stacked=True,
               on_checkpoint=write_checkpoint, on_stop=write_final, label=label, quiet=quiet,
               overlap_eval=overlap_eval)
    return diverged


def _device_state(opt_state):
    if opt_state is None:
        return None
    return {"step": opt_state["step"], "m": {k: to_device(v) for k, v in opt_state["m"].items()},
            "v": {k: to_device(v) for k, v in opt_state["v"].items()}}


def _host(state):
    """A loop snapshot or outcome with its arrays on the host."""
    opt = state["opt_state"]
    return {**state, "params": {k: to_numpy(v) for k, v in state["params"].items()},
            "opt_state": {"step": opt["step"], "m": {k: to_numpy(v) for k, v in opt["m"].items()},
                          "v": {k: to_numpy(v) for k, v in opt["v"].items()}}}


# ----------------------------------------------------------------------------------------
# a run that differs from a stored one only in when it stops

def fork_point(spec, source):
    """The epoch of `source`'s newest checkpoint that the run `spec` can start from, or
    None: `source` must be a stored run differing from spec only in its stopping rule
    (stop_after), since every step before a stopping rule fires is the same step, and the
    checkpoint must come at or before the epoch where spec's own rule stops it
    (train.stop_epoch on the source's rows; its epoch cap if the rule never fires there).
    Raises a one-line error when the runs differ in anything else."""
    if not store.is_run(source):
        return None
    source_key, source_identity, _ = store.read_identity(source)
    changed = store.differences(source_identity, spec["identity"])
    if any(not c.startswith("settings.stop_after:") for c in changed):
        raise MinigrokError(f"{source!r} cannot be started from: it differs from the run asked "
                            f"for in more than its stopping rule ({'; '.join(changed[:3])})")
    cfg = spec["cfg"]
    epochs = store.checkpoint_epochs(source)
    if not epochs:
        return None
    final = os.path.join(source, "final.npz")
    rows = store.load_commit(source, "final" if os.path.isfile(final) else max(epochs), source_key)["metrics"]
    stop = stop_epoch(rows, cfg["stop_after"], cfg["stop_threshold"])
    limit = min(stop, cfg["epochs"]) if stop is not None else cfg["epochs"]
    usable = [e for e in epochs if e <= limit]  # each one's rows are a prefix of `rows`
    return max(usable) if usable else None


def fork_run(spec, folder, source):
    """Start the run `spec` in `folder` from the stored run in `source` (see fork_point):
    the run is set up and given the source's checkpoint at fork_point's epoch; train_runs
    then continues it from there and it ends with the numbers it would have trained to
    from epoch 0 (the bits: tests/test_store.py), for a fraction of the epochs. Its wall
    time includes the source's time up to that checkpoint. Writes nothing and returns None
    when folder already holds a run or no source checkpoint qualifies; else the epoch
    started from."""
    if store.is_run(folder):
        return None
    epoch = fork_point(spec, source)
    if epoch is None:
        return None
    source_key = store.read_identity(source)[0]
    ckpt = store.load_commit(source, epoch, source_key)  # its metrics: the rows before epoch
    handle = store.setup(folder, spec["key"], spec["identity"], spec["cfg"], spec["data"],
                         spec["params"], spec["masks"])
    try:
        store.write_checkpoint(folder, spec["key"], epoch, {k: ckpt[k] for k in ("params", "opt_state", "metrics")},
                               spec["masks"], float(ckpt["meta"].get("wall_time_s", 0.0)))
    finally:
        store.unlock(handle)
    return epoch


def stored_sibling(spec, folder):
    """The folder of a run stored beside `folder` (same ROOT/runs/, same model, task, seed
    and kind, see unit_folder) that the run `spec` can start from (fork_point), the one
    with the latest such checkpoint; None if there is none. Siblings that differ in more
    than their stopping rule, or cannot be read, are passed over."""
    runs_dir, name = os.path.split(folder)
    prefix = name.rsplit("-", 1)[0] + "-"
    best, best_epoch = None, None
    for other in sorted(os.listdir(runs_dir)) if os.path.isdir(runs_dir) else []:
        path = os.path.join(runs_dir, other)
        if other == name or not other.startswith(prefix) or not os.path.isdir(path):
            continue
        try:
            epoch = fork_point(spec, path)
        except MinigrokError:
            continue
        if epoch is not None and (best_epoch is None or epoch > best_epoch):
            best, best_epoch = path, epoch
    return best


# ----------------------------------------------------------------------------------------
# one run in a folder of its own

def train_run(cfg, folder, label="train", quiet=False):
    """Train cfg into folder: a new run, or the same run continued or reused (a folder
    holding a run with other settings is refused in one line). Returns its result."""
    store.check_output_folder(folder)
    return train_runs([{"spec": plan(cfg), "dir": folder}], label=label, quiet=quiet)[0]


KEEP = object()  # resume_run: leave the run's report threshold as it is


def resume_run(folder, epochs=None, report_threshold=KEEP, label="train", quiet=False):
    """Continue the run in folder with its own settings, optionally to another epoch cap
    or reported at another threshold (None: no third threshold). Its config.json must
    still describe the run it holds (the settings recorded in init.npz)."""
    if not os.path.isdir(folder) or not store.is_run(folder):
        raise MinigrokError(f"{folder!r} holds no minigrok run (no init.npz); start one with --out")
    _, _, created = store.read_identity(folder)
    cfg = io.load_json(os.path.join(folder, "config.json"))
    changed = store.differences({k: v for k, v in created.items() if k not in VIEW_SETTINGS},
                                {k: v for k, v in cfg.items() if k not in VIEW_SETTINGS},
                                ("when it was created", "in config.json"))
    if changed:
        raise MinigrokError(f"{folder}/config.json no longer describes the run it holds ("
                            f"{'; '.join(changed[:4])}); restore it or start a new run with --out")
    if epochs is not None:
        cfg["epochs"] = epochs
    if report_threshold is not KEEP:
        cfg["report_threshold"] = report_threshold
    init = io.load_npz(os.path.join(folder, "init.npz"))
    spec = plan(cfg, params0=init["params"], masks=init["masks"])
    return train_runs([{"spec": spec, "dir": folder}], label=label, quiet=quiet)[0]
