"""Host batches in other processes or on a Dask cluster: N jobs x forks hosts in flight.

A play's batch (serial) is cut into one job per worker; a job is a picklable `BatchJob` run by
`run_batch_job` (module level, so any concurrent.futures.Executor can run it: a process pool,
Dask's `client.get_executor()`). Inside the job the batch's hosts run on threads (forks) under
the play's strategy, exactly as on the thread path. What a host carries from play to play
(registered variables, set_fact, include_vars, its facts, its status) travels with the job and
comes back with the result, so the next play's job starts where the last one ended.

Secrets: the registry's values (with their shown forms) and its protected names travel with
the job; the worker's own registry masks every event and message before it leaves the worker.
Events stream to the parent through a queue when the executor is a process pool, in batches
(up to 64 events, none held more than 0.1 s), read by a thread that calls on_event as they
arrive; on other executors they come back with the job.
A job that dies (its worker killed) leaves its hosts reported unreachable, never lost.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import threading
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import OptionsError
from .inventory import Host
from .model import Status, TaskResult
from .playbook import Play

HOSTS_PER_WORKER = 250  # the default: a second process pays off from about this many hosts


def default_workers(hosts: int, cores: int | None = None) -> int:
    """1 (threads only) for small runs; else one process per HOSTS_PER_WORKER hosts, at most one per core."""
    cores = cores if cores is not None else (os.cpu_count() or 1)
    return max(1, min(cores, hosts // HOSTS_PER_WORKER))


# what every worker needs, imported once in the fork server instead of once per worker
PRELOAD = ["hvprov.workers", "hvprov.runctx", "hvprov.strategy", "hvprov.session", "hvprov.transports.winrm"]


def process_pool(workers: int) -> ProcessPoolExecutor:
    """Workers forked from a fork server that has imported what a job needs (Linux): each worker
    starts warm instead of importing hvprov and its WinRM stack again (spawned, ~0.5 s of CPU
    each). The server is a fresh interpreter, so no lock or thread of this process is forked.
    Elsewhere (Windows, macOS' default): spawn."""
    import multiprocessing

    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(PRELOAD)
    else:
        ctx = multiprocessing.get_context("spawn")
    return ProcessPoolExecutor(max_workers=workers, mp_context=ctx)


@dataclass
class Carried:
    """What a host keeps from play to play."""

    status: str = "ok"
    msg: str = ""
    facts_vars: dict[str, Any] = field(default_factory=dict)
    included_vars: dict[str, Any] = field(default_factory=dict)
    facts: Any = None  # facts.HostFacts as the last play left them (predicted ones in plan mode)
    input_error: bool = False


@dataclass(frozen=True)
class BatchJob:
    hosts: tuple[Host, ...]
    play: Play
    playbook_path: str
    options: Any  # RunOptions without executor and stop_event
    carried: dict[str, Carried]
    secrets: tuple[Any, ...]  # secrets.Secret: values with their shown forms
    public: tuple[str, ...]  # names masking must not cut into
    run_id: str
    groups: dict[str, list[str]]
    batch: tuple[str, ...]  # the play's whole batch (ansible_play_batch)
    play_hosts: tuple[Host, ...]  # every host of the play (hostvars, ansible_play_hosts_all)
    strategy: str
    forks: int
    events: Any = None  # a queue (put) that streams events to the parent, else they come back


@dataclass
class HostOut:
    carried: Carried
    tasks: list[TaskResult]
    round_trips: int
    scripts_run: int
    initial_facts: dict[str, Any] | None
    state: dict[str, Any] | None


@dataclass
class BatchOut:
    hosts: dict[str, HostOut]
    events: list[dict[str, Any]]
    verdict: str | None
    secrets: tuple[Any, ...] = ()  # secrets the job learnt (an unvault lookup): back to the run's registry


class _PlayHosts:
    """The inventory a worker sees: the play's hosts (hostvars of the others show their inventory vars)."""

    def __init__(self, hosts: tuple[Host, ...]) -> None:
        self.hosts = {h.name: h for h in hosts}
        self.sources: tuple[str, ...] = ()

    def select(self, pattern: str | None) -> list[Host]:
        return list(self.hosts.values())


@functools.lru_cache(maxsize=1)
def _services() -> tuple[Any, Any]:
    """One Templar and one ScriptRenderer per process: templates compile once, not once per job."""
    from .render import ScriptRenderer
    from .templating import Templar

    return Templar(), ScriptRenderer()


def run_batch_job(job: BatchJob) -> BatchOut:
    """Module-level (picklable by reference): one job's hosts through one play, threads inside."""
    events: list[dict[str, Any]] = []
    streamer = _EventBatches(job.events) if job.events is not None else None
    try:
        return _run_job(job, streamer.put if streamer is not None else events.append, events)
    finally:
        if streamer is not None:
            streamer.close()  # every event is on the queue before the job's result is


def _run_job(job: BatchJob, sink: Any, events: list[dict[str, Any]]) -> BatchOut:
    from concurrent.futures import ThreadPoolExecutor

    from .connvars import connection_spec
    from .hostvars import PlayContext
    from .runctx import HostState, RunContext, state_view
    from .secrets import SecretRegistry
    from .secretsources import SecretResolver
    from .strategy import BatchRun

    ctx = RunContext(job.options, job.playbook_path, Path(job.play.playbook_dir or "."), sink,
                     SecretRegistry(job.secrets, job.public), job.run_id, threading.Event())
    ctx.templar, ctx.renderer = _services()
    if job.options.vault is not None:  # the unvault lookup needs this run's vault: a Templar of this job's own
        from .templating import Templar

        ctx.templar = Templar(vault=job.options.vault, secrets=ctx.secrets)
    resolver = SecretResolver()
    states: dict[str, HostState] = {}
    for host in job.hosts:
        spec = connection_spec(host, job.options.extra_vars, ctx.templar, resolver=resolver,
                               default_password=job.options.default_password)
        st = HostState(host, ctx.new_session(host, spec))
        c = job.carried[host.name]
        st.status, st.msg, st.input_error = Status(c.status), c.msg, c.input_error
        st.facts_vars, st.included_vars = dict(c.facts_vars), dict(c.included_vars)
        if c.facts is not None:
            st.session.set_facts(c.facts)
        states[host.name] = st
    batch = [h for h in job.play_hosts if h.name in set(job.batch)]
    pctx = PlayContext(ctx, job.play, _PlayHosts(job.play_hosts), list(job.play_hosts), states, job.groups, batch)
    try:
        with ThreadPoolExecutor(max_workers=max(1, job.forks)) as pool:
            verdict = BatchRun(pctx, list(states.values()), pool, job.strategy).run()
    finally:
        with ThreadPoolExecutor(max_workers=max(1, job.forks)) as pool:
            list(pool.map(lambda s: s.session.close(), states.values()))
    out = {}
    for name, st in states.items():
        facts = st.session.facts if st.session.has_facts else None
        out[name] = HostOut(
            Carried(st.status.value, st.msg, st.facts_vars, st.included_vars, facts, st.input_error),
            list(st.tasks), st.session.round_trips, st.session.scripts_run, st.session.initial_facts,
            state_view(st.session) if facts is not None else None)
    known = set(job.secrets)
    return BatchOut(out, events, verdict, tuple(s for s in ctx.secrets.secrets() if s not in known))


class _EventBatches:
    """Streams a job's events to the parent's queue in small batches (a list per put): each put on
    a Manager queue is a round trip through the manager process, ~0.2 ms of CPU on three
    processes, so one put per event cost ~2 ms per host on a fleet run. A batch leaves when it
    holds BATCH events or, from a background thread, at most FLUSH_S after its first event, so
    the console still shows events as they happen."""

    BATCH = 64
    FLUSH_S = 0.1

    def __init__(self, queue: Any) -> None:
        self.queue = queue
        self.lock = threading.Lock()
        self.pending: list[dict[str, Any]] = []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="hvprov-event-batches", daemon=True)
        self.thread.start()

    def put(self, event: dict[str, Any]) -> None:
        with self.lock:
            self.pending.append(event)
            if len(self.pending) < self.BATCH:
                return
            batch, self.pending = self.pending, []
            self.queue.put(batch)  # under the lock: batches keep their order

    def flush(self) -> None:
        with self.lock:
            if self.pending:
                batch, self.pending = self.pending, []
                self.queue.put(batch)

    def _loop(self) -> None:
        while not self.done.wait(self.FLUSH_S):
            self.flush()

    def close(self) -> None:
        self.done.set()
        self.thread.join()
        self.flush()


def portable_options(options: Any) -> Any:
    return dataclasses.replace(options, executor=None, stop_event=None,
                               lab_dir=Path(options.lab_dir).resolve() if options.lab_dir else None)


def needs_lockstep(play: Play, default: str) -> bool:
    if (play.strategy or default) != "linear":
        return False
    lockstep = [t for t in play.tasks if t.run_once or (t.module == "meta" and t.args == "end_play")]
    return bool(play.any_errors_fatal or play.max_fail_percentage is not None or lockstep
                or any(t.any_errors_fatal for t in play.tasks))


def job_count(batch_size: int, workers: int | None, executor: Executor) -> int:
    n = workers or getattr(executor, "_max_workers", 0) or max(1, math.ceil(batch_size / HOSTS_PER_WORKER))
    return max(1, min(n, batch_size))


def split(hosts: list[Host], n: int) -> list[list[Host]]:
    """n contiguous chunks of near-equal size (order kept: events and results read in play order)."""
    size, extra = divmod(len(hosts), n)
    out, i = [], 0
    for k in range(n):
        step = size + (1 if k < extra else 0)
        out.append(hosts[i:i + step])
        i += step
    return [c for c in out if c]


def check_jobs(play: Play, default: str, jobs: int) -> None:
    """A linear play that needs its hosts in lockstep must run as one job (refused before any host)."""
    if jobs > 1 and needs_lockstep(play, default):
        raise OptionsError(f"play {play.name!r} ({play.location}) needs the linear strategy's lockstep "
                           "(any_errors_fatal, max_fail_percentage, run_once or meta: end_play) across "
                           f"its whole batch, which {jobs} worker jobs would split: run it with workers=1 "
                           "(--workers 1) or serial batches no larger than one job")
