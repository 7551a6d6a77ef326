"""Checks of input that used to be accepted silently or crash later (issue 11, items 3 and 5).

Each check is called with one line from where the input is read (playbook.py, inventory.py,
api.py, plans.py, cli.py) and raises `InputError`/`OptionsError` subclasses naming
``file:line:column: field``, or returns problems for the caller's list. Where ansible-core
only warns, the check returns a warning text instead (`warn()` prints it as Ansible does).
"""

from __future__ import annotations

import keyword
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .errors import InputError, Location, OptionsError
from .yamlsrc import load_yaml_text, location_at

WARNINGS = logging.getLogger("hvprov.warnings")


def warn(text: str) -> None:
    """A warning in Ansible's words; the CLI prints these as ``[WARNING]: text`` on stderr."""
    WARNINGS.warning(text)


# ----------------------------------------------------------------------------- variables
def is_var_name(name: Any) -> bool:
    """Ansible's valid variable name: a Python identifier that is not a keyword."""
    return isinstance(name, str) and name.isidentifier() and not keyword.iskeyword(name)


def check_extra_vars(data: Mapping[Any, Any], where: Location, error_cls: type[InputError]) -> None:
    """-e: top-level names are variable names (ansible-core: "Invalid variable name"); keys
    inside are strings, so the values can be saved in a JSON plan and compared."""
    for key in data:
        if not is_var_name(key):
            raise error_cls(f"invalid variable name in extra vars: {key!r}",
                            location=_loc(data, key, where), field=str(key))
    stack: list[tuple[Any, str]] = [(v, str(k)) for k, v in data.items()]
    while stack:
        value, path = stack.pop()
        if isinstance(value, Mapping):
            for k, v in value.items():
                if not isinstance(k, str):
                    raise error_cls(f"a key in extra vars must be a string, got {type(k).__name__} {k!r} "
                                    f"(quote it: '{k}')", location=_loc(value, k, where), field=f"{path}.{k}")
                stack.append((v, f"{path}.{k}"))
        elif isinstance(value, list):
            stack.extend((v, f"{path}[{i}]") for i, v in enumerate(value))


def _loc(container: Any, key: Any, default: Location) -> Location:
    loc_of = getattr(container, "loc_of", None)
    return (loc_of(key) if loc_of else None) or default


def check_loop_var(value: Any) -> str | None:
    """loop_control.loop_var / index_var must be variable names (ansible-core fails the task
    with "Invalid variable name"); the reason, or None."""
    if value is None or is_var_name(value):
        return None
    return (f"Invalid variable name {value!r}: variable names start with a letter or underscore and contain "
            "only letters, numbers and underscores")


def numbers_given_booleans(model: Any, args: Mapping[str, Any]) -> list[str]:
    """Arguments typed as numbers that were given yes/no/true/false (`cpus: yes` is not 1 CPU)."""
    out = []
    for key, value in args.items():
        info = getattr(model, "model_fields", {}).get(key)
        if isinstance(value, bool) and info is not None and _numeric(info.annotation):
            out.append(key)
    return out


def _numeric(annotation: Any) -> bool:
    import types
    import typing

    if annotation in (int, float):
        return True
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return bool(args) and all(a in (int, float) for a in args)
    return False


def check_script_timeout(value: float | None) -> None:
    if value is not None and not value > 0:
        raise OptionsError(f"--script-timeout must be a positive number of seconds, got {value}")


# ----------------------------------------------------------------------------- inventory
RESERVED_GROUPS = ("all", "ungrouped")
REMOTE_CONNECTIONS = ("winrm", "psrp", "ssh", "sim")


def check_host_name(name: str, where: Location | None) -> str | None:
    """A host may not be named like the implicit groups (ansible-core refuses `all`)."""
    if name in RESERVED_GROUPS:
        return f"a host cannot be named {name!r}: it is the name of an implicit group"
    return None


def check_connection_vars(name: str, hvars: Mapping[str, Any], locs: Mapping[str, Location | None]) -> list[InputError]:
    """ansible_connection and ansible_port of one host, with the location each was set at."""
    problems: list[InputError] = []
    for key in ("hvprov_connection", "ansible_connection"):
        conn = hvars.get(key)
        if isinstance(conn, str) and conn.strip().lower() == "local":
            problems.append(InputError(
                f"{key} 'local' would run on this machine, not on a Hyper-V host: hvprov connects with "
                + ", ".join(REMOTE_CONNECTIONS), location=locs.get(key), field=f"{name}.{key}"))
    port = hvars.get("ansible_port")
    if port is not None and not (isinstance(port, str) and "{{" in port):
        try:
            number = int(port) if not isinstance(port, bool) else -1
        except (TypeError, ValueError):
            number = -1
        if not 1 <= number <= 65535:
            problems.append(InputError(f"ansible_port must be a TCP port number (1-65535), got {port!r}",
                                       location=locs.get("ansible_port"), field=f"{name}.ansible_port"))
    return problems


def check_inventory_hosts(inventory: Any, error_cls: type[InputError]) -> None:
    """Every host's connection settings, refused before any host is touched (exit 4)."""
    problems: list[InputError] = []
    for name, host in inventory.hosts.items():
        problems += check_connection_vars(name, host.vars, host.var_sources)
    if problems:
        first = problems[0]
        raise error_cls(first.detail, location=first.location, field=first.field, problems=problems[1:20])


# ----------------------------------------------------------------------------- playbook
def missing_script_file(file: Any, base: Path, where: Location | None, field: str) -> InputError | None:
    """`powershell: file:` is resolved from the playbook's directory and must exist at plan."""
    if not isinstance(file, str) or "{{" in file or "{%" in file:
        return None
    path = Path(file) if Path(file).is_absolute() else base / file
    if path.is_file():
        return None
    return InputError(f"script file not found: {path} (a relative path is taken from the playbook's directory)",
                      location=where, field=field)


# ----------------------------------------------------------------------------- saved plans
def check_plan_document(doc: Any, text: str, path: str) -> None:
    """A saved plan edited by hand is refused with the place and field that is wrong."""
    from pydantic import ValidationError

    from .planschema import _Plan  # pydantic models built only when a saved plan is read

    try:
        _Plan.model_validate(doc)
    except ValidationError as exc:
        try:
            located = load_yaml_text(text, path)  # JSON is YAML: gives line and column
        except InputError:
            located = None
        problems = []
        for e in exc.errors()[:10]:
            loc = tuple(e["loc"])
            where = location_at(located, loc) if located is not None else None
            problems.append(InputError(f"{e['msg']} (a saved plan edited by hand?)", location=where or Location(path),
                                       field=".".join(str(x) for x in loc) or None))
        first = problems[0]
        raise InputError(first.detail, location=first.location, field=first.field, problems=problems[1:]) from None


# ----------------------------------------------------------------------------- host patterns
def unmatched_terms(inventory: Any, pattern: Any) -> list[str]:
    """The union terms of a host pattern that match no host (ansible-core warns about them:
    "Could not match supplied host pattern, ignoring: ...")."""
    from .patterns import split_pattern

    terms = split_pattern(pattern)
    return [t for t in terms if not t.startswith(("!", "&")) and not inventory.select(t)]


def check_limit(inventory: Any, limit: str | None) -> list[str]:
    """--limit: matching no host at all is an options error (exit 5); the warnings for the
    terms that match nothing when others do."""
    if not limit:
        return []
    unmatched = unmatched_terms(inventory, limit)
    if not inventory.select(limit):
        detail = f" ({', '.join(repr(t) for t in unmatched)} matched nothing)" if unmatched else ""
        raise OptionsError(f"--limit {limit!r} matches no host in the inventory{detail}")
    return [f"Could not match supplied host pattern, ignoring: {t}" for t in unmatched]


def play_host_warnings(inventory: Any, pattern: Any, play_name: str, selected: int) -> list[str]:
    """A play whose `hosts` matches nothing (or partly nothing) is named, as Ansible warns."""
    out = [f"Could not match supplied host pattern, ignoring: {t}" for t in unmatched_terms(inventory, pattern)]
    if not selected:
        out.append(f"play {play_name!r}: no hosts matched (hosts: {pattern})")
    return out
