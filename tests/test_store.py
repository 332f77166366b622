"""The run store (minigrok/store/): every result a user is shown comes from the settings
it names, after any crash, rerun or second process.

Each numbered test is a case a hostile user once hit (a kill at a chosen moment, a rerun
with other settings, two processes on one folder); the crash test injects a crash at
every file write of a train, a ticket and a stacked sweep and checks that running the
same command again gives exactly the files of an uninterrupted run."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from folders import tree

import minigrok.io as io_module
from minigrok import io
from minigrok.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["--p", "11", "--epochs", "12", "--checkpoint-every", "4", "--eval-every", "2", "--quiet"]


def cli(args, capsys):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(err, *fragments):
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("minigrok: error: "), err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


# ----------------------------------------------------------------------------------------
# comparing two output folders, wall times and versions aside

VOLATILE = {"wall_time_s", "versions"}


def _stable(obj):
    if isinstance(obj, dict):
        return {k: _stable(v) for k, v in obj.items() if k not in VOLATILE}
    if isinstance(obj, list):
        return [_stable(v) for v in obj]
    return obj


def assert_same_results(ref, got):
    """Same files; CSV byte for byte; JSON and .npz (arrays and meta) equal but for wall
    times; no temporary file or half-set-up folder anywhere."""
    names = lambda d: {p for p in tree(d) if not p.endswith(".lock")}
    assert names(got) == names(ref)
    for rel in names(ref):
        a, b = os.path.join(ref, rel), os.path.join(got, rel)
        if rel.endswith(".csv"):
            assert open(a, "rb").read() == open(b, "rb").read(), rel
        elif rel.endswith(".json"):
            assert _stable(io.load_json(a)) == _stable(io.load_json(b)), rel
        elif rel.endswith(".npz"):
            x, y = io.load_arrays(a), io.load_arrays(b)
            assert set(x) == set(y), rel
            for k in x:
                if k == "meta":
                    assert _stable(json.loads(str(x[k]))) == _stable(json.loads(str(y[k]))), rel
                else:
                    assert x[k].dtype == y[k].dtype and np.array_equal(x[k], y[k]), (rel, k)
    leftovers = [p for p in tree(got) if os.path.basename(p).startswith((".tmp-", ".setup-"))]
    assert not leftovers and not [d for d in os.listdir(os.path.dirname(got)) if d.startswith(".setup-")]


# ----------------------------------------------------------------------------------------
# a crash at every write

class Crash(BaseException):
    """A kill: nothing after it runs (no except clause catches it)."""


def crash_at(monkeypatch, k):
    """Make the k-th file write die after writing its temporary file, before the rename."""
    real, count = io_module.atomic_write, {"n": 0}

    def write(path, fill):
        count["n"] += 1
        if count["n"] == k:
            folder = os.path.dirname(os.path.abspath(path))
            os.makedirs(folder, exist_ok=True)
            with open(os.path.join(folder, ".tmp-crash-" + os.path.basename(path)), "wb") as f:
                fill(f)
            raise Crash(path)
        return real(path, fill)

    monkeypatch.setattr(io_module, "atomic_write", write)
    return count


COMMANDS = {
    "train": lambda out: ["train", *TINY, "--out", out],
    "ticket": lambda out: ["ticket", *TINY, "--lr", "1e-2", "--out", out],
    "sweep": lambda out: ["sweep", *TINY, "--rates", "0.5,0.9", "--seeds", "0", "--workers", "1", "--out", out],  # two tickets stacked
}


@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_crash_at_any_write_then_the_same_command_gives_the_uninterrupted_result(
        command, tmp_path, monkeypatch, capsys):
    ref = str(tmp_path / "ref" / "out")
    count = crash_at(monkeypatch, 0)  # counts the writes only
    assert cli(COMMANDS[command](ref), capsys)[0] == 0
    writes = count["n"]
    monkeypatch.undo()
    assert writes >= 12
    for k in range(1, writes + 1):
        out = str(tmp_path / f"k{k}" / "out")
        crash_at(monkeypatch, k)
        with pytest.raises(Crash):
            main(COMMANDS[command](out))
        monkeypatch.undo()
        code, _, err = cli(COMMANDS[command](out), capsys)
        assert code == 0, (k, err)
        assert_same_results(ref, out)


def test_1_sigkill_after_a_checkpoint_then_resume_and_8_a_second_writer(tmp_path, capsys):
    """A real SIGKILL right after checkpoints/epoch_2100.npz appears; meanwhile a second
    process asking to write the folder is refused with the first one's pid."""
    out, ref = str(tmp_path / "D"), str(tmp_path / "ref")
    args = ["train", "--p", "23", "--epochs", "3000", "--checkpoint-every", "100", "--quiet"]
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, "-m", "minigrok", *args, "--out", out], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    target = os.path.join(out, "checkpoints", "epoch_2100.npz")
    refused = False
    deadline = time.time() + 120
    while not os.path.exists(target) and time.time() < deadline:
        if not refused and os.path.exists(os.path.join(out, "init.npz")):
            code, _, err = cli(["train", "--resume", out, "--quiet"], capsys)  # case 8
            one_error_line(err, "being written by another minigrok process", f"pid {proc.pid}")
            refused = True
        time.sleep(0.0005)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL and refused
    assert not os.path.exists(os.path.join(out, "final.npz"))
    assert cli(["train", "--resume", out, "--quiet"], capsys)[0] == 0
    assert cli([*args, "--out", ref], capsys)[0] == 0
    assert_same_results(ref, out)


# ----------------------------------------------------------------------------------------
# reruns into one folder report what they ran

def _ticket(out, *extra):
    return ["ticket", "--p", "13", "--epochs", "300", "--checkpoint-every", "100", "--quiet",
            "--out", out, *extra]


def _reported(folder):
    """The ticket folder's summary, wall times and run folder names aside."""
    s = _stable(io.load_json(os.path.join(folder, "summary.json")))
    return {k: v for k, v in s.items() if k != "runs"}


def test_3_ticket_reruns_with_other_rates_and_scopes_report_exactly_a_fresh_run(tmp_path, capsys):
    T = str(tmp_path / "T")
    fresh = {}
    for name, extra in (("0.6", []), ("0.8", ["--rate", "0.8"]), ("layer", ["--scope", "layer"])):
        assert cli(_ticket(str(tmp_path / name), *extra), capsys)[0] == 0
        fresh[name] = _reported(str(tmp_path / name))
    dense_stamp = None
    for name, extra in (("0.6", []), ("0.8", ["--rate", "0.8"]), ("0.6", []), ("layer", ["--scope", "layer"])):
        assert cli(_ticket(T, *extra), capsys)[0] == 0
        assert _reported(T) == fresh[name], name
        masks = io.load_masks(os.path.join(T, "mask.npz"))
        runs = io.load_json(os.path.join(T, "summary.json"))["runs"]
        ticket = io.load_npz(os.path.join(T, runs["ticket"], "final.npz"))
        assert all(np.array_equal(ticket["masks"][k], masks[k]) for k in masks)
        stamp = os.stat(os.path.join(T, runs["dense"], "final.npz")).st_mtime_ns
        assert dense_stamp in (None, stamp)  # the dense run is trained once
        dense_stamp = stamp
    assert sorted(f.split("-")[4] for f in os.listdir(os.path.join(T, "runs"))) == \
        ["d0.200", "d0.400", "d0.400", "dense"]  # global 0.6, 0.8, layer 0.6


def test_4_ticket_with_more_epochs_extends_the_dense_run_and_never_mixes_masks(tmp_path, capsys):
    E, fresh = str(tmp_path / "E"), str(tmp_path / "fresh")
    short = ["ticket", "--p", "13", "--quiet"]
    assert cli([*short, "--epochs", "100", "--out", E], capsys)[0] == 0
    assert cli([*short, "--epochs", "200", "--out", E], capsys)[0] == 0
    assert cli([*short, "--epochs", "200", "--out", fresh], capsys)[0] == 0
    assert _reported(E) == _reported(fresh)
    runs = io.load_json(os.path.join(E, "summary.json"))["runs"]
    ticket = io.load_npz(os.path.join(E, runs["ticket"], "final.npz"))
    mask = io.load_masks(os.path.join(E, "mask.npz"))
    assert sum(int(np.count_nonzero(w[~mask[k]])) for k, w in ticket["params"].items()) == 0


# ----------------------------------------------------------------------------------------
# every check before the first write

def test_5_refusals_come_before_anything_is_written(tmp_path, capsys):
    D = str(tmp_path / "D")
    assert cli(["train", *TINY, "--out", D], capsys)[0] == 0
    before = tree(D)
    code, _, err = cli(["train", *TINY, "--lr", "0.5", "--out", D], capsys)
    one_error_line(err, "holds a run with other settings", "lr: 0.001 in the folder, 0.5 asked")
    assert tree(D) == before
    for args, message in (
            (["ticket", *TINY, "--rewind-epoch", "5000"], "rewind epoch 5000 is not allowed"),
            (["ticket", *TINY, "--rewind-epoch", "6"], "multiple of --checkpoint-every (4)"),
            (["ticket", *TINY, "--model", "fc"], "model 'fc' does not run on the modular task"),
            (["train", *TINY, "--model", "fc"], "model 'fc' does not run on the modular task"),
            (["train", "--task", "regression", "--model", "transformer", "--epochs", "2"],
             "model 'transformer' does not run on the regression task"),
            (["train", *TINY, "--checkpoint-every", "0"], "checkpoint_every = 0 is not allowed"),
            (["train", *TINY, "--seed", "-1"], "seed = -1 is not allowed")):
        out = str(tmp_path / "new")
        code, _, err = cli([*args, "--out", out], capsys)
        assert code == 2
        one_error_line(err, message)
        assert not os.path.exists(out)


def test_5_an_output_that_is_a_file_is_refused(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    for args in (["train", *TINY, "--out", f], ["train", *TINY, "--out", f / "under"],
                 ["ticket", *TINY, "--out", f]):
        code, _, err = cli(args, capsys)
        assert code == 2 and "is a file" in err
        one_error_line(err)
    assert f.read_text() == "x"


# ----------------------------------------------------------------------------------------
# resume

@pytest.fixture
def finished(tmp_path, capsys):
    D = str(tmp_path / "D")
    assert cli(["train", "--p", "11", "--epochs", "20", "--checkpoint-every", "5", "--quiet",
                "--out", D], capsys)[0] == 0
    return D


def test_6_resume_with_fewer_epochs_is_refused_and_changes_nothing(finished, capsys):
    before = tree(finished)
    code, _, err = cli(["train", "--resume", finished, "--epochs", "10"], capsys)
    one_error_line(err, "has trained 20 epochs, more than the 10 this command asks", "give --epochs >= 20")
    assert tree(finished) == before


def test_7_resume_checks_what_it_loads(finished, tmp_path, capsys):
    # config.json edited after the run was made
    cfg_path = os.path.join(finished, "config.json")
    cfg = io.load_json(cfg_path)
    io.save_json(cfg_path, {**cfg, "p": 7})
    before = tree(finished)
    code, _, err = cli(["train", "--resume", finished, "--epochs", "30"], capsys)
    one_error_line(err, "config.json no longer describes the run it holds", "p: 11 when it was created, 7")
    assert tree(finished) == before
    io.save_json(cfg_path, cfg)
    # a checkpoint of another run dropped into the folder
    other = str(tmp_path / "other")
    assert cli(["train", "--p", "11", "--seed", "1", "--epochs", "25", "--checkpoint-every", "25",
                "--quiet", "--out", other], capsys)[0] == 0
    foreign = os.path.join(finished, "checkpoints", "epoch_25.npz")
    os.replace(os.path.join(other, "checkpoints", "epoch_25.npz"), foreign)
    code, _, err = cli(["train", "--resume", finished, "--epochs", "30"], capsys)
    one_error_line(err, "epoch_25.npz' belongs to another run")
    # a checkpoint without the AdamW state
    own = io.load_npz(os.path.join(finished, "checkpoints", "epoch_20.npz"))
    io.save_npz(foreign, own["params"], None, None, {**own["meta"], "epoch": 25}, own["metrics"])
    code, _, err = cli(["train", "--resume", finished, "--epochs", "30"], capsys)
    one_error_line(err, "lacks the AdamW state")
    os.remove(foreign)
    # flags that would change the settings
    code, _, err = cli(["train", "--resume", finished, "--lr", "5", "--p", "99"], capsys)
    one_error_line(err, "--lr, --p cannot change them")
    code, _, err = cli(["train", "--resume", finished, "--out", finished], capsys)
    one_error_line(err, "--out cannot change them")
    # what is left after the refusals resumes fine
    assert cli(["train", "--resume", finished, "--epochs", "30", "--quiet"], capsys)[0] == 0


def test_11_resume_reads_the_equals_form_of_epochs(finished, capsys):
    assert cli(["train", "--resume", finished, "--epochs=30", "--quiet"], capsys)[0] == 0
    assert io.load_json(os.path.join(finished, "summary.json"))["epochs_run"] == 30


# ----------------------------------------------------------------------------------------
# files, sweeps, options

@pytest.mark.parametrize("umask, file_mode, dir_mode", [(0o022, 0o644, 0o755), (0o002, 0o664, 0o775)])
def test_9_files_get_the_permissions_of_the_umask(umask, file_mode, dir_mode, tmp_path, capsys):
    old = os.umask(umask)
    try:
        assert cli(["ticket", *TINY, "--out", tmp_path / "T"], capsys)[0] == 0
    finally:
        os.umask(old)
    for base, dirs, files in os.walk(tmp_path / "T"):
        for d in dirs:
            assert os.stat(os.path.join(base, d)).st_mode & 0o777 == dir_mode, d
        for f in files:
            assert os.stat(os.path.join(base, f)).st_mode & 0o777 == file_mode, f


def test_10_a_sweep_on_a_vector_task(tmp_path, capsys):
    out = str(tmp_path / "S")
    code, table, err = cli(["sweep", "--task", "parity", "--epochs", "20", "--eval-every", "5",
                            "--checkpoint-every", "10", "--rates", "0,0.5", "--seeds", "0",
                            "--quiet", "--out", out], capsys)
    assert code == 0, err
    assert "rate=0.5" in table
    assert [r["rate"] for r in io.load_json(os.path.join(out, "summary.json"))["results"]] == [0, 0.5]


def test_12_options_a_command_does_not_take_are_refused(tmp_path, capsys):
    out = str(tmp_path / "S")
    for args, message in ((["sweep", "--seed", "3"], "unrecognized arguments: --seed 3"),
                          (["experiment", "pai", "--seed", "3"], "unrecognized arguments: --seed 3"),
                          (["sweep", "--checkpoint-every", "0"], "checkpoint_every = 0"),
                          (["train", "--epochs", "1e3"], "invalid int value: '1e3'"),
                          (["train", "--epo", "5"], "unrecognized arguments: --epo")):
        code, _, err = cli([*args, "--quiet", "--out", out], capsys)
        assert code == 2
        one_error_line(err, message)
        assert not os.path.exists(out)


def test_14_a_run_of_other_numerics_is_never_continued_or_reused(finished, monkeypatch, capsys):
    """A folder made by code (or a BLAS, or a CPU) that rounds differently: the numerics
    fingerprint in its identity differs, so resuming it, or rerunning its command into it,
    is refused in one line and changes nothing."""
    import minigrok.runs
    before = tree(finished)
    monkeypatch.setattr(minigrok.runs, "fingerprint", lambda model: "0123456789abcdef")
    same_command = ["train", "--p", "11", "--epochs", "20", "--checkpoint-every", "5", "--quiet",
                    "--out", finished]
    for args in (["train", "--resume", finished, "--epochs", "20"], same_command):
        code, _, err = cli(args, capsys)
        assert code == 2
        one_error_line(err, "computed with other numerics", "0123456789abcdef")
        assert tree(finished) == before


def test_15_an_edited_or_broken_view_is_rebuilt_from_the_commit_never_reported(finished, capsys):
    """summary.json and metrics.csv are views of final.npz: an edited summary (a t_mem, a
    final accuracy), a deleted or cut metrics.csv are rebuilt by the next command, and
    what it prints comes from the commit."""
    same = ["train", "--p", "11", "--epochs", "20", "--checkpoint-every", "5", "--quiet", "--out", finished]
    _, printed, _ = cli(same, capsys)
    views = {name: open(os.path.join(finished, name), "rb").read() for name in ("summary.json", "metrics.csv")}
    summary = io.load_json(os.path.join(finished, "summary.json"))
    summary["t_mem"], summary["final"]["test_acc"] = 99, 0.77
    io.save_json(os.path.join(finished, "summary.json"), summary)
    code, out, _ = cli(same, capsys)
    assert code == 0 and out == printed and "= 99" not in out and "0.7700" not in out
    assert open(os.path.join(finished, "summary.json"), "rb").read() == views["summary.json"]
    for damage in ("delete", "cut"):
        path = os.path.join(finished, "metrics.csv")
        if damage == "delete":
            os.remove(path)
        else:
            with open(path, "wb") as f:
                f.write(views["metrics.csv"][:100])
        code, out, _ = cli(["train", "--resume", finished], capsys)
        assert code == 0 and out == printed
        assert open(path, "rb").read() == views["metrics.csv"]


def test_16_a_ticket_reports_the_dense_run_s_commit_not_its_edited_summary(tmp_path, capsys):
    out = str(tmp_path / "T")
    args = ["ticket", *TINY, "--lr", "1e-2", "--out", out]
    _, printed, _ = cli(args, capsys)
    dense = os.path.join(out, io.load_json(os.path.join(out, "summary.json"))["runs"]["dense"])
    summary = io.load_json(os.path.join(dense, "summary.json"))
    summary["thresholds"]["0.95"]["t_gen"] = summary["t_gen"] = 3
    io.save_json(os.path.join(dense, "summary.json"), summary)
    code, again, _ = cli(args, capsys)
    assert code == 0 and again == printed


def test_17_a_rerun_with_other_settings_leaves_no_curve_or_figure_of_the_old_one(tmp_path, capsys):
    """A sweep report rewritten with fewer rates, and a ticket folder reused for another
    model: the curves and figures of the earlier report go, the runs stay in the store."""
    out = str(tmp_path / "X")
    sweep = ["sweep", *TINY, "--seeds", "0", "--workers", "1", "--out", out]
    assert cli([*sweep, "--rates", "0,0.3,0.6"], capsys)[0] == 0
    assert len(os.listdir(os.path.join(out, "metrics"))) == 3
    assert cli([*sweep, "--rates", "0,0.6", "--op", "sub"], capsys)[0] == 0
    assert sorted(os.listdir(os.path.join(out, "metrics"))) == ["rate=0.0_dense_seed0.csv", "rate=0.6_seed0.csv"]
    assert len(os.listdir(os.path.join(out, "runs"))) == 5  # 3 runs of add, 2 of sub
    ticket = str(tmp_path / "T")
    assert cli(["ticket", *TINY, "--model", "transformer", "--out", ticket], capsys)[0] == 0
    assert os.path.isfile(os.path.join(ticket, "attention.png"))
    assert cli(["ticket", *TINY, "--out", ticket], capsys)[0] == 0
    assert not os.path.exists(os.path.join(ticket, "attention.png"))
    assert cli([*sweep, "--rates", "0,0.6", "--out", ticket], capsys)[0] == 0  # a sweep into it
    assert not {"mask.npz", "accuracy.png"} & set(os.listdir(ticket))
    assert cli(["ticket", *TINY, "--out", ticket], capsys)[0] == 0  # and back
    assert not {"results.csv", "rate-sweep.png"} & set(os.listdir(ticket))
    assert os.listdir(os.path.join(ticket, "metrics")) == []


def test_18_a_record_path_inside_the_output_or_empty_is_refused_before_training(tmp_path, capsys):
    out = str(tmp_path / "T")
    for record in (os.path.join(out, "summary.json"), os.path.join(out, "runs", "r.json"), ""):
        code, _, err = cli(["ticket", *TINY, "--out", out, "--record", record], capsys)
        assert code == 2
        one_error_line(err, f"--record {record!r}")
        assert not os.path.exists(out)


def test_19_a_folder_of_another_model_is_refused_naming_the_model(finished, capsys):
    """Not "other numerics" (the Transformer's fingerprint differs from the MLP's): the
    settings that differ come first."""
    before = tree(finished)
    code, _, err = cli(["train", "--p", "11", "--epochs", "20", "--checkpoint-every", "5",
                        "--model", "transformer", "--quiet", "--out", finished], capsys)
    assert code == 2 and tree(finished) == before
    one_error_line(err, "model: 'mlp' in the folder, 'transformer' asked")


def test_19b_a_setting_left_unset_reads_none_as_it_is_typed(finished, capsys):
    code, _, err = cli(["train", "--p", "11", "--epochs", "20", "--checkpoint-every", "5", "--stop-after", "7",
                        "--quiet", "--out", finished], capsys)
    assert code == 2
    one_error_line(err, "stop_after: none in the folder, 7 asked")


def test_20_a_rewind_to_an_epoch_the_shared_dense_run_never_saved_names_the_ones_it_has(tmp_path, capsys):
    out = str(tmp_path / "T")
    assert cli(["ticket", *TINY, "--lr", "1e-2", "--out", out], capsys)[0] == 0  # saved every 4
    code, _, err = cli(["ticket", *TINY, "--checkpoint-every", "2", "--lr", "1e-2",
                        "--rewind-epoch", "2", "--out", out], capsys)  # the last --checkpoint-every wins
    assert code == 2
    one_error_line(err, "cannot rewind to epoch 2: the dense run has checkpoints at 4, 8, 12 only")


def _dense_final(out, key):
    folder = [d for d in os.listdir(os.path.join(out, "runs")) if "-dense-" in d and d.endswith(key)][0]
    final = io.load_npz(os.path.join(out, "runs", folder, "final.npz"))
    return final["params"], open(os.path.join(out, "runs", folder, "metrics.csv"), "rb").read()


def test_21_commands_sharing_an_out_share_dense_epochs_whatever_their_stopping_rule(tmp_path, capsys):
    """`minigrok ticket` prunes the dense run once it has held 0.99 (here for 100 epochs),
    a sweep trains it to the cap: two runs, but the second starts from the first's
    checkpoint, in either order, and ends with the bits of a run trained from epoch 0."""
    small = ["--p", "23", "--split", "all", "--frac", "0.6", "--lr", "1e-2", "--epochs", "1000",
             "--eval-every", "10", "--checkpoint-every", "100", "--stop-after", "100", "--quiet"]
    ticket = ["ticket", *small, "--dense-stop-after", "100"]
    sweep = ["sweep", *small, "--rates", "0,0.6", "--seeds", "0", "--workers", "1"]
    fresh = {}
    for name, args in (("ticket", ticket), ("sweep", sweep)):
        out = str(tmp_path / f"fresh-{name}")
        assert cli([*args, "--out", out], capsys)[0] == 0
        fresh[name] = out
    keys = {name: io.load_json(os.path.join(out, "summary.json"))["runs"] for name, out in fresh.items()}
    key = {"ticket": keys["ticket"]["dense"][-12:],
           "sweep": [r for r in keys["sweep"] if "-dense-" in r][0][-12:]}
    for first, second in (("ticket", "sweep"), ("sweep", "ticket")):
        out = str(tmp_path / f"{first}-then-{second}")
        assert cli([*(ticket if first == "ticket" else sweep), "--out", out], capsys)[0] == 0
        code, _, err = cli([*[a for a in (ticket if second == "ticket" else sweep) if a != "--quiet"],
                            "--out", out], capsys)
        assert code == 0 and "starts from epoch" in err
        (params, csv), (fresh_params, fresh_csv) = _dense_final(out, key[second]), _dense_final(fresh[second], key[second])
        assert csv == fresh_csv
        assert all(np.array_equal(params[k], fresh_params[k]) for k in fresh_params)


@pytest.mark.parametrize("args, message", [
    (["train", "--p", "11", "--n-train", "5"], "--n-train 5 is not used by the modular task"),
    (["train", "--p", "11", "--data-dir", "."], "--data-dir . is not used by the modular task"),
    (["ticket", "--task", "parity", "--op", "mul"], "--op mul is not used by the parity task"),
    (["ticket", "--task", "regression", "--frac", "0.5"], "--frac 0.5 is not used by the regression task"),
    (["experiment", "ops", "--op", "sub", "--ops", "add", "--seeds", "0"], "ops does not take --op"),
    (["train", "--task", "regression", "--d-model", "8"], "not allowed for model 'fc'"),
])
def test_22_an_option_the_task_does_not_read_is_refused_not_written_into_its_config(args, message, tmp_path, capsys):
    """--n-train on the modular task was written into config.json while the run trained
    on --frac's pairs; --op on parity, --op on the ops experiment (it runs --ops) alike."""
    out = tmp_path / "o"
    code, _, err = cli([*args, "--epochs", "5", "--quiet", "--out", str(out)], capsys)
    assert code == 2 and not out.exists()
    one_error_line(err, message)


def test_23_analyze_describes_the_runs_its_folder_names_now(tmp_path, capsys):
    """A ticket rerun (another model) removes the analysis of the earlier ticket, a new
    analysis removes the files of an earlier one it does not write again; the ticket's
    mask is the ticket run's own (a mask.npz replaced by `prune` gave another density),
    its density and scope the summary's; and analyze holds the folder's lock."""
    small = ["--p", "11", "--epochs", "40", "--eval-every", "10", "--checkpoint-every", "10", "--quiet"]
    out = tmp_path / "X"
    assert cli(["ticket", *small, "--out", str(out)], capsys)[0] == 0
    assert cli(["analyze", str(out), "--max-checkpoints", "2", "--quiet"], capsys)[0] == 0
    assert "graph.png" in os.listdir(out / "analysis")
    assert cli(["ticket", *small, "--model", "transformer", "--d-model", "16", "--out", str(out)], capsys)[0] == 0
    assert not (out / "analysis").exists()
    assert cli(["analyze", str(out), "--max-checkpoints", "2", "--quiet"], capsys)[0] == 0
    written = set(os.listdir(out / "analysis"))
    assert "graph.png" not in written and all(
        os.path.getmtime(out / "analysis" / f) >= os.path.getmtime(out / "summary.json") for f in written)
    T = tmp_path / "T"  # its mask.npz replaced by `prune` at another rate and scope
    assert cli(["ticket", *small, "--rate", "0.8", "--scope", "layer", "--out", str(T)], capsys)[0] == 0
    dense = T / io.load_json(str(T / "summary.json"))["runs"]["dense"]
    assert cli(["prune", "--from", str(dense / "final.npz"), "--rate", "0.5", "--out", str(T / "mask.npz")], capsys)[0] == 0
    assert cli(["analyze", str(T), "--max-checkpoints", "2", "--quiet"], capsys)[0] == 0
    text = open(T / "analysis" / "jaccard.csv").read().splitlines()
    header = text[0].split(",")
    first = dict(zip(header, text[1].split(",")))
    assert abs(float(first["density"]) - 0.2) < 1e-9 and first["scope"] == "layer"
    kept = open(T / "analysis" / "density_per_layer.csv").read().splitlines()[1:]
    assert kept and all(abs(float(line.split(",")[-1]) - 0.2) < 1e-3 for line in kept)  # the ticket's 0.2
    from minigrok import store
    handle = store.lock(str(T))  # another minigrok process writing the folder
    try:
        code, _, err = cli(["analyze", str(T), "--quiet"], capsys)
    finally:
        store.unlock(handle)
    assert code == 2
    one_error_line(err, "being written by another minigrok process")
    code, _, err = cli(["analyze", str(T), "--scope", "", "--quiet"], capsys)
    assert code == 2
    one_error_line(err, "unknown pruning scope ''")


def test_24_prune_refuses_a_file_that_is_not_a_model_s_weights(tmp_path, capsys, finished):
    data = np.load(os.path.join(finished, "final.npz"))
    bad = {"split": os.path.join(finished, "split.npz")}
    np.savez(tmp_path / "three.npz", **{k: data[k] for k in ("W_E", "W_in", "W_out")})
    np.savez(tmp_path / "nan.npz", **{k: data[k] * (np.nan if k == "W_E" else 1) for k in ("W_E", "W_in", "W_out", "W_U")})
    for name, path in {**bad, "three": tmp_path / "three.npz", "nan": tmp_path / "nan.npz"}.items():
        code, _, err = cli(["prune", "--from", path, "--rate", "0.6", "--out", tmp_path / f"m-{name}.npz"], capsys)
        assert code == 2 and not (tmp_path / f"m-{name}.npz").exists()
        one_error_line(err, "NaN or inf" if name == "nan" else "not the weights of a minigrok model")


def test_25_a_rewound_ticket_says_where_its_epochs_count_from(tmp_path, capsys):
    code, out, _ = cli(["ticket", "--p", "11", "--epochs", "40", "--checkpoint-every", "10", "--rewind-epoch", "10",
                        "--quiet", "--out", tmp_path / "T"], capsys)
    assert code == 0 and "ticket rewound to the dense weights of epoch 10: its epochs count from there" in out


# ----------------------------------------------------------------------------------------
# a run that differs from a stored run only in when it stops starts from its checkpoint

def test_a_forked_run_ends_with_the_bits_of_a_run_trained_from_epoch_0(tmp_path):
    from minigrok import store
    from minigrok.errors import MinigrokError
    from minigrok.runs import fork_run, plan, train_runs
    base = {"p": 23, "frac": 0.8, "lr": 1e-2, "checkpoint_every": 20, "stop_threshold": 0.3}
    source = str(tmp_path / "source")  # trained on to its cap, past where the others stop
    train_runs([{"spec": plan({**base, "epochs": 300}), "dir": source}], quiet=True)
    for stop_after, epochs in ((40, 300), (1000, 260)):  # fires at ~230; never fires by the cap
        cfg = {**base, "epochs": epochs, "stop_after": stop_after}
        fresh, forked = str(tmp_path / f"fresh{stop_after}"), str(tmp_path / f"forked{stop_after}")
        want = train_runs([{"spec": plan(cfg), "dir": fresh}], quiet=True)[0]
        start = fork_run(plan(cfg), forked, source)
        assert start is not None and start > 100
        got = train_runs([{"spec": plan(cfg), "dir": forked}], quiet=True)[0]
        assert got["metrics"] == want["metrics"]
        assert got["summary"]["stopped_early"] == want["summary"]["stopped_early"] == (stop_after == 40)
        for k in want["params"]:
            assert np.array_equal(got["params"][k], want["params"][k]), k
        assert store.checkpoint_epochs(forked)[0] == start  # nothing before the copied one
        assert fork_run(plan(cfg), forked, source) is None  # a run already there: untouched
    with pytest.raises(MinigrokError, match="more than its stopping rule"):
        fork_run(plan({**base, "epochs": 300, "stop_after": 40, "lr": 2e-2}), str(tmp_path / "other"), source)
    assert not os.path.exists(tmp_path / "other")
