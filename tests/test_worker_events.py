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
