"""Fault injection for the simulated lab: hosts that refuse, reset, time out, reject credentials,
never come back from a reboot, fail a WMI job, print no result line, or die mid-apply.

Faults are declared per host in the inventory, inside the host's ``sim`` overrides (the sim
transport takes them out before the host is built, so adding or removing faults never re-creates
the lab host)::

    hv-042:
      sim_profile: 2008r2-standard
      sim:
        reboot_seconds: 0.2
        faults:
          - {kind: reset_once, count: 2}            # the first 2 scripts: connection reset
          - {kind: wmi_job_fails, template: "hyperv_*"}
          - refused                                 # a bare name: that kind, its defaults

or drawn at random with a seed for a whole inventory (no environment variables)::

    plan = FaultPlan.random(hosts, rate=0.2, seed=7)     # deterministic: same seed, same plan
    inventory = plan.apply(inventory)                   # a copy with sim.faults on those hosts
    plan.expected("hv-042")                             # "unreachable" | "failed" | "recovered"

What each kind does and how hvprov must classify the host when the fault fires (the table the
fault tests check; "recovered" means the host ends as it would without the fault: ``changed``
on a fresh host, ``ok`` on a converged one):

====================  =====================================================  =========================================  =====================
kind                  the lab host ...                                       hvprov sees (in-process ``sim``)           the host ends
====================  =====================================================  =========================================  =====================
refused               refuses the connection                                 UnreachableError "connection refused"      unreachable
reset_once            resets the connection for ``count`` (1) scripts,       UnreachableError "connection reset"        recovered (``count``
                      then answers                                           (transient: retried)                       <= hvprov_retries, 3),
                                                                                                                        else unreachable
http500               answers HTTP 500 without a SOAP fault                  ProtocolError "unexpected HTTP 500"        unreachable
slow                  answers after ``seconds`` (default: never), later      CommandTimeoutError after the timeout      unreachable
                      than the timeout
auth                  rejects the credentials                                AuthenticationError (never retried)        unreachable
reboot_never_returns  runs the reboot script, then is down for good          UnreachableError until the reboot module   unreachable
                                                                             gives up ("did not come back")
wmi_job_fails         answers a feature/* or hyperv_* script: job failed     RemoteError, error type JobFailed          failed
no_result_line        prints output without the ``##hvprov-result##`` line   ResultParseError                           failed
dies_mid_apply        answers ``after`` (1) scripts, then is down for good   UnreachableError "connect timed out"       unreachable
====================  =====================================================  =========================================  =====================

A timeout mid-command is a transport failure (hvprov could not get an answer), so ``slow`` is
``unreachable``, like a host that stops answering; a script that ran and answered badly
(``wmi_job_fails``, ``no_result_line``) is ``failed``.

Fields of a fault (all optional but ``kind``):

* ``after``: scripts that reach the fault and are answered normally before it fires (default 0;
  ``dies_mid_apply`` 1);
* ``count``: how many scripts it fires on, then it is spent (default: every one; ``reset_once`` 1);
* ``template``: a glob or a list of globs on the script's template name without ``.ps1.j2``
  (``facts/host``, ``feature/servermanager_v2``, ``system/reboot``, ``hyperv_v1/vm_apply`` ...);
  only matching scripts count for ``after`` and ``count`` and are hit (default ``*``;
  ``wmi_job_fails``: ``feature/*`` and ``hyperv_*``). ``reboot_never_returns`` watches
  ``system/reboot``; once a host is down for good every later script is refused whatever its
  template;
* ``seconds`` (``slow`` only): how long the host takes to answer; it answers normally when that
  is within the timeout (the script timeout, else ``hvprov_read_timeout``). The wait is real
  time: give slow hosts a short timeout.

A fault's counters live in the host's transport, that is for one host in one run: the next run
starts them again. Every time a fault fires, one JSON line (host, kind, template, fired) is
appended to ``<lab_dir>/faults.jsonl`` (`read_journal`) so tests and people can see what was
injected. Connection faults (refused, reset_once, http500, slow, auth, and a host down for good)
leave the lab host untouched; wmi_job_fails and no_result_line answer instead of the host, so the
script's change is not made either.

Only the in-process ``sim`` transport injects faults. The WinRM and SSH lab servers
(`hvprov.sim.lab`) do not read ``sim.faults`` (`split_overrides` is what they would need to ignore
them); an HTTP 500 at the WS-Management level would need a hook in ``wsman.py`` (its handler
answers scripts, not HTTP), so ``http500`` is modelled as the error the WinRM transport raises for
it (``transports/winrm.py``: a non-SOAP HTTP 500 -> ``ProtocolError("unexpected HTTP 500 ...")``).
"""

from __future__ import annotations

import copy
import fnmatch
import json
import math
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import (
    AuthenticationError,
    CommandTimeoutError,
    LabError,
    ProtocolError,
    TransportError,
    UnreachableError,
)
from ..scriptresult import result_line
from ..transports.base import ExecResult
from .executor import HeaderError, parse_header, template_key
from .model import HostModel

__all__ = [
    "EXPECTED",
    "KINDS",
    "Fault",
    "FaultInjector",
    "FaultPlan",
    "injector_for",
    "parse_faults",
    "read_journal",
    "split_overrides",
]

KINDS = (
    "refused",
    "reset_once",
    "http500",
    "slow",
    "auth",
    "reboot_never_returns",
    "wmi_job_fails",
    "no_result_line",
    "dies_mid_apply",
)

# How hvprov must classify a host when the fault fires ("recovered": as if there were no fault).
EXPECTED = {
    "refused": "unreachable",
    "reset_once": "recovered",  # when count <= hvprov_retries, else unreachable
    "http500": "unreachable",
    "slow": "unreachable",
    "auth": "unreachable",
    "reboot_never_returns": "unreachable",
    "wmi_job_fails": "failed",
    "no_result_line": "failed",
    "dies_mid_apply": "unreachable",
}

_DEFAULTS: dict[str, dict[str, Any]] = {
    "reset_once": {"count": 1},
    "dies_mid_apply": {"after": 1},
    "wmi_job_fails": {"template": ("feature/*", "hyperv_*")},
}
_FIELDS = ("kind", "after", "count", "template", "seconds")
JOURNAL = "faults.jsonl"
REBOOT_TEMPLATE = "system/reboot"
_journal_lock = threading.Lock()


@dataclass(frozen=True)
class Fault:
    """One injected fault of one host (see the module docstring for the kinds and fields)."""

    kind: str
    after: int = 0
    count: int | None = None  # None: fires on every matching script
    template: tuple[str, ...] = ("*",)
    seconds: float | None = None  # slow: how long the host takes to answer (None: never)

    @classmethod
    def of(cls, kind: str, **fields: Any) -> Fault:
        """A fault with the kind's defaults, e.g. ``Fault.of("reset_once", count=2)``."""
        return parse_faults([{"kind": kind, **fields}])[0]

    def to_dict(self) -> dict[str, Any]:
        """The inventory form (only what differs from the kind's defaults)."""
        base = Fault.of(self.kind)
        out: dict[str, Any] = {"kind": self.kind}
        for name in _FIELDS[1:]:
            value = getattr(self, name)
            if value != getattr(base, name):
                out[name] = list(value) if isinstance(value, tuple) else value
        return out

    def expected(self, retries: int = 3) -> str:
        """'unreachable', 'failed' or 'recovered' (the host ends as without the fault)."""
        if self.kind == "reset_once":
            return "recovered" if self.count is not None and self.count <= retries else "unreachable"
        return EXPECTED[self.kind]

    def matches(self, template: str) -> bool:
        return any(fnmatch.fnmatchcase(template, pattern) for pattern in self.template)


def parse_faults(value: Any, where: str = "sim.faults") -> list[Fault]:
    """Faults from inventory data (a list of mappings or kind names); LabError naming the field."""
    if value is None:
        return []
    if isinstance(value, (str, Mapping)):
        value = [value]
    if not isinstance(value, (list, tuple)):
        raise LabError(f"{where}: expected a list of faults, got {type(value).__name__} {value!r:.60}")
    out = []
    for i, item in enumerate(value):
        at = f"{where}[{i}]"
        if isinstance(item, str):
            item = {"kind": item}
        if not isinstance(item, Mapping):
            raise LabError(f"{at}: expected a mapping with a 'kind' or a kind name, got {type(item).__name__}")
        unknown = [k for k in item if k not in _FIELDS]
        if unknown:
            raise LabError(f"{at}.{unknown[0]}: unknown field (known: {', '.join(_FIELDS)})")
        kind = item.get("kind")
        if kind not in KINDS:
            raise LabError(f"{at}.kind: unknown fault kind {kind!r} (known: {', '.join(KINDS)})")
        fields: dict[str, Any] = {"after": 0, "count": None, "template": ("*",), "seconds": None}
        fields.update(_DEFAULTS.get(kind, {}))
        if "after" in item:
            v = item["after"]
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise LabError(f"{at}.after: expected an integer >= 0, got {v!r}")
            fields["after"] = v
        if "count" in item:
            v = item["count"]
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
                raise LabError(f"{at}.count: expected an integer >= 1 (or null: every script), got {v!r}")
            fields["count"] = v
        if "template" in item:
            t = item["template"]
            globs = (t,) if isinstance(t, str) else tuple(t) if isinstance(t, (list, tuple)) else None
            if not globs or not all(isinstance(g, str) and g for g in globs):
                raise LabError(f"{at}.template: expected a glob or a list of globs, got {t!r}")
            fields["template"] = globs
        if "seconds" in item:
            s = item["seconds"]
            if kind != "slow":
                raise LabError(f"{at}.seconds: only for kind slow")
            if s is not None and (isinstance(s, bool) or not isinstance(s, (int, float)) or s < 0):
                raise LabError(f"{at}.seconds: expected a number of seconds >= 0, got {s!r}")
            fields["seconds"] = None if s is None else float(s)
        out.append(Fault(kind=kind, **fields))
    return out


def split_overrides(overrides: Mapping[str, Any] | None) -> tuple[dict[str, Any], list[Fault]]:
    """(the host's sim overrides without ``faults``, its faults): faults are not part of the seed."""
    rest = dict(overrides or {})
    return rest, parse_faults(rest.pop("faults", None))


# ---------------------------------------------------------------------------- injection


class _Armed:
    """A fault with its counters (one host, one run)."""

    def __init__(self, fault: Fault) -> None:
        self.fault = fault
        self.seen = 0  # matching scripts that reached it
        self.fired = 0

    def due(self, template: str) -> bool:
        """Count a matching script; True if the fault fires on it."""
        f = self.fault
        if not f.matches(template) or (f.count is not None and self.fired >= f.count):
            return False
        self.seen += 1
        if self.seen <= f.after:
            return False
        self.fired += 1
        return True


_CONNECTION = ("refused", "reset_once", "http500", "slow", "auth", "dies_mid_apply")


class FaultInjector:
    """The sim transport's fault hook for one host: `before_connect(script, timeout)` runs before
    the host is contacted (connection faults), `__call__(host, script, now)` with the host locked
    (answers instead of the host, or None to let it answer)."""

    def __init__(
        self,
        name: str,
        faults: Sequence[Fault],
        *,
        journal: Path | None = None,
        address: str | None = None,
        port: int | None = None,
        user: str | None = None,
        read_timeout: float = 70.0,
        connect_timeout: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.name = name
        self.faults = [_Armed(f) for f in faults]
        self.journal = journal
        self.where = f"{address or name}:{port or 5985}"  # as the WinRM transport names the endpoint
        self.user = user
        self.read_timeout = read_timeout
        self.connect_timeout = connect_timeout
        self.sleep = sleep
        self.down_for_good: str | None = None  # the fault that took the host down
        self._reboot_seen: _Armed | None = None  # reboot_never_returns: the reboot script went through
        self._killer: _Armed | None = None  # the fault that keeps the host down
        self._lock = threading.Lock()

    # -- the hook --------------------------------------------------------------------
    def before_connect(self, script: str, timeout: float | None = None) -> None:
        """Raise the connection fault due for this script, if any (sleeps for ``slow``)."""
        template = _template_of(script)
        with self._lock:
            if self._reboot_seen is not None:  # the reboot script was answered: never back
                self._killer, self._reboot_seen = self._reboot_seen, None
                self.down_for_good = "reboot_never_returns"
            if self.down_for_good is not None and self._killer is not None:
                self._killer.fired += 1
                self._record(self._killer, template)
                raise self._dead()
            fired = None
            for armed in self.faults:
                if armed.fault.kind in _CONNECTION and armed.due(template):
                    fired = armed
                    break
            if fired is None:
                return
            self._record(fired, template)
        kind = fired.fault.kind
        if kind == "slow":
            self._slow(fired.fault, timeout)
            return
        if kind == "dies_mid_apply":
            self.down_for_good, self._killer = kind, fired
            raise self._dead()
        raise self._error(kind)

    def __call__(self, host: HostModel, script: str, now: float) -> ExecResult | None:
        template = _template_of(script)
        with self._lock:
            for armed in self.faults:
                kind = armed.fault.kind
                if kind == "reboot_never_returns":
                    if template == REBOOT_TEMPLATE and armed.due(template):
                        armed.fired -= 1  # fires (and is journalled) on the scripts after it
                        self._reboot_seen = armed
                    continue
                if kind in ("wmi_job_fails", "no_result_line") and armed.due(template):
                    self._record(armed, template)
                    return _job_failed(script, template) if kind == "wmi_job_fails" else _no_result_line(template)
        return None

    # -- answers -----------------------------------------------------------------------
    def _error(self, kind: str) -> TransportError:
        n, w, mark = self.name, self.where, f" [lab fault {kind}]"
        if kind == "refused":
            return UnreachableError(f"{n} unreachable: connection refused ({w}){mark}", host=n)
        if kind == "reset_once":
            return UnreachableError(f"{n} unreachable: connection reset ({w}){mark}", host=n)
        if kind == "http500":
            return ProtocolError(f"{n}: unexpected HTTP 500 from http://{w}/wsman{mark}", host=n)
        if kind == "auth":
            return AuthenticationError(f"authentication failed for {n} (ntlm as {self.user}){mark}", host=n)
        raise AssertionError(kind)  # pragma: no cover

    def _dead(self) -> UnreachableError:
        return UnreachableError(
            f"{self.name} unreachable: connect timed out after {self.connect_timeout:g}s ({self.where})"
            f" [lab fault {self.down_for_good}: down for good]", host=self.name)

    def _slow(self, fault: Fault, timeout: float | None) -> None:
        limit = min(t for t in (timeout, self.read_timeout) if t is not None)
        takes = math.inf if fault.seconds is None else fault.seconds
        if takes <= limit:
            self.sleep(takes)
            return  # slow, but within the timeout: the host answers
        self.sleep(limit)
        if timeout is not None and timeout <= self.read_timeout:
            msg = f"{self.name}: script did not finish within {timeout:g}s"
        else:
            msg = f"{self.name} stopped answering: no reply within {self.read_timeout:g}s ({self.where})"
        raise CommandTimeoutError(msg + " [lab fault slow]", host=self.name)

    def _record(self, armed: _Armed, template: str) -> None:
        if self.journal is None:
            return
        line = json.dumps({"host": self.name, "kind": armed.fault.kind, "template": template,
                           "fired": armed.fired, "ts": round(time.time(), 3)}) + "\n"
        with _journal_lock:
            self.journal.parent.mkdir(parents=True, exist_ok=True)
            with self.journal.open("a", encoding="utf-8") as fh:
                fh.write(line)


def _template_of(script: str) -> str:
    try:
        return template_key(parse_header(script)[0])
    except HeaderError:
        return "?"


def _job_failed(script: str, template: str) -> ExecResult:
    method = "Msvm_VirtualSystemManagementService" if template.startswith("hyperv_") else "Win32_ServerFeature"
    line = next((i for i, text in enumerate(script.splitlines(), 1) if i > 2 and text.strip()
                 and not text.lstrip().startswith("#")), None)
    err = {"type": "JobFailed", "category": "NotSpecified", "line": line,
           "message": f"{method}: job failed (JobState 10 Exception, ErrorCode 32768 Failed): "
                      "The operation failed. [lab fault wmi_job_fails]"}
    return ExecResult(result_line({"ok": False, "error": err}) + "\r\n", "", 1)


def _no_result_line(template: str) -> ExecResult:
    out = ("WARNING: The script was stopped before it printed its result. [lab fault no_result_line]\r\n"
           "Processing...\r\n")
    return ExecResult(out, "", 0)


def injector_for(spec: Any, lab_dir: Path | None, faults: Sequence[Fault]) -> FaultInjector | None:
    """The hook for a host's ConnectionSpec and faults (None without faults)."""
    if not faults:
        return None
    return FaultInjector(
        spec.name, faults, journal=None if lab_dir is None else Path(lab_dir) / JOURNAL,
        address=spec.address, port=spec.port, user=spec.user, read_timeout=spec.read_timeout,
        connect_timeout=spec.connect_timeout,
    )


def read_journal(lab_dir: str | Path) -> list[dict[str, Any]]:
    """The faults fired in this lab directory, oldest first."""
    try:
        text = (Path(lab_dir) / JOURNAL).read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in text.splitlines() if line.strip()]


# ---------------------------------------------------------------------------- plans


def _random_fault(kind: str, rng: random.Random) -> Fault:
    """A fault of `kind` that fires on a fresh host running the role play (facts, lease, facts,
    feature install, facts, reboot, boot time polls, facts, lease): targeted at templates rather
    than at script positions, so that it still fires when the engine adds or drops a script."""
    if kind == "reset_once":
        return Fault.of(kind, count=rng.choice([1, 2]), template=rng.choice(["*", "facts/host", "feature/*"]))
    if kind in ("refused", "http500", "slow"):
        return Fault.of(kind, template=rng.choice(["*", "feature/*"]))
    if kind == "no_result_line":
        return Fault.of(kind, template=rng.choice(["facts/host", "feature/*", "system/reboot"]))
    if kind == "dies_mid_apply":
        target = rng.choice(["feature/*", "system/reboot", "facts/host"])
        # the second facts read is after the lease, the third right after the role install
        return Fault.of(kind, template=target, after=rng.choice([1, 2]) if target == "facts/host" else 0)
    return Fault.of(kind)


@dataclass(frozen=True)
class FaultPlan:
    """Faults per inventory host name."""

    faults: Mapping[str, tuple[Fault, ...]]

    @classmethod
    def random(cls, hosts: Sequence[str], *, rate: float = 0.2, seed: int = 0,
               kinds: Sequence[str] = KINDS) -> FaultPlan:
        """round(len(hosts) * rate) hosts, one fault each, the kinds dealt in turn (every kind
        appears once there are as many faulted hosts as kinds); the same seed gives the same plan."""
        if not 0 <= rate <= 1:
            raise LabError(f"fault rate must be between 0 and 1, got {rate}")
        bad = [k for k in kinds if k not in KINDS]
        if bad or not kinds:
            raise LabError(f"unknown fault kind {bad[0]!r} (known: {', '.join(KINDS)})" if bad else "no fault kinds")
        rng = random.Random(seed)
        names = sorted(set(hosts))
        chosen = rng.sample(names, round(len(names) * rate))
        dealt = [kinds[i % len(kinds)] for i in range(len(chosen))]
        return cls({name: (_random_fault(kind, rng),) for name, kind in sorted(zip(chosen, dealt))})

    def for_host(self, name: str) -> tuple[Fault, ...]:
        return tuple(self.faults.get(name, ()))

    def kind_of(self, name: str) -> str | None:
        got = self.for_host(name)
        return got[0].kind if got else None

    def expected(self, name: str, *, retries: int = 3, clean: str = "changed") -> str:
        """How the host must end if its faults fire: 'unreachable', 'failed' or `clean` (the
        status without faults). With several faults the first one that does not recover decides
        (order them as they will fire)."""
        for fault in self.for_host(name):
            got = fault.expected(retries)
            if got != "recovered":
                return got
        return clean

    def host_vars(self) -> dict[str, list[dict[str, Any]]]:
        """{host: [fault, ...]} in inventory form (what goes under ``sim.faults``)."""
        return {n: [f.to_dict() for f in fs] for n, fs in self.faults.items() if fs}

    def apply(self, inventory: Mapping[str, Any]) -> dict[str, Any]:
        """A copy of a YAML-shaped inventory with ``sim.faults`` set on every faulted host (the
        host's own ``sim`` is the effective one, group ``sim`` values included: variables replace,
        they do not merge)."""
        from ..inventory import Inventory

        data = copy.deepcopy(dict(inventory))
        inv = Inventory.from_dict(data)
        missing = sorted(set(self.faults) - set(inv.hosts))
        if missing:
            raise LabError(f"fault plan names hosts not in the inventory: {', '.join(missing)}")
        wanted = self.host_vars()

        def walk(group: Any) -> None:
            if not isinstance(group, dict):
                return
            hosts = group.get("hosts")
            if isinstance(hosts, dict):
                for name in list(hosts):
                    if name in wanted:
                        entry = dict(hosts[name] or {})
                        sim = inv.hosts[name].vars.get("sim") or {}
                        entry["sim"] = {**dict(sim), "faults": wanted[name]}
                        hosts[name] = entry
            children = group.get("children")
            if isinstance(children, dict):
                for child in children.values():
                    walk(child)

        for top in data.values():
            walk(top)
        return data

    def table(self) -> dict[str, list[str]]:
        """{kind: [host, ...]}."""
        out: dict[str, list[str]] = {}
        for name in sorted(self.faults):
            for f in self.faults[name]:
                out.setdefault(f.kind, []).append(name)
        return out
