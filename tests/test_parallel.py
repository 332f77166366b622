"""Sweeps on every core and on a Dask cluster (minigrok/parallel.py, cluster.py): a unit's
numbers do not depend on where or in which order it ran, a dead worker loses no finished
unit, and a missing or unreachable cluster is one line."""
import os
import signal
import subprocess
import sys
import time

import pytest
from processes import running
from test_store import assert_same_results

import minigrok.cluster as cluster
from minigrok import io
from minigrok.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SWEEP = ["sweep", "--p", "67", "--epochs", "40", "--eval-every", "10", "--checkpoint-every", "20",
         "--rates", "0,0.5", "--seeds", "0,1", "--quiet"]


@pytest.fixture(scope="module")
def one_process(tmp_path_factory):
    """The sweep in this process, its tickets stacked (--workers 1): the reference."""
    out = str(tmp_path_factory.mktemp("ref") / "out")
    assert main([*SWEEP, "--workers", "1", "--out", out]) == 0
    return out


def test_two_local_workers_give_the_same_bits(one_process, tmp_path, capsys):
    out = str(tmp_path / "out")
    code = main([*SWEEP[:-1], "--workers", "2", "--out", out])  # not quiet: the unit lines
    err = capsys.readouterr().err
    assert code == 0, err
    assert_same_results(one_process, out)
    assert err.count("[minigrok] ") >= 4 and "2/2 " in err  # a line per finished unit
    # each ticket is what `minigrok ticket` alone gives (same seed, rate, settings)
    ticket = str(tmp_path / "alone")
    assert main(["ticket", *SWEEP[1:9], "--rate", "0.5", "--seed", "1", "--quiet", "--out", ticket]) == 0
    alone = io.load_json(os.path.join(ticket, "summary.json"))["runs"]["ticket"]
    assert os.path.basename(alone) in os.listdir(os.path.join(out, "runs"))
    assert open(os.path.join(ticket, alone, "metrics.csv")).read() == \
        open(os.path.join(out, "runs", os.path.basename(alone), "metrics.csv")).read()


def test_a_dask_local_cluster_gives_the_same_bits(one_process, tmp_path, capsys):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as local:
        out = str(tmp_path / "out")
        assert main([*SWEEP, "--scheduler", local.scheduler_address, "--out", out]) == 0
    assert_same_results(one_process, out)


def test_dask_missing_or_unreachable_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if the extra were not installed
    assert main([*SWEEP, "--scheduler", "tcp://127.0.0.1:1", "--out", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "minigrok: error: --scheduler needs Dask's distributed: pip install 'minigrok[cluster]'"
    monkeypatch.undo()
    pytest.importorskip("distributed")
    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT", "1s")
    assert main([*SWEEP, "--scheduler", "tcp://127.0.0.1:1", "--out", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("minigrok: error: cannot reach the Dask scheduler at 'tcp://127.0.0.1:1'")
    assert "\n" not in err


def _pool_workers(pid):
    """Pids of the process-pool workers pid started (not its resource tracker)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parent = int(f.read().rsplit(")", 1)[1].split()[1])
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    cmdline = f.read()
            except (OSError, IndexError, ValueError):
                continue
            if parent == pid and b"spawn_main" in cmdline and b"resource_tracker" not in cmdline:
                found.append(int(entry))
    return found


def test_a_killed_worker_loses_no_finished_unit(tmp_path, capsys):
    """SIGKILL one of two local workers once a unit has finished: the command ends with
    one line, the finished units stay, and running it again gives the files of a run
    that was never interrupted."""
    args = ["sweep", "--p", "23", "--epochs", "1500", "--checkpoint-every", "100", "--rates", "0.5",
            "--seeds", "0,1,2", "--quiet"]
    out, ref = str(tmp_path / "out"), str(tmp_path / "ref")
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, "-m", "minigrok", *args, "--workers", "2", "--out", out],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline, killed = time.time() + 120, False
    while time.time() < deadline and proc.poll() is None and not killed:
        runs = os.path.join(out, "runs")
        finished = [d for d in os.listdir(runs) if os.path.exists(os.path.join(runs, d, "final.npz"))] \
            if os.path.isdir(runs) else []
        workers = _pool_workers(proc.pid)
        if finished and len(workers) >= 2:
            os.kill(workers[0], signal.SIGKILL)
            killed = True
        time.sleep(0.01)
    _, err = proc.communicate(timeout=120)
    assert killed and proc.returncode == 2, err
    assert err.strip().splitlines()[-1].startswith("minigrok: error: a worker process died")
    finished = [d for d in os.listdir(os.path.join(out, "runs"))
                if os.path.exists(os.path.join(out, "runs", d, "final.npz"))]
    assert finished  # kept
    assert main([*args, "--workers", "2", "--out", out]) == 0
    assert main([*args, "--workers", "1", "--out", ref]) == 0
    assert_same_results(ref, out)


def test_the_pool_workers_end_with_the_sweep_that_started_them(tmp_path):
    """SIGKILL the sweep itself once its pool workers train: they end within seconds (a
    ProcessPoolExecutor's workers would wait for work forever). What they trained is kept
    as a killed worker's is (test_a_killed_worker_loses_no_finished_unit)."""
    args = ["sweep", "--p", "23", "--epochs", "3000", "--checkpoint-every", "100", "--rates", "0.5",
            "--seeds", "0,1", "--quiet", "--workers", "2", "--out", str(tmp_path / "out")]
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, "-m", "minigrok", *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    runs, deadline, workers = tmp_path / "out" / "runs", time.time() + 120, []
    while time.time() < deadline and proc.poll() is None and not (
            len(workers) == 2 and runs.is_dir() and any((runs / r / "checkpoints").is_dir() for r in os.listdir(runs))):
        workers = _pool_workers(proc.pid)  # and wait until they train
        time.sleep(0.05)
    assert len(workers) == 2
    proc.kill()
    proc.wait()
    deadline = time.time() + 30
    while time.time() < deadline and any(map(running, workers)):
        time.sleep(0.1)
    assert not any(map(running, workers))


def test_the_same_seed_gives_the_same_bits_on_any_blas_thread_count(tmp_path):
    """The command line pins the BLAS to one thread (--blas-threads 1), whatever the
    environment asked for when NumPy loaded: the same run under OPENBLAS_NUM_THREADS=1
    and =2 gives identical files, and summary.json records the thread count used."""
    outs = []
    for n in (1, 2):
        out = str(tmp_path / f"threads{n}")
        env = {**os.environ, "PYTHONPATH": ROOT, "OPENBLAS_NUM_THREADS": str(n), "OMP_NUM_THREADS": str(n)}
        done = subprocess.run([sys.executable, "-m", "minigrok", "train", "--p", "67", "--epochs", "150",
                               "--checkpoint-every", "50", "--quiet", "--out", out],
                              env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert io.load_json(os.path.join(out, "summary.json"))["versions"]["blas"]["threads"] == 1
        outs.append(out)
    assert_same_results(outs[0], outs[1])


def test_a_dask_worker_killed_mid_sweep_loses_nothing_and_its_unit_is_retried(tmp_path):
    """SIGKILL a Dask worker once a unit has finished: Dask's nanny restarts it, the unit it
    held runs again (continuing from its checkpoint), and the sweep ends as one that was
    never interrupted."""
    distributed = pytest.importorskip("distributed")
    args = ["sweep", "--p", "23", "--epochs", "1500", "--checkpoint-every", "100", "--rates", "0.5",
            "--seeds", "0,1,2", "--quiet"]
    out, ref = str(tmp_path / "out"), str(tmp_path / "ref")
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as local, distributed.Client(local) as client:
        proc = subprocess.Popen([sys.executable, "-m", "minigrok", *args, "--scheduler",
                                 local.scheduler_address, "--out", out], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline, killed = time.time() + 120, False
        while time.time() < deadline and proc.poll() is None and not killed:
            runs = os.path.join(out, "runs")
            if os.path.isdir(runs) and any(os.path.exists(os.path.join(runs, d, "final.npz"))
                                           for d in os.listdir(runs)):
                pids = client.run(os.getpid)
                os.kill(next(iter(pids.values())), signal.SIGKILL)
                killed = True
            time.sleep(0.01)
        _, err = proc.communicate(timeout=300)
    assert killed and proc.returncode == 0, err
    assert main([*args, "--workers", "1", "--out", ref]) == 0
    assert_same_results(ref, out)
