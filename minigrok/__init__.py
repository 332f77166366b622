"""minigrok: grokking tickets on hand-written NumPy.

Read in this order: layers.py (every op, forward next to backward), attention.py, losses.py,
models/mlp.py, optim.py (AdamW), masks.py and pruning/magnitude.py, train.py (the loop),
recipes/ticket.py (the grokking ticket); then runs.py and store/ for how runs live on disk.
"""
__version__ = "0.1.0"
