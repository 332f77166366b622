"""The command line: every bad argument ends with one clear line, a non-zero exit and no
file written; train/prune write what they promise."""

import os

import numpy as np
import pytest

from minigrok import io
from minigrok.cli import main

SMALL = ["--p", "11", "--epochs", "6", "--checkpoint-every", "3", "--quiet"]


def run_cli(args, capsys):
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def trained(tmp_path, capsys):
    out = tmp_path / "run"
    code, _, err = run_cli(["train", *SMALL, "--out", str(out)], capsys)
    assert code == 0, err
    return out


def test_train_writes_the_run_directory(trained):
    for name in ("init.npz", "final.npz", "split.npz", "metrics.csv", "summary.json", "config.json",
                 "checkpoints/epoch_3.npz", "checkpoints/epoch_6.npz"):
        assert (trained / name).is_file(), name
    summary = io.load_json(str(trained / "summary.json"))
    assert summary["epochs_run"] == 6 and set(summary["thresholds"]) == {"0.95", "0.99"}
    split = np.load(trained / "split.npz")
    assert split["train_x"].shape[1] == 2 and len(split["train_y"]) == split["train_x"].shape[0]
    ckpt = io.load_npz(str(trained / "final.npz"))
    assert set(ckpt["params"]) == {"W_E", "W_in", "W_out", "W_U"} and ckpt["opt_state"]["step"] == 6
    assert len((trained / "metrics.csv").read_text().splitlines()) == 1 + 7  # header + epochs 0..6


def test_prune_then_train_with_mask_and_init(trained, tmp_path, capsys):
    mask = tmp_path / "mask.npz"
    code, out, err = run_cli(["prune", "--from", str(trained / "final.npz"), "--rate", "0.6",
                              "--out", str(mask)], capsys)
    assert code == 0, err
    assert "density 0.4000" in out
    masks = io.load_masks(str(mask))
    total = sum(m.size for m in masks.values())
    assert sum(int(m.sum()) for m in masks.values()) == round(0.4 * total)
    ticket = tmp_path / "ticket"
    code, _, err = run_cli(["train", *SMALL, "--out", str(ticket), "--mask", str(mask),
                            "--init", str(trained / "init.npz")], capsys)
    assert code == 0, err
    final = io.load_npz(str(ticket / "final.npz"))
    for k, w in final["params"].items():
        assert np.all(w[~masks[k]] == 0), k


@pytest.mark.parametrize("args, message", [
    (["train", "--p", "1"], "p = 1"),
    (["train", "--op", "div", "--p", "12"], "p = 12 is not prime"),
    (["train", "--op", "pow"], "unknown operation 'pow'"),
    (["train", "--frac", "1.5"], "frac = 1.5 is not allowed"),
    (["train", "--model", "cnn"], "unknown model 'cnn'"),
    (["train", "--dtype", "float16"], "dtype = 'float16' is not allowed"),
    (["train", "--backend", "jax"], "unknown backend 'jax'"),
    (["train", "--init", "missing.npz"], "does not exist"),
    (["train", "--report-threshold", "1.5"], "report_threshold = 1.5 is not allowed"),
    (["train", "--bogus", "1"], "error: unrecognized arguments: --bogus 1"),  # said once, no 'minigrok:' twice
    (["train", "--lr", "x"], "error: train: argument --lr: invalid float value: 'x'"),
])
def test_bad_train_arguments(args, message, tmp_path, capsys):
    out = tmp_path / "out"
    code, _, err = run_cli([*args, "--out", str(out), "--quiet"], capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("minigrok: error:") and message in lines[0], err
    assert not out.exists()  # nothing written


def test_a_bad_backend_variable_is_named(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MINIGROK_BACKEND", "tpu")
    out = tmp_path / "out"
    code, _, err = run_cli(["train", "--out", str(out), "--quiet"], capsys)
    assert code == 2 and err.strip() == "minigrok: error: MINIGROK_BACKEND='tpu' is not allowed: give numpy, cupy"
    assert not out.exists()


@pytest.mark.parametrize("rate", ["-0.1", "1", "1.2"])
def test_bad_rate(rate, trained, tmp_path, capsys):
    mask = tmp_path / "m.npz"
    code, _, err = run_cli(["prune", "--from", str(trained / "final.npz"), "--rate", rate,
                            "--out", str(mask)], capsys)
    assert code == 2 and "rate = " in err and "in [0, 1)" in err and len(err.strip().splitlines()) == 1
    assert not mask.exists()


def test_corrupt_and_mismatched_files(trained, tmp_path, capsys):
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(b"this is not a zip file")
    code, _, err = run_cli(["prune", "--from", str(corrupt), "--rate", "0.5",
                            "--out", str(tmp_path / "m.npz")], capsys)
    assert code == 2 and "not a valid .npz" in err and len(err.strip().splitlines()) == 1
    # a mask made for p = 11 does not fit a p = 13 model
    mask = tmp_path / "mask.npz"
    assert run_cli(["prune", "--from", str(trained / "final.npz"), "--rate", "0.5",
                    "--out", str(mask)], capsys)[0] == 0
    out = tmp_path / "p13"
    code, _, err = run_cli(["train", "--p", "13", "--epochs", "2", "--quiet", "--mask", str(mask),
                            "--out", str(out)], capsys)
    assert code == 2 and "has shape" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()
    # a mask file with other keys
    other = tmp_path / "other.npz"
    io.save_npz(str(other), masks={"W_x": np.ones((2, 2), bool)})
    code, _, err = run_cli(["train", *SMALL, "--mask", str(other), "--out", str(out)], capsys)
    assert code == 2 and "keys" in err and not out.exists()


def test_existing_run_is_reused_or_refused_never_overwritten(trained, capsys):
    before = (trained / "final.npz").read_bytes()
    code, _, err = run_cli(["train", *SMALL, "--out", str(trained)], capsys)  # the same run
    assert code == 0, err
    code, _, err = run_cli(["train", *SMALL, "--lr", "0.5", "--out", str(trained)], capsys)
    assert code == 2 and "holds a run with other settings (lr: 0.001 in the folder, 0.5 asked)" in err
    assert (trained / "final.npz").read_bytes() == before


def test_report_threshold_adds_a_level_to_summary_and_table(tmp_path, capsys):
    """--report-threshold 0.5: t_gen and the speed-up at 0.5 next to 0.99 and 0.95."""
    out = tmp_path / "t"
    code, table, err = run_cli(["ticket", "--p", "11", "--epochs", "40", "--quiet", "--lr", "1e-2",
                                "--report-threshold", "0.5", "--out", str(out)], capsys)
    assert code == 0, err
    summary = io.load_json(str(out / "summary.json"))
    assert set(summary["dense"]["thresholds"]) == {"0.5", "0.95", "0.99"}
    assert set(summary["speedups"]) == {"0.5", "0.95", "0.99"}
    assert "t_gen@.5" in table and "speed-up of t_gen(0.5)" in table


def test_grokking_times_with_an_extra_threshold():
    from minigrok.train import grokking_times
    metrics = {"epoch": [0, 10, 20, 30], "train_acc": [0.1, 0.6, 1.0, 1.0],
               "test_acc": [0.1, 0.2, 0.55, 0.96]}
    times = grokking_times(metrics, extra_threshold=0.5)
    assert times["0.5"] == {"t_mem": 10, "t_gen": 20, "tau_grok": 2.0}
    assert times["0.95"]["t_gen"] == 30 and times["0.99"]["t_gen"] is None
    assert set(grokking_times(metrics)) == {"0.95", "0.99"}


def test_a_finished_ticket_is_re_reported_at_a_new_threshold_without_training(tmp_path, capsys):
    out = tmp_path / "t"
    base = ["ticket", "--p", "11", "--epochs", "40", "--quiet", "--lr", "1e-2", "--out", str(out)]
    assert run_cli(base, capsys)[0] == 0
    dense = out / io.load_json(str(out / "summary.json"))["runs"]["dense"]
    before = (dense / "final.npz").stat().st_mtime_ns
    code, table, err = run_cli([*base, "--report-threshold", "0.3"], capsys)
    assert code == 0, err
    assert (dense / "final.npz").stat().st_mtime_ns == before  # not retrained
    assert "0.3" in io.load_json(str(dense / "summary.json"))["thresholds"]
    assert "speed-up of t_gen(0.3)" in table


def test_python_dash_m_minigrok_is_the_command():
    import os
    import subprocess
    import sys
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run([sys.executable, "-m", "minigrok", "prune", "--from", "missing.npz", "--rate", "0.5",
                           "--out", "never_written.npz"],
                          capture_output=True, text=True, env=env, cwd=root)
    assert done.returncode != 0 and "missing.npz" in done.stderr and "Traceback" not in done.stderr


def test_progress_lines_to_a_file():
    """Piped output gets a plain line every `every` steps; the first, before any step has
    been timed, says 'starting' instead of an ETA."""
    import io as stdio
    from minigrok.progress import progress_end, progress_start, progress_update
    stream = stdio.StringIO()
    bar = progress_start("dense", 0, 20, every=10, stream=stream)
    for step in range(21):
        progress_update(bar, step, f"test {step / 20:.3f}")
    progress_end(bar, "at epoch 20")
    lines = stream.getvalue().splitlines()
    assert [line.split()[2] for line in lines[:3]] == ["0/20", "10/20", "20/20"]
    assert lines[0].endswith("starting") and "nan" not in stream.getvalue()
    assert "ms/epoch ETA" in lines[1] and lines[3].startswith("dense done in")


def test_every_option_of_every_subcommand_has_a_help_that_gives_its_default():
    """A non-empty help for every argument; an option with a default says it (the value
    argparse holds, through %(default)s), one without says its default or that it is required."""
    import argparse
    from minigrok.cli import build_parser
    from minigrok.recipes.common import TICKET_STOP_AFTER
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, command in sub.choices.items():
        formatter = command._get_formatter()
        for action in command._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            text = formatter._expand_help(action) if action.help else ""
            where = f"{name} {'/'.join(action.option_strings) or action.dest}"
            assert text.strip(), f"{where} has no help"
            if not action.option_strings or isinstance(action, argparse._StoreTrueAction):
                continue
            assert "default" in text or "required" in text, f"{where}: {text}"
            if action.default is not None:
                assert str(action.default) in text, f"{where}: default {action.default!r} not in {text!r}"
        stop = command._option_string_actions.get("--stop-after")
        if stop is not None:
            expected = None if name == "train" else TICKET_STOP_AFTER
            assert stop.default == expected and ("default: none" if expected is None else
                                                 f"default {expected}") in formatter._expand_help(stop)


def test_d_model_sets_the_transformer_width(tmp_path):
    """--d-model N: d_model = d_head = d_mlp = N (one head), in the run's config and weights."""
    from minigrok import io
    out = str(tmp_path / "r")
    assert main(["train", "--model", "transformer", "--d-model", "16", "--p", "11", "--epochs", "3",
                 "--quiet", "--out", out]) == 0
    params = io.load_npz(os.path.join(out, "final.npz"))["params"]
    assert params["W_E"].shape == (16, 11) and params["W_Q"].shape == (1, 16, 16)
    assert params["W_in"].shape == (16, 16) and params["W_U"].shape == (16, 11)


def test_each_model_gets_its_default_split():
    """No --split: the MLP trains on the sym split, the Transformer on all ordered pairs; a
    --split given wins."""
    from minigrok.runs import with_defaults
    assert with_defaults({"model": "mlp"})["split"] == "sym"
    assert with_defaults({"model": "transformer"})["split"] == "all"
    assert with_defaults({"model": "transformer", "split": "sym"})["split"] == "sym"
    assert with_defaults({})["split"] == "sym"


def test_none_is_a_value_of_the_options_that_take_it():
    """--report-threshold none and --dense-stop-after none are settings, not "unset": an
    MNIST ticket reports no third threshold, an MLP ticket prunes at the cap."""
    from minigrok.cli import command_settings
    assert command_settings("minigrok ticket --task mnist")["config"]["report_threshold"] == 0.9
    assert command_settings("minigrok ticket --task mnist --report-threshold none")["config"]["report_threshold"] is None
    assert command_settings("minigrok ticket --report-threshold 0.5")["config"]["report_threshold"] == 0.5


@pytest.mark.parametrize("command, stop", [
    ("minigrok ticket", 10000),  # the MLP: once held 0.99 for 10,000 epochs (RESULTS.md)
    ("minigrok ticket --p 11 --op sub", 10000),
    ("minigrok ticket --model transformer", None),  # not studied: the paper's cap
    ("minigrok ticket --task parity", None),
    ("minigrok ticket --dense-stop-after none", None),  # the paper's policy, by name
    ("minigrok ticket --dense-stop-after 500", 500),
    ("minigrok sweep", None),  # the experiments prune at the cap
])
def test_when_the_ticket_prunes_by_default(command, stop):
    from minigrok.cli import command_settings
    assert command_settings(command)["options"]["dense_stop_after"] == stop
