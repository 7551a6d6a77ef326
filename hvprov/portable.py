"""Running hosts on executors that pickle their work (process pools, Dask's distributed
Executor...): a host's part of a play travels as a picklable job to a module-level function
and comes back as its results, registered variables and the events it produced.

The thread path (the default) streams events as they happen; here a host's events are
replayed when its job returns. Each job opens its own connection to the host (one per host
per play). Secret values travel with the job so that the worker masks them too.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .inventory import Host
from .model import Status, TaskResult
from .playbook import Play


@dataclass(frozen=True)
class HostJob:
    host: Host
    play: Play
    playbook_path: str
    options: Any  # RunOptions without executor and stop_event
    facts_vars: dict[str, Any]
    status: str
    msg: str
    secret_values: tuple[str, ...]
    run_id: str
    groups: dict[str, list[str]] = field(default_factory=dict)
    batch: tuple[str, ...] = ()
    included_vars: dict[str, Any] = field(default_factory=dict)


@dataclass
class HostJobResult:
    tasks: list[TaskResult] = field(default_factory=list)
    status: str = "ok"
    msg: str = ""
    facts_vars: dict[str, Any] = field(default_factory=dict)
    included_vars: dict[str, Any] = field(default_factory=dict)
    round_trips: int = 0
    scripts_run: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)
    initial_facts: dict[str, Any] | None = None
    state: dict[str, Any] | None = None  # runctx.state_view() of the host at the job's end
    input_error: bool = False


class _OneHost:
    """The inventory a worker needs: the one host it runs (hostvars of others are not there)."""

    def __init__(self, host: Host) -> None:
        self.hosts = {host.name: host}
        self.sources: tuple[str, ...] = ()

    def select(self, pattern: str | None) -> list[Host]:
        return list(self.hosts.values())


def run_host_job(job: HostJob) -> HostJobResult:
    """Module-level (picklable by reference): run one host's part of one play (free strategy)."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from .connvars import connection_spec
    from .hostvars import PlayContext
    from .runctx import HostState, RunContext, state_view
    from .secrets import SecretRegistry
    from .strategy import BatchRun

    events: list[dict[str, Any]] = []
    ctx = RunContext(job.options, job.playbook_path, Path(job.play.playbook_dir or "."), events.append,
                     SecretRegistry(job.secret_values), job.run_id, threading.Event())
    from .secretsources import SecretResolver

    spec = connection_spec(job.host, job.options.extra_vars, ctx.templar, resolver=SecretResolver(),
                           default_password=job.options.default_password)
    st = HostState(job.host, ctx.new_session(job.host, spec))
    st.facts_vars = dict(job.facts_vars)
    st.included_vars = dict(job.included_vars)
    st.status, st.msg = Status(job.status), job.msg
    inventory: Any = _OneHost(job.host)
    pctx = PlayContext(ctx, job.play, inventory, [job.host], {job.host.name: st}, job.groups, [job.host])
    try:
        with ThreadPoolExecutor(max_workers=1) as pool:
            BatchRun(pctx, [st], pool, "free").run()
    finally:
        st.session.close()
    return HostJobResult(
        tasks=list(st.tasks), status=st.status.value, msg=st.msg, facts_vars=st.facts_vars, included_vars=st.included_vars,
        round_trips=st.session.round_trips, scripts_run=st.session.scripts_run, events=events,
        initial_facts=st.session.initial_facts,
        state=state_view(st.session) if st.session.has_facts else None, input_error=st.input_error,
    )


def portable_options(options: Any) -> Any:
    return dataclasses.replace(options, executor=None, stop_event=None,
                               lab_dir=Path(options.lab_dir).resolve() if options.lab_dir else None)
