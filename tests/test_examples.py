"""The examples a reader runs first still run (with few epochs)."""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_example(name, *args, code=0):
    """The example's stdout (its stderr when it is to fail with exit status `code`)."""
    # this checkout's minigrok, installed or not
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    result = subprocess.run([sys.executable, os.path.join(ROOT, "examples", name), *args],
                            capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == code, result.stderr[-2000:]
    return result.stdout if code == 0 else result.stderr


def test_train_mlp_example(tmp_path):
    out = run_example("01_train_mlp.py", "--p", "11", "--epochs", "30", "--out", str(tmp_path / "r"))
    assert "generalised (test acc >= 0.99) at epoch never" in out and (tmp_path / "r" / "accuracy.png").is_file()


@pytest.mark.parametrize("name, args, message", [
    ("01_train_mlp.py", ["--p", "1"], "p = 1 is not allowed: give an integer >= 2"),
    ("02_ticket_step_by_step.py", ["--rate", "1.5"], "rate = 1.5 is not allowed"),
    ("crosscheck_torch.py", ["--p", "1"], "p = 1 is not allowed")])
def test_a_bad_value_ends_an_example_with_one_line(name, args, message, tmp_path):
    if name == "crosscheck_torch.py":
        pytest.importorskip("torch")
    err = run_example(name, *args, "--out", str(tmp_path / "r"), code=1) if name.startswith("01") else \
        run_example(name, *args, code=1)
    assert err.strip().splitlines() == [err.strip()] and err.startswith("error: ") and message in err, err


def test_ticket_step_by_step_example():
    out = run_example("02_ticket_step_by_step.py", "--p", "11", "--epochs", "30")
    assert "mask density 0.400" in out and "ticket t_gen" in out


def test_which_pairs_fail_example(tmp_path):
    """On a small ticket folder: one block per run, its counts adding up to the test set."""
    import re
    from minigrok.cli import main
    out = str(tmp_path / "t")
    assert main(["ticket", "--model", "transformer", "--p", "11", "--epochs", "50", "--quiet", "--out", out]) == 0
    runs = [os.path.join(out, "runs", r) for r in sorted(os.listdir(os.path.join(out, "runs")))]
    text = run_example("03_which_pairs_fail.py", *runs)
    assert text.count("test pairs wrong") == 2 and "diagonal a = b" in text
    for wrong, total in re.findall(r": (\d+) of (\d+) test pairs wrong", text):
        assert 0 <= int(wrong) <= int(total)


def test_crosscheck_example():
    pytest.importorskip("torch")
    out = run_example("crosscheck_torch.py", "--p", "11", "--steps", "5", "--dtype", "float64")
    assert "after 5 AdamW steps" in out


@pytest.mark.parametrize("name", ["01_train_mlp.py", "02_ticket_step_by_step.py", "03_which_pairs_fail.py",
                                  "crosscheck_torch.py"])
def test_example_docstring_lists_the_options_its_parser_takes(name):
    """The usage line of each example's docstring names exactly the options of its parser."""
    import re
    if name == "crosscheck_torch.py":
        pytest.importorskip("torch")
    with open(os.path.join(ROOT, "examples", name)) as f:
        source = f.read()
    usage = next(line for line in source.splitlines() if line.strip().startswith(f"python examples/{name}"))
    documented = set(re.findall(r"--[a-z][a-z-]*", usage))
    accepted = set(re.findall(r"--[a-z][a-z-]*", run_example(name, "--help"))) - {"--help"}
    assert documented == accepted, (documented, accepted)
