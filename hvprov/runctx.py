"""What one run shares with the code that runs tasks: options, templating, secrets, events.

`RunContext` is built by the runner (or, for a job on a process pool, by the worker) and
handed down; nothing below it reaches back into the runner. `HostState` is what a run keeps
per host across plays.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .inventory import Host
from .model import Status, TaskResult
from .render import ScriptRenderer
from .secrets import SecretRegistry, no_log_active, secret_name
from .session import HostSession
from .templating import Templar

EventSink = Callable[[dict[str, Any]], None]
RUN_THREAD_PREFIX = "hvprov-run-"


def secret_values(variables: Mapping[str, Any]) -> list[str]:
    """Plain-text values of variables whose names say they are secrets (ansible_password, *_token...)."""
    return [v for k, v in variables.items() if isinstance(v, str) and isinstance(k, str) and secret_name(k)]


def public_names(inventory: Any) -> list[str]:
    """Names scrubbing must not cut into: hosts, groups and variable names (docs/secrets.md)."""
    names = {*inventory.hosts, *inventory.groups}
    for h in inventory.hosts.values():
        names.update(k for k in h.vars if isinstance(k, str))
    return sorted(names)


def run_live(run_id: str) -> bool:
    """A run of this process is live while a thread of it exists (its workers and its caller are
    named after its id): no registry of runs to keep."""
    tag = run_id.rpartition(":")[2]
    return any(tag in t.name for t in threading.enumerate())


def lease_abandoned(holder: str | None) -> bool:
    """A lease held by a run of this controller that has ended, or whose process is gone."""
    if not holder:
        return False
    host, _, rest = holder.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    if int(pid_text) == os.getpid():
        return not run_live(holder)
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


@dataclass
class RunOptions:
    """What a run was asked to do (api.run's options), shared by every host of the run."""

    mode: str = "apply"  # plan | apply
    forks: int = 5
    limit: str | None = None
    tags: tuple[str, ...] = ()
    skip_tags: tuple[str, ...] = ()
    extra_vars: Mapping[str, Any] = field(default_factory=dict)
    lab_dir: Path | None = None
    executor: Any = None  # concurrent.futures.Executor
    script_timeout: float | None = None
    shard: tuple[int, int] | None = None  # (index, count), 1-based index
    saved_plan: Any = None  # plans.SavedPlan: apply exactly its changes
    on_stale: str = "skip"  # saved plan, a host changed since: skip that host | abort every host
    stop_event: threading.Event | None = None  # set it (e.g. on Ctrl-C) to stop scheduling new work
    lease_timeout: float = 300.0  # wait this long for another run's lease on a host
    lease_ttl: float = 900.0
    scripts_dir: Path | None = None  # plan mode: write the PowerShell each change would run, per host
    default_password: Any = None  # --ask-pass: for hosts whose inventory gives no password
    strategy: str = "linear"  # a play's default strategy (a play's `strategy:` wins)
    workers: int | None = None  # jobs per batch on a process pool / Dask executor (None: from its size)
    plan_key: bytes | None = None  # saving or applying a keyed plan: no_log changes are bound by a MAC
    vault: Any = None  # vault.VaultSecrets of the run: what the unvault lookup decrypts with
    diff: bool = False  # ansible-playbook --diff: ansible_diff_mode (the `diff` keyword does not change it)
    step: Any = None  # --step: stepping.Stepper, asked before each task (strategy.py)
    playbook_ends: tuple[int, ...] = ()  # several playbooks: last play of each; a failure there stops the run


class HostState:
    """What the runner keeps per host across plays."""

    def __init__(self, host: Host, session: HostSession) -> None:
        self.host = host
        self.session = session
        self.tasks: list[TaskResult] = []
        self.status = Status.OK
        self.msg = ""
        self.input_error = False
        self.facts_vars: dict[str, Any] = {}  # set_fact / register, across plays
        self.included_vars: dict[str, Any] = {}  # include_vars (just below set_fact)
        self.started = time.monotonic()
        self.plan_checked = False
        self.remote_trips = 0  # round trips and scripts of jobs run on a portable executor
        self.remote_scripts = 0
        self.remote_state: dict[str, Any] | None = None  # its end state, as the job saw it
        self.review: list[dict[str, Any]] = []  # --scripts
        self.plan_cursor: dict[str, int] = {}

    @property
    def down(self) -> bool:
        return self.status in (Status.FAILED, Status.UNREACHABLE)


class RunContext:
    """Shared, read-mostly services of one run (thread-safe where written)."""

    def __init__(self, opts: RunOptions, playbook_path: str, playbook_dir: Path, on_event: EventSink | None,
                 secrets: SecretRegistry, run_id: str, stop: threading.Event) -> None:
        self.opts = opts
        self.playbook_path = playbook_path
        self.playbook_dir = playbook_dir
        self.on_event = on_event
        self.secrets = secrets
        self.run_id = run_id
        self.stop = stop
        self.templar = Templar(vault=opts.vault, secrets=secrets)
        self.renderer = ScriptRenderer()
        self.saved_plan = opts.saved_plan
        self.lock = threading.Lock()
        self.input_errors = False
        self.credential_cache: dict[Any, Any] = {}  # NTLM hashes, NTLM and TLS contexts (hvprov/transports): this run only

    def emit(self, kind: str, host: str | None = None, **data: Any) -> None:
        if self.on_event is None:
            return
        if kind in ("script_run", "change_applied") and no_log_active():  # task no_log: no arguments
            data = {k: v for k, v in data.items() if k in ("template", "duration", "outcome", "round_trips")}
            data["censored"] = "no_log: true"
        data = {k: self.scrub(v) for k, v in data.items()}  # any text may quote a secret value
        event = {"event": kind, "ts": time.time(), "host": host, **data}
        with self.lock:
            self.on_event(event)

    def scrub(self, value: Any) -> Any:
        return self.secrets.scrub_data(value)

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

    def new_session(self, host: Host, spec: Any) -> HostSession:
        spec = dataclasses.replace(spec, credential_cache=self.credential_cache)
        return HostSession(
            spec, self.renderer, lab_dir=self.opts.lab_dir,
            emit=lambda kind, data, name=host.name: self.emit(kind, name, **data),
            stop=self.stop, script_timeout=self.opts.script_timeout, owner=self.run_id,
            lease_ttl=self.opts.lease_ttl, lease_timeout=self.opts.lease_timeout, abandoned=lease_abandoned,
        )


def state_view(session: HostSession) -> dict[str, Any]:
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
