"""Every bad input gets one line `minigrok: error: ...`, exit status 2, and nothing is
written or changed; no bad number goes through (settings.py's table, the file checks,
divergence, the memory estimate), and a hypothesis fuzz test drives every option with
random bad values."""
import os
import resource
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from folders import tree
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from minigrok import io
from minigrok.cli import main
from minigrok.errors import MinigrokError
from minigrok.settings import RULES, check_settings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAST = ["--p", "11", "--epochs", "6", "--checkpoint-every", "3", "--quiet"]


def refused(args, capsys, *fragments):
    """main(args) exits 2 with one error line holding the fragments, and no traceback."""
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("minigrok: error: "), (args, err)
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


# ----------------------------------------------------------------------------------------
# settings that used to be accepted and trained to NaN or nonsense

@pytest.mark.parametrize("args, message", [
    (["train", "--lr", "inf"], "lr = inf is not allowed: give a finite number > 0"),
    (["train", "--wd", "inf"], "weight_decay = inf"),
    (["train", "--kappa", "inf"], "kappa = inf"),
    (["train", "--beta1", "1.5"], "beta1 = 1.5 is not allowed: give a finite number in [0, 1)"),
    (["train", "--beta1", "nan"], "beta1 = nan"),
    (["train", "--beta2", "1"], "beta2 = 1.0"),
    (["train", "--beta2", "-1"], "beta2 = -1.0"),
    (["train", "--stop-threshold", "1.5"], "stop_threshold = 1.5"),
    (["train", "--stop-threshold", "nan"], "stop_threshold = nan"),
    (["train", "--stop-threshold", "-1"], "stop_threshold = -1.0"),
    (["train", "--checkpoint-every", "-1"], "checkpoint_every = -1"),
    (["train", "--checkpoint-every", "0"], "checkpoint_every = 0"),
    (["train", "--seed", "-1"], "seed = -1"),
    (["ticket", "--seed", "-1"], "seed = -1"),
    (["sweep", "--seeds", "-1"], "seed = -1 is not allowed"),
    (["train", "--p", "100003"], "p = 100003 needs about"),
    (["train", "--p", "3037000499"], "p = 3037000499 needs about"),
    (["ticket", "--rate", "0.9999999"], "keeps none of the"),
    (["train", "--model", "mlp", "--d-model", "64"], "--d-model 64 is not allowed for model 'mlp'"),
    (["train", "--model", "transformer", "--d-model", "0"], "d_model = 0"),
    (["experiment", "edge-popup", "--ep-lr", "nan"], "ep_lr = nan"),
    (["train", "--epochs", "1e3"], "invalid int value: '1e3'"),
    (["train", "--seed", "1.5"], "invalid int value: '1.5'"),
])
def test_bad_settings_are_refused_before_anything_is_written(args, message, tmp_path, capsys):
    out = tmp_path / "out"
    refused([*args, "--quiet", "--out", out], capsys, message)
    assert not out.exists()


def test_the_table_is_the_python_api_too():
    for cfg, message in (({"lr": float("nan")}, "lr = nan"), ({"epochs": True}, "epochs = True"),
                         ({"betas": [0.9]}, "betas = [0.9]"), ({"p": "67"}, "p = '67'")):
        with pytest.raises(MinigrokError, match=message.replace("[", r"\[").replace("]", r"\]")):
            check_settings(cfg)
    assert set(RULES) >= {"lr", "weight_decay", "beta1", "beta2", "eps", "kappa", "stop_threshold",
                          "report_threshold", "checkpoint_every", "seed", "rate", "density"}


def test_prune_refuses_a_rate_that_keeps_nothing(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", *FAST, "--out", str(run)]) == 0
    for flag, value in (("--rate", "0.9999999"), ("--density", "1e-9"), ("--rate", "nan")):
        refused(["prune", "--from", run / "final.npz", flag, value, "--out", tmp_path / "m.npz"], capsys)
        assert not (tmp_path / "m.npz").exists()
    refused(["prune", "--from", run / "final.npz", "--rate", "0.5", "--out", tmp_path], capsys, "is a folder")


# ----------------------------------------------------------------------------------------
# bad files

@pytest.fixture
def run_dir(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", *FAST, "--out", str(out)]) == 0
    capsys.readouterr()
    return out


def _params(run_dir):
    return io.load_npz(str(run_dir / "init.npz"))["params"]


def test_bad_init_files(run_dir, tmp_path, capsys):
    params = _params(run_dir)
    for name, change, message in (
            ("nan", lambda w: np.where(w > 0, np.nan, w), "holds NaN or inf"),
            ("inf", lambda w: np.where(w > 0, np.inf, w), "holds NaN or inf"),
            ("complex", lambda w: w.astype(np.complex64), "holds complex64 values"),
            ("int", lambda w: w.astype(np.int64), "holds int64 values")):
        path = tmp_path / f"{name}.npz"
        np.savez(path, **{k: change(w) for k, w in params.items()})
        refused(["train", *FAST, "--init", path, "--out", tmp_path / "o"], capsys, message)
        assert not (tmp_path / "o").exists()


def test_bad_mask_files(run_dir, tmp_path, capsys):
    params = _params(run_dir)
    for name, value in (("two", 2.0), ("half", 0.5), ("minus", -1.0), ("nan", np.nan)):
        path = tmp_path / f"{name}.npz"
        np.savez(path, **{f"mask/{k}": np.where(np.arange(w.size).reshape(w.shape) % 2, value, 1.0)
                          for k, w in params.items()})
        refused(["train", *FAST, "--mask", path, "--out", tmp_path / "o"], capsys,
                "a mask holds booleans, or 0 and 1")
    path = tmp_path / "false.npz"
    io.save_npz(str(path), masks={k: np.zeros(w.shape, bool) for k, w in params.items()})
    refused(["train", *FAST, "--mask", path, "--out", tmp_path / "o"], capsys, "keeps no weight at all")
    assert not (tmp_path / "o").exists()


def test_npz_members_that_are_not_numbers(run_dir, tmp_path, capsys):
    strings = tmp_path / "strings.npz"
    np.savez(strings, **_params(run_dir), note=np.array(["a", "b"]))
    refused(["train", *FAST, "--init", strings, "--out", tmp_path / "o"], capsys, "holds <U1 values")
    not_npy = tmp_path / "not_npy.npz"
    with zipfile.ZipFile(not_npy, "w") as z:
        z.writestr("W_E.npy", b"definitely not an array")
    refused(["train", *FAST, "--init", not_npy, "--out", tmp_path / "o"], capsys, "not a valid .npz")
    refused(["analyze", not_npy], capsys)


def test_a_checkpoint_with_wrong_shapes_is_refused_on_resume(run_dir, capsys):
    ckpt = str(run_dir / "checkpoints" / "epoch_3.npz")
    c = io.load_npz(ckpt)
    os.remove(run_dir / "final.npz")
    os.remove(run_dir / "checkpoints" / "epoch_6.npz")
    bad = {k: (w[:, :-1] if k == "W_E" else w) for k, w in c["params"].items()}
    io.save_npz(ckpt, bad, None, c["opt_state"], c["meta"], c["metrics"])
    before = tree(run_dir)
    refused(["train", "--resume", run_dir], capsys, "epoch_3.npz['W_E'] has shape")
    assert tree(run_dir) == before


def test_malformed_files_in_resume_and_analyze(run_dir, capsys):
    cfg = io.load_json(str(run_dir / "config.json"))
    (run_dir / "config.json").write_text("{not json")
    refused(["train", "--resume", run_dir], capsys, "not valid JSON")
    io.save_json(str(run_dir / "config.json"), {**cfg, "lr": "fast"})
    refused(["train", "--resume", run_dir], capsys, "no longer describes the run")
    io.save_json(str(run_dir / "config.json"), cfg)
    (run_dir / "summary.json").write_text("[1, 2")  # a view: rebuilt, never trusted
    assert main(["train", "--resume", str(run_dir), "--quiet"]) == 0
    assert io.load_json(str(run_dir / "summary.json"))["epochs_run"] == 6
    (run_dir / "metrics.csv").write_text("epoch,train_loss\n1,x\n")
    refused(["analyze", run_dir, "--quiet"], capsys, "is not a minigrok metrics file")
    folder = run_dir.parent / "ticket_like"
    folder.mkdir()
    io.save_json(str(folder / "summary.json"), {"runs": {"dense": 3, "ticket": None}})
    refused(["analyze", folder], capsys, "not a minigrok run")


# ----------------------------------------------------------------------------------------
# divergence and memory

def test_a_diverging_run_stops_at_once_and_writes_no_result(tmp_path, capsys):
    out = tmp_path / "d"
    args = ["train", "--p", "11", "--epochs", "50", "--kappa", "1e15", "--checkpoint-every", "10",
            "--quiet", "--out", out]
    line = refused(args, capsys, "training diverged", "at epoch 0", "no result was written")
    assert not (out / "final.npz").exists()
    summary = io.load_json(str(out / "summary.json"))
    assert summary["diverged"]["epoch"] == 0 and "final" not in summary
    assert refused(args, capsys) == line  # deterministic: said again, not trained again
    # in a stack, the diverging run leaves it and the others finish
    sweep = ["sweep", "--p", "11", "--epochs", "20", "--kappa", "1e15", "--rates", "0.5",
             "--seeds", "0", "--quiet", "--out", tmp_path / "s"]
    refused(sweep, capsys, "training diverged")


def test_memory_under_an_address_space_limit(tmp_path):
    """`ulimit -v`: refused by the estimate, or a MemoryError caught into one line."""
    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (2 * 2**30, 2 * 2**30))
    env = {**os.environ, "PYTHONPATH": ROOT, "OPENBLAS_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "minigrok", "train", "--p", "2003", "--epochs", "2",
                           "--quiet", "--out", str(tmp_path / "m")], capture_output=True, text=True,
                          env=env, preexec_fn=limit)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and lines[0].startswith("minigrok: error: "), done.stderr
    assert not (tmp_path / "m").exists()


# ----------------------------------------------------------------------------------------
# the fuzz test: random bad values for every option of every command

NOT_NUMBERS = st.sampled_from(["", "x", "1,2", "0x1g", "--", "one", "1e"])
BAD_FLOAT = st.one_of(st.sampled_from(["nan", "inf", "-inf", "NaN"]), NOT_NUMBERS)
NEGATIVE = st.integers(-10**12, -1).map(str)
NOT_INT = st.one_of(NOT_NUMBERS, st.sampled_from(["1.5", "1e3", "nan", "inf"]))


def _floats_outside(low, high, low_open, high_open):
    """Finite numbers outside an interval, written as text."""
    below = st.floats(-1e12, low, allow_nan=False, exclude_max=not low_open)
    above = st.floats(high, 1e12, allow_nan=False, exclude_min=not high_open)
    return st.one_of(below, above).map(repr)


UNIT_CLOSED = _floats_outside(0.0, 1.0, True, False)  # allowed (0, 1]
UNIT_OPEN = _floats_outside(0.0, 1.0, True, True)  # allowed (0, 1)
RATE = _floats_outside(0.0, 1.0, False, True)  # allowed [0, 1)
POSITIVE = st.floats(-1e12, 0.0, allow_nan=False).map(repr)  # allowed > 0
BAD = {  # option -> strategy of values it must refuse
    "--lr": st.one_of(BAD_FLOAT, POSITIVE), "--kappa": st.one_of(BAD_FLOAT, POSITIVE),
    "--wd": st.one_of(BAD_FLOAT, st.floats(-1e12, -1e-300).map(repr)),
    "--beta1": st.one_of(BAD_FLOAT, RATE), "--beta2": st.one_of(BAD_FLOAT, RATE),
    "--frac": st.one_of(BAD_FLOAT, UNIT_OPEN),
    "--stop-threshold": st.one_of(BAD_FLOAT, UNIT_CLOSED),
    "--report-threshold": st.one_of(BAD_FLOAT, UNIT_CLOSED),
    "--p": st.one_of(NOT_INT, st.integers(-10**6, 1).map(str), st.integers(10**5, 10**15).map(str)),
    "--epochs": st.one_of(NOT_INT, NEGATIVE), "--seed": st.one_of(NOT_INT, NEGATIVE),
    "--eval-every": st.one_of(NOT_INT, st.integers(-10**6, 0).map(str)),
    "--checkpoint-every": st.one_of(NOT_INT, st.integers(-10**6, 0).map(str)),
    "--stop-after": st.one_of(NOT_INT, NEGATIVE),
    "--n-train": st.one_of(NOT_INT, st.integers(-10**6, 0).map(str)),
    "--op": NOT_NUMBERS, "--split": NOT_NUMBERS, "--dtype": st.sampled_from(["float16", "int", "", "f32"]),
    "--model": st.sampled_from(["cnn", "", "MLP", "fc"]), "--task": NOT_NUMBERS,
    "--backend": st.sampled_from(["jax", "", "torch"]),
    "--blas-threads": st.one_of(NOT_INT, st.integers(-10**6, 0).map(str)),
    "--init": st.sampled_from(["missing.npz", "corrupt.npz"]),
    "--mask": st.sampled_from(["missing.npz", "corrupt.npz"]),
}
RECIPE_BAD = {
    "--rate": st.one_of(BAD_FLOAT, RATE, st.sampled_from(["0", "0.9999999"])),
    "--scope": NOT_NUMBERS,
    "--rewind-epoch": st.one_of(NOT_INT, NEGATIVE, st.sampled_from(["7", "99999"])),
    "--dense-stop-after": st.one_of(NOT_INT, NEGATIVE),
}
SWEEP_BAD = {
    "--workers": st.one_of(NOT_INT, st.integers(-10**6, 0).map(str)),
    "--rates": st.one_of(NOT_NUMBERS.filter(bool), st.sampled_from(["0.1,0.1", "1.0", "nan", "-0.1,0.2"])),
    "--seeds": st.one_of(NOT_NUMBERS.filter(lambda s: s not in ("", "1,2")), st.sampled_from(["-1", "0,0", "1.5"])),
}
COMMANDS = {
    "train": (["train"], BAD),
    "ticket": (["ticket"], {**BAD, **RECIPE_BAD}),
    "sweep": (["sweep"], {**{k: v for k, v in BAD.items() if k not in ("--seed", "--init", "--mask")},
                          **SWEEP_BAD}),
    "experiment": (["experiment", "pai"], {**{k: v for k, v in BAD.items()
                                              if k not in ("--seed", "--init", "--mask", "--model")},
                                           **SWEEP_BAD, "--rate": RECIPE_BAD["--rate"]}),
}
CASES = [(command, option) for command, (_, table) in COMMANDS.items() for option in table]


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(st.sampled_from(CASES), st.data())
def test_fuzz_every_option_with_bad_values(tmp_path_factory, case, data):
    """One random bad value for one random option of train / ticket / sweep / experiment,
    the rest valid and small: exit 2, one line, no traceback, nothing written or changed."""
    command, option = case
    prefix, table = COMMANDS[command]
    value = data.draw(table[option], label=option)
    work = tmp_path_factory.mktemp("fuzz")
    (work / "corrupt.npz").write_bytes(b"not a zip")
    existing = work / "existing"
    existing.mkdir()
    (existing / "keep.txt").write_text("mine")
    before = tree(work)
    out = work / "new"
    args = [*prefix, "--p", "11", "--epochs", "4", "--checkpoint-every", "2", "--quiet",
            option, value, "--out", str(out)]
    if option in ("--init", "--mask"):
        args[args.index(value)] = str(work / value)
    cwd = os.getcwd()
    os.chdir(work)
    try:
        import io as stdio
        from contextlib import redirect_stderr, redirect_stdout
        err, sink = stdio.StringIO(), stdio.StringIO()
        with redirect_stderr(err), redirect_stdout(sink):
            code = main(args)
    finally:
        os.chdir(cwd)
    lines = err.getvalue().strip().splitlines()
    assert code == 2, (args, err.getvalue(), sink.getvalue()[-300:])
    assert len(lines) == 1 and lines[0].startswith("minigrok: error: "), (args, err.getvalue())
    assert tree(work) == before and not out.exists(), args


def test_checkpoint_every_none_is_explicit(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--p", "11", "--epochs", "6", "--checkpoint-every", "none", "--quiet",
                 "--out", str(out)]) == 0
    assert not (out / "checkpoints").exists() and (out / "final.npz").exists()
    refused(["ticket", "--p", "11", "--epochs", "6", "--checkpoint-every", "none", "--rewind-epoch",
             "3", "--quiet", "--out", tmp_path / "t"], capsys, "rewind epoch 3 is not allowed")
    assert main(["ticket", "--p", "11", "--epochs", "6", "--checkpoint-every", "None", "--quiet",
                 "--out", str(tmp_path / "t")]) == 0
