"""The runner: plays over hosts in batches (serial), each batch driven by a strategy.

A play's strategy is Ansible's default, linear (each task on every host of the batch before
the next), unless the play says `strategy: free` (strategy.py). One host's failure never stops
the others unless the play asks (any_errors_fatal, max_fail_percentage). Data flows one way:
inputs -> task tree -> plan per task -> (apply) -> results and events.
"""

from __future__ import annotations

import math
import os
import socket
import threading
import time
import uuid
from concurrent.futures import Executor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from .connection import ConnectionSpec
from .connvars import connection_spec, connection_vars
from .errors import OptionsError, PlaybookError, VariableError
from .hostvars import PlayContext, inventory_groups
from .inventory import Host, Inventory
from .model import HostResult, RunResult, Status
from .playbook import Play, Playbook
from .preflight import preflight
from .runctx import (
    RUN_THREAD_PREFIX,
    EventSink,
    HostState,
    RunContext,
    RunOptions,
    lease_abandoned,
    public_names,
    secret_values,
    state_view,
)
from .secrets import SecretRegistry, tag_by_name
from .strategy import BREAK, BatchRun
from .templating import Templar
from .validate import play_host_warnings

class Runner:
    def __init__(self, inventory: Inventory, playbook: Playbook, options: RunOptions,
                 on_event: EventSink | None = None, secrets: SecretRegistry | None = None) -> None:
        self.inventory = inventory
        self.playbook = playbook
        self.opts = options
        self.run_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.ctx = RunContext(options, playbook.path, playbook.base_dir, on_event, secrets or SecretRegistry(),
                              self.run_id, options.stop_event or threading.Event())
        self.secrets = self.ctx.secrets
        self.stop = self.ctx.stop
        self.states: dict[str, HostState] = {}
        self.stale_abort = False
        self.manager: Any = None  # multiprocessing manager whose queue streams the workers' events
        self.groups = inventory_groups(inventory) if hasattr(inventory, "groups") else {}
        self._resolver = _FirstUseResolver()

    # -- hosts -----------------------------------------------------------------
    def _select(self, index: int, play: Play) -> list[Host]:
        pattern = play.hosts
        field = f"plays[{index}].hosts"
        if Templar.is_template(pattern):  # hosts: "{{ target }}" from play vars or extra vars
            value = self.ctx.templar.template(pattern, {**play.vars, **self.opts.extra_vars},
                                              play.hosts_location or play.location, field)
            pattern = ",".join(map(str, value)) if isinstance(value, list) else str(value)
        try:
            hosts = self.inventory.select(pattern)
        except OptionsError as exc:
            raise PlaybookError(f"bad host pattern {pattern!r}: {exc}", location=play.hosts_location or play.location,
                                field=field) from None
        for text in play_host_warnings(self.inventory, pattern, play.name, len(hosts)):
            self.ctx.emit("warning", message=text)
        if self.opts.limit:
            allowed = {h.name for h in self.inventory.select(self.opts.limit)}
            hosts = [h for h in hosts if h.name in allowed]
        if self.ctx.saved_plan is not None:
            planned = set(self.ctx.saved_plan.doc["hosts"])
            hosts = [h for h in hosts if h.name in planned]
        if self.opts.shard:
            index_, count = self.opts.shard
            hosts = [h for h in hosts if _shard_of(h.name, count) == index_ - 1]
        return hosts

    def _spec(self, host: Host) -> ConnectionSpec:
        return connection_spec(host, self.opts.extra_vars, self.ctx.templar, resolver=self._resolver,
                               default_password=self.opts.default_password, lock=self.ctx.lock)

    def state(self, host: Host) -> HostState:
        st = self.states.get(host.name)
        if st is None:
            spec = self._spec(host)
            self.secrets.collect(dict(host.vars))
            for value in secret_values(host.vars):  # plain-text passwords in an inventory are still secrets
                self.secrets.add(value)
            for secret in (spec.password, spec.ssh_key_passphrase):
                if secret is not None:
                    self.secrets.add(secret)
            st = HostState(host, self.ctx.new_session(host, spec))
            self.states[host.name] = st
        return st

    # -- run -------------------------------------------------------------------
    def run(self) -> RunResult:
        me = threading.current_thread()
        own_name = me.name
        me.name = f"{own_name} {RUN_THREAD_PREFIX}{self.run_id.rpartition(':')[2]}"  # this run is live (leases)
        try:
            return self._run()
        finally:
            me.name = own_name

    def _run(self) -> RunResult:
        started = time.monotonic()
        self.secrets.collect(tag_by_name(dict(self.opts.extra_vars)))
        for play in self.playbook.plays:
            self.secrets.collect(tag_by_name(dict(play.vars)))
        self.secrets.protect(public_names(self.inventory))
        self.ctx.emit("run_started", mode=self.opts.mode, playbook=self.playbook.path)
        own_executor = self.opts.executor is None
        executor = self.opts.executor or ThreadPoolExecutor(
            max_workers=max(1, self.opts.forks), thread_name_prefix=f"{RUN_THREAD_PREFIX}{self.run_id.rpartition(':')[2]}")
        local = executor if isinstance(executor, ThreadPoolExecutor) else ThreadPoolExecutor(max_workers=max(1, self.opts.forks))
        try:
            plays = [(play, self._select(i, play)) for i, play in enumerate(self.playbook.plays)]
            carried: dict[str, set[str]] = {}
            for play, hosts in plays:  # pre-flight: undefined variables are input errors (exit 4) before any host is touched
                for h in hosts:
                    carried[h.name] = preflight(self.ctx.templar, play, h, self.opts.extra_vars, carried.get(h.name))
                    connection_vars(h, self.opts.extra_vars, self.ctx.templar)  # undefined there: exit 4 too
                if not isinstance(executor, ThreadPoolExecutor):
                    _check_portable(play, self.opts.strategy, hosts, self.opts.workers, executor)
            if self.ctx.saved_plan is not None and self.opts.on_stale == "abort":
                self._check_all_fresh(plays, local)
            for index, (play, hosts) in enumerate(plays):
                if self.stop.is_set() or self._run_play(play, hosts, executor) == BREAK:
                    break
                if index in self.opts.playbook_ends and any(st.down for st in self.states.values()):
                    break  # several playbooks: as ansible-playbook, none after one where a host failed
        except KeyboardInterrupt:
            self.stop.set()
        finally:
            # Close every session in parallel (a WinRM close is a request: 1,000 of them in a row
            # would dominate a fleet run), on this process's threads: a session holds a lock, so
            # it never goes to an executor that pickles its work (processes, Dask).
            closers = [local.submit(st.session.close) for st in self.states.values()]
            for f in closers:
                try:
                    f.result()
                except Exception:  # noqa: BLE001 - closing never fails a run
                    pass
            if own_executor:
                executor.shutdown(wait=True, cancel_futures=True)
            if local is not executor:
                local.shutdown(wait=True)
            if self.manager is not None:
                self.manager.shutdown()
        if self.opts.scripts_dir is not None:
            self._write_review(self.opts.scripts_dir)
        result = self._result(time.monotonic() - started)
        self.ctx.emit("run_done", summary=result.summary(), interrupted=result.interrupted)
        return result

    def _write_review(self, out: Path) -> None:
        """<dir>/<host>/NN-<template>.ps1: every script the plan's changes would run (secrets masked)."""
        from .plans import write_atomic
        from .report.text import one_line

        for name, st in sorted(self.states.items()):
            if not st.review:
                continue
            host_dir = out / name
            host_dir.mkdir(parents=True, exist_ok=True)
            n = 0
            for entry in st.review:
                for template, text in entry["scripts"]:
                    n += 1
                    stem = template.removesuffix(".ps1.j2").replace("/", "_")
                    head = (f"# hvprov plan review: host {one_line(name)}, task {one_line(entry['name'])} "
                            f"({one_line(entry['task'])})\n"  # a newline in a value cannot end the comment
                            f"# changes: {one_line('; '.join(entry['changes']))}\n"
                            "# (ids of objects this plan creates show as 00000000-0000-0000-0000-000000000000)\n")
                    write_atomic(host_dir / f"{n:02d}-{stem}.ps1", self.secrets.scrub(head + text))
                if entry["problem"]:
                    n += 1
                    write_atomic(host_dir / f"{n:02d}-not-rendered.txt",
                                 f"task {entry['name']} ({entry['task']}): {entry['problem']}\n")

    def _check_all_fresh(self, plays: list[tuple[Play, list[Host]]], executor: Executor) -> None:
        """--stale abort: read every planned host first; if any changed, touch none."""
        from .errors import HvprovError

        hosts = {h.name: h for _, hs in plays for h in hs}
        problems: dict[str, str] = {}

        def check(h: Host) -> None:
            st = self.state(h)
            try:
                self.ctx.check_saved_facts(h.name, st.session.facts_dict())
                st.plan_checked = True
            except HvprovError as exc:
                problems[h.name] = str(exc)

        for f in [executor.submit(check, h) for h in hosts.values()]:
            f.result()
        if problems:
            for name in hosts:
                st = self.states[name]
                st.status = Status.FAILED
                st.msg = problems.get(name) or ("not applied: the saved plan is stale for "
                                                f"{', '.join(sorted(problems))} (--stale abort)")
            self.stale_abort = True
            self.stop.set()

    def _run_play(self, play: Play, hosts: list[Host], executor: Executor) -> str | None:
        self.ctx.emit("play_started", name=play.name, hosts=[h.name for h in hosts])
        live = [h for h in hosts if h.name not in self.states or not self.states[h.name].down]
        pctx = PlayContext(self.ctx, play, self.inventory, hosts, self.states, self.groups)
        strategy = play.strategy or self.opts.strategy
        for batch in _batches(live, play.serial):
            if self.stop.is_set():
                return None
            pctx.batch = batch
            for h in batch:
                self.state(h)
            if isinstance(executor, ThreadPoolExecutor):
                verdict = BatchRun(pctx, [self.states[h.name] for h in batch], executor, strategy).run()
            else:  # a process pool or a distributed executor: picklable jobs, a batch of hosts each
                from .jobs import run_batch

                verdict = run_batch(self, play, hosts, batch, strategy, executor)
            if verdict == BREAK:
                return BREAK
        return None

    def _result(self, duration: float) -> RunResult:
        hosts = {}
        for name, st in self.states.items():
            status = st.status
            if status is Status.OK and any(t.changed and t.status is Status.CHANGED for t in st.tasks):
                status = Status.CHANGED
            hosts[name] = HostResult(
                name=name, status=status, tasks=tuple(st.tasks), round_trips=st.session.round_trips + st.remote_trips,
                scripts_run=st.session.scripts_run + st.remote_scripts, msg=st.msg,
                duration=time.monotonic() - st.started,
                state=state_view(st.session) if st.remote_state is None else st.remote_state,
                facts=_normalized(st.session.initial_facts),
            )
        interrupted = self.stop.is_set() and not self.stale_abort
        return RunResult(mode=self.opts.mode, hosts=hosts, interrupted=interrupted,
                         duration=duration, input_error=self.ctx.input_errors)


class _FirstUseResolver:
    """The run's `SecretResolver`, made (and hvprov.secretsources imported) when a host's password
    source is first resolved: most runs have none (start-up, docs/cli-startup.md)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._made: Any = None

    def resolve(self, spec: Any, **kwargs: Any) -> Any:
        with self._lock:
            if self._made is None:
                from .secretsources import SecretResolver

                self._made = SecretResolver()
        return self._made.resolve(spec, **kwargs)


def _check_portable(play: Play, default: str, hosts: list[Host], workers: int | None, executor: Executor) -> None:
    """Jobs on a process pool or a cluster run parts of a batch apart: a linear play that needs
    its hosts in lockstep must fit in one job."""
    from .workers import check_jobs, job_count

    size = max((len(b) for b in _batches(hosts, play.serial)), default=0)
    check_jobs(play, default, job_count(size, workers, executor) if size else 1)


def _normalized(facts: dict[str, Any] | None) -> dict[str, Any] | None:
    if facts is None:  # no facts gathered: hvprov.plans is not imported (docs/cli-startup.md)
        return None
    from .plans import normalize_facts

    return normalize_facts(facts)


def _batches(hosts: list[Host], serial: tuple[int | str, ...]) -> list[list[Host]]:
    if not serial:
        return [hosts] if hosts else []
    out: list[list[Host]] = []
    i = 0
    step_index = 0
    while i < len(hosts):
        s = serial[min(step_index, len(serial) - 1)]
        if isinstance(s, str) and s.endswith("%"):
            size = max(1, math.floor(len(hosts) * float(s[:-1]) / 100))
        else:
            size = int(s)
        out.append(hosts[i:i + size])
        i += size
        step_index += 1
    return out


def _shard_of(name: str, count: int) -> int:
    import zlib

    return zlib.crc32(name.encode("utf-8")) % count


__all__ = ["RunOptions", "Runner", "VariableError", "lease_abandoned", "public_names", "secret_values"]
