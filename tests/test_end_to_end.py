"""The science at a small size: the grokking ticket generalises sooner than the dense
net it was pruned from (p = 23, fixed seed; a few seconds)."""
import json
import os

from minigrok.cli import main
from minigrok.recipes import report, run_recipe

SMALL_TASK = {"p": 23, "split": "all", "frac": 0.6, "lr": 1e-2, "seed": 0, "epochs": 3000,
              "eval_every": 10, "checkpoint_every": 1000, "stop_after": 100}


def test_ticket_groks_sooner_than_dense(tmp_path):
    summary = run_recipe("ticket", SMALL_TASK, str(tmp_path), str(tmp_path), [0],
                         {"rate": 0.6, "dense_stop_after": 100}, quiet=True)
    dense, ticket = summary["dense"], summary["ticket"]
    assert dense["t_gen"] is not None and ticket["t_gen"] is not None
    assert ticket["t_gen"] < dense["t_gen"], (dense["t_gen"], ticket["t_gen"])
    assert summary["speedup"] > 1.5
    assert abs(ticket["density"] - 0.4) < 1e-3
    assert os.path.isfile(tmp_path / "accuracy.png") and os.path.isfile(tmp_path / "mask.npz")
    on_disk = json.loads((tmp_path / "summary.json").read_text())
    assert set(on_disk["dense"]) >= {"t_mem", "t_gen"} and on_disk["speedup"] == summary["speedup"]
    assert set(on_disk["dense"]["thresholds"]) == {"0.95", "0.99"}
    assert on_disk["blas_threads"] == 1  # what the numbers were computed with
    at = summary["pruning"]["at_epoch"]  # the dense run stopped once it had held 0.99 for 100
    assert at < SMALL_TASK["epochs"] and summary["dense"]["epochs_run"] == at
    assert (f"mask taken at epoch {at}: the dense run had held test accuracy >= 0.99 for 100 "
            "epochs") in report(summary)


def test_ticket_command_reuses_finished_runs(tmp_path, capsys):
    args = ["ticket", "--p", "11", "--epochs", "30", "--eval-every", "5", "--quiet",
            "--out", str(tmp_path)]
    assert main(args) == 0
    dense = tmp_path / json.loads((tmp_path / "summary.json").read_text())["runs"]["dense"]
    first = (dense / "final.npz").read_bytes()
    assert main(args) == 0  # a second call reuses, it does not retrain
    assert (dense / "final.npz").read_bytes() == first
    out = capsys.readouterr().out
    assert "dense" in out and "ticket" in out
    # other training settings: new runs beside the old ones, never the old numbers
    assert main([*args[:-2], "--lr", "0.5", "--out", str(tmp_path)]) == 0
    assert json.loads((tmp_path / "summary.json").read_text())["config"]["lr"] == 0.5
    assert len(os.listdir(tmp_path / "runs")) == 4
