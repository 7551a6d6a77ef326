"""One host's session for a run: its transport, its facts, its counters.

Implements `modules.base.HostSession`. Every script goes through `run_template`, which
renders (values quoted by the PowerShell renderer), runs, parses the framed result line, and
reports the masked copy of the script to the event stream.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .cmdfacts import powershell_missing
from .cmdfacts import read_facts as read_cmd_facts
from .connection import ConnectionSpec
from .errors import (
    HvprovError,
    InterruptedRun,
    ResultParseError,
    TaskError,
    TransportError,
    UnreachableError,
)
from .render import ScriptRenderer
from .scriptresult import parse_result
from .templating import UnsafeText
from .transports import open_transport
from .transports.base import ExecResult, Transport

if TYPE_CHECKING:  # annotations only: hvprov.facts is imported when facts are parsed
    from .facts import HostFacts

FACTS_TEMPLATE = "facts/host.ps1.j2"
# Not re-sent after a dropped connection: a reboot is not safe to send twice, the reboot module
# polls by itself, and creating a switch may have dropped the connection itself (the vswitch
# module reconnects and decides from the facts).
NO_RETRY = frozenset({"system/reboot.ps1.j2", "system/boot_time.ps1.j2",
                      "hyperv_v1/vswitch_create.ps1.j2", "hyperv_v2/vswitch_create.ps1.j2"})


class HostSession:
    def __init__(
        self,
        spec: ConnectionSpec,
        renderer: ScriptRenderer,
        *,
        lab_dir: Path | None,
        emit: Callable[[str, dict[str, Any]], None],
        stop: threading.Event,
        script_timeout: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        owner: str = "hvprov",
        lease_ttl: float = 900.0,
        lease_timeout: float = 300.0,
        abandoned: Callable[[str | None], bool] = lambda holder: False,
    ) -> None:
        self.name = spec.name
        self.spec = spec
        self.renderer = renderer
        self.lab_dir = lab_dir
        self._emit = emit
        self._stop = stop
        self._timeout = script_timeout
        self._clock = clock
        self._transport: Transport | None = None
        self._facts: HostFacts | None = None
        self._facts_dict: dict[str, Any] | None = None
        self.probe_paths: list[str] = []
        self.initial_facts: dict[str, Any] | None = None  # as first read this run (saved plans compare them)
        self.owner = owner
        self.lease_ttl = lease_ttl
        self.lease_timeout = lease_timeout
        self._lease_at: float | None = None
        self._abandoned = abandoned
        self._closed_trips = 0  # round trips of transports already replaced
        self._closed_scripts = 0

    # -- counters ----------------------------------------------------------------
    @property
    def round_trips(self) -> int:
        t = self._transport
        return self._closed_trips + (t.round_trips if t else 0)

    @property
    def scripts_run(self) -> int:
        t = self._transport
        return self._closed_scripts + (t.scripts_run if t else 0)

    # -- transport ---------------------------------------------------------------
    @property
    def transport(self) -> Transport:
        if self._transport is None:
            self._transport = open_transport(self.spec, self.lab_dir)
            self._transport.open()
        return self._transport

    def reconnect(self) -> None:
        if self._transport is None:
            self.transport  # noqa: B018 - opens
            return
        self._transport.reconnect()

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()  # first: its last requests (a shell Delete) count too
            self._closed_trips += self._transport.round_trips
            self._closed_scripts += self._transport.scripts_run
            self._transport = None

    # -- scripts -----------------------------------------------------------------
    def run_template(self, template: str, **params: Any) -> dict[str, Any]:
        try:
            rendered = self.renderer.render(template, **params)
        except (ValueError, TypeError) as exc:  # the template's own checks refused a value
            raise TaskError(f"{template} refused a value: {exc}") from None
        started = self._clock()
        trips_before = self.round_trips
        outcome = "error"
        try:
            res = self._run_with_retries(template, rendered.text)
            data = parse_result(res, template)
            outcome = "ok"
            return data
        except TransportError as exc:
            if exc.host is None:
                exc.host = self.name
            outcome = type(exc).__name__
            raise
        finally:
            self._emit(
                "script_run",
                {"template": template, "params": rendered.params, "script": rendered.shown,
                 "duration": round(self._clock() - started, 4), "outcome": outcome,
                 "round_trips": self.round_trips - trips_before},
            )

    def _run_with_retries(self, template: str, text: str) -> ExecResult:
        """Bounded retries with backoff for a connection refused or reset (spec.retries), when
        the transport does not retry by itself. Never for a reboot request (not safe to send
        twice), nor for the reboot module's own polling, nor for auth/trust/timeouts."""
        retry = (not self.transport.retries_transient and template not in NO_RETRY)
        attempt = 0
        while True:
            try:
                return self.transport.run(text, self._timeout)
            except UnreachableError as exc:
                if not retry or attempt >= self.spec.retries:
                    raise
                attempt += 1
                self.progress(f"retry {attempt}/{self.spec.retries} after: {exc.message}")
                self.sleep(min(0.2 * 2 ** (attempt - 1), 5.0))
                self.reconnect_quietly()

    # -- facts -------------------------------------------------------------------
    @property
    def facts(self) -> HostFacts:
        if self._facts is None:
            return self.regather()
        return self._facts

    @property
    def has_facts(self) -> bool:
        return self._facts is not None

    def set_facts(self, facts: HostFacts) -> None:
        """Predicted facts (plan mode)."""
        self._facts = facts
        self._facts_dict = None

    def regather(self) -> HostFacts:
        try:
            data = self.run_template(FACTS_TEMPLATE, probe_paths=list(self.probe_paths))
        except ResultParseError as exc:
            if not powershell_missing(str(exc)):
                raise
            data = self._facts_without_powershell()
        from .facts import parse_facts  # not imported by a run that gathers no facts

        self._facts = parse_facts(data, FACTS_TEMPLATE)
        self._facts_dict = None
        if self.initial_facts is None:
            self.initial_facts = self.facts_dict()
        return self._facts

    def _facts_without_powershell(self) -> dict[str, Any]:
        """No powershell.exe (2008 R2 Server Core): the facts through cmd tools (hvprov.cmdfacts)."""
        self.progress("PowerShell is not installed: reading facts with wmic, dism, reg, sc and bcdedit")
        return read_cmd_facts(lambda line: self.transport.run_command(line, self._timeout))

    def facts_dict(self) -> dict[str, Any]:
        """The facts as variables: host data, never evaluated as a template (UnsafeText)."""
        if self._facts_dict is None:
            self._facts_dict = self.facts.to_vars(UnsafeText)  # = unsafe(self.facts.to_dict())
        return self._facts_dict

    # -- the per-host lease (two runs never interleave changes on one host) -------
    def ensure_lease(self) -> bool:
        """Hold the host's lease before changing it, waiting up to `lease_timeout` for another
        run to finish. True when newly acquired: facts read before may be stale."""
        now = self._clock()
        if self._lease_at is not None and now < self._lease_at + self.lease_ttl / 2:
            return False
        newly = self._lease_at is None
        deadline = now + self.lease_timeout
        pause = 0.5
        waited_for_other = False
        steal: str | None = None
        while True:
            try:
                data = self.run_template("system/lease.ps1.j2", action="acquire", owner=self.owner,
                                         ttl_seconds=int(self.lease_ttl), steal_from=steal)
            except TransportError as exc:
                # While we wait, the run holding the lease may be rebooting the host.
                if not (waited_for_other and exc.transient) or self._clock() >= deadline:
                    raise
                self.progress(f"waiting for another run's lease: {exc.message}")
                self.sleep(pause)
                self.reconnect_quietly()
                pause = min(pause * 2, 5.0)
                continue
            if data.get("acquired"):
                self._lease_at = self._clock()
                return newly
            holder, until = data.get("holder"), data.get("expires")
            if self._abandoned(holder) and steal != holder:
                self.progress(f"taking over the lease left by an ended run ({holder})")
                steal = holder
                continue
            waited_for_other = True
            if self._clock() >= deadline:
                raise TaskError(f"{self.name} is being changed by another hvprov run ({holder}, lease until {until}); "
                                f"gave up after waiting {self.lease_timeout:.0f} s (--lease-timeout)")
            self.progress(f"waiting for another run's lease ({holder}, until {until})")
            self.sleep(pause)
            pause = min(pause * 2, 5.0)

    def reconnect_quietly(self) -> None:
        try:
            self.reconnect()
        except TransportError:
            pass  # the next script says whether it is back

    def release_lease(self) -> None:
        if self._lease_at is None:
            return
        self._lease_at = None
        try:
            self.run_template("system/lease.ps1.j2", action="release", owner=self.owner, ttl_seconds=0, steal_from=None)
        except HvprovError:
            pass  # it expires by itself

    # -- waiting -----------------------------------------------------------------
    def sleep(self, seconds: float) -> None:
        """Wait, unless the run is being interrupted (then stop waiting: InterruptedRun)."""
        if self._stop.wait(max(0.0, seconds)):
            raise InterruptedRun(f"{self.name}: interrupted while waiting")

    def now(self) -> float:
        return self._clock()

    def progress(self, message: str) -> None:
        self._emit("progress", {"message": message})


# Data a recording session answers with: what a successful script would report. The modules'
# apply() only needs these to take its normal path; the values are never shown as facts.
_RECORDED_ANSWERS: dict[str, Any] = {
    "success": True, "exit_code": "SuccessRestartRequired", "restart_needed": "Yes", "changed": None,
    "id": "00000000-0000-0000-0000-000000000000",  # the id of an object the plan creates
    "scheduled": True, "last_boot": "(after the reboot)", "skipped": False,
    "output": [], "acquired": True, "released": True, "state": "(as requested)",
}


class RecordingSession:
    """Plan mode with --scripts: runs a module's apply() against the predicted facts, rendering
    every script it would send and answering as a successful host would, so a reviewer can read
    the exact PowerShell (secrets masked) each change would run. Nothing is sent anywhere."""

    def __init__(self, name: str, renderer: ScriptRenderer, facts: HostFacts, after: HostFacts) -> None:
        self.name = name
        self.renderer = renderer
        self.facts = facts
        self._after = after  # the predicted facts once the changes are made
        self.scripts: list[tuple[str, str]] = []  # (template, masked script)
        self._t = 0.0

    def run_template(self, template: str, **params: Any) -> dict[str, Any]:
        try:
            rendered = self.renderer.render(template, **params)
        except (ValueError, TypeError) as exc:  # the template's own checks refused a value
            raise TaskError(f"{template} refused a value: {exc}") from None
        self.scripts.append((template, rendered.shown))
        return dict(_RECORDED_ANSWERS)

    def regather(self) -> HostFacts:
        self.facts = self._after
        return self.facts

    def reconnect(self) -> None:
        return None

    def sleep(self, seconds: float) -> None:
        self._t += seconds

    def now(self) -> float:
        self._t += 1.0
        return self._t

    def progress(self, message: str) -> None:
        return None
