"""Modular data: every op against Python ints, split sizes, clear errors."""
import numpy as np
import pytest

from minigrok.data.modular import OPERATIONS, modular_dataset, symmetric_ceiling
from minigrok.errors import MinigrokError

PY_OPS = {
    "add": lambda a, b, p: (a + b) % p,
    "sub": lambda a, b, p: (a - b) % p,
    "mul": lambda a, b, p: (a * b) % p,
    "div": lambda a, b, p: (a * pow(b, -1, p)) % p,
    "x2+y2": lambda a, b, p: (a ** 2 + b ** 2) % p,
    "x2+xy+y2": lambda a, b, p: (a ** 2 + a * b + b ** 2) % p,
    "x3+xy": lambda a, b, p: (a ** 3 + a * b) % p,
}


@pytest.mark.parametrize("op", sorted(PY_OPS))
@pytest.mark.parametrize("p", [7, 23, 67, 97])
def test_every_op_against_python_ints(op, p):
    data = modular_dataset(op, p, frac=0.5, split="all", seed=1)
    for x, y in (("train_x", "train_y"), ("test_x", "test_y")):
        for (a, b), label in zip(data[x].tolist(), data[y].tolist()):
            assert label == PY_OPS[op](a, b, p)


def test_rand_table_is_fixed_and_in_range():
    d1 = modular_dataset("rand", 13, split="all", seed=0)
    d2 = modular_dataset("rand", 13, split="all", seed=5)
    table1 = dict(zip(map(tuple, d1["train_x"].tolist() + d1["test_x"].tolist()),
                      d1["train_y"].tolist() + d1["test_y"].tolist()))
    table2 = dict(zip(map(tuple, d2["train_x"].tolist() + d2["test_x"].tolist()),
                      d2["train_y"].tolist() + d2["test_y"].tolist()))
    assert table1 == table2 and len(table1) == 169
    assert min(table1.values()) >= 0 and max(table1.values()) < 13


def test_split_sizes_match_the_reference_code():
    d = modular_dataset("add", 67, 0.4, "sym", seed=0)
    assert len(d["train_x"]) == 911 and len(d["train_x"]) + len(d["test_x"]) == 2278
    assert np.all(d["train_x"][:, 0] <= d["train_x"][:, 1])
    d = modular_dataset("add", 67, 0.4, "all", seed=0)
    assert len(d["train_x"]) + len(d["test_x"]) == 67 ** 2
    dd = modular_dataset("div", 67, 0.4, "all", seed=0)
    assert len(dd["train_x"]) + len(dd["test_x"]) == 67 * 66 and np.all(dd["test_x"][:, 1] != 0)


def test_split_is_seeded_and_disjoint():
    a, b = modular_dataset(seed=3), modular_dataset(seed=3)
    assert np.array_equal(a["train_x"], b["train_x"])
    c = modular_dataset(seed=4)
    assert not np.array_equal(a["train_x"], c["train_x"])
    train = set(map(tuple, a["train_x"].tolist()))
    assert not train & set(map(tuple, a["test_x"].tolist()))


@pytest.mark.parametrize("kwargs, message", [
    ({"op": "div", "p": 66}, "p = 66 is not prime"),
    ({"p": 1}, "p = 1"),
    ({"op": "pow"}, "unknown operation 'pow'"),
    ({"frac": 1.0}, "frac = 1.0"),
    ({"frac": 0.0}, "frac = 0.0"),
    ({"split": "half"}, "unknown split 'half'"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(MinigrokError, match=message):
        modular_dataset(**kwargs)


def test_all_ops_listed():
    assert set(OPERATIONS) == set(PY_OPS) | {"rand"}


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("split", ["sym", "all"])
def test_split_is_the_reference_codes_split(seed, split):
    """The reference code lists the pairs (i <= j for sym), calls random.seed(seed) and
    random.shuffle(pairs), and trains on the first int(frac * n)."""
    import random
    p = 23
    pairs = [(i, j) for i in range(p) for j in range(p) if split == "all" or i <= j]
    random.seed(seed)
    random.shuffle(pairs)
    n_train = int(0.4 * len(pairs))
    data = modular_dataset("add", p, 0.4, split, seed)
    assert [tuple(x) for x in data["train_x"].tolist()] == pairs[:n_train]
    assert [tuple(x) for x in data["test_x"].tolist()] == pairs[n_train:]


def test_symmetric_ceiling_by_hand():
    # {1, 2} appears as (1, 2) -> 0 and (2, 1) -> 1: a symmetric f gets one of the two;
    # {3, 3} -> 2 once and {0, 4} twice with the same label: both fit
    pairs = np.array([[1, 2], [2, 1], [3, 3], [0, 4], [4, 0]])
    labels = np.array([0, 1, 2, 5, 5])
    assert symmetric_ceiling(pairs, labels) == 4 / 5
    # three copies of {1, 2}: labels 7, 7, 0 -> the majority label, 2 of 3
    assert symmetric_ceiling(np.array([[1, 2], [2, 1], [1, 2]]), np.array([7, 7, 0])) == 2 / 3


@pytest.mark.parametrize("op", ["add", "sub", "div", "x3+xy"])
def test_symmetric_ceiling_matches_a_count_over_pairs(op):
    data = modular_dataset(op, 23, 0.5, "all", seed=1)
    by_pair = {}
    for (a, b), y in zip(data["train_x"].tolist(), data["train_y"].tolist()):
        by_pair.setdefault((min(a, b), max(a, b)), []).append(y)
    best = sum(max(ys.count(y) for y in ys) for ys in by_pair.values())
    ceiling = symmetric_ceiling(data["train_x"], data["train_y"])
    assert ceiling == best / len(data["train_y"])
    assert (ceiling == 1.0) == (op == "add")  # commutative ops lose nothing


def test_the_embedding_mlp_is_symmetric_in_its_two_tokens():
    from minigrok.models import get_model, model_config
    model = get_model("mlp")
    params = model.init(model_config("mlp", 23, "float64", d_emb=16, d_hidden=8), np.random.default_rng(0))
    ab = np.array([[1, 5], [7, 2], [0, 22]])
    assert np.array_equal(model.forward(params, ab)[0], model.forward(params, ab[:, ::-1].copy())[0])
