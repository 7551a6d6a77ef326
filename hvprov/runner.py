"""The runner: plays over hosts, in parallel batches; tasks in order on each host.

Each host goes through a play's tasks on its own (Ansible's "free" strategy): a slow reboot
on one host never holds the others. One host's failure never stops the others. Data flows
one way: inputs -> plan per task -> (apply) -> results and events.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .connection import ConnectionSpec
from .errors import (
    HvprovError,
    InputError,
    InterruptedRun,
    OptionsError,
    PlaybookError,
    TaskError,
    TransportError,
    VariableError,
)
from .inventory import Host, Inventory
from .model import HostResult, RunResult, Status, TaskResult
from .playbook import Play, Playbook
from .render import ScriptRenderer
from .secrets import SECRET_NAME_PATTERN, SecretRegistry, no_log_active, tag_by_name
from .session import HostSession
from .taskexec import TaskExecutor, preflight
from .templating import Templar
from .validate import play_host_warnings

EventSink = Callable[[dict[str, Any]], None]
_SECRET_NAME = re.compile(SECRET_NAME_PATTERN, re.IGNORECASE)

# Run ids of this process's finished runs: a lease one of them left behind (its host died
# mid-apply) may be taken over at once by a later run instead of waiting out its expiry.
_ENDED_RUNS: set[str] = set()


def secret_values(variables: Mapping[str, Any]) -> list[str]:
    """Plain-text values of variables whose names say they are secrets (ansible_password, *_token...)."""
    return [v for k, v in variables.items() if isinstance(v, str) and _SECRET_NAME.search(k)]


def public_names(inventory: Inventory) -> list[str]:
    """Names scrubbing must not cut into: hosts, groups and variable names (docs/secrets.md)."""
    names = {*inventory.hosts, *inventory.groups}
    for h in inventory.hosts.values():
        names.update(k for k in h.vars if isinstance(k, str))
    return sorted(names)


def lease_abandoned(holder: str | None) -> bool:
    """A lease held by a run of this controller that has ended, or whose process is gone."""
    if not holder:
        return False
    if holder in _ENDED_RUNS:
        return True
    host, _, rest = holder.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


@dataclass
class RunOptions:
    mode: str = "apply"  # plan | apply
    forks: int = 5
    limit: str | None = None
    tags: tuple[str, ...] = ()
    skip_tags: tuple[str, ...] = ()
    extra_vars: Mapping[str, Any] = field(default_factory=dict)
    lab_dir: Path | None = None
    executor: Executor | None = None
    script_timeout: float | None = None
    shard: tuple[int, int] | None = None  # (index, count), 1-based index
    saved_plan: Any = None  # plans.SavedPlan: apply exactly its changes
    on_stale: str = "skip"  # saved plan, a host changed since: skip that host | abort every host
    stop_event: threading.Event | None = None  # set it (e.g. on Ctrl-C) to stop scheduling new work
    lease_timeout: float = 300.0  # wait this long for another run's lease on a host
    lease_ttl: float = 900.0
    scripts_dir: Path | None = None  # plan mode: write the PowerShell each change would run, per host
    default_password: Any = None  # --ask-pass: for hosts whose inventory gives no password
    plan_key: bytes | None = None  # saving or applying a keyed plan: no_log changes are bound by a MAC


class _HostState:
    """What the runner keeps per host across plays."""

    def __init__(self, host: Host, session: HostSession) -> None:
        self.host = host
        self.session = session
        self.tasks: list[TaskResult] = []
        self.status = Status.OK
        self.msg = ""
        self.input_error = False
        self.facts_vars: dict[str, Any] = {}  # set_fact / register, across plays
        self.started = time.monotonic()
        self.plan_checked = False
        self.remote_trips = 0  # round trips and scripts of jobs run on a portable executor
        self.remote_scripts = 0
        self.remote_state: dict[str, Any] | None = None  # its end state, as the job saw it
        self.review: list[dict[str, Any]] = []  # --scripts
        self.plan_cursor: dict[str, int] = {}


class Runner:
    def __init__(self, inventory: Inventory, playbook: Playbook, options: RunOptions,
                 on_event: EventSink | None = None, secrets: SecretRegistry | None = None) -> None:
        self.inventory = inventory
        self.playbook = playbook
        self.opts = options
        self.on_event = on_event
        self.secrets = secrets or SecretRegistry()
        self.templar = Templar()
        self.renderer = ScriptRenderer()
        self.stop = options.stop_event or threading.Event()
        self._lock = threading.Lock()
        self.states: dict[str, _HostState] = {}
        self.input_errors = False
        self.saved_plan = options.saved_plan
        self.run_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.stale_abort = False
        from .secretsources import SecretResolver

        self._resolver = SecretResolver()

    # -- events ----------------------------------------------------------------
    def emit(self, kind: str, host: str | None = None, **data: Any) -> None:
        if self.on_event is None:
            return
        if kind in ("script_run", "change_applied") and no_log_active():  # task no_log: no arguments
            data = {k: v for k, v in data.items() if k in ("template", "duration", "outcome", "round_trips")}
            data["censored"] = "no_log: true"
        data = {k: self._scrub(v) for k, v in data.items()}  # any text may quote a secret value
        event = {"event": kind, "ts": time.time(), "host": host, **data}
        with self._lock:
            self.on_event(event)

    def _scrub(self, value: Any) -> Any:
        return self.secrets.scrub_data(value)

    # -- hosts -----------------------------------------------------------------
    def _select(self, play: Play) -> list[Host]:
        pattern = play.hosts
        field = f"plays[{self.playbook.plays.index(play)}].hosts"
        if Templar.is_template(pattern):  # hosts: "{{ target }}" from play vars or extra vars
            value = self.templar.template(pattern, {**play.vars, **self.opts.extra_vars},
                                          play.hosts_location or play.location, field)
            pattern = ",".join(map(str, value)) if isinstance(value, list) else str(value)
        try:
            hosts = self.inventory.select(pattern)
        except OptionsError as exc:
            raise PlaybookError(f"bad host pattern {pattern!r}: {exc}", location=play.hosts_location or play.location,
                                field=field) from None
        for text in play_host_warnings(self.inventory, pattern, play.name, len(hosts)):
            self.emit("warning", message=text)
        if self.opts.limit:
            allowed = {h.name for h in self.inventory.select(self.opts.limit)}
            hosts = [h for h in hosts if h.name in allowed]
        if self.saved_plan is not None:
            planned = set(self.saved_plan.doc["hosts"])
            hosts = [h for h in hosts if h.name in planned]
        if self.opts.shard:
            index, count = self.opts.shard
            hosts = [h for h in hosts if _shard_of(h.name, count) == index - 1]
        return hosts

    def _spec(self, host: Host) -> ConnectionSpec:
        """Connection settings; a password from `hvprov_password_source` (env:/file:/prompt) or
        --ask-pass when the inventory gives none (inventory variables win, as in Ansible)."""
        spec = ConnectionSpec.from_vars(host.name, dict(host.vars))
        if spec.password is None and spec.kind in ("winrm", "ssh"):
            source = host.vars.get("hvprov_password_source")
            if source:
                where = host.var_sources.get("hvprov_password_source")
                base = Path(where.file).parent if where is not None and where.file and not where.file.startswith("<") else None
                with self._lock:
                    password = self._resolver.resolve(str(source), where=where, base_dir=base)
                spec = dataclasses.replace(spec, password=password)
            elif self.opts.default_password is not None:
                spec = dataclasses.replace(spec, password=self.opts.default_password)
        return spec

    def _state(self, host: Host) -> _HostState:
        st = self.states.get(host.name)
        if st is None:
            spec = self._spec(host)
            self.secrets.collect(dict(host.vars))
            for value in secret_values(host.vars):  # plain-text passwords in an inventory are still secrets
                self.secrets.add(value)
            for secret in (spec.password, spec.ssh_key_passphrase):
                if secret is not None:
                    self.secrets.add(secret)
            session = HostSession(
                spec, self.renderer, lab_dir=self.opts.lab_dir,
                emit=lambda kind, data, name=host.name: self.emit(kind, name, **data),
                stop=self.stop, script_timeout=self.opts.script_timeout, owner=self.run_id,
                lease_ttl=self.opts.lease_ttl, lease_timeout=self.opts.lease_timeout, abandoned=lease_abandoned,
            )
            st = _HostState(host, session)
            self.states[host.name] = st
        return st

    # -- run -------------------------------------------------------------------
    def run(self) -> RunResult:
        started = time.monotonic()
        self.secrets.collect(tag_by_name(dict(self.opts.extra_vars)))
        for play in self.playbook.plays:
            self.secrets.collect(tag_by_name(dict(play.vars)))
        self.secrets.protect(public_names(self.inventory))
        self.emit("run_started", mode=self.opts.mode, playbook=self.playbook.path)
        own_executor = self.opts.executor is None
        executor = self.opts.executor or ThreadPoolExecutor(max_workers=max(1, self.opts.forks), thread_name_prefix="hvprov")
        try:
            plays = [(play, self._select(play)) for play in self.playbook.plays]
            for play, hosts in plays:  # pre-flight: undefined variables are input errors (exit 4) before any host is touched
                for h in hosts:
                    preflight(self.templar, play, h, self.opts.extra_vars)
            if self.saved_plan is not None and self.opts.on_stale == "abort":
                self._check_all_fresh(plays, executor)
            for play, hosts in plays:
                if self.stop.is_set():
                    break
                self._run_play(play, hosts, executor)
        except KeyboardInterrupt:
            self.stop.set()
        finally:
            # Close every session in parallel (a WinRM close is a request: 1,000 of them in a row
            # would dominate a fleet run), then the executor.
            closers = [executor.submit(st.session.close) for st in self.states.values()]
            for f in closers:
                try:
                    f.result()
                except Exception:  # noqa: BLE001 - closing never fails a run
                    pass
            if own_executor:
                executor.shutdown(wait=True, cancel_futures=True)
        _ENDED_RUNS.add(self.run_id)
        if self.opts.scripts_dir is not None:
            self._write_review(self.opts.scripts_dir)
        result = self._result(time.monotonic() - started)
        self.emit("run_done", summary=result.summary(), interrupted=result.interrupted)
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

    def check_saved_facts(self, host: str, facts: dict[str, Any]) -> None:
        """Refuse a host whose facts are not those the saved plan was computed from."""
        from .plans import StalePlanError, diff_facts, normalize_facts

        saved = self.saved_plan.host(host)
        if saved is None or saved.get("facts") is None:
            raise StalePlanError(f"plan is stale for {host}: the plan has no facts for it (it failed while planning)")
        now = normalize_facts(facts)
        if now != saved["facts"]:
            diffs = diff_facts(saved["facts"], now, scrub=self.secrets.scrub)
            shown = "; ".join(diffs[:5]) + (f"; and {len(diffs) - 5} more" if len(diffs) > 5 else "")
            raise StalePlanError(f"plan is stale for {host}: the host changed since the plan ({shown}); "
                                 "nothing was applied to it; make a new plan")

    def _check_all_fresh(self, plays: list[tuple[Play, list[Host]]], executor: Executor) -> None:
        """--stale abort: read every planned host first; if any changed, touch none."""
        from .errors import HvprovError as _Err

        hosts = {h.name: h for _, hs in plays for h in hs}
        problems: dict[str, str] = {}

        def check(h: Host) -> None:
            st = self._state(h)
            try:
                self.check_saved_facts(h.name, st.session.facts_dict())
                st.plan_checked = True
            except _Err as exc:
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

    def _run_play(self, play: Play, hosts: list[Host], executor: Executor) -> None:
        self.emit("play_started", name=play.name, hosts=[h.name for h in hosts])
        live = [h for h in hosts
                if h.name not in self.states or self.states[h.name].status not in (Status.FAILED, Status.UNREACHABLE)]
        for batch in _batches(live, play.serial):
            if self.stop.is_set():
                return
            if isinstance(executor, ThreadPoolExecutor):
                futures = [executor.submit(self._run_host, play, h) for h in batch]
                for f in futures:
                    f.result()
            else:  # a process pool or a distributed executor: picklable jobs
                self._run_batch_portable(play, batch, executor)
            failed = sum(1 for h in batch if self.states[h.name].status in (Status.FAILED, Status.UNREACHABLE))
            if play.any_errors_fatal and failed:
                self.emit("play_aborted", name=play.name, reason="any_errors_fatal")
                return
            if play.max_fail_percentage is not None and batch and failed * 100.0 / len(batch) > play.max_fail_percentage:
                self.emit("play_aborted", name=play.name,
                          reason=f"{failed} of {len(batch)} hosts failed, over max_fail_percentage {play.max_fail_percentage:g}")
                return

    def _run_batch_portable(self, play: Play, batch: list[Host], executor: Executor) -> None:
        from .portable import HostJob, portable_options, run_host_job

        options = portable_options(self.opts)
        secrets = tuple(self.secrets.values())
        jobs = {}
        for h in batch:
            st = self._state(h)
            job = HostJob(h, play, self.playbook.path, options, dict(st.facts_vars), st.status.value, st.msg,
                          secrets, self.run_id)
            jobs[h.name] = executor.submit(run_host_job, job)
        for name, future in jobs.items():
            st = self.states[name]
            out = future.result()
            for event in out.events:
                if self.on_event is not None:
                    with self._lock:
                        self.on_event(event)
            st.tasks.extend(out.tasks)
            st.status, st.msg, st.facts_vars = Status(out.status), out.msg, out.facts_vars
            st.remote_trips += out.round_trips
            st.remote_scripts += out.scripts_run
            st.input_error = st.input_error or out.input_error
            if out.input_error:
                self.input_errors = True
            if st.session.initial_facts is None:
                st.session.initial_facts = out.initial_facts
            if out.state is not None:
                st.remote_state = out.state

    def _run_host(self, play: Play, host: Host) -> None:
        st = self._state(host)
        self.emit("host_started", host.name, play=play.name)
        ex = TaskExecutor(self, play, st)
        try:
            ex.run()
        except InterruptedRun as exc:
            self.stop.set()
            waiting = "waiting" in exc.message
            st.msg = "interrupted while waiting (a rerun resumes)" if waiting else "interrupted"
        except TransportError as exc:
            st.status = Status.UNREACHABLE
            st.msg = self.secrets.scrub(exc.message)
        except InputError as exc:
            st.status = Status.FAILED
            st.input_error = True
            st.msg = self.secrets.scrub(str(exc))
        except (TaskError, HvprovError) as exc:
            st.status = Status.FAILED
            st.msg = self.secrets.scrub(str(exc))
        except Exception as exc:  # a bug must fail this host, not the run
            st.status = Status.FAILED
            st.msg = f"internal error: {type(exc).__name__}: {self.secrets.scrub(str(exc))}"
        if st.status is not Status.UNREACHABLE:  # a dead host cannot release; a later run takes it over
            try:
                st.session.release_lease()
            except Exception:  # noqa: BLE001 - best effort, never masks the host's result
                pass
        if st.input_error:
            self.input_errors = True
        self.emit("host_done", host.name, status=st.status.value, msg=st.msg,
                  round_trips=st.session.round_trips)

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
                state=_state_view(st.session) if st.remote_state is None else st.remote_state,
                facts=_normalized(st.session.initial_facts),
            )
        interrupted = self.stop.is_set() and not self.stale_abort
        return RunResult(mode=self.opts.mode, hosts=hosts, interrupted=interrupted,
                         duration=duration, input_error=self.input_errors)


def _normalized(facts: dict[str, Any] | None) -> dict[str, Any] | None:
    from .plans import normalize_facts

    return None if facts is None else normalize_facts(facts)


def _state_view(session: HostSession) -> dict[str, Any]:
    """The end state worth showing of a host (planned state in plan mode)."""
    if not session.has_facts:
        return {}
    f = session.facts_dict()
    return {
        "hostname": f["hostname"], "os_version": f["os"]["version"], "backend": f["backend"],
        "hypervisor_running": session.facts.hypervisor.running,
        "predicted": f["predicted"],
        "switches": [{k: s[k] for k in ("name", "type", "adapter", "allow_management_os")} for s in f["switches"]],
        "vms": [{"name": v["name"], "state": v["state"], "memory_mb": v["memory_mb"], "cpus": v["cpus"],
                 "switches": [n["switch"] for n in v["nics"]], "disks": [d["path"] for d in v["disks"]]} for v in f["vms"]],
    }


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


__all__ = ["RunOptions", "Runner", "VariableError"]
