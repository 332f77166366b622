"""Models: each module offers PARAM_NAMES, DEFAULTS, init(cfg, rng) -> params,
forward(params, tokens) -> (logits, cache) and backward(dlogits, cache) -> grads."""
from ..errors import MinigrokError
from . import mlp, transformer

MODELS = {"mlp": mlp, "transformer": transformer}


def get_model(name):
    """The model module called `name` ('mlp' or 'transformer')."""
    if name not in MODELS:
        raise MinigrokError(f"unknown model {name!r}; allowed: {', '.join(sorted(MODELS))}")
    return MODELS[name]


def model_config(name, p, dtype="float32", **overrides):
    """The full config dict of a model: its defaults, the vocabulary size p and the dtype."""
    model = get_model(name)
    cfg = dict(model.DEFAULTS, p=p, dtype=dtype, model=name)
    cfg.update({k: v for k, v in overrides.items() if v is not None})
    return cfg
