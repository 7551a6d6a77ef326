"""ansible.cfg, found and read as ansible-core finds it, for the settings hvprov shares with it.

Search order (the first that exists wins, the others are not merged): ``$ANSIBLE_CONFIG`` (a file,
or a directory holding ansible.cfg), ``./ansible.cfg`` (ignored when the directory is
world-writable, as Ansible does), ``~/.ansible.cfg``, ``/etc/ansible/ansible.cfg``. Each setting's
``ANSIBLE_*`` environment variable beats the file; command-line options beat both. Relative paths
in the file are relative to the file's directory. Settings hvprov does not use are ignored.
"""

from __future__ import annotations

import dataclasses
import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .errors import Location, OptionsError

_TRUE = {"1", "true", "yes", "on", "y", "t"}
_FALSE = {"0", "false", "no", "off", "n", "f"}


class ConfigError(OptionsError):
    """A bad value in ansible.cfg or an ANSIBLE_* variable (exit 5, with file:line)."""


@dataclasses.dataclass(frozen=True)
class AnsibleConfig:
    """The ansible.cfg / ANSIBLE_* settings hvprov honours (None or empty: not set)."""

    path: Path | None = None
    inventory: tuple[str, ...] = ()
    forks: int | None = None
    vault_password_files: tuple[str, ...] = ()
    vault_identity_list: tuple[str, ...] = ()
    roles_path: tuple[str, ...] = ()
    host_key_checking: bool | None = None
    timeout: int | None = None

    def host_defaults(self) -> dict[str, Any]:
        """Connection settings as the lowest-precedence host variables (any inventory value wins)."""
        out: dict[str, Any] = {}
        if self.host_key_checking is not None:
            out["ansible_host_key_checking"] = self.host_key_checking
        if self.timeout is not None:
            out["ansible_timeout"] = self.timeout
        return out


# setting -> (section, key, environment variable, kind)
_SETTINGS: dict[str, tuple[str, str, str, str]] = {
    "inventory": ("defaults", "inventory", "ANSIBLE_INVENTORY", "pathlist"),
    "forks": ("defaults", "forks", "ANSIBLE_FORKS", "int"),
    "vault_password_files": ("defaults", "vault_password_file", "ANSIBLE_VAULT_PASSWORD_FILE", "path"),
    "vault_identity_list": ("defaults", "vault_identity_list", "ANSIBLE_VAULT_IDENTITY_LIST", "list"),
    "roles_path": ("defaults", "roles_path", "ANSIBLE_ROLES_PATH", "pathspec"),
    "host_key_checking": ("defaults", "host_key_checking", "ANSIBLE_HOST_KEY_CHECKING", "bool"),
    "timeout": ("defaults", "timeout", "ANSIBLE_TIMEOUT", "int"),
}


def find_config(env: Mapping[str, str] | None = None, cwd: Path | None = None) -> Path | None:
    env = os.environ if env is None else env
    cwd = Path.cwd() if cwd is None else cwd
    explicit = env.get("ANSIBLE_CONFIG")
    if explicit:
        p = Path(os.path.expandvars(explicit)).expanduser()
        if p.is_dir():
            p = p / "ansible.cfg"
        if p.is_file():
            return p
    local = cwd / "ansible.cfg"
    if local.is_file() and not (cwd.stat().st_mode & stat.S_IWOTH):
        return local
    home = env.get("HOME")
    for cand in ([Path(home) / ".ansible.cfg"] if home else []) + [Path("/etc/ansible/ansible.cfg")]:
        if cand.is_file():
            return cand
    return None


def _lines(path: Path) -> dict[tuple[str, str], int]:
    """(section, key) -> line number, for messages."""
    out: dict[tuple[str, str], int] = {}
    section = ""
    for n, raw in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        line = raw.strip()
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
        elif line and line[0] not in "#;" and ("=" in line or ":" in line):
            key = line.split("=", 1)[0].split(":", 1)[0].strip().lower()
            out.setdefault((section, key), n)
    return out


def _convert(kind: str, raw: str, base: Path | None, where: Location, name: str) -> Any:
    def path(p: str) -> str:
        p = os.path.expandvars(os.path.expanduser(p.strip()))
        return str((base / p).resolve()) if base is not None and not os.path.isabs(p) else p

    raw = raw.strip()
    if kind == "int":
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(f"{where}: {name}: expected an integer, got {raw!r}") from None
    if kind == "bool":
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        raise ConfigError(f"{where}: {name}: expected a boolean, got {raw!r}")
    if kind == "list":
        return tuple(x.strip() for x in raw.split(",") if x.strip())
    if kind == "pathlist":
        return tuple(path(x) for x in raw.split(",") if x.strip())
    if kind == "pathspec":
        return tuple(path(x) for x in raw.replace(",", os.pathsep).split(os.pathsep) if x.strip())
    return (path(raw),) if raw else ()


def load_config(env: Mapping[str, str] | None = None, cwd: Path | None = None) -> AnsibleConfig:
    env = os.environ if env is None else env
    path = find_config(env, cwd)
    parser: Any = None  # configparser.ConfigParser when there is a file
    lines: dict[tuple[str, str], int] = {}
    if path is not None:  # configparser is imported only when there is a file to read (start-up)
        import configparser

        parser = configparser.ConfigParser(inline_comment_prefixes=(";",), interpolation=None, strict=False)
        try:
            parser.read(path, encoding="utf-8")
        except configparser.Error as exc:
            raise ConfigError(f"{path}: cannot parse ansible.cfg: {exc.message.splitlines()[0]}") from None
        lines = _lines(path)
    values: dict[str, Any] = {"path": path}
    for field, (section, key, var, kind) in _SETTINGS.items():
        if env.get(var):
            values[field] = _convert(kind, env[var], None, Location(f"${var}"), var)
        elif parser is not None and parser.has_option(section, key):
            where = Location(str(path), lines.get((section, key), 0) or None)
            values[field] = _convert(kind, parser.get(section, key), path.parent, where, f"[{section}] {key}")
    return AnsibleConfig(**values)


def with_host_defaults(inv: Any, cfg: AnsibleConfig) -> Any:
    """The inventory with the config's connection settings under every host's own variables."""
    defaults = cfg.host_defaults()
    if not defaults:
        return inv
    hosts = {name: dataclasses.replace(h, vars={**defaults, **h.vars}) for name, h in inv.hosts.items()}
    return type(inv)(hosts, inv.groups, inv.sources)
