"""Worker events travel in batches (one queue put per batch, not per event) yet still stream:
an event is never held back until the job ends (issue 15 item 2)."""

from __future__ import annotations

import queue

from hvprov.workers import _EventBatches


def test_batches_keep_order_and_lose_nothing() -> None:
    q: queue.Queue[list[dict[str, int]]] = queue.Queue()
    b = _EventBatches(q)
    for i in range(2 * _EventBatches.BATCH + 5):
        b.put({"n": i})
    b.close()
    got: list[list[dict[str, int]]] = []
    while not q.empty():
        got.append(q.get_nowait())
    assert [e["n"] for batch in got for e in batch] == list(range(2 * _EventBatches.BATCH + 5))
    assert len(got) <= 5  # batches, not one put per event (the timer may split the tail)
    assert all(len(batch) <= _EventBatches.BATCH for batch in got)


def test_a_lone_event_is_sent_before_the_job_ends() -> None:
    q: queue.Queue[list[dict[str, int]]] = queue.Queue()
    b = _EventBatches(q)
    try:
        b.put({"n": 1})
        assert q.get(timeout=30) == [{"n": 1}]  # flushed by the timer thread, the job still running
    finally:
        b.close()
    assert q.empty()


def test_worker_processes_start_from_a_warm_fork_server_on_linux() -> None:
    import multiprocessing
    import sys

    from hvprov.workers import PRELOAD, process_pool

    with process_pool(1) as pool:
        method = pool._mp_context.get_start_method()  # noqa: SLF001
        assert pool.submit(sum, [1, 2]).result(timeout=120) == 3
    if sys.platform.startswith("linux"):
        assert method == "forkserver" and "hvprov.transports.winrm" in PRELOAD
    else:
        assert method == "spawn" or "forkserver" in multiprocessing.get_all_start_methods()


def test_dask_jobs_are_submitted_impure() -> None:
    """Dask's ClientExecutor defaults to pure=True (hash every argument, reuse an identical
    task's result): a job on hosts is never pure, and hashing it cost ~5 ms per host."""
    from concurrent.futures import ThreadPoolExecutor

    from hvprov import jobs

    calls: list[dict[str, object]] = []

    class ClientExecutor:  # the shape of distributed.cfexecutor.ClientExecutor.submit
        def submit(self, fn: object, *args: object, **kwargs: object) -> str:
            calls.append(kwargs)
            return "future"

    ClientExecutor.__module__ = "distributed.cfexecutor"
    assert jobs._submit(ClientExecutor(), "job") == "future"  # type: ignore[arg-type]
    assert calls == [{"pure": False}]
    with ThreadPoolExecutor(1) as pool:  # other executors get the job alone
        assert jobs._submit(pool, 41).exception(timeout=60) is not None  # type: ignore[arg-type]  # run_batch_job(41) fails
