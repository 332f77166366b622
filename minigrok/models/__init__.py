"""Models: each module offers DEFAULTS, param_names(cfg), param_shapes(cfg),
init(cfg, rng) -> params, forward(params, x) -> (outputs, cache) and
backward(doutputs, cache) -> grads. mlp and transformer (token inputs) have fixed names;
fc (vector inputs) derives its names W_0 .. W_{L-1} from its layer sizes."""
from ..errors import MinigrokError
from . import fc, mlp, transformer

MODELS = {"mlp": mlp, "transformer": transformer, "fc": fc}


def get_model(name):
    """The model module called `name` ('mlp', 'transformer' or 'fc')."""
    if name not in MODELS:
        raise MinigrokError(f"unknown model {name!r}; allowed: {', '.join(sorted(MODELS))}")
    return MODELS[name]


def model_config(name, p, dtype="float32", **overrides):
    """The full config dict of a model: its defaults, the vocabulary size p and the dtype."""
    model = get_model(name)
    cfg = dict(model.DEFAULTS, p=p, dtype=dtype, model=name)
    cfg.update({k: v for k, v in overrides.items() if v is not None})
    return cfg
