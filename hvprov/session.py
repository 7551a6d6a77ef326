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
from typing import Any

from .connection import ConnectionSpec
from .errors import InterruptedRun, TransportError
from .facts import HostFacts, parse_facts
from .render import ScriptRenderer
from .scriptresult import parse_result
from .transports import open_transport
from .transports.base import Transport

FACTS_TEMPLATE = "facts/host.ps1.j2"


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
            self._closed_trips += self._transport.round_trips
            self._closed_scripts += self._transport.scripts_run
            self._transport.close()
            self._transport = None

    # -- scripts -----------------------------------------------------------------
    def run_template(self, template: str, **params: Any) -> dict[str, Any]:
        rendered = self.renderer.render(template, **params)
        started = self._clock()
        outcome = "error"
        try:
            res = self.transport.run(rendered.text, self._timeout)
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
                 "duration": round(self._clock() - started, 4), "outcome": outcome},
            )

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
        data = self.run_template(FACTS_TEMPLATE, probe_paths=list(self.probe_paths))
        self._facts = parse_facts(data, FACTS_TEMPLATE)
        self._facts_dict = None
        if self.initial_facts is None:
            self.initial_facts = self.facts_dict()
        return self._facts

    def facts_dict(self) -> dict[str, Any]:
        if self._facts_dict is None:
            self._facts_dict = self.facts.to_dict()
        return self._facts_dict

    # -- waiting -----------------------------------------------------------------
    def sleep(self, seconds: float) -> None:
        """Wait, unless the run is being interrupted (then stop waiting: InterruptedRun)."""
        if self._stop.wait(max(0.0, seconds)):
            raise InterruptedRun(f"{self.name}: interrupted while waiting")

    def now(self) -> float:
        return self._clock()

    def progress(self, message: str) -> None:
        self._emit("progress", {"message": message})
