"""The models of minigrok/models/ (their docstrings give the formulas) written again in
plain PyTorch autograd, as short as the formulas, for the cross-checks
(tests/test_torch_crosscheck.py) and the fixture script (tests/fixtures/make_fixtures.py). Nothing here comes from minigrok except the parameter
names and shapes: torch computes the gradients, torch.nn.utils.prune applies the mask
and torch.optim.AdamW takes the steps.

A model joins by one forward function in FORWARDS.
"""
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch.nn.utils import prune


def mlp_forward(P, tokens):
    """logits = relu((W_E[:, a] + W_E[:, b]) @ W_in.T) @ W_out.T @ W_U."""
    e = P["W_E"][:, tokens[:, 0]].T + P["W_E"][:, tokens[:, 1]].T  # (B, d_emb)
    h = torch.relu(e @ P["W_in"].T)  # (B, d_hidden)
    return (h @ P["W_out"].T) @ P["W_U"]  # (B, p)


def transformer_forward(P, tokens):
    """One block, H heads (the papers use one), no LayerNorm, no positional embedding,
    causal attention over the T = 2 tokens [a, b], logits read at the last position."""
    x = P["W_E"].T[tokens]  # (B, T, d)
    q, k, v = (torch.einsum("btd,hed->bhte", x, P[n]) for n in ("W_Q", "W_K", "W_V"))  # (B, H, T, e)
    scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])  # (B, H, T, T)
    T = x.shape[1]
    causal = torch.ones(T, T, dtype=torch.bool).tril()  # query t sees keys <= t
    att = torch.softmax(scores.masked_fill(~causal, float("-inf")), dim=-1)  # (B, H, T, T)
    z = (att @ v).transpose(1, 2).flatten(2)  # (B, T, H*e): heads side by side
    x = x + z @ P["W_O"].T  # (B, T, d)
    x = x + torch.relu(x @ P["W_in"].T) @ P["W_out"].T  # (B, T, d)
    return x[:, -1] @ P["W_U"]  # (B, p)


FORWARDS = {"mlp": mlp_forward, "transformer": transformer_forward}


class TorchModel(torch.nn.Module):
    """One nn.Parameter per minigrok parameter (same names), forward = FORWARDS[name].
    With masks, each parameter is pruned by torch.nn.utils.prune.custom_from_mask: the
    module then trains W_orig and uses W = W_orig * W_mask, as torch users do."""

    def __init__(self, name, params, masks=None, dtype=torch.float64):
        super().__init__()
        self.names = tuple(params)
        self.forward_fn = FORWARDS[name]
        for k, w in params.items():
            self.register_parameter(k, torch.nn.Parameter(torch.tensor(np.asarray(w), dtype=dtype)))
        if masks is not None:
            for k in self.names:
                prune.custom_from_mask(self, k, torch.tensor(np.asarray(masks[k])))

    def forward(self, tokens):
        return self.forward_fn({k: getattr(self, k) for k in self.names}, tokens)

    def effective(self):
        """The weights the forward uses, W_orig * W_mask where pruned, as NumPy arrays."""
        out = {}
        for k in self.names:
            if hasattr(self, k + "_orig"):
                w = getattr(self, k + "_orig") * getattr(self, k + "_mask")
            else:
                w = getattr(self, k)
            out[k] = w.detach().numpy().copy()
        return out


def torch_gradients(name, params, x, y, dtype=torch.float64):
    """(logits, loss, grads) of the dense model: loss = F.cross_entropy(logits.double(), y)."""
    model = TorchModel(name, params, dtype=dtype)
    logits = model(torch.as_tensor(x))
    loss = F.cross_entropy(logits.double(), torch.as_tensor(y))
    loss.backward()
    grads = {k: getattr(model, k).grad.numpy().copy() for k in model.names}
    return logits.detach().numpy().copy(), loss.item(), grads


def torch_train(name, params0, masks, x, y, steps, hp, dtype=torch.float64):
    """`steps` full-batch steps of torch.optim.AdamW on the pruned model; returns (losses
    before each step, effective params after the last)."""
    model = TorchModel(name, params0, masks, dtype=dtype)
    opt = torch.optim.AdamW(model.parameters(), lr=hp["lr"], betas=tuple(hp["betas"]),
                            eps=hp["eps"], weight_decay=hp["weight_decay"])
    x, y = torch.as_tensor(x), torch.as_tensor(y)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = F.cross_entropy(model(x).double(), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return np.array(losses), model.effective()


def torch_magnitude_masks(params, density, scope="global"):
    """Keep the round(density * n) largest |w| (globally or per matrix) by a stable
    descending torch.sort: equal magnitudes go to the earlier weight in dict order and
    row-major order, the tie-break minigrok documents."""
    scores = {k: torch.tensor(np.asarray(w)).abs().double().flatten() for k, w in params.items()}
    groups = [list(scores)] if scope == "global" else [[k] for k in scores]
    masks = {}
    for names in groups:
        flat = torch.cat([scores[k] for k in names])
        order = torch.sort(flat, descending=True, stable=True).indices
        keep = torch.zeros(flat.numel(), dtype=torch.bool)
        keep[order[:int(round(density * flat.numel()))]] = True
        start = 0
        for k in names:
            n = scores[k].numel()
            masks[k] = keep[start:start + n].reshape(np.shape(params[k])).numpy()
            start += n
    return masks


def torch_topk_masks(params, density):
    """Global magnitude mask by torch.topk (no tie-break guarantee: distinct |w| only)."""
    flat = torch.cat([torch.tensor(np.asarray(w)).abs().double().flatten() for w in params.values()])
    keep = torch.zeros(flat.numel(), dtype=torch.bool)
    keep[torch.topk(flat, int(round(density * flat.numel()))).indices] = True
    masks, start = {}, 0
    for k, w in params.items():
        masks[k] = keep[start:start + np.size(w)].reshape(np.shape(w)).numpy()
        start += np.size(w)
    return masks


# ----------------------------------------------------------------------------------------
# modules laid out as the reference grokking-tickets code's (module and buffer names as in
# its model.py), to check minigrok.interop against real torch state dicts

class _Masked(torch.nn.Module):
    """One weight `name` and a float buffer `mask_name` of ones; forward uses W * mask."""

    def __init__(self, name, W, mask_name="weight_mask"):
        super().__init__()
        self.name, self.mask_name = name, mask_name
        self.register_parameter(name, torch.nn.Parameter(torch.tensor(np.asarray(W))))
        self.register_buffer(mask_name, torch.ones(np.shape(W), dtype=getattr(self, name).dtype))

    def weight(self, name=None, mask_name=None):
        return getattr(self, name or self.name) * getattr(self, mask_name or self.mask_name)


class ReferenceMLP(torch.nn.Module):
    """embed.W_E, inproj.W, outproj.W, unembed.W_U, each with a weight_mask buffer."""

    def __init__(self, params):
        super().__init__()
        self.embed = _Masked("W_E", params["W_E"])
        self.inproj = _Masked("W", params["W_in"])
        self.outproj = _Masked("W", params["W_out"])
        self.unembed = _Masked("W_U", params["W_U"])

    def forward(self, tokens):
        return mlp_forward({"W_E": self.embed.weight(), "W_in": self.inproj.weight(),
                            "W_out": self.outproj.weight(), "W_U": self.unembed.weight()}, tokens)


class _Attention(torch.nn.Module):
    def __init__(self, params):
        super().__init__()
        for k in ("W_K", "W_Q", "W_V", "W_O"):
            self.register_parameter(k, torch.nn.Parameter(torch.tensor(np.asarray(params[k]))))
        dtype = self.W_Q.dtype
        self.register_buffer("mask", torch.ones(2, 2, dtype=dtype).tril())
        for k in ("K", "Q", "V", "O"):
            self.register_buffer("weight_mask" + k, torch.ones(getattr(self, "W_" + k).shape, dtype=dtype))


class _Block(torch.nn.Module):
    def __init__(self, params):
        super().__init__()
        self.attn = _Attention(params)
        self.mlp = torch.nn.Module()
        for k, buf in (("W_in", "weight_mask_in"), ("W_out", "weight_mask_out")):
            self.mlp.register_parameter(k, torch.nn.Parameter(torch.tensor(np.asarray(params[k]))))
            self.mlp.register_buffer(buf, torch.ones(np.shape(params[k]), dtype=self.attn.W_Q.dtype))


class ReferenceTransformer(torch.nn.Module):
    """embed.W_E, blocks.0.attn.{W_Q,W_K,W_V,W_O,mask,weight_mask[QKVO]},
    blocks.0.mlp.{W_in,W_out,weight_mask_in,weight_mask_out}, unembed.W_U."""

    def __init__(self, params):
        super().__init__()
        self.embed = _Masked("W_E", params["W_E"])
        self.blocks = torch.nn.ModuleList([_Block(params)])
        self.unembed = _Masked("W_U", params["W_U"])

    def forward(self, tokens):
        attn, mlp = self.blocks[0].attn, self.blocks[0].mlp
        P = {"W_E": self.embed.weight(), "W_U": self.unembed.weight(),
             "W_in": mlp.W_in * mlp.weight_mask_in, "W_out": mlp.W_out * mlp.weight_mask_out}
        P.update({"W_" + k: getattr(attn, "W_" + k) * getattr(attn, "weight_mask" + k) for k in "QKVO"})
        return transformer_forward(P, tokens)


REFERENCE_MODULES = {"mlp": ReferenceMLP, "transformer": ReferenceTransformer}


def state_dict_arrays(module):
    """A module's state dict as NumPy arrays: what a user saves with np.savez."""
    return {k: v.detach().numpy().copy() for k, v in module.state_dict().items()}
