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
