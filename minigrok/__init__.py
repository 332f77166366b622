"""minigrok: grokking tickets on hand-written NumPy.

Read in this order: layers.py (every op, forward next to backward), attention.py, losses.py,
models/mlp.py, optim.py (AdamW), masks.py and pruning/magnitude.py, train.py, ticket.py.
"""
__version__ = "0.1.0"
