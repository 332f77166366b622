"""`minigrok analyze`: every analysis of a run (or of a ticket folder's dense and ticket
runs) over its checkpoints, written as CSV tables and PNG figures into <dir>/analysis/.

The checkpoints of a run are init.npz (epoch 0), checkpoints/epoch_<n>.npz and final.npz,
evenly thinned to at most `max_checkpoints` (the first and the last always kept).
Masks "at a checkpoint" are magnitude masks of that checkpoint's weights at the ticket's
density and scope (from mask.npz; --density / --scope for a single run); a run trained with
a fixed mask (the ticket) uses that mask.
"""
import csv
import glob
import io as _io
import os
import re
import sys

import numpy as np

from .. import io
from ..errors import MinigrokError
from ..masks import density as mask_density
from ..masks import density_per_layer
from ..pruning.magnitude import SCOPES, density_from, magnitude_prune
from ..pruning.random import random_blocks_like
from . import fourier, graph, mask_dynamics, neurons, progress

DEFAULT_DENSITY = 0.4  # the ticket's default: rate 0.6


# ----------------------------------------------------------------------------------------
# reading runs

def _is_run(path):
    return os.path.isfile(os.path.join(path, "config.json")) and os.path.isfile(os.path.join(path, "init.npz"))


def find_runs(path):
    """{label: run dir}: {"dense", "ticket"} for a ticket folder (the two runs its
    summary.json reports), {name: path} for one run; a one-line error for anything else."""
    if not os.path.isdir(path):
        raise MinigrokError(f"{path!r} is not a folder (give a run directory or a ticket folder)")
    if _is_run(path):
        return {os.path.basename(os.path.normpath(path)) or "run": path}
    summary_path = os.path.join(path, "summary.json")
    if os.path.isfile(summary_path):
        runs = io.load_json(summary_path).get("runs")
        if (isinstance(runs, dict) and set(runs) == {"dense", "ticket"}
                and all(isinstance(v, str) for v in runs.values())):
            sub = {k: os.path.join(path, v) for k, v in runs.items()}
            missing = [d for d in sub.values() if not _is_run(d)]
            if missing:
                raise MinigrokError(f"{path!r}: its summary.json names {missing[0]!r}, which holds no run")
            return sub
    raise MinigrokError(f"{path!r} is not a minigrok run (no config.json + init.npz) nor a ticket "
                        "folder (no summary.json naming a dense and a ticket run)")


def checkpoint_list(run_dir):
    """[(epoch, path)] of init.npz, checkpoints/epoch_<n>.npz and final.npz, by epoch."""
    found = {0: os.path.join(run_dir, "init.npz")}
    for path in glob.glob(os.path.join(run_dir, "checkpoints", "epoch_*.npz")):
        match = re.search(r"epoch_(\d+)\.npz$", path)
        if match:
            found[int(match.group(1))] = path
    final = os.path.join(run_dir, "final.npz")
    if os.path.isfile(final):
        epoch = io.load_npz(final)["meta"].get("epoch")
        if epoch is not None:
            found.setdefault(int(epoch), final)
    return sorted(found.items())


def thin(items, max_points):
    """At most max_points items, evenly spaced, first and last kept."""
    if max_points is None or len(items) <= max_points:
        return list(items)
    idx = np.unique(np.round(np.linspace(0, len(items) - 1, max(max_points, 2))).astype(int))
    return [items[i] for i in idx]


def load_run(run_dir, max_checkpoints=None):
    """{"dir", "config", "metrics", "checkpoints", "found", "fixed_mask"} of a run
    directory; "found" is every checkpoint on disk, "checkpoints" those analysed."""
    metrics_path = os.path.join(run_dir, "metrics.csv")
    found = checkpoint_list(run_dir)
    return {"dir": run_dir, "config": io.load_json(os.path.join(run_dir, "config.json")),
            "metrics": io.load_metrics(metrics_path) if os.path.isfile(metrics_path) else None,
            "checkpoints": thin(found, max_checkpoints), "found": found,
            "fixed_mask": io.load_npz(os.path.join(run_dir, "init.npz"))["masks"]}


DENSE_CHECKPOINTS = 100  # the interval suggested for curves worth reading on a log axis


def checkpoint_hint(run):
    """How to get denser curves from a run: keep more of its checkpoints (--max-checkpoints),
    or train it with more (--checkpoint-every); '' when they are dense already."""
    used, found = run["checkpoints"], run["found"]
    if len(used) < len(found):
        return f"evenly chosen from {len(found)}; --max-checkpoints N keeps more"
    epochs = [e for e, _ in found]
    if max((b - a for a, b in zip(epochs, epochs[1:])), default=DENSE_CHECKPOINTS + 1) > DENSE_CHECKPOINTS:
        return f"train with --checkpoint-every {DENSE_CHECKPOINTS} for denser curves"
    return ""


def checkpoint_note(label, run):
    """'dense: 31 checkpoints, epochs 0-30000' and, where they are sparse, the hint."""
    used, hint = run["checkpoints"], checkpoint_hint(run)
    return f"{label}: {len(used)} checkpoints, epochs {used[0][0]}-{used[-1][0]}" + (f" ({hint})" if hint else "")


def figure_note(runs):
    """The line under the per-checkpoint figures: which checkpoints the points are."""
    counts = ", ".join(f"{label} {len(r['checkpoints'])} (epochs {r['checkpoints'][0][0]}-"
                       f"{r['checkpoints'][-1][0]})" for label, r in runs.items())
    hints = "; ".join(dict.fromkeys(h for h in map(checkpoint_hint, runs.values()) if h))
    return f"points: the checkpoints analysed, {counts}" + (f"; {hints}" if hints else "")


# ----------------------------------------------------------------------------------------
# the tables

def _at(metrics, column, epoch):
    if metrics is None:
        return float("nan")
    return float(progress.value_at_epochs(metrics, column, [epoch])[0])


def embedding_measures(params):
    """Fourier entropies and MED of a params dict with an embedding W_E (d, p); {} without."""
    if "W_E" not in params:
        return {}
    W_E = params["W_E"]
    out = {"entropy_W_E": fourier.spectral_entropy(W_E),
           "med": progress.mean_embedding_difference(W_E),
           "med_released_code": progress.mean_embedding_difference(W_E, released_code=True),
           "med_relative": progress.relative_embedding_difference(W_E)}
    if "W_in" in params:  # each hidden neuron's input from the tokens (direct path)
        neuron_in = np.asarray(params["W_in"], np.float64) @ np.asarray(W_E, np.float64)  # (d_hidden, p)
        out["entropy_neuron_in_per_row"] = fourier.spectral_entropy(neuron_in, per_row=True)
        out["reference_code_self_xent"] = fourier.reference_code_self_cross_entropy(neuron_in)
    return out


def checkpoint_rows(label, run, density, scope, with_graph=True, graph_cache=None):
    """Per checkpoint: entropies, MED, graph measures; and the masks (for Jaccard)."""
    rows, masks_seq = [], []
    for epoch, path in run["checkpoints"]:
        params = io.load_npz(path)["params"]
        masks = run["fixed_mask"] or magnitude_prune(params, density=density, scope=scope)
        row = {"run": label, "epoch": epoch, "test_acc": _at(run["metrics"], "test_acc", epoch),
               "train_acc": _at(run["metrics"], "train_acc", epoch),
               "l1": _at(run["metrics"], "l1", epoch), "l2": _at(run["metrics"], "l2", epoch),
               **embedding_measures(params)}
        chain = graph.network_chain(masks) if with_graph else None
        if chain is not None:
            g = graph.graph_metrics(chain[0], graph.network_chain(params)[0],
                                    rng=np.random.default_rng(epoch), cache=graph_cache)
            row.update({f"graph_{k}": v for k, v in g.items()})
        rows.append(row)
        masks_seq.append(masks)
    return rows, masks_seq


def jaccard_rows(label, rows, masks_seq, density, scope):
    """Per checkpoint: Jaccard of its mask with the final one and with the previous one."""
    jac = mask_dynamics.jaccard_over_training(masks_seq)
    out = []
    for row, to_final, to_prev in zip(rows, jac["to_final"], jac["to_previous"]):
        r = {"run": label, "epoch": row["epoch"], "test_acc": row["test_acc"], "density": density,
             "scope": scope}
        r.update({f"final_{k}": v for k, v in to_final.items()})
        r.update({f"previous_{k}": (to_prev or {}).get(k, float("nan")) for k in to_final})
        out.append(r)
    return out


def spectrum_table(finals, inits, mask=None, dense_final=None):
    """Per frequency k = 0..p//2: the norm and spectrum fraction (k >= 1) of each run's final
    and initial W_E (the ticket's initial W_E is theta_0 * mask); with a ticket mask, the
    spectrum of dense final W_E * mask, the energy fraction the mask keeps of the dense
    final W_E per frequency (can pass 1: masking moves energy between frequencies) and the
    spectrum of the 0/1 W_E mask itself."""
    p = next(iter(finals.values()))["W_E"].shape[1]
    table = {"frequency": fourier.frequencies(p).astype(float)}
    for name, group in (("final", finals), ("init", inits)):
        for label, params in group.items():
            table[f"{label}_{name}_norm"] = fourier.frequency_norms(params["W_E"])
            table[f"{label}_{name}_fraction"] = np.concatenate([[np.nan], fourier.spectrum(
                fourier.frequency_energy(params["W_E"]))])
    if mask is not None and dense_final is not None:
        kept = np.asarray(dense_final["W_E"]) * mask["W_E"]
        table["dense_final_x_mask_fraction"] = np.concatenate(
            [[np.nan], fourier.spectrum(fourier.frequency_energy(kept))])
        table["mask_kept_energy_fraction"] = fourier.kept_energy_fraction(dense_final["W_E"], mask["W_E"])
        table["mask_W_E_fraction"] = np.concatenate([[np.nan], fourier.mask_spectrum(mask["W_E"])])
    return [dict(zip(table, vals)) for vals in zip(*table.values())]


def neuron_rows(finals, masks_by_run):
    """Per run and inner layer: units dead by the run's mask (its fixed mask, or the
    magnitude mask of its final weights) and never-active units of its final weights (the
    embedding MLP's hidden layer)."""
    rows = []
    for label, params in finals.items():
        masks = masks_by_run[label]
        found = graph.network_chain(masks)
        if found is not None:
            chain, names = found
        elif {"W_in", "W_out"} <= set(masks):  # the transformer's MLP block
            chain, names = [masks["W_in"], masks["W_out"]], ("residual in", "mlp hidden", "residual out")
        else:
            continue
        never = None
        if names[2] == "hidden" and "W_E" in params:  # the embedding MLP
            p = params["W_E"].shape[1]
            never = neurons.never_active_units(neurons.mlp_hidden_preactivations(params, neurons.all_pairs(p)))
        for layer, d in neurons.dead_units_by_mask(chain, names).items():
            rows.append({"run": label, "layer": layer, **d,
                         "never_active": int(never.sum()) if (never is not None and layer == "hidden") else ""})
    return rows


def density_rows(masks_by_run):
    """Per run and matrix: the fraction of weights its mask keeps."""
    return [{"run": label, "matrix": k, "kept_fraction": v}
            for label, masks in masks_by_run.items()
            for k, v in {**density_per_layer(masks), "global": mask_density(masks)}.items()]


# ----------------------------------------------------------------------------------------
# writing

def write_csv(path, rows):
    """rows (list of dicts, the union of their keys as columns) to CSV, atomically."""
    columns = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    buf = _io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, restval="", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (repr(float(v)) if isinstance(v, (float, np.floating)) else v)
                         for k, v in row.items()})
    io.atomic_write(path, lambda f: f.write(buf.getvalue().encode()))


def analyze(path, density=None, scope=None, max_checkpoints=40, quiet=False):
    """Compute every analysis of the run(s) at `path` and write them to path/analysis/.
    Returns {"dir", "files", "tables"}."""
    if max_checkpoints is not None and max_checkpoints < 2:
        raise MinigrokError(f"max checkpoints = {max_checkpoints} is not allowed: give an integer >= 2")
    if not os.path.isdir(path):
        raise MinigrokError(f"{path!r} is not a folder (give a run directory or a ticket folder)")
    from .. import store
    handle = store.lock(path)  # a command rewriting the folder's runs or report must finish first
    try:
        return _analyze(path, density, scope, max_checkpoints, quiet)
    finally:
        store.unlock(handle)


def _analyze(path, density, scope, max_checkpoints, quiet):
    paths = find_runs(path)
    ticket_mask, meta = None, {}
    if "ticket" in paths:  # the ticket run's own mask, its density and scope as the summary reports them
        ticket_mask = io.load_npz(os.path.join(paths["ticket"], "init.npz"))["masks"]
        pruning = io.load_json(os.path.join(path, "summary.json")).get("pruning", {})
        meta = {k: pruning[k] for k in ("density", "scope") if k in pruning}
    density = density_from(density=density if density is not None else meta.get("density", DEFAULT_DENSITY))
    scope = meta.get("scope", "global") if scope is None else scope
    if scope not in SCOPES:
        raise MinigrokError(f"unknown pruning scope {scope!r}; allowed: {', '.join(SCOPES)}")
    runs = {label: load_run(d, max_checkpoints) for label, d in paths.items()}
    model = next(iter(runs.values()))["config"].get("model", "mlp")

    per_ckpt, jaccard, finals, inits, masks_by_run, graph_cache = [], [], {}, {}, {}, {}
    for label, run in runs.items():
        if not quiet:
            print(f"[minigrok] analysing {checkpoint_note(label, run)}", file=sys.stderr, flush=True)
        rows, masks_seq = checkpoint_rows(label, run, density, scope, True, graph_cache)
        per_ckpt += rows
        if run["fixed_mask"] is None:
            jaccard += jaccard_rows(label, rows, masks_seq, density, scope)
        inits[label] = io.load_npz(run["checkpoints"][0][1])["params"]
        finals[label] = io.load_npz(run["checkpoints"][-1][1])["params"]
        masks_by_run[label] = masks_seq[-1]  # the dense run's: the ticket's mask, recomputed

    graph_baseline = []
    label = "dense" if "dense" in runs else next(iter(runs))
    if graph.network_chain(finals[label]) is not None:
        chain = random_blocks_like(graph.network_chain(masks_by_run[label])[0], np.random.default_rng(0))
        g = graph.graph_metrics(chain, graph.network_chain(finals[label])[0])
        graph_baseline = [{"run": f"random mask ({label} final weights)",
                           **{f"graph_{k}": v for k, v in g.items()}}]
    has_embedding = "W_E" in finals[label]
    tables = {
        "fourier_spectrum": spectrum_table(finals, inits, ticket_mask, finals.get("dense"))
        if has_embedding else [],
        "checkpoints": per_ckpt, "jaccard": jaccard, "graph_random_baseline": graph_baseline,
        "dead_neurons": neuron_rows(finals, masks_by_run),
        "density_per_layer": density_rows(masks_by_run)}
    out_dir = os.path.join(path, "analysis")
    if os.path.isdir(out_dir):  # an earlier analysis (of other runs, another density) goes first
        for name in os.listdir(out_dir):
            if name.endswith((".csv", ".png")) and os.path.isfile(os.path.join(out_dir, name)):
                os.remove(os.path.join(out_dir, name))
    files = [os.path.join(out_dir, f"{name}.csv") for name, rows in tables.items() if rows]
    for name, rows in tables.items():
        if rows:
            write_csv(os.path.join(out_dir, f"{name}.csv"), rows)
    from ..figures import write_figures  # matplotlib only when plotting
    files += write_figures(out_dir, tables, {k: r["metrics"] for k, r in runs.items()},
                           {"density": density, "scope": scope, "model": model,
                            "note": figure_note(runs)})
    return {"dir": out_dir, "files": files, "tables": tables}
