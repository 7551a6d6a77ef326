"""The parent's side of worker jobs (workers.py): cut a batch into jobs, stream their events,
fold their results back into the run's host states."""

from __future__ import annotations

import threading
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from typing import Any

from .inventory import Host
from .model import Status
from .playbook import Play
from .strategy import BREAK
from .workers import BatchJob, BatchOut, Carried, job_count, portable_options, run_batch_job, split


def _event_queue(runner: Any, executor: Executor) -> Any:
    """A queue the workers put events on as they happen (process pools); None: events come back with the job."""
    if not isinstance(executor, ProcessPoolExecutor) or runner.ctx.on_event is None:
        return None
    if runner.manager is None:
        import multiprocessing

        runner.manager = multiprocessing.get_context("spawn").Manager()
        runner.event_queue = runner.manager.Queue()
    return runner.event_queue


def _drain(queue: Any, deliver: Any) -> threading.Thread:
    def loop() -> None:
        while (batch := queue.get()) is not None:  # a list of events (workers._EventBatches)
            for event in batch:
                deliver(event)

    t = threading.Thread(target=loop, name="hvprov-events", daemon=True)
    t.start()
    return t


def run_batch(runner: Any, play: Play, play_hosts: list[Host], batch: list[Host], strategy: str,
              executor: Executor) -> str | None:
    ctx, opts = runner.ctx, runner.opts
    options = portable_options(opts)
    secrets = tuple(runner.secrets.secrets())
    public = tuple(sorted(runner.secrets._public_names))  # noqa: SLF001 - the registry's protected names
    queue = _event_queue(runner, executor)

    def deliver(event: dict[str, Any]) -> None:
        if ctx.on_event is not None:
            with ctx.lock:
                ctx.on_event(event)

    drainer = _drain(queue, deliver) if queue is not None else None
    chunks = split(batch, job_count(len(batch), opts.workers, executor))
    futures = {}
    for chunk in chunks:
        carried = {}
        for h in chunk:
            st = runner.states[h.name]
            facts = st.session.facts if st.session.has_facts else None
            carried[h.name] = Carried(st.status.value, st.msg, dict(st.facts_vars), dict(st.included_vars),
                                      facts, st.input_error)
        job = BatchJob(tuple(chunk), play, runner.playbook.path, options, carried, secrets, public, runner.run_id,
                       dict(runner.groups), tuple(h.name for h in batch), tuple(play_hosts), strategy,
                       opts.forks, queue)
        futures[_submit(executor, job)] = chunk
    verdicts = []
    try:
        for future in as_completed(futures):
            try:
                out: BatchOut = future.result()
            except Exception as exc:  # noqa: BLE001 - a worker died (killed, out of memory): its hosts are unreachable
                _lost(runner, futures[future], exc)
                continue
            for event in out.events:
                deliver(event)
            _fold(runner, out)
            verdicts.append(out.verdict)
    finally:
        if drainer is not None:
            queue.put(None)
            drainer.join()
    if len(chunks) == 1 and verdicts == [BREAK]:  # one job held the batch: its verdict (max_fail_percentage) holds
        return BREAK
    return BREAK if batch and all(runner.states[h.name].down for h in batch) else None


def _submit(executor: Executor, job: BatchJob) -> Any:
    """A job on the executor. Dask's ClientExecutor defaults to pure=True: it would hash the whole
    job (every host of the play: ~5 ms of CPU per host on the controller) to name the task, and
    would hand back an earlier result for an identical job, which for a run on hosts is wrong."""
    kind = type(executor)
    if kind.__name__ == "ClientExecutor" and kind.__module__.startswith("distributed"):
        return executor.submit(run_batch_job, job, pure=False)  # a Client.submit option, not an argument
    return executor.submit(run_batch_job, job)


def _fold(runner: Any, out: BatchOut) -> None:
    runner.secrets.add_all(out.secrets)  # before the next job is built: its registry starts from this one
    for name, ho in out.hosts.items():
        st = runner.states[name]
        c = ho.carried
        st.tasks.extend(ho.tasks)
        st.status, st.msg, st.facts_vars, st.included_vars = Status(c.status), c.msg, c.facts_vars, c.included_vars
        if c.facts is not None:
            st.session.set_facts(c.facts)
        st.remote_trips += ho.round_trips
        st.remote_scripts += ho.scripts_run
        st.input_error = st.input_error or c.input_error
        if c.input_error:
            runner.ctx.input_errors = True
        if st.session.initial_facts is None:
            st.session.initial_facts = ho.initial_facts
        if ho.state is not None:
            st.remote_state = ho.state


def _lost(runner: Any, hosts: list[Host], exc: BaseException) -> None:
    why = runner.secrets.scrub(f"{type(exc).__name__}: {exc}")
    for h in hosts:
        st = runner.states[h.name]
        if st.down:
            continue
        st.status, st.msg = Status.UNREACHABLE, f"worker lost while running this host ({why}); a rerun resumes"
        runner.ctx.emit("host_done", h.name, status=st.status.value, msg=st.msg, round_trips=0)
