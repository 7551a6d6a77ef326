"""`[f.result() for f in [pool.submit(fn, x) for x in items]]` with one pool job per worker.

A thread pool of N workers runs at most N items at a time, each worker taking the next item
from the queue when it finishes one. `map_in_order` keeps exactly that: min(N, len(items))
lanes, each taking the next item (in order) as it finishes one, so the same items run at the
same time as with one job per item, without a Future, a queue entry and a thread wake-up per
host and task (12 ms of CPU in the bench's 200 hosts x 10 tasks). Results come back in the
items' order; an exception an item raises is raised once every item ran (the first in
order); when the caller stops waiting (Ctrl-C), no lane starts a new item, as the pool
cancels the jobs it has not started.

`ramp` (seconds): for items that are expected only to compute (a controller-only task on each
host), one lane starts; the others start as soon as one item has held that lane for `ramp`
seconds while the lane's thread used under a fifth of that in CPU (the item waits: a sleep, a
lookup running a command), so items that block still run N at a time, 2-3 ramps later. Items
that only compute gain nothing from N lanes under the GIL: the lanes hand it to each other,
and the threads' wake-ups and switches cost CPU. Wall time alone would not tell: on a loaded
machine a computing lane is often descheduled for longer than a ramp (tried: the lanes started
in most rounds).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any, TypeVar

T = TypeVar("T")


def map_in_order(pool: ThreadPoolExecutor, fn: Callable[[T], Any], items: Sequence[T],
                 ramp: float | None = None) -> list[Any]:
    n = len(items)
    results: list[Any] = [None] * n
    errors: list[BaseException | None] = [None] * n
    lock = threading.Lock()
    state: dict[str, Any] = {"next": 0, "abandoned": False, "thread": None}

    def lane() -> None:
        if state["thread"] is None:
            state["thread"] = threading.get_ident()
        while True:
            with lock:
                i = state["next"]
                if i >= n or state["abandoned"]:
                    return
                state["next"] = i + 1
            try:
                results[i] = fn(items[i])
            except BaseException as exc:  # noqa: BLE001 - raised in the caller, in order, as f.result() would
                errors[i] = exc

    width = min(n, max(1, pool._max_workers))
    lanes = [pool.submit(lane) for _ in range(1 if ramp is not None else width)]
    try:
        if ramp is not None and width > 1:
            _ramp_up(pool, lane, lanes, width, ramp, state, n)
        for f in lanes:
            f.result()
    except BaseException:
        with lock:
            state["abandoned"] = True
        raise
    for exc in errors:
        if exc is not None:
            raise exc
    return results


def _ramp_up(pool: ThreadPoolExecutor, lane: Callable[[], None], lanes: list[Any], width: int, ramp: float,
             state: dict[str, Any], n: int) -> None:
    """Wait for the one lane; start the others when, over `ramp` seconds, it stayed on one item
    and used under a fifth of that in CPU: it waits (a sleep, a command), it does not compute."""
    seen, cpu = -1, 0.0
    while not wait(lanes, timeout=ramp).done:
        item, used = state["next"], _cpu(state["thread"])
        if item >= n:
            return
        if item == seen and used is not None and used - cpu < ramp / 5:
            lanes += [pool.submit(lane) for _ in range(width - 1)]
            return
        seen, cpu = item, used if used is not None else 0.0


def _cpu(thread: int | None) -> float | None:
    """The CPU seconds a thread used (None: unknown, e.g. not yet started)."""
    if thread is None:
        return None
    try:
        return time.clock_gettime(time.pthread_getcpuclockid(thread))
    except (AttributeError, OSError):  # no per-thread clocks: waiting for one item's ramp is the sign
        return 0.0
