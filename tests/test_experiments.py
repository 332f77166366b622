"""`minigrok experiment NAME` (minigrok/recipes/): small end-to-end runs of pai,
rate-sweep and ops at p = 23, and the shared pieces (dense runs in the store, seeds,
critical-rate search) on their own. A few seconds in all."""
import csv
import glob
import json
import os

import pytest

from minigrok.cli import main
from minigrok.errors import MinigrokError
from minigrok.recipes import EXPERIMENTS, run_recipe
from minigrok.recipes.common import dense_runs, parse_seeds, recipe_config
from minigrok.recipes.no_decay import bracket, critical_rate_search
from minigrok.recipes.ops import format_ops_table

# settings known to grok in a few hundred epochs (tests/test_end_to_end.py)
SMALL = {"p": 23, "split": "all", "frac": 0.6, "lr": 1e-2, "epochs": 300, "eval_every": 10,
         "checkpoint_every": 100, "stop_after": 100}
SMALL_ARGS = ["--p", "23", "--split", "all", "--frac", "0.6", "--lr", "1e-2", "--epochs", "300",
              "--eval-every", "10", "--checkpoint-every", "100", "--stop-after", "100", "--quiet"]


def read_rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def check_outputs(folder, name):
    for f in ("results.csv", "summary.json", f"{name}.png"):
        assert os.path.isfile(os.path.join(folder, name, f)), f
    rows = read_rows(os.path.join(folder, name, "results.csv"))
    summary = json.loads(open(os.path.join(folder, name, "summary.json")).read())
    assert {"t_gen", "t_gen_0.95", "t_mem", "condition", "seed"} <= set(rows[0])
    assert summary["experiment"] == name and len(summary["results"]) == len(rows)
    return rows, summary


def run_experiment(name, cfg, out, seeds, opts=None, quiet=True):
    return run_recipe(name, cfg, out, os.path.join(out, name), seeds, opts, quiet)


def dense_folders(out):
    return sorted(f for f in os.listdir(os.path.join(out, "runs")) if "-dense-" in f)


def test_pai_end_to_end(tmp_path):
    summary = run_experiment("pai", SMALL, str(tmp_path), seeds=[0], quiet=True)
    rows, on_disk = check_outputs(str(tmp_path), "pai")
    assert [r["condition"] for r in rows] == ["dense", "ticket", "random", "snip", "grasp",
                                               "synflow", "synflow-1round-data"]
    assert all(abs(float(r["density"]) - 0.4) < 1e-3 for r in rows[1:])
    by = summary["by_condition"]
    assert set(by["ticket"]) >= {"0.99", "0.95"} and by["ticket"]["0.99"]["n"] == 1
    assert by["ticket"]["0.95"]["mean"] is not None  # the ticket generalises at this size
    assert os.path.isdir(tmp_path / "pai" / "metrics")


def test_rate_sweep_command_and_shared_dense_cache(tmp_path, capsys):
    out = str(tmp_path)
    args = ["experiment", "rate-sweep", *SMALL_ARGS, "--seeds", "0", "--rates", "0.0,0.5,0.9",
            "--out", out]
    assert main(args) == 0
    rows, summary = check_outputs(out, "rate-sweep")
    assert [r["condition"] for r in rows] == ["rate=0.0 (dense)", "rate=0.5", "rate=0.9"]
    assert rows[0]["t_gen"] == rows[0]["dense_t_gen"] and float(rows[0]["density"]) == 1.0
    assert abs(float(rows[2]["density"]) - 0.1) < 1e-3
    assert "rate=0.5" in capsys.readouterr().out
    assert summary["seeds"] == [0] and "seed" not in summary["config"] and summary["blas_threads"] == 1
    # a second experiment in the same OUT, and `minigrok sweep` into it, reuse the same
    # dense run (no retraining)
    [folder] = [os.path.join(out, "runs", f) for f in dense_folders(out)]
    assert os.path.relpath(folder, os.path.join(out, "rate-sweep")) in summary["runs"]
    before = os.path.getmtime(os.path.join(folder, "final.npz"))
    assert main(["experiment", "ops", *SMALL_ARGS, "--seeds", "0", "--ops", "add", "--out", out]) == 0
    assert main(["sweep", *SMALL_ARGS, "--seeds", "0", "--rates", "0.5", "--out", out]) == 0
    assert os.path.getmtime(os.path.join(folder, "final.npz")) == before
    assert dense_folders(out) == [os.path.basename(folder)]


def test_ops_two_ops(tmp_path):
    summary = run_experiment("ops", SMALL, str(tmp_path), seeds=[0], opts={"ops": ["add", "sub"]},
                             quiet=True)
    rows, _ = check_outputs(str(tmp_path), "ops")
    assert [(r["op"], r["run"]) for r in rows] == [("add", "dense"), ("add", "ticket"),
                                                    ("sub", "dense"), ("sub", "ticket")]
    assert set(summary["table"]) == {"add", "sub"}
    assert set(summary["table"]["add"]["0.99"]) == {"dense", "ticket", "speedup"}
    # the summed-embedding MLP cannot fit both (a, b) and (b, a) of sub on the all split
    ceiling = summary["symmetric_ceiling"]
    assert ceiling["add"] == 1.0 and 0.5 < ceiling["sub"] < 0.9
    assert "sym. ceiling" in format_ops_table(summary)
    folders = dense_folders(str(tmp_path))
    assert len(folders) == 2 and folders[0].startswith("mlp-add-p23-seed0-dense-")  # one per op


def test_dense_run_stored_and_keyed_by_settings(tmp_path):
    cfg = recipe_config({**SMALL, "epochs": 40})
    where = {"root": str(tmp_path)}
    first = dense_runs(cfg, where, [0], quiet=True)[0]
    stamp = os.path.getmtime(os.path.join(first["dir"], "final.npz"))
    again = dense_runs(cfg, where, [0], quiet=True)[0]
    assert again["dir"] == first["dir"] and os.path.getmtime(os.path.join(again["dir"], "final.npz")) == stamp
    assert again["metrics"]["test_acc"] == first["metrics"]["test_acc"]
    other = dense_runs({**cfg, "lr": 5e-3, "epochs": 2}, where, [0], quiet=True)[0]
    assert other["dir"] != first["dir"]  # other settings: another run
    # the ticket's early stop is not a dense setting: the same run
    same = dense_runs({**cfg, "stop_after": 7}, where, [0], quiet=True)[0]
    assert same["dir"] == first["dir"]
    assert len(dense_folders(str(tmp_path))) == 2


def test_parse_seeds():
    assert parse_seeds("0,1,2") == [0, 1, 2]
    assert parse_seeds(" 3 ") == [3] and parse_seeds([4, 5]) == [4, 5]
    for bad in ("", "a,b", "1,1", "-1", "0.5"):
        with pytest.raises(MinigrokError):
            parse_seeds(bad)


def test_critical_rate_search_on_a_fake_t_gen():
    critical = {0: 0.81, 1: 0.77, 2: 0.93}  # the largest rate that groks, per seed

    def t_gen(seed, rate):
        return 500 if rate <= critical[seed] + 1e-9 else None

    coarse = {s: {r: t_gen(s, r) is not None for r in (0.7, 0.8, 0.9)} for s in critical}
    brackets = {s: bracket(c) for s, c in coarse.items()}
    assert brackets == {0: (0.8, 0.9), 1: (0.7, 0.8), 2: (0.9, None)}
    calls = []

    def evaluate(asked):
        calls.append(dict(asked))
        return {s: t_gen(s, r) is not None for s, r in asked.items()}

    found, probes = critical_rate_search(evaluate, brackets)
    assert found == critical
    assert len(calls) <= 4  # bisection of at most 10 grid steps, all seeds per round
    assert all(groks == (t_gen(s, r) is not None) for s, r, groks in probes)
    # nothing groks: no critical rate; the smallest rate fails
    assert bracket({0.7: False, 0.8: False}) == (None, 0.7)
    assert critical_rate_search(evaluate, {0: (None, 0.7)}) == ({0: None}, [])


def test_bad_names_and_values_one_line(capsys):
    assert main(["experiment", "nope", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "unknown experiment 'nope'" in err and "rate-sweep" in err
    for args in (["pai", "--seeds", "x"], ["pai", "--rate", "1.5"], ["ops", "--ops", "add,pow"],
                 ["rate-sweep", "--rates", "0.2,1.2"], ["pai", "--model", "fc"],
                 ["no-decay", "--grok-threshold", "0.9"]):
        assert main(["experiment", *args, "--quiet", "--out", "/nonexistent/x"]) == 2, args
        err = capsys.readouterr().err.strip()
        assert err.startswith("minigrok: error:") and err.count("\n") == 0, err
    assert set(EXPERIMENTS) == {"rate-sweep", "no-decay", "non-grokking", "norm-control", "pai",
                                "edge-popup", "imp", "ops", "when-to-prune"}


@pytest.mark.parametrize("name, extra", [
    ("no-decay", ["--rates", "0.6,0.97", "--frac", "0.8", "--epochs", "400"]),
    ("non-grokking", ["--at", "0,100"]),
    ("norm-control", []),
    ("imp", ["--rate", "0.36"]),
    ("edge-popup", ["--from-epoch", "100", "--ep-epochs", "60"]),
    ("when-to-prune", ["--held", "20,100", "--epochs", "500", "--late-epochs", "600"]),
])
def test_every_other_experiment_runs_end_to_end(name, extra, tmp_path, capsys):
    """Each remaining experiment through the command line at p = 23: exit 0, CSV, PNG and
    summary.json, one row per condition and seed, and the dense row equal to the cache."""
    code = main(["experiment", name, *SMALL_ARGS, "--seeds", "0", "--out", str(tmp_path), *extra])
    err = capsys.readouterr().err
    assert code == 0, err
    rows, summary = check_outputs(str(tmp_path), name)
    assert {r["seed"] for r in rows} == {"0"}
    if name == "no-decay":  # at frac 0.8, 0.6 groks without wd, 0.97 (3% of weights) does not
        assert summary["brackets"]["0"] == [0.6, 0.97] and summary["probes"]
        critical = summary["critical_rate"]["0"]
        assert critical is not None and 0.6 <= critical < 0.97
        assert {"critical wd=1", "critical wd=0"} <= {r["condition"] for r in rows}
    if name == "non-grokking":
        assert [r["condition"] for r in rows] == ["dense", "epoch 0", "epoch 100", "grokked (300)"]
    if name == "imp":  # 0.36 = 0.8^2 density: two IMP levels, then the one-shot ticket
        assert [r["condition"] for r in rows][1:] == ["IMP level 1 (0.800)", "IMP level 2 (0.640)",
                                                      "one-shot (0.640)"]
    if name == "when-to-prune":  # the cap rows read the late run's checkpoint at 500
        assert [r["condition"] for r in rows] == ["cap 500", "held 20", "held 100", "cap 600"]
        by = {r["condition"]: r for r in summary["results"]}
        assert by["cap 500"]["pruned_at"] == 500 and by["cap 600"]["pruned_at"] == 600
        t_gen = by["cap 600"]["dense_t_gen"]
        assert t_gen is not None and by["held 20"]["pruned_at"] == t_gen + 20
        assert all(r["gap"] == r["pruned_at"] - t_gen for r in by.values())
        assert sum(b["n"] for b in summary["gap_bins"]) == 4
        from minigrok import store  # each held run started from the late run's checkpoint
        held = [d for d in glob.glob(str(tmp_path / "runs" / "*-dense-*"))
                if store.read_identity(d)[1]["settings"]["stop_after"] is not None]
        assert len(held) == 2 and all(store.checkpoint_epochs(d)[0] > 100 for d in held)
    if name == "edge-popup":
        assert set(summary["table1"]) == {"wd only", "EP frozen W, wd 0", "EP frozen W, wd 1", "EP W and s, wd 1"}


def test_non_grokking_refuses_a_reused_dense_run_without_the_checkpoints_it_needs(tmp_path, capsys):
    """The dense run of a first ticket (checkpoints every 100; pruned at the cap, as the
    experiments prune) is reused by non-grokking as it is; asking for masks at epochs it
    holds no checkpoint of is refused in one line before anything trains, and the folder
    is unchanged."""
    from folders import tree
    from minigrok.cli import main
    out = str(tmp_path / "o")
    small = ["--p", "11", "--epochs", "200", "--quiet", "--out", out]
    assert main(["ticket", *small, "--checkpoint-every", "100", "--dense-stop-after", "none"]) == 0
    before = tree(out)
    code = main(["experiment", "non-grokking", *small, "--seeds", "0", "--workers", "1",
                 "--checkpoint-every", "50", "--at", "50,100"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err[-1].startswith("minigrok: error: the dense run of seed 0")
    assert "no checkpoint at epoch 50" in err[-1]
    assert tree(out) == before
