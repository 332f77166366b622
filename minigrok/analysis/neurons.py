"""Dead neurons: units a mask cuts off and units the ReLU never lets through.

A network is read as a chain of (out, in) blocks (graph.mlp_chain for the MLP:
tokens -> embedding -> hidden -> z -> outputs). A unit of an inner layer is

  * dead by the mask when every weight into it is pruned (no input) or every weight out of
    it is pruned (no output): it can never pass anything on;
  * never active (MLP hidden units) when its pre-activation
        pre_h(a, b) = (W_in @ W_E)[h, a] + (W_in @ W_E)[h, b]
    is <= 0 on every input of the data, so the ReLU zeroes it always.
"""
import numpy as np


def dead_units_by_mask(chain, layer_names=None):
    """{inner layer: {"units", "no_input", "no_output", "dead"}} (counts) for a chain of
    boolean (out, in) blocks; "dead" counts units with no input or no output (or both)."""
    names = layer_names or [f"layer{i}" for i in range(len(chain) + 1)]
    out = {}
    for layer in range(1, len(chain)):
        into = np.asarray(chain[layer - 1], dtype=bool)  # (n_layer, n_before)
        out_of = np.asarray(chain[layer], dtype=bool)  # (n_after, n_layer)
        no_input = ~into.any(axis=1)  # (n_layer,)
        no_output = ~out_of.any(axis=0)  # (n_layer,)
        out[names[layer]] = {"units": int(into.shape[0]), "no_input": int(no_input.sum()),
                             "no_output": int(no_output.sum()),
                             "dead": int((no_input | no_output).sum())}
    return out


def mlp_hidden_preactivations(params, tokens):
    """pre (B, d_hidden) of the embedding MLP for tokens (B, 2): P[:, a] + P[:, b], P = W_in W_E."""
    W_in, W_E = (np.asarray(params[k], dtype=np.float64) for k in ("W_in", "W_E"))
    P = W_in @ W_E  # (d_hidden, p)
    return P.T[tokens[:, 0]] + P.T[tokens[:, 1]]  # (B, d_hidden)


def never_active_units(preactivations):
    """Boolean (units,): True where the pre-activation (B, units) is <= 0 for every input."""
    return ~(np.asarray(preactivations) > 0).any(axis=0)


def all_pairs(p):
    """Every ordered input (a, b), a, b in 0..p-1, as tokens (p*p, 2)."""
    a, b = np.meshgrid(np.arange(p), np.arange(p), indexing="ij")
    return np.stack([a.ravel(), b.ravel()], axis=1)
