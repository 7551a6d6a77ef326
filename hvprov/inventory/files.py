"""Inventory sources on disk: files, directories, group_vars/ and host_vars/."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import InventoryError, Location
from ..limits import read_input_text
from ..vaulttext import decrypt_if_vault  # hvprov.vault only for vault data
from ..yamlsrc import load_yaml, load_yaml_text
from .builder import _Builder
from .common import (
    _DIR_SKIP_EXTS,
    _DIR_SKIP_NAMES,
    VARS_EXTENSIONS,
    YAML_EXTENSIONS,
    _key_loc,
    _own_loc,
    _plain,
    _tname,
)
from .sources import script_data, toml_data


def _looks_like_yaml(text: str) -> bool:
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith(("---", "{", "%YAML")):
            return True
        return bool(re.match(r"[^\s\[\]=:]+:(\s|$)", line))
    return False


def _parse_file(b: _Builder, path: Path) -> None:
    file = str(path)
    if os.access(path, os.X_OK):  # Ansible's script plugin comes before the file formats
        b.begin_file()
        b.parse_data(script_data(path), file)
        b.end_file(file)
        return
    try:
        text = decrypt_if_vault(read_input_text(path, InventoryError, encoding="utf-8-sig"), b.vault, file)
    except OSError as exc:
        raise InventoryError(
            f"cannot read the inventory: {exc.strerror}", location=Location(file)
        ) from None
    b.begin_file()
    suffix = path.suffix.lower()
    if suffix == ".toml":
        b.parse_data(toml_data(text, file), file)
    elif suffix in YAML_EXTENSIONS or (not suffix and _looks_like_yaml(text)):
        data = load_yaml_text(text, file, InventoryError, b.vault)
        b.parse_data(data, file)
    else:
        b.parse_ini(text, file)
    b.end_file(file)


def _parse_dir(b: _Builder, path: Path) -> None:
    for name in sorted(os.listdir(path)):
        if name.startswith(".") or name in _DIR_SKIP_NAMES or name.endswith(_DIR_SKIP_EXTS):
            continue
        full = path / name
        if full.is_dir():
            _parse_dir(b, full)
        else:
            _parse_file(b, full)


class _VarsDir:
    """group_vars/ and host_vars/ of one source directory (listed once, files loaded once)."""

    def __init__(
        self,
        base: Path,
        cache: dict[Path, tuple[dict[str, Any], dict[str, Location]]],
        problems: list[InventoryError],
        vault: Any = None,
    ) -> None:
        self.vault = vault
        self.base = base
        self.cache = cache
        self.problems = problems
        self.entries = {kind: self._list(base / kind) for kind in ("group_vars", "host_vars")}

    @staticmethod
    def _list(d: Path) -> set[str]:
        try:
            return set(os.listdir(d))
        except OSError:
            return set()

    def files(self, kind: str, name: str) -> list[Path]:
        entries = self.entries[kind]
        if not entries:
            return []
        for ext in VARS_EXTENSIONS:
            if name + ext in entries:
                p = self.base / kind / (name + ext)
                return _dir_vars_files(p) if p.is_dir() else [p]
        return []

    def load(self, kind: str, name: str) -> list[tuple[dict[str, Any], dict[str, Location]]]:
        out = []
        for p in self.files(kind, name):
            if p not in self.cache:
                self.cache[p] = self._load_file(p, f"{kind}.{name}")
            out.append(self.cache[p])
        return out

    def _load_file(self, path: Path, field_name: str) -> tuple[dict[str, Any], dict[str, Location]]:
        floc = Location(str(path))
        try:
            data = load_yaml(path, InventoryError, self.vault)
        except InventoryError as exc:
            data = None
            if path.suffix == ".json":
                try:
                    data = json.loads(path.read_text(encoding="utf-8"))
                except (ValueError, OSError):
                    data = None
            if data is None:
                self.problems.append(exc)
                return {}, {}
        if data is None:
            return {}, {}
        if not isinstance(data, Mapping):
            self.problems.append(
                InventoryError(
                    f"a variables file must be a mapping of variable names to values, got {_tname(data)}",
                    location=_own_loc(data, floc),
                    field=field_name,
                )
            )
            return {}, {}
        values: dict[str, Any] = {}
        locs: dict[str, Location] = {}
        for key, value in data.items():
            kloc = _key_loc(data, key, floc)
            if not isinstance(key, str) or not key:
                self.problems.append(
                    InventoryError(
                        f"a variable name must be a non-empty string, got {key!r}",
                        location=kloc,
                        field=f"{field_name}.{key}",
                    )
                )
                continue
            values[key] = _plain(value)
            locs[key] = kloc
        return values, locs


def _dir_vars_files(d: Path) -> list[Path]:
    out: list[Path] = []
    for name in sorted(os.listdir(d)):
        if name.startswith(".") or name.endswith("~"):
            continue
        full = d / name
        ext = os.path.splitext(name)[1]
        if full.is_dir() and not ext:
            out.extend(_dir_vars_files(full))
        elif full.is_file() and (not ext or ext in YAML_EXTENSIONS):
            out.append(full)
    return out
