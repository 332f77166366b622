"""The test evaluation in a second process (evaluator.py): the same bits as in this
process, whatever stops or leaves the stack when; a dead evaluation process changes
nothing; it ends with its caller; and when it is used at all."""
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from processes import running

from minigrok import evaluator, threads, train
from minigrok.data import modular_dataset
from minigrok.errors import MinigrokError
from minigrok.models import get_model, model_config
from minigrok.pruning.edge_popup import weights_and_scores_model
from minigrok.train import DATA_KEYS, stack, train_loop

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMALL = {"mlp": {"d_emb": 24, "d_hidden": 16}, "transformer": {"d_model": 16, "d_head": 8,
                                                                "d_mlp": 16, "n_heads": 2}}
HP = {"lr": 1e-2, "weight_decay": 1.0, "betas": (0.9, 0.98), "eps": 1e-8, "epochs": 120,
      "eval_every": 1, "stop_after": None, "stop_threshold": 0.99}


@pytest.fixture(autouse=True)
def one_blas_thread():
    """As the command line has it (and the evaluation process always)."""
    before = threads.blas_info().get("threads")
    threads.set_blas_threads(1)
    yield
    if before:
        threads.set_blas_threads(before)


def _runs(name, K, p=11):
    """K runs of `name` at p: stacked params and data (float32, as the trainer's)."""
    cfg = model_config(name, p, "float32", **SMALL[name])
    model = get_model(name)
    params = stack([model.init(cfg, np.random.default_rng(i)) for i in range(K)])
    data = stack([{k: v for k, v in modular_dataset("add", p, 0.5, "all", i).items() if k in DATA_KEYS}
                  for i in range(K)])
    return model, params, data


def _train(model, params, data, hp, overlap, monkeypatch, stacked=True, wait=True):
    """train_loop with the evaluation here (overlap False) or in a process started before
    the first epoch (True; wait=False: the loop starts while the process starts); returns
    (outcomes, the evaluator used)."""
    used = []

    def opened(model, params, x, y, objective, n_evals, allowed=True):
        ev = evaluator.Overlapped(model, params, x, y, objective, wait=wait) if overlap else \
            evaluator.InProcess(model, x, y, objective)
        used.append(ev)
        return ev

    monkeypatch.setattr(train, "open_evaluator", opened)
    outcomes = train_loop(model, params, data, hp, stacked=stacked, quiet=True)
    monkeypatch.undo()
    return outcomes, used[0]


def _assert_same(a, b):
    for x, y in zip(a, b):
        assert x["metrics"] == y["metrics"]
        for part in ("params",):
            assert all(np.array_equal(x[part][k], y[part][k]) for k in x[part])
        assert all(np.array_equal(x["opt_state"][m][k], y["opt_state"][m][k])
                   for m in ("m", "v") for k in x["opt_state"][m])


@pytest.mark.parametrize("name, threshold, every", [("mlp", 0.3, 1), ("mlp", 0.3, 7),
                                                      ("transformer", 0.0, 1), ("transformer", 0.0, 7)])
def test_overlapped_evaluation_gives_the_bits_of_the_evaluation_here(name, threshold, every, monkeypatch):
    """Three stacked runs that stop early: the MLP's at different epochs (so the process is
    told to drop runs from its stack), the Transformer's all at once; logged every epoch
    or every 7th."""
    model, params, data = _runs(name, 3)
    hp = dict(HP, eval_every=every, stop_after=5 if name == "mlp" else 30, stop_threshold=threshold)
    here, _ = _train(model, params, data, hp, False, monkeypatch)
    there, ev = _train(model, params, data, hp, True, monkeypatch)
    rows = [len(o["metrics"]["epoch"]) for o in here]
    assert all(o["stopped_early"] for o in here) and (len(set(rows)) > 1) == (name == "mlp")
    assert ev.remote == max(rows)  # every row's test numbers came from the process
    assert [o["stopped_early"] for o in here] == [o["stopped_early"] for o in there]
    _assert_same(here, there)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the overflow of the diverging run
def test_runs_that_leave_the_stack_before_the_process_is_ready_are_left_out_there_too(monkeypatch):
    """Run 1 diverges at epoch 0 (weights x 1e30), while the process is still starting;
    the two others train on, evaluated there once it is ready."""
    model, params, data = _runs("mlp", 3)
    params = {k: v * np.array([1, 1e30, 1], dtype=v.dtype).reshape((3,) + (1,) * (v.ndim - 1))
              for k, v in params.items()}
    hp = dict(HP, epochs=4000)
    here, _ = _train(model, params, data, hp, False, monkeypatch)
    there, ev = _train(model, params, data, hp, True, monkeypatch, wait=False)
    assert here[1]["diverged"]["epoch"] == there[1]["diverged"]["epoch"] == 0
    assert 0 < ev.remote < 4001 and ev.seconds_here  # some rows here, the rest there
    _assert_same([here[0], here[2]], [there[0], there[2]])


def test_one_run_that_stops_early_ends_with_the_same_bits(monkeypatch):
    """Not stacked: the step after the row that stops the run is taken, then dropped; the
    run ends with the bits of one trained to that epoch without an early stop."""
    model, params, data = _runs("mlp", 1)
    params, data = ({k: v[0] for k, v in d.items()} for d in (params, data))
    hp = dict(HP, stop_after=5, stop_threshold=0.3)
    here, _ = _train(model, params, data, hp, False, monkeypatch, stacked=False)
    there, _ = _train(model, params, data, hp, True, monkeypatch, stacked=False)
    assert here[0]["stopped_early"] and len(here[0]["metrics"]["epoch"]) < HP["epochs"]
    _assert_same(here, there)
    to_the_stop = dict(HP, epochs=here[0]["metrics"]["epoch"][-1])  # no early stop: the same end
    _assert_same(here, _train(model, params, data, to_the_stop, True, monkeypatch, stacked=False)[0])


def test_a_dead_evaluation_process_changes_nothing(monkeypatch, capsys):
    """The process is killed after its 5th evaluation: the loop evaluates the parameters
    it hands over itself, says so once, and goes on with the same bits."""
    model, params, data = _runs("mlp", 2)
    here, _ = _train(model, params, data, HP, False, monkeypatch)
    real_submit = evaluator.Overlapped.submit

    def submit(self, params):
        if self.remote == 5 and self.process is not None:
            self.process.kill()
            self.process.wait()
        return real_submit(self, params)

    monkeypatch.setattr(evaluator.Overlapped, "submit", submit)
    there, ev = _train(model, params, data, HP, True, monkeypatch)
    assert ev.remote == 5 and ev.process is None
    _assert_same(here, there)
    assert capsys.readouterr().err.count("the evaluation process failed or ended; evaluating in this process") == 1


def test_the_evaluation_process_ends_with_its_caller():
    """A caller killed with SIGKILL leaves no evaluation process behind."""
    script = ("import sys, time; sys.path.insert(0, sys.argv[1])\n"
              "from minigrok import evaluator\n"
              "from minigrok.data import modular_dataset\n"
              "from minigrok.models import get_model\n"
              "d = modular_dataset('add', 11, 0.5, 'all', 0)\n"
              "m = get_model('mlp')\n"
              "ev = evaluator.Overlapped(m, {'W': d['test_x']}, d['test_x'], d['test_y'], 'ce', wait=True)\n"
              "print(ev.process.pid, flush=True); time.sleep(60)\n")
    caller = subprocess.Popen([sys.executable, "-c", script, ROOT], stdout=subprocess.PIPE, text=True)
    child = int(caller.stdout.readline())
    assert running(child)
    caller.send_signal(signal.SIGKILL)
    caller.wait()
    deadline = time.time() + 20
    while running(child) and time.time() < deadline:
        time.sleep(0.05)
    assert not running(child)


@pytest.mark.parametrize("setting, allowed, n_evals, expected", [
    ("off", True, 10**6, False), ("on", False, 1, True), ("auto", False, 10**6, False),
    ("auto", True, evaluator.MIN_EVALS - 1, False), ("", True, 10**6, None), ("auto", True, 10**6, None)])
def test_when_the_evaluation_takes_a_second_process(setting, allowed, n_evals, expected, monkeypatch):
    """None: where this process may use two cores (or more)."""
    monkeypatch.setenv(evaluator.ENV, setting)
    model, _, data = _runs("mlp", 1)
    if expected is None:
        expected = len(os.sched_getaffinity(0)) >= 2
    assert evaluator.overlap_wanted(model, data["test_x"], n_evals, allowed) is expected
    edge_popup = weights_and_scores_model(model, 0.5)  # built from closures: evaluated here
    assert not evaluator.overlap_wanted(edge_popup, data["test_x"], n_evals, allowed)
    threads.set_blas_threads(2)  # the process has one thread: it would round otherwise
    assert not evaluator.overlap_wanted(model, data["test_x"], n_evals, allowed)


def test_the_process_runs_the_caller_s_minigrok_not_one_in_the_working_directory(monkeypatch, tmp_path):
    """A broken minigrok/ in the working directory (where `python -m` and `-c` look first)
    is not what the process imports: it becomes ready and evaluates. It runs in a session
    of its own."""
    (tmp_path / "minigrok").mkdir()
    (tmp_path / "minigrok" / "__init__.py").write_text("raise ImportError('not this one')\n")
    monkeypatch.chdir(tmp_path)
    model, params, data = _runs("mlp", 1)
    params, data = ({k: v[0] for k, v in d.items()} for d in (params, data))
    ev = evaluator.Overlapped(model, params, data["test_x"], data["test_y"], "ce", wait=True)
    try:
        assert ev.ready
        assert os.getsid(ev.process.pid) != os.getsid(0)  # a terminal's Ctrl-C reaches the caller only
        ev.submit(params)
        there = ev.result()
    finally:
        ev.close()
    assert ev.remote == 1 and [np.asarray(v).tolist() for v in there] == \
        [[float(v)] for v in train.evaluate(model, params, data["test_x"], data["test_y"])]


def test_a_bad_setting_is_named(monkeypatch):
    monkeypatch.setenv(evaluator.ENV, " yes ")
    with pytest.raises(MinigrokError, match="MINIGROK_EVAL_PROCESS=' yes ' is not allowed: give auto, on, off"):
        evaluator.overlap_wanted(get_model("mlp"), np.zeros((2, 2), dtype=np.int64), 10**6)


def test_the_command_line_refuses_a_bad_setting_before_writing(monkeypatch, tmp_path, capsys):
    from minigrok.cli import main
    monkeypatch.setenv(evaluator.ENV, "2")
    assert main(["train", "--p", "11", "--epochs", "10", "--quiet", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["minigrok: error: MINIGROK_EVAL_PROCESS='2' is not allowed: give auto, on, off"]
    assert not (tmp_path / "r").exists()
    a = str(tmp_path / "a.npz")
    np.savez(a, w=np.ones(3))
    assert main(["compare", a, a]) == 0  # commands that do not train do not read it


def test_no_process_to_be_had_means_the_evaluation_stays_here(monkeypatch):
    def refused(*args, **kwargs):
        raise OSError(11, "Resource temporarily unavailable")

    monkeypatch.setenv(evaluator.ENV, "on")
    monkeypatch.setattr(evaluator.subprocess, "Popen", refused)
    model, params, data = _runs("mlp", 1)
    ev = evaluator.open_evaluator(model, params, data["test_x"], data["test_y"], "ce", 10**6)
    assert type(ev) is evaluator.InProcess
