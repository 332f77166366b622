"""The one exception users see: a bad value, what was given and what is allowed."""


class MinigrokError(ValueError):
    """A user-facing error. The CLI prints its message on one line and exits non-zero."""
