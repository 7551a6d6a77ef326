"""hvprov's one exception tree.

Every error that leaves hvprov is one of these; library exceptions (pywinrm, requests,
paramiko, yaml, jinja2, pydantic) are mapped at the edge where they arise.

    HvprovError
    ├── InputError                 bad inventory / playbook / vars / extra vars     exit 4
    │   ├── InventoryError
    │   ├── PlaybookError
    │   └── VariableError          undefined variable, bad Jinja2 expression
    ├── OptionsError               bad command-line options or API arguments       exit 5
    ├── TransportError             could not talk to the host (host -> unreachable)
    │   ├── UnreachableError       refused, reset, DNS, connect timeout  (transient)
    │   ├── AuthenticationError    wrong credentials                     (never retried)
    │   ├── TrustError             certificate / host key rejected       (never retried)
    │   ├── CommandTimeoutError    the host stopped answering mid-command (transient)
    │   └── ProtocolError          the endpoint answered something malformed
    ├── RemoteError                the script ran and reported a failure   (host -> failed)
    │   └── ResultParseError       the script's output had no valid result line
    ├── TaskError                  a module refused a task (limits, prerequisites)  (host -> failed)
    │   └── BlockedChangeError     a change the playbook does not allow (a restart): pending in plans
    ├── LabError                   the simulated lab could not do what was asked
    └── InterruptedRun             Ctrl-C                                           exit 99

Messages never contain secret values: callers pass already-masked text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class HvprovError(Exception):
    """Base of every hvprov error."""

    exit_code = 250

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class Location:
    """Where in an input file a problem is (1-based line and column)."""

    file: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        out = self.file
        if self.line is not None:
            out += f":{self.line}"
            if self.column is not None:
                out += f":{self.column}"
        return out


class InputError(HvprovError):
    """A problem in an input file or value: names the file, line, column and field."""

    exit_code = 4

    def __init__(
        self,
        message: str,
        *,
        location: Location | None = None,
        field: str | None = None,
        problems: list[InputError] | None = None,
    ) -> None:
        self.location = location
        self.field = field
        self.problems = problems or []
        self.detail = message
        super().__init__(self._format(message))

    def _format(self, message: str) -> str:
        head = []
        if self.location is not None:
            head.append(str(self.location))
        if self.field:
            head.append(self.field)
        text = ": ".join([*head, message]) if head else message
        for p in self.problems:
            text += "\n  " + str(p).replace("\n", "\n  ")
        return text


class InventoryError(InputError):
    """A problem in an inventory file, group_vars or host_vars."""


class PlaybookError(InputError):
    """A problem in a playbook or a vars file it loads."""


class VariableError(InputError):
    """An undefined variable or a bad Jinja2 expression."""


class OptionsError(HvprovError):
    """Bad command-line options or API arguments."""

    exit_code = 5


class TransportError(HvprovError):
    """Could not talk to the host. The host ends `unreachable`."""

    exit_code = 3
    transient = False

    def __init__(self, message: str, *, host: str | None = None) -> None:
        self.host = host
        super().__init__(message)


class UnreachableError(TransportError):
    """Connection refused, reset, name not resolved, or connect timed out."""

    transient = True


class AuthenticationError(TransportError):
    """The host rejected the credentials. Never retried."""


class TrustError(TransportError):
    """TLS certificate or SSH host key not trusted. Never retried."""


class CommandTimeoutError(TransportError):
    """The host stopped answering while a command ran."""

    transient = True


class ProtocolError(TransportError):
    """The endpoint answered with something that is not valid for the protocol."""


class RemoteError(HvprovError):
    """A script ran on the host and reported failure (structured error record)."""

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        template: str | None = None,
        error_type: str | None = None,
        script_line: int | None = None,
        host: str | None = None,
    ) -> None:
        self.template = template
        self.error_type = error_type
        self.script_line = script_line
        self.host = host
        where = f" [{template}" + (f" line {script_line}" if script_line else "") + "]" if template else ""
        super().__init__(f"{message}{where}")


class ResultParseError(RemoteError):
    """The script's output had no (valid) ##hvprov-result## line."""


class TaskError(HvprovError):
    """A module refused the task before touching the host (a limit, a prerequisite), or failed
    after applying some of its changes: `applied` names those (a reboot that happened before the
    hypervisor check failed), so that reports count exactly what was made."""

    exit_code = 2

    def __init__(self, message: str, *, applied: tuple[Any, ...] = ()) -> None:
        super().__init__(message)
        self.applied = applied



class FailedResult(TaskError):
    """A module failed with a result of its own (ansible-core's failed result dict): `data`."""

    def __init__(self, message: str, data: dict[str, Any]) -> None:
        super().__init__(message)
        self.data = data

class BlockedChangeError(TaskError):
    """A change is needed that the playbook does not allow (e.g. a restart without
    `allow_restart`). A plan shows it as pending and blocked (`plan --detailed-exitcode`: 2);
    apply refuses it (the host fails) rather than make it."""

    def __init__(self, message: str, *, change: Any = None) -> None:
        self.change = change  # the hvprov.model.Change that is blocked
        super().__init__(message)


class LabError(HvprovError):
    """The simulated lab could not do what was asked."""

    exit_code = 1


class InterruptedRun(HvprovError):
    """The run was interrupted (Ctrl-C)."""

    exit_code = 99
