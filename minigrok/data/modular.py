"""Modular arithmetic: inputs (a, b), label op(a, b) mod p.

Operations (all labels in 0..p-1):
    add        a + b
    sub        a - b
    mul        a * b
    div        a * b^-1   (p prime, b != 0; b^-1 = b^(p-2) mod p by Fermat)
    x2+y2      a^2 + b^2
    x2+xy+y2   a^2 + a b + b^2
    x3+xy      a^3 + a b
    rand       a fixed random table T[a, b] (a control with no structure), drawn from
               numpy.random.default_rng(p); the same table for every seed

Splits:
    sym  unordered pairs a <= b, as the reference grokking-tickets code (p(p+1)/2 pairs;
         2,278 for p = 67, so frac 0.4 gives 911 training pairs)
    all  all p^2 ordered pairs, as the paper's text
The pairs, listed in lexicographic order, are shuffled by Python's
`random.Random(seed).shuffle` - the reference code's `random.seed(seed);
random.shuffle(pairs)`, so seed s gives exactly the reference code's split s - and the
first floor(frac * n) are the training set, the rest the test set.
"""
import random

import numpy as np

from ..errors import MinigrokError

SPLITS = ("sym", "all")


def _is_prime(n):
    return n >= 2 and all(n % k for k in range(2, int(n ** 0.5) + 1))


def _random_table(a, b, p):
    table = np.random.default_rng(p).integers(0, p, size=(p, p))  # (p, p)
    return table[a, b]


OPERATIONS = {
    "add": lambda a, b, p: (a + b) % p,
    "sub": lambda a, b, p: (a - b) % p,
    "mul": lambda a, b, p: (a * b) % p,
    "div": lambda a, b, p: (a * pow_mod(b, p - 2, p)) % p,
    "x2+y2": lambda a, b, p: (a * a + b * b) % p,
    "x2+xy+y2": lambda a, b, p: (a * a + a * b + b * b) % p,
    "x3+xy": lambda a, b, p: (a * a % p * a + a * b) % p,
    "rand": _random_table,
}


def pow_mod(base, exponent, p):
    """base^exponent mod p elementwise, by repeated squaring on int64 arrays."""
    result = np.ones_like(base)
    base = base % p
    while exponent:
        if exponent & 1:
            result = result * base % p
        base = base * base % p
        exponent >>= 1
    return result


def check_task(op, p, frac=0.4, split="sym"):
    """Raise a one-line error for an unknown op or split, a bad p or frac."""
    if op not in OPERATIONS:
        raise MinigrokError(f"unknown operation {op!r}; allowed: {', '.join(OPERATIONS)}")
    if split not in SPLITS:
        raise MinigrokError(f"unknown split {split!r}; allowed: {', '.join(SPLITS)}")
    if not isinstance(p, (int, np.integer)) or p < 2:
        raise MinigrokError(f"p = {p} is not allowed: the modulus must be an integer >= 2")
    if p > 3037000499:
        raise MinigrokError(f"p = {p} is too large: products must fit in int64")
    if op == "div" and not _is_prime(p):
        raise MinigrokError(f"p = {p} is not prime: modular division needs a prime p")
    if not 0.0 < frac < 1.0:
        raise MinigrokError(f"frac = {frac} is outside (0, 1) (the fraction of pairs used for training)")


def all_pairs(op, p, split="sym"):
    """Every (a, b) of the split in lexicographic order, as an int64 array (n, 2)."""
    a, b = np.meshgrid(np.arange(p), np.arange(p), indexing="ij")  # (p, p) each
    keep = np.ones((p, p), dtype=bool) if split == "all" else (a <= b)  # (p, p)
    if op == "div":
        keep &= b != 0
    return np.stack([a[keep], b[keep]], axis=1).astype(np.int64)  # (n, 2)


def symmetric_ceiling(pairs, labels):
    """The best accuracy any function symmetric in its inputs, f(a, b) = f(b, a), can
    reach on these pairs: for each unordered pair {a, b}, the count of its most common
    label, summed and divided by n. The embedding MLP sums W_E[:, a] + W_E[:, b], so it is
    such a function; on the all split of a non-commutative op (sub, div, x3+xy) it can fit
    (a, b) or (b, a) but not both whenever both are present.

    pairs (n, 2) int, labels (n,) int -> a float in (0, 1].
    """
    pairs, labels = np.asarray(pairs), np.asarray(labels)  # (n, 2), (n,)
    lo, hi = pairs.min(axis=1), pairs.max(axis=1)  # (n,), (n,)
    width = int(max(pairs.max(), labels.max())) + 1
    keys = (lo * width + hi) * width + labels  # (n,) one id per (unordered pair, label)
    ids, key_counts = np.unique(keys, return_counts=True)  # (k,), (k,)
    pair_of_key = ids // width  # (k,) the unordered pair of each id
    best = np.zeros(int(pair_of_key.max()) + 1, dtype=np.int64)
    np.maximum.at(best, pair_of_key, key_counts)  # most common label's count per pair
    return float(best.sum() / len(labels))


def modular_dataset(op="add", p=67, frac=0.4, split="sym", seed=0):
    """Train/test split of op(a, b) mod p; tokens (n, 2) int64 and labels (n,) int64."""
    check_task(op, p, frac, split)
    pairs = all_pairs(op, p, split)  # (n, 2)
    labels = OPERATIONS[op](pairs[:, 0], pairs[:, 1], p).astype(np.int64)  # (n,)
    order = list(range(len(pairs)))
    random.Random(seed).shuffle(order)  # the reference code's shuffle (module docstring)
    order = np.array(order, dtype=np.int64)  # (n,)
    n_train = int(frac * len(pairs))
    if n_train == 0 or n_train == len(pairs):
        raise MinigrokError(f"frac = {frac} leaves an empty train or test set for {len(pairs)} pairs")
    train, test = order[:n_train], order[n_train:]
    return {
        "train_x": pairs[train], "train_y": labels[train],  # (n_train, 2), (n_train,)
        "test_x": pairs[test], "test_y": labels[test],  # (n_test, 2), (n_test,)
        "meta": {"task": "modular", "op": op, "p": int(p), "frac": frac, "split": split,
                 "seed": seed, "n_train": int(n_train), "n_test": int(len(test)),
                 "vocab": int(p)},
    }
