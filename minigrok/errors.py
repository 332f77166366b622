"""The one exception users see: a bad value, what was given and what is allowed."""
import sys


class MinigrokError(ValueError):
    """A user-facing error. The CLI prints its message on one line and exits non-zero."""


def short_errors():
    """For a script (the examples call it first): a MinigrokError that ends the script is
    printed as its one line, `error: ...`, on stderr, instead of a traceback; every other
    exception keeps its traceback. The exit status is 1 either way."""
    previous = sys.excepthook

    def hook(kind, value, traceback):
        if issubclass(kind, MinigrokError):
            print(f"error: {value}", file=sys.stderr)
        else:
            previous(kind, value, traceback)

    sys.excepthook = hook
