"""The transport protocol (cf. httpx BaseTransport): run a PowerShell script, get its output.

A transport is one session to one host for the whole run. `run()` sends one rendered script
(its full text; the transport decides how it travels: -EncodedCommand or the stdin bootstrap)
and returns what came back. Library exceptions are mapped to hvprov.errors at this edge:
UnreachableError / AuthenticationError / TrustError / CommandTimeoutError / ProtocolError.
A non-zero exit code is *not* an exception here: the caller reads the result line.

`round_trips` counts protocol requests (HTTP requests for WinRM, channel requests for SSH,
one per script for the in-process sim) since the transport was created, reconnects included.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from types import TracebackType


@dataclass(frozen=True)
class ExecResult:
    stdout: str
    stderr: str  # decoded: CLIXML turned into text, progress records dropped
    rc: int


class Transport(abc.ABC):
    """One session to one host."""

    name: str = "base"
    # True when the transport itself retries transient connection failures (spec.retries,
    # with backoff) and re-sends a script only when it surely did not start: the session
    # then does not retry on top of it.
    retries_transient: bool = False

    def __init__(self) -> None:
        self.round_trips = 0
        self.scripts_run = 0

    @abc.abstractmethod
    def open(self) -> None:
        """Connect (and authenticate). Idempotent."""

    @abc.abstractmethod
    def run(self, script: str, timeout: float | None = None) -> ExecResult:
        """Run one PowerShell script; reconnects once by itself if the session was dropped."""

    @abc.abstractmethod
    def run_command(self, command_line: str, timeout: float | None = None) -> ExecResult:
        """Run one raw command line through the host's cmd.exe (no PowerShell), e.g. a wmic or
        DISM call; a non-zero exit code is not an exception (9009: no such program)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the session. Idempotent, never raises."""

    def reconnect(self) -> None:
        self.close()
        self.open()

    def __enter__(self) -> Transport:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
