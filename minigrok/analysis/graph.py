"""The pruned network as a layered graph: average shortest path length and clustering.

For the embedding MLP the graph has five layers of nodes,

    tokens (p) --W_E--> embedding (d_emb) --W_in--> hidden (d_hidden) --W_out--> z (d_emb)
               --W_U--> outputs (p)

and one undirected edge per kept weight (mask True): W_E[j, t] joins token t and embedding
unit j, W_in[h, j] joins j and hidden unit h, W_out[i, h] joins h and z-unit i, W_U[i, c]
joins i and output c. A fully connected net W_0 .. W_n is read the same way, layer by
layer. Edges only join consecutive layers, so the graph is bipartite (even layers against
odd ones) and has no triangles.

Average shortest path length (ASPL), scipy.sparse.csgraph over the undirected graph:
  * unweighted (default): every edge has length 1 (hop count); the mask alone matters.
  * weighted, length "inverse" (aspl_len_inv_w): an edge has length mean|w| / |w|, strong
    weights are short. Dividing by the mean over the graph's edges makes the number blind
    to the overall weight scale (it does not just follow the weight norm); equal weights
    give the unweighted value.
  * weighted, length "weight" (aspl_len_w): length |w|, the weight itself as a distance,
    networkx's convention for `average_shortest_path_length(G, weight="weight")`: strong
    weights are *long*. The two weighted lengths can order two masks oppositely; the
    paper's length is not known (the reference code has no graph code), so both are given.
  ASPL is the mean of d(u, v) over the ordered pairs u != v that are connected; pairs in
  different components (e.g. a unit whose every weight was pruned) are left out, and the
  fraction of pairs that are connected is reported next to it.

Clustering: the usual coefficient counts triangles, which a layered graph has none of. We
use the bipartite clustering coefficient of Robins & Alexander (2004), "Small worlds among
interlocking directors: network structure and distance in bipartite graphs",
Computational & Mathematical Organization Theory 10(1):69-94 (networkx's
`bipartite.robins_alexander_clustering`):

    C = 4 * (#cycles of length 4) / (#paths of length 3)

the fraction of 3-paths that close into a 4-cycle (each 4-cycle holds four 3-paths, so
0 <= C <= 1; C = 1 for a complete bipartite graph, 0 for a tree). With A the adjacency
matrix, c_uv = (A^2)_uv common neighbours and d_v degrees:
    #C4 = (1/8) sum_{u != v} c_uv (c_uv - 1)        (each 4-cycle has two diagonals)
    #P3 = sum_{edges (u, v)} (d_u - 1)(d_v - 1)    (a 3-path by its middle edge; no triangles)

and the bipartite clustering of Latapy, Magnien & Del Vecchio (2008), "Basic notions for
the analysis of large two-mode networks", Social Networks 30(1):31-48 (networkx's
`bipartite.average_clustering`, mode "dot"), an average over nodes instead of a ratio of
counts:

    c_uv = |N(u) & N(v)| / |N(u) | N(v)|          for v a second neighbour of u
    C(u) = mean of c_uv over u's second neighbours (0 if it has none)
    C    = mean of C(u) over all nodes
"""
import re

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph

from ..pruning.random import random_blocks_like


def mlp_chain(arrays):
    """The MLP's matrices (weights or masks) as a chain of (out, in) blocks, input first:
    [W_E (d_emb, p), W_in (d_hidden, d_emb), W_out (d_emb, d_hidden), W_U.T (p, d_emb)]."""
    return [arrays["W_E"], arrays["W_in"], arrays["W_out"], np.asarray(arrays["W_U"]).T]


def network_chain(arrays):
    """(chain of (out, in) blocks, layer names) of a network that is a layered graph, or
    None: the embedding MLP (W_E, W_in, W_out, W_U) or a fully connected net (W_0 .. W_n,
    W_i of shape (sizes[i+1], sizes[i])). The Transformer's attention and residual stream
    make it no layered graph: None."""
    names = set(arrays)
    if names == {"W_E", "W_in", "W_out", "W_U"}:
        return mlp_chain(arrays), ("tokens", "embedding", "hidden", "z", "outputs")
    if names and all(re.fullmatch(r"W_\d+", k) for k in names):
        order = sorted(names, key=lambda k: int(k[2:]))
        layer_names = ["input"] + [f"hidden {i}" for i in range(1, len(order))] + ["output"]
        return [arrays[k] for k in order], tuple(layer_names)
    return None


def layer_sizes(chain):
    """Number of nodes in each layer of a chain of (out, in) blocks; checks they fit."""
    sizes = [np.shape(chain[0])[1]]
    for i, block in enumerate(chain):
        if np.shape(block)[1] != sizes[-1]:
            raise ValueError(f"block {i} has {np.shape(block)[1]} inputs, "
                             f"the layer before has {sizes[-1]} nodes")
        sizes.append(np.shape(block)[0])
    return sizes


def layered_adjacency(masks, weights=None):
    """Symmetric sparse adjacency (N, N) of the layered graph, N = sum of layer sizes.

    masks: chain of boolean (out, in) blocks (an edge per True). weights: the same chain of
    weights, or None. Entry values: 1 (unweighted) or |w| of the edge (w = 0 counts as the
    smallest positive float so the edge is kept).
    """
    sizes = layer_sizes(masks)
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    rows, cols, vals = [], [], []
    for i, m in enumerate(masks):
        out_idx, in_idx = np.nonzero(np.asarray(m, dtype=bool))  # (E_i,), (E_i,)
        rows.append(offsets[i] + in_idx)
        cols.append(offsets[i + 1] + out_idx)
        if weights is None:
            vals.append(np.ones(len(out_idx)))
        else:
            w = np.abs(np.asarray(weights[i], dtype=np.float64)[out_idx, in_idx])
            vals.append(np.maximum(w, np.finfo(np.float64).tiny))
    r, c, v = (np.concatenate(x) for x in (rows, cols, vals))
    n = int(offsets[-1])
    upper = sparse.coo_matrix((v, (r, c)), shape=(n, n)).tocsr()
    return (upper + upper.T).tocsr()


def average_shortest_path_length(adjacency, weighted=False, length="inverse"):
    """(ASPL over connected ordered pairs u != v, fraction of ordered pairs connected).

    weighted=False: hop counts. weighted=True: edge lengths from the entries |w|,
    mean|w| / |w| (length="inverse") or |w| itself (length="weight", networkx's).
    The adjacency is symmetric, so the directed search (faster in scipy) gives the
    undirected distances.
    """
    adjacency = sparse.csr_matrix(adjacency, dtype=np.float64)
    n = adjacency.shape[0]
    if weighted:
        lengths = adjacency.copy()
        if length not in ("inverse", "weight"):
            raise ValueError(f"length must be 'inverse' or 'weight', not {length!r}")
        if length == "inverse":
            lengths.data = lengths.data.mean() / lengths.data
        dist = csgraph.shortest_path(lengths, method="D")  # (N, N)
    else:
        dist = csgraph.shortest_path(adjacency, method="D", unweighted=True)  # (N, N)
    off_diagonal = ~np.eye(n, dtype=bool)
    connected = np.isfinite(dist) & off_diagonal
    n_pairs = n * (n - 1)
    aspl = float(dist[connected].mean()) if connected.any() else float("nan")
    return aspl, (int(connected.sum()) / n_pairs if n_pairs else float("nan"))


def robins_alexander_clustering(adjacency):
    """C = 4 #C4 / #P3 of a bipartite graph (see the module docstring); 0 if no 3-paths."""
    A = (sparse.csr_matrix(adjacency) != 0).astype(np.float64).toarray()  # (N, N) 0/1
    degree = A.sum(axis=1)  # (N,)
    common = A @ A  # (N, N) common neighbours
    np.fill_diagonal(common, 0.0)
    cycles4 = (common * (common - 1)).sum() / 8.0
    u, v = np.nonzero(np.triu(A))  # each undirected edge once
    paths3 = ((degree[u] - 1) * (degree[v] - 1)).sum()
    return float(4.0 * cycles4 / paths3) if paths3 > 0 else 0.0


def latapy_clustering(adjacency):
    """C = mean over nodes of the mean Jaccard overlap of a node's neighbourhood with each
    of its second neighbours' (module docstring); networkx's bipartite.average_clustering."""
    A = (sparse.csr_matrix(adjacency) != 0).astype(np.float64).toarray()  # (N, N) 0/1
    degree = A.sum(axis=1)  # (N,)
    common = A @ A  # (N, N) |N(u) & N(v)|
    np.fill_diagonal(common, 0.0)
    second = common > 0  # (N, N) v a second neighbour of u (no triangles: none is a neighbour)
    union = degree[:, None] + degree[None, :] - common  # (N, N) |N(u) | N(v)|
    overlap = np.where(second, common / np.where(second, union, 1.0), 0.0)  # (N, N) c_uv
    n_second = second.sum(axis=1)  # (N,)
    per_node = np.where(n_second > 0, overlap.sum(axis=1) / np.maximum(n_second, 1), 0.0)  # (N,)
    return float(per_node.mean()) if len(per_node) else 0.0


def graph_metrics(masks, weights=None, rng=None, lengths=("inverse", "weight"), cache=None):
    """The measures of the layered graph of a chain of mask blocks: {"aspl",
    "reachable_fraction", "clustering" (Robins-Alexander), "clustering_latapy"}; with
    weights also "aspl_len_inv_w" and "aspl_len_w" (the lengths asked for); with a numpy
    Generator rng also "clustering_random" and "clustering_latapy_random", the clusterings
    of a random mask with the same number of kept
    weights per block (clustering follows the per-layer densities: a random bipartite graph
    of edge density q has C close to q). cache: a dict reused across calls so that the
    mask-only measures of a mask seen before are not recomputed."""
    adjacency = layered_adjacency(masks, weights)
    key = b"".join(np.packbits(np.asarray(m, dtype=bool)).tobytes() + bytes(str(np.shape(m)), "ascii")
                   for m in masks)
    if cache is None or key not in cache:
        aspl, reachable = average_shortest_path_length(adjacency)
        found = {"aspl": aspl, "reachable_fraction": reachable,
                 "clustering": robins_alexander_clustering(adjacency),
                 "clustering_latapy": latapy_clustering(adjacency)}
        if cache is not None:
            cache[key] = found
    out = dict(cache[key] if cache is not None else found)
    if weights is not None:
        names = {"inverse": "aspl_len_inv_w", "weight": "aspl_len_w"}
        for length in lengths:
            out[names[length]] = average_shortest_path_length(adjacency, weighted=True, length=length)[0]
    if rng is not None:
        random_graph = layered_adjacency(random_blocks_like(masks, rng))
        out["clustering_random"] = robins_alexander_clustering(random_graph)
        out["clustering_latapy_random"] = latapy_clustering(random_graph)
    return out

