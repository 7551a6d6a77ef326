"""hvprov.poolmap.map_in_order behaves as one pool job per item: results in order, at most
max_workers items at a time (and that many when there are enough), every item runs even when
one raises, and the first exception in order is the one raised."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from hvprov.poolmap import map_in_order


def test_results_in_order_and_concurrency_bounded_by_the_pool() -> None:
    running, peak, lock = [0], [0], threading.Lock()

    def work(x: int) -> int:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.01)  # all lanes overlap: the peak reaches the pool's size
        with lock:
            running[0] -= 1
        return x * x

    with ThreadPoolExecutor(max_workers=4) as pool:
        assert map_in_order(pool, work, list(range(20))) == [x * x for x in range(20)]
        assert peak[0] == 4
        peak[0] = 0
        assert map_in_order(pool, work, [1, 2]) == [1, 4] and peak[0] <= 2
        assert map_in_order(pool, work, []) == []


@pytest.mark.parametrize("ramp", [None, 0.005], ids=["all-lanes", "ramp"])
def test_every_item_runs_and_the_first_error_in_order_is_raised(ramp: float | None) -> None:
    ran: list[int] = []

    def work(x: int) -> int:
        ran.append(x)
        if x in (3, 7):
            raise ValueError(f"item {x}")
        return x

    with ThreadPoolExecutor(max_workers=3) as pool, pytest.raises(ValueError, match="item 3"):
        map_in_order(pool, work, list(range(10)), ramp=ramp)
    assert sorted(ran) == list(range(10))


def test_same_as_one_future_per_item() -> None:
    items = [f"h{i}" for i in range(57)]
    with ThreadPoolExecutor(max_workers=5) as pool:
        expected = [f.result() for f in [pool.submit(str.upper, x) for x in items]]
        assert map_in_order(pool, str.upper, items) == expected


def test_ramp_items_that_only_compute_stay_on_one_lane() -> None:
    threads: list[int] = []

    def work(x: int) -> int:
        threads.append(threading.get_ident())
        return x + 1

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert map_in_order(pool, work, list(range(40)), ramp=5.0) == list(range(1, 41))
    assert len(set(threads)) == 1  # no item held its lane 5 s: the other lanes never started


def test_ramp_items_that_block_still_run_max_workers_at_a_time() -> None:
    """The first four items wait for each other: on one lane they would never meet (the barrier
    breaks after 30 s and the test fails); the ramp starts the other lanes."""
    barrier = threading.Barrier(4, timeout=30)
    running, peak, lock = [0], [0], threading.Lock()

    def work(x: int) -> int:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        if x < 4:
            barrier.wait()
        with lock:
            running[0] -= 1
        return -x

    with ThreadPoolExecutor(max_workers=4) as pool:
        assert map_in_order(pool, work, list(range(12)), ramp=0.005) == [-x for x in range(12)]
    assert peak[0] == 4
