"""Helpers for tests that check which processes are left."""


def running(pid):
    """Is pid a process that has not ended (not gone, not a zombie no one reaped)?"""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
