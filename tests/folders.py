"""Helpers for tests that check what a command wrote (or did not write)."""
import hashlib
import os


def tree(folder):
    """{relative path: (mode, sha256)} of every file under folder: 'nothing changed'."""
    found = {}
    for base, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(base, name)
            with open(path, "rb") as f:
                found[os.path.relpath(path, folder)] = (os.stat(path).st_mode, hashlib.sha256(f.read()).hexdigest())
    return found


def assert_readable_png(path, max_width=2000, max_aspect=3.5):
    """path is a PNG of a size a person can read: at least 300 px high, at most max_width
    wide, and not a strip (width / height <= max_aspect). Returns (height, width)."""
    from matplotlib.image import imread
    assert os.path.isfile(path) and os.path.getsize(path) > 0, path
    height, width = imread(path).shape[:2]
    assert height >= 300 and width <= max_width and width / height <= max_aspect, (path, width, height)
    return height, width
