"""The in-process transport to a simulated lab host (connection kind ``sim``).

Each `run()` is one round trip: lock the host's state in the lab directory, finish a reboot
that is due, refuse the connection (`UnreachableError`) while the host is down or has lost its
management address (an external switch took the management adapter without management OS
access), otherwise answer the script as the host would (`hvprov.sim.executor`) and save the host.

Faults: a host's ``sim.faults`` (inventory) are taken out of its overrides (they are not part of
the host's seed) and become its fault hook (`hvprov.sim.faults`), unless one is passed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from ..connection import ConnectionSpec
from ..errors import LabError, UnreachableError
from ..sim import cmdshell, cmdtools, psexe
from ..sim.executor import execute
from ..sim.faults import injector_for, split_overrides
from ..sim.model import HostModel
from ..sim.profiles import build_host, get_profile
from ..sim.store import HostSeed, LabStore
from . import bootstrap
from .base import ExecResult, Transport


# A fault hook sees (host, script, now) before the script runs and may answer instead of the
# host (an ExecResult) or raise a TransportError; returning None lets the host answer. If it
# also has `before_connect(script, timeout)`, that runs first, before the host is locked
# (connection faults: refused, reset, timeouts, authentication).
FaultHook = Callable[[HostModel, str, float], "ExecResult | None"]


class SimTransport(Transport):
    name = "sim"

    def __init__(self, spec: ConnectionSpec, lab_dir: Path, *, clock: Callable[[], float] = time.time,
                 fault: FaultHook | None = None) -> None:
        super().__init__()
        if spec.kind != "sim":
            raise LabError(f"{spec.name}: SimTransport needs connection 'sim', got {spec.kind!r}")
        get_profile(spec.sim_profile)  # LabError listing the valid profiles
        self.spec = spec
        overrides, faults = split_overrides(spec.sim_overrides)
        self.seed = HostSeed(spec.sim_profile, overrides)
        build_host(self.seed.profile, self.seed.overrides, name=spec.name, now=clock())  # validate now
        self.store = LabStore(Path(lab_dir), clock)
        self.clock = clock
        self.fault = fault if fault is not None else injector_for(spec, Path(lab_dir), faults)
        self._open = False

    def open(self) -> None:
        self._open = True

    def close(self) -> None:
        self._open = False

    def run(self, script: str, timeout: float | None = None) -> ExecResult:
        return self._run(script, None, timeout)

    def run_command(self, command_line: str, timeout: float | None = None) -> ExecResult:
        return self._run(None, command_line, timeout)

    def _run(self, script: str | None, line: str | None, timeout: float | None) -> ExecResult:
        """One script (through the host's delivery) or one raw command line, under one lock."""
        self._open = True
        self.round_trips += 1
        before = getattr(self.fault, "before_connect", None)
        if before is not None:
            before(script, timeout)
        with self.store.session(self.spec.name, self.seed) as host:
            now = self.clock()
            if host.is_down(now):
                raise UnreachableError(f"connection refused: {self.spec.name} is restarting", host=self.spec.name)
            if host.management_lost:  # an external switch took the management adapter's addresses
                raise UnreachableError(
                    f"connection timed out: {self.spec.name} lost its management address (its management adapter "
                    "was bound to a virtual switch without management OS access); "
                    f"'hvprov lab reset {self.spec.name}' restores it", host=self.spec.name)
            if host.network_down_until is not None and now < host.network_down_until:
                raise UnreachableError(f"connection timed out: {self.spec.name}'s management address is moving to "
                                       "the host vNIC of a virtual switch", host=self.spec.name)
            if self.fault is not None and script is not None:
                injected = self.fault(host, script, now)
                if injected is not None:
                    return injected
            steps = 0

            def step(cmd: str, stdin: bytes | None) -> ExecResult:
                nonlocal steps
                steps += 1
                return _command(host, cmd, stdin, now)

            if script is None:
                assert line is not None
                return step(line, None)
            self.scripts_run += 1
            result = bootstrap.deliver(script, step, mode=self.spec.script_delivery)
            self.round_trips += steps - 1
            dropped = host.network_drop_pending
            if dropped:  # the script ran to its end, but its answer is lost with the connection
                host.network_drop_pending = False
                host.network_down_until = now + host.network_drop_seconds
        if dropped:
            raise UnreachableError(f"connection reset by {self.spec.name} while the script ran (its management "
                                   "adapter was bound to a virtual switch)", host=self.spec.name)
        return result


def _command(host: HostModel, line: str, stdin: bytes | None, now: float) -> ExecResult:
    """What the host's cmd.exe does with one command line (programs other than powershell.exe:
    `sim.cmdtools.run_tool`: wmic, dism, reg, sc, bcdedit)."""
    if len(line) > bootstrap.CMD_LINE_LIMIT:
        return ExecResult("", "The command line is too long.\r\n", 1)
    argv = psexe.split_command_line(line)
    if argv and psexe.is_powershell(argv[0]):
        return psexe.run_powershell(host, argv, stdin, now, execute=lambda h, text, t: execute(h, text, t))
    found = cmdtools.run_tool(host, argv[0], argv[1:], now) if argv else None
    if found is not None:
        return found
    return ExecResult("", cmdshell.not_recognized(argv[0] if argv else line), 9009)
