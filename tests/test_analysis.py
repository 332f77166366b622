"""Every analysis on a case whose answer is known by hand, and `minigrok analyze` end to end
on a tiny run."""
import itertools
import math
import json
import os

import numpy as np
import pytest
from folders import assert_readable_png

from minigrok.analysis import fourier, graph, mask_dynamics, neurons, progress
from minigrok.analysis.report import find_runs, thin
from minigrok.cli import main
from minigrok.errors import MinigrokError
from minigrok.masks import density, density_per_layer, jaccard, jaccard_per_layer
from minigrok.pruning.random import random_blocks_like


def cosine_embedding(p, k, d=6, phase=0.3, seed=0):
    """W_E[j, t] = a_j cos(2 pi k t / p + phase_j): one frequency, k."""
    rng = np.random.default_rng(seed)
    t = np.arange(p)
    amp, ph = rng.uniform(0.5, 2, d), phase + rng.uniform(0, 2 * np.pi, d)
    return amp[:, None] * np.cos(2 * np.pi * k * t[None, :] / p + ph[:, None])  # (d, p)


# ----------------------------------------------------------------------------------------
# Fourier

@pytest.mark.parametrize("p, k", [(11, 3), (12, 2), (12, 6), (67, 14)])
def test_pure_cosine_has_one_frequency_and_zero_entropy(p, k):
    W = cosine_embedding(p, k)
    energy = fourier.frequency_energy(W)
    assert energy.shape == (p // 2 + 1,)
    assert np.isclose(energy.sum(), (W ** 2).sum())  # Parseval
    assert np.allclose(np.delete(energy, k), 0, atol=1e-20 + 1e-12 * energy[k])
    norms = fourier.frequency_norms(W)
    assert np.isclose(norms[k], np.linalg.norm(W))
    spec = fourier.spectrum(energy)
    assert spec.shape == (p // 2,) and np.isclose(spec[k - 1], 1.0)
    assert abs(fourier.spectral_entropy(W)) < 1e-9
    assert abs(fourier.spectral_entropy(W, per_row=True)) < 1e-9


def test_fourier_basis_is_orthonormal_and_matches_the_energies():
    for p in (7, 10):
        B, freqs = fourier.fourier_basis(p)
        assert np.allclose(B @ B.T, np.eye(p))
        W = np.random.default_rng(1).standard_normal((5, p))
        coef = W @ B.T  # (5, p) coordinates in the basis
        by_freq = np.bincount(freqs, weights=(coef ** 2).sum(axis=0))
        assert np.allclose(by_freq, fourier.frequency_energy(W))


def test_flat_spectrum_has_entropy_log_of_the_number_of_frequencies():
    p = 11
    B, freqs = fourier.fourier_basis(p)
    W = B[freqs > 0]  # cos and sin of every k = 1..5: energy 2 at each
    assert np.isclose(fourier.spectral_entropy(W), math.log(p // 2))
    assert np.isclose(fourier.shannon_entropy(np.full(7, 1 / 7)), math.log(7))
    assert fourier.shannon_entropy([1.0, 0.0, 0.0]) == 0.0
    # with the constant counted: the constant row alone has entropy 0, none without it
    const = np.ones((3, p))
    assert abs(fourier.spectral_entropy(const, include_dc=True)) < 1e-12
    assert math.isnan(fourier.spectral_entropy(const))


def test_per_row_entropy_differs_from_pooled():
    p = 13
    W = np.concatenate([cosine_embedding(p, 1, d=1), cosine_embedding(p, 4, d=1)])  # (2, p)
    assert abs(fourier.spectral_entropy(W, per_row=True)) < 1e-9  # each row: one frequency
    a, b = fourier.frequency_energy(W[:1])[1], fourier.frequency_energy(W[1:])[4]
    q = np.array([a, b]) / (a + b)
    assert np.isclose(fourier.spectral_entropy(W), -(q * np.log(q)).sum())


def test_reference_code_self_cross_entropy_on_known_spectra():
    p = 11  # the reference keeps k = 1 .. int(p/2) - 1 = 1..4: K = 4
    one = cosine_embedding(p, 2)
    assert np.isclose(fourier.reference_code_self_cross_entropy(one), math.log(3 + math.e) - 1)
    t = np.arange(p)
    flat = sum(np.cos(2 * np.pi * k * t / p) for k in range(1, 5))[None, :]  # (1, p)
    assert np.isclose(fourier.reference_code_self_cross_entropy(flat), math.log(4))
    # the slip: one frequency scores log(K - 1 + e) - 1 > 0, where the Shannon entropy is 0
    assert fourier.reference_code_self_cross_entropy(one) > 0.5 > fourier.spectral_entropy(one)


def test_mask_in_the_fourier_basis():
    W = cosine_embedding(11, 3)
    assert np.allclose(fourier.kept_energy_fraction(W, np.ones_like(W, bool))[3], 1.0)
    assert np.allclose(fourier.kept_energy_fraction(W, np.zeros_like(W, bool))[3], 0.0)
    keep_half = np.zeros_like(W, bool)
    keep_half[:3] = True  # the first three rows, all tokens: their share of frequency 3
    share = (W[:3] ** 2).sum() / (W ** 2).sum()
    assert np.isclose(fourier.kept_energy_fraction(W, keep_half)[3], share)
    # a mask that keeps whole tokens t = 0, 2, 4, ...: no row-wise periodicity is lost by
    # the constant; its spectrum is that of the 0/1 pattern and sums to 1
    mask = np.tile(np.arange(11) % 2 == 0, (4, 1))
    spec = fourier.mask_spectrum(mask)
    assert spec.shape == (5,) and np.isclose(spec.sum(), 1.0)
    assert math.isnan(fourier.mask_spectrum(np.ones((4, 11), bool))[0])  # constant: no energy


# ----------------------------------------------------------------------------------------
# mask dynamics

def test_jaccard_identical_disjoint_and_by_hand():
    a = {"x": np.array([1, 1, 0, 0], bool)}
    assert jaccard(a, a) == 1.0
    assert jaccard(a, {"x": ~a["x"]}) == 0.0
    assert np.isclose(jaccard(a, {"x": np.array([1, 0, 1, 0], bool)}), 1 / 3)
    assert jaccard({"x": np.zeros(3, bool)}, {"x": np.zeros(3, bool)}) == 1.0
    A = {"x": np.array([1, 1, 0, 0], bool), "y": np.array([[1, 1], [1, 1]], bool)}
    B = {"x": np.array([0, 0, 1, 1], bool), "y": np.array([[1, 1], [1, 0]], bool)}
    j = mask_dynamics.jaccard_by_layer(A, B)
    assert j["x"] == 0.0 and j["y"] == 0.75
    assert np.isclose(j["global"], 3 / 8)  # pooled: 3 in both of 8 in either
    assert jaccard_per_layer(A, B) == {"x": 0.0, "y": 0.75} and jaccard(A, B) == j["global"]


def test_jaccard_over_training_with_magnitude_masks():
    w = np.arange(1, 9, dtype=float)
    seq = [{"W": w}, {"W": w[::-1].copy()}, {"W": w}]
    masks = mask_dynamics.magnitude_masks(seq, density=0.5)
    assert masks[0]["W"].tolist() == [False] * 4 + [True] * 4
    jac = mask_dynamics.jaccard_over_training(masks)
    assert [d["global"] for d in jac["to_final"]] == [1.0, 0.0, 1.0]
    assert jac["to_previous"][0] is None
    assert [d["W"] for d in jac["to_previous"][1:]] == [0.0, 0.0]


# ----------------------------------------------------------------------------------------
# graph

def hand_chain():
    """Layers a0 a1 | b0 b1 | c0, edges a0b0 a0b1 a1b0 (a1b1 pruned), b0c0 b1c0."""
    return [np.array([[1, 1], [1, 0]], bool),  # (b, a): b0<-a0, b0<-a1, b1<-a0
            np.array([[1, 1]], bool)]  # (c, b)


def test_hand_made_layered_graph():
    adj = graph.layered_adjacency(hand_chain())
    assert adj.shape == (5, 5) and adj.nnz == 2 * 5
    aspl, reach = graph.average_shortest_path_length(adj)
    # distances: a0a1 2, a0b0 1, a0b1 1, a0c0 2, a1b0 1, a1b1 3, a1c0 2, b0b1 2, b0c0 1, b1c0 1
    assert np.isclose(aspl, 16 / 10) and reach == 1.0
    # one 4-cycle (a0 b0 c0 b1); 3-paths by middle edge: 2 + 1 + 0 + 2 + 1 = 6
    assert np.isclose(graph.robins_alexander_clustering(adj), 4 / 6)


def test_clustering_extremes_and_unreachable_pairs():
    complete = [np.ones((3, 2), bool), np.ones((4, 3), bool)]
    assert np.isclose(graph.robins_alexander_clustering(graph.layered_adjacency(complete)), 1.0)
    tree = [np.array([[1, 0], [0, 1]], bool), np.array([[1, 1]], bool)]  # a path a0 b0 c0 b1 a1
    assert graph.robins_alexander_clustering(graph.layered_adjacency(tree)) == 0.0
    isolated = [np.ones((2, 2), bool), np.zeros((1, 2), bool)]  # c0 cut off
    aspl, reach = graph.average_shortest_path_length(graph.layered_adjacency(isolated))
    assert np.isclose(reach, 12 / 20) and np.isclose(aspl, 16 / 12)


def test_weighted_path_lengths():
    chain = [np.ones((1, 1), bool), np.ones((1, 1), bool)]  # a - b - c
    weights = [np.array([[1.0]]), np.array([[-3.0]])]  # |w| = 1, 3; mean 2
    adj = graph.layered_adjacency(chain, weights)
    inv, _ = graph.average_shortest_path_length(adj, weighted=True)  # lengths 2, 2/3
    assert np.isclose(inv, (2 + 2 / 3 + 8 / 3) / 3)
    direct, _ = graph.average_shortest_path_length(adj, weighted=True, length="weight")
    assert np.isclose(direct, (1 + 3 + 4) / 3)  # networkx's: the lengths are |w| themselves
    m = graph.graph_metrics(chain, weights, rng=np.random.default_rng(0), lengths=("inverse", "weight"))
    assert set(m) == {"aspl", "reachable_fraction", "clustering", "clustering_latapy", "aspl_len_inv_w",
                      "aspl_len_w", "clustering_random", "clustering_latapy_random"}
    assert np.isclose(m["aspl_len_inv_w"], inv) and np.isclose(m["aspl_len_w"], direct)
    cache = {}
    first = graph.graph_metrics(chain, weights, cache=cache)
    again = graph.graph_metrics(chain, [2 * w for w in weights], cache=cache)  # same mask: cached
    assert len(cache) == 1 and first["aspl"] == again["aspl"] and set(again) == {
        "aspl", "reachable_fraction", "clustering", "clustering_latapy", "aspl_len_inv_w", "aspl_len_w"}


def test_clustering_matches_brute_force_count():
    rng = np.random.default_rng(3)
    chain = [rng.random((4, 3)) < 0.6, rng.random((3, 4)) < 0.6, rng.random((2, 3)) < 0.7]
    A = graph.layered_adjacency(chain).toarray() > 0
    n = len(A)
    cycles = sum(A[a, b] and A[b, c] and A[c, d] and A[d, a]
                 for a, b, c, d in itertools.permutations(range(n), 4)) // 8
    paths = sum(A[a, b] and A[b, c] and A[c, d]
                for a, b, c, d in itertools.permutations(range(n), 4)) // 2
    expected = 4 * cycles / paths if paths else 0.0
    assert np.isclose(graph.robins_alexander_clustering(A), expected)


def test_latapy_clustering_matches_its_definition():
    """networkx's bipartite.average_clustering (mode "dot"), written out with sets: per
    node the mean Jaccard overlap with each second neighbour, 0 without one; then the mean
    over all nodes; 1 for a complete bipartite graph, 3/4 for a star of three leaves."""
    rng = np.random.default_rng(4)
    chain = [rng.random((4, 3)) < 0.6, rng.random((5, 4)) < 0.5, rng.random((2, 5)) < 0.7]
    A = graph.layered_adjacency(chain).toarray() > 0
    nbrs = [set(np.nonzero(row)[0]) for row in A]
    per_node = []
    for u in range(len(A)):
        second = {w for v in nbrs[u] for w in nbrs[v]} - {u}
        c = sum(len(nbrs[u] & nbrs[w]) / len(nbrs[u] | nbrs[w]) for w in second)
        per_node.append(c / len(second) if second else 0.0)
    assert np.isclose(graph.latapy_clustering(A), np.mean(per_node))
    assert np.isclose(graph.latapy_clustering(graph.layered_adjacency([np.ones((3, 2), bool)])), 1.0)
    star = [np.ones((3, 1), bool)]  # one centre, three leaves: leaves share all, centre has none
    assert np.isclose(graph.latapy_clustering(graph.layered_adjacency(star)), 3 / 4)


def test_chain_checks_and_random_mask():
    params = {"W_E": np.zeros((5, 3)), "W_in": np.zeros((4, 5)), "W_out": np.zeros((5, 4)),
              "W_U": np.zeros((5, 3))}
    assert graph.layer_sizes(graph.mlp_chain(params)) == [3, 5, 4, 5, 3]
    with pytest.raises(ValueError):
        graph.layer_sizes([np.zeros((2, 3)), np.zeros((2, 4))])
    masks = [np.eye(4, dtype=bool), np.ones((2, 4), bool)]
    rand = random_blocks_like(masks, np.random.default_rng(0))
    assert [int(m.sum()) for m in rand] == [4, 8]
    again = graph.graph_metrics(masks, rng=np.random.default_rng(0))["clustering_random"]
    assert again == graph.robins_alexander_clustering(graph.layered_adjacency(rand))  # same draw


# ----------------------------------------------------------------------------------------
# progress measures

def test_med_of_a_linear_embedding_is_the_step():
    v = np.array([3.0, 4.0, 0.0])
    W = v[:, None] * np.arange(9)[None, :]  # W_E[:, i] = i * v
    assert np.isclose(progress.mean_embedding_difference(W), 5.0)
    assert np.isclose(progress.mean_embedding_difference(W, released_code=True), 5.0)
    assert np.isclose(progress.relative_embedding_difference(W), 5.0 / (5.0 * 4))  # mean ||i v|| = 20
    W = np.array([[0.0, 1.0, 5.0]])  # steps 1 and 4
    assert np.isclose(progress.mean_embedding_difference(W), 2.5)
    assert np.isclose(progress.mean_embedding_difference(W, released_code=True), 1.0)


def test_value_at_epochs_takes_the_last_logged_row():
    metrics = {"epoch": [0, 5, 10], "test_acc": [0.1, 0.5, 0.9]}
    got = progress.value_at_epochs(metrics, "test_acc", [0, 4, 5, 12])
    assert got.tolist() == [0.1, 0.1, 0.5, 0.9]


# ----------------------------------------------------------------------------------------
# neurons

def test_dead_neurons_on_a_hand_made_mask():
    chain = [np.array([[1, 0], [0, 0], [1, 1]], bool),  # layer 1 unit 1: no input
             np.array([[1, 0, 0], [1, 0, 0]], bool)]  # layer 1 units 1, 2: no output
    dead = neurons.dead_units_by_mask(chain, ["in", "mid", "out"])
    assert dead == {"mid": {"units": 3, "no_input": 1, "no_output": 2, "dead": 2}}
    masks = {"a": chain[0], "b": chain[1]}
    assert density_per_layer(masks) == {"a": 3 / 6, "b": 2 / 6} and density(masks) == 5 / 12


def test_never_active_hidden_units():
    p = 5
    params = {"W_E": np.eye(p)[:3],  # (3, p): token t -> e_t for t < 3, 0 otherwise
              "W_in": np.array([[1.0, 0, 0], [-1.0, -1.0, -1.0]])}  # unit 1: always <= 0
    pre = neurons.mlp_hidden_preactivations(params, neurons.all_pairs(p))
    assert pre.shape == (p * p, 2)
    assert neurons.never_active_units(pre).tolist() == [False, True]


# ----------------------------------------------------------------------------------------
# `minigrok analyze`

def test_thin_keeps_first_and_last():
    assert thin(list(range(10)), 3) == [0, 4, 9] or thin(list(range(10)), 3) == [0, 5, 9]
    assert thin([1, 2], 5) == [1, 2]


def test_analyze_a_ticket_folder_end_to_end(tmp_path, capsys):
    out = tmp_path / "t"
    assert main(["ticket", "--p", "11", "--epochs", "30", "--eval-every", "5", "--checkpoint-every",
                 "10", "--quiet", "--out", str(out)]) == 0
    assert set(find_runs(str(out))) == {"dense", "ticket"}
    dense = out / json.loads((out / "summary.json").read_text())["runs"]["dense"]
    assert list(find_runs(str(dense))) == [dense.name]
    capsys.readouterr()
    assert main(["analyze", str(out), "--max-checkpoints", "2"]) == 0
    stdout, stderr = capsys.readouterr()
    # the files written on stdout; progress on stderr: the checkpoints used, how to get more
    assert stdout.startswith(f"wrote {out / 'analysis'}/: ") and len(stdout.splitlines()) == 1
    assert "[minigrok] analysing dense: 2 checkpoints, epochs 0-30 (evenly chosen from 4; " \
           "--max-checkpoints N keeps more)" in stderr and "analysing" not in stdout
    files = set(os.listdir(out / "analysis"))
    for name in ("fourier_spectrum", "fourier_entropy", "jaccard", "graph", "progress", "neurons"):
        assert f"{name}.png" in files, name
        height, width = assert_readable_png(str(out / "analysis" / f"{name}.png"))
        if name == "progress":  # a 2 x 2 grid, not four panels in a row
            assert width / height < 1.6
    for name in ("fourier_spectrum", "checkpoints", "jaccard", "graph_random_baseline",
                 "dead_neurons", "density_per_layer"):
        assert f"{name}.csv" in files, name
    header = (out / "analysis" / "checkpoints.csv").read_text().splitlines()[0].split(",")
    assert {"entropy_W_E", "med", "graph_aspl", "graph_clustering", "test_acc", "l2"} <= set(header)


def test_analyze_rejects_a_folder_that_is_not_a_run(tmp_path, capsys):
    (tmp_path / "junk").mkdir()
    assert main(["analyze", str(tmp_path / "junk")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("minigrok: error:") and "not a minigrok run" in err and "\n" not in err
    assert main(["analyze", str(tmp_path / "missing")]) == 2
    with pytest.raises(MinigrokError):
        find_runs(str(tmp_path / "junk"))


def test_network_chain_recognises_the_layered_models():
    mlp = {"W_E": np.zeros((5, 3)), "W_in": np.zeros((4, 5)), "W_out": np.zeros((5, 4)),
           "W_U": np.zeros((5, 3))}
    chain, names = graph.network_chain(mlp)
    assert [b.shape for b in chain] == [(5, 3), (4, 5), (5, 4), (3, 5)] and names[2] == "hidden"
    fc = {"W_1": np.zeros((2, 4)), "W_0": np.zeros((4, 6))}
    chain, names = graph.network_chain(fc)
    assert [b.shape for b in chain] == [(4, 6), (2, 4)] and names == ("input", "hidden 1", "output")
    assert graph.network_chain({**mlp, "W_Q": np.zeros((1, 5, 5))}) is None


def test_analyze_a_run_without_embedding(tmp_path):
    """A fully connected net (W_0, W_1; no W_E): graph, masks and neurons, no Fourier/MED."""
    from minigrok import io
    rng = np.random.default_rng(0)
    run = tmp_path / "fc"
    io.save_json(str(run / "config.json"), {"model": "fc"})
    for epoch, name in ((0, "init.npz"), (5, "checkpoints/epoch_5.npz"), (10, "final.npz")):
        params = {"W_0": rng.standard_normal((5, 6)), "W_1": rng.standard_normal((3, 5))}
        io.save_npz(str(run / name), params, meta={"epoch": epoch})
    rows = [",".join(["epoch", "train_loss", "train_acc", "test_loss", "test_acc", "l1", "l2"])]
    rows += [f"{e},1.0,{e / 10},1.0,{e / 20},3.0,2.0" for e in range(11)]
    (run / "metrics.csv").write_text("\n".join(rows) + "\n")
    assert main(["analyze", str(run), "--density", "0.5", "--quiet"]) == 0
    files = set(os.listdir(run / "analysis"))
    assert {"graph.png", "jaccard.png", "progress.png", "neurons.png", "checkpoints.csv"} <= files
    assert "fourier_spectrum.png" not in files
    header = (run / "analysis" / "checkpoints.csv").read_text().splitlines()[0].split(",")
    assert "graph_clustering" in header and "med" not in header
