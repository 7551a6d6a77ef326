"""--dask ADDRESS: host batches as jobs on a Dask distributed cluster (the optional `dask` extra).

Dask's `Client.get_executor()` is a concurrent.futures.Executor: the runner hands it the same
picklable batch jobs as a process pool (workers.py). One job per Dask worker thread by default.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .errors import OptionsError


@contextmanager
def cluster_executor(address: str | None) -> Iterator[tuple[Any, int | None]]:
    """(executor, jobs per batch) for the scheduler at `address`; (None, None) without one."""
    if not address:
        yield None, None
        return
    try:
        from distributed import Client
    except ImportError:
        raise OptionsError("--dask needs Dask distributed: pip install 'hvprov[dask]'") from None
    try:
        client = Client(address, timeout=30)
    except (OSError, TimeoutError, ValueError) as exc:
        raise OptionsError(f"--dask {address}: cannot reach the scheduler ({exc})") from None
    try:
        yield client.get_executor(), cluster_threads(client)
    finally:
        client.close()


def cluster_threads(client: Any) -> int:
    """How many jobs the cluster runs at once (the sum of its workers' threads)."""
    workers = client.scheduler_info().get("workers", {})
    return max(1, sum(int(w.get("nthreads", 1)) for w in workers.values()))
