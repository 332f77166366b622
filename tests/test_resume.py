"""An interrupted run, resumed, gives exactly the numbers of an uninterrupted run."""
import numpy as np
import pytest

import minigrok.train as train_module
from minigrok import io, store
from minigrok.cli import main
from minigrok.runs import resume_run, train_run

CFG = {"p": 13, "epochs": 40, "checkpoint_every": 10, "seed": 2, "lr": 3e-3}


def test_resume_after_interrupt_is_identical(tmp_path, monkeypatch):
    whole = train_run(CFG, str(tmp_path / "whole"), quiet=True)

    real_step, calls = train_module.train_step, {"n": 0}

    def interrupted_step(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 26:  # dies after the checkpoint at epoch 20, before the one at 30
            raise KeyboardInterrupt
        return real_step(*args, **kwargs)

    monkeypatch.setattr(train_module, "train_step", interrupted_step)
    with pytest.raises(KeyboardInterrupt):
        train_run(CFG, str(tmp_path / "cut"), quiet=True)
    monkeypatch.setattr(train_module, "train_step", real_step)
    assert not (tmp_path / "cut" / "final.npz").exists()
    assert store.checkpoint_epochs(str(tmp_path / "cut")) == [10, 20]

    resumed = resume_run(str(tmp_path / "cut"), quiet=True)
    for k, w in whole["params"].items():
        assert np.array_equal(w, resumed["params"][k]), k
    a = io.load_metrics(str(tmp_path / "whole" / "metrics.csv"))
    b = io.load_metrics(str(tmp_path / "cut" / "metrics.csv"))
    assert a == b
    assert whole["summary"]["thresholds"] == resumed["summary"]["thresholds"]


def test_resume_through_the_cli_extends_a_run(tmp_path, capsys):
    out = str(tmp_path / "run")
    assert main(["train", "--p", "11", "--epochs", "10", "--checkpoint-every", "5", "--quiet",
                 "--out", out]) == 0
    assert main(["train", "--resume", out, "--epochs", "20", "--quiet"]) == 0
    capsys.readouterr()
    assert io.load_json(f"{out}/summary.json")["epochs_run"] == 20
    assert io.load_metrics(f"{out}/metrics.csv")["epoch"] == list(range(21))
    whole = train_run({"p": 11, "epochs": 20, "checkpoint_every": 5}, str(tmp_path / "whole"), quiet=True)
    resumed = io.load_npz(f"{out}/final.npz")["params"]
    assert all(np.array_equal(whole["params"][k], resumed[k]) for k in resumed)


def test_resume_missing_dir_is_a_clear_error(tmp_path, capsys):
    assert main(["train", "--resume", str(tmp_path / "nope")]) == 2
    assert "holds no minigrok run" in capsys.readouterr().err


def test_resume_keeps_the_report_threshold_unless_given_and_none_clears_it(tmp_path, capsys):
    out = str(tmp_path / "run")
    levels = lambda: sorted(io.load_json(f"{out}/summary.json")["thresholds"])
    assert main(["train", "--p", "11", "--epochs", "10", "--report-threshold", "0.5", "--quiet", "--out", out]) == 0
    assert main(["train", "--resume", out, "--quiet"]) == 0 and levels() == ["0.5", "0.95", "0.99"]
    assert main(["train", "--resume", out, "--report-threshold", "none", "--quiet"]) == 0
    assert levels() == ["0.95", "0.99"]
