"""A Dask cluster as the executor of a sweep (the optional extra `minigrok[cluster]`).

    minigrok sweep --scheduler tcp://HOST:8786 ...

submits the same units as --workers to a running Dask cluster (`dask scheduler` and
`dask worker` processes, or dask-jobqueue on Slurm) through Client.get_executor(). The
workers must see the same --out folder (a shared file system): a unit writes its run
there and the caller reads it back, so a worker that dies loses no finished unit, and
Dask gives its unfinished one to another worker (which continues from its last
checkpoint). Each unit pins its worker's BLAS to one thread (parallel.train_unit), as
local workers do.

This is the only module that knows Dask; it is imported only when --scheduler is given.
"""
import contextlib

from .errors import MinigrokError

CONNECT_TIMEOUT = "10s"


@contextlib.contextmanager
def dask_executor(address):
    """A concurrent.futures executor on the Dask cluster at address."""
    try:
        from distributed import Client
    except ImportError:
        raise MinigrokError("--scheduler needs Dask's distributed: pip install 'minigrok[cluster]'") from None
    try:
        client = Client(address, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError, ValueError) as exc:
        raise MinigrokError(f"cannot reach the Dask scheduler at {address!r}: {exc}") from None
    try:
        yield client.get_executor(pure=False)  # each unit pins its worker's BLAS itself
    finally:
        client.close()
