"""YAML loading that remembers where every key and item came from.

`load_yaml(path)` returns plain-looking data whose mappings are `LocDict` and sequences
`LocList`; both remember the file, line and column of each key/item so that errors can say
``site.yml:12:7: tasks[2].hyperv_vm.cpus: ...``. Duplicate keys are an error (PyYAML would
silently keep the last one).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .errors import InputError, Location
from .limits import alias_bomb, read_input_text
from .secrets import Secret
from .vault import YAML_TAGS, construct_vault, decrypt_if_vault, is_vault


class LocDict(dict):  # type: ignore[type-arg]
    """A dict that knows the location of itself and of each of its keys."""

    __slots__ = ("loc", "key_locs")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.loc: Location | None = None
        self.key_locs: dict[Any, Location] = {}

    def loc_of(self, key: Any) -> Location | None:
        return self.key_locs.get(key, self.loc)


class LocList(list):  # type: ignore[type-arg]
    """A list that knows the location of itself and of each item."""

    __slots__ = ("loc", "item_locs")

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.loc: Location | None = None
        self.item_locs: list[Location] = []

    def loc_of(self, index: int) -> Location | None:
        if 0 <= index < len(self.item_locs):
            return self.item_locs[index]
        return self.loc


def _mark(loader: yaml.SafeLoader, node: yaml.Node) -> Location:
    m = node.start_mark
    return Location(getattr(loader, "hv_filename", m.name), m.line + 1, m.column + 1)


class _Loader(yaml.SafeLoader):
    hv_filename = "<string>"
    hv_error_cls: type[InputError] = InputError
    hv_vault_secrets: Any = None  # vault.VaultSecrets for `!vault` values

    def get_single_data(self) -> Any:
        node = self.get_single_node()
        if node is None:
            return None
        why = alias_bomb(node)
        if why:
            raise self.hv_error_cls(why, location=_mark(self, node))
        return self.construct_document(node)


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LocDict:
    loader.flatten_mapping(node)
    out = LocDict()
    out.loc = _mark(loader, node)
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            raise loader.hv_error_cls(
                "a mapping key must be a plain value", location=_mark(loader, key_node)
            ) from None
        if key in out:
            first = out.key_locs[key]
            raise loader.hv_error_cls(
                f"duplicate key {key!r} (first defined at line {first.line})",
                location=_mark(loader, key_node),
            )
        out[key] = loader.construct_object(value_node, deep=True)
        out.key_locs[key] = _mark(loader, key_node)
    return out


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> LocList:
    out = LocList()
    out.loc = _mark(loader, node)
    for child in node.value:
        out.append(loader.construct_object(child, deep=True))
        out.item_locs.append(_mark(loader, child))
    return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)
for _tag in YAML_TAGS:
    _Loader.add_constructor(_tag, construct_vault)


def load_yaml_text(
    text: str, filename: str = "<string>", error_cls: type[InputError] = InputError, vault: Any = None
) -> Any:
    """Parse YAML text; syntax errors become `error_cls` naming file, line and column.

    A file encrypted whole with Ansible Vault is decrypted first; `!vault` values become
    `Secret`s (with `vault`, a `hvprov.vault.VaultSecrets`)."""
    encrypted = is_vault(text)
    text = decrypt_if_vault(text, vault, filename)
    loader = _Loader(text)
    loader.hv_filename = filename
    loader.hv_error_cls = error_cls
    loader.hv_vault_secrets = vault
    try:
        data = loader.get_single_data()
        # Everything in a file encrypted whole is treated as secret: masked wherever shown.
        return _secret_leaves(data, filename) if encrypted else data
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        loc = Location(filename, mark.line + 1, mark.column + 1) if mark else Location(filename)
        problem = exc.problem or "invalid YAML"
        context = f" ({exc.context})" if exc.context else ""
        raise error_cls(f"YAML syntax error: {problem}{context}{'' if encrypted else _caret(text, mark)}", location=loc) from None
    except yaml.YAMLError as exc:
        raise error_cls(f"YAML error: {exc}", location=Location(filename)) from None
    except RecursionError:
        raise error_cls("YAML nested too deeply (more than Python can read)", location=Location(filename)) from None
    finally:
        loader.dispose()


def _caret(text: str, mark: Any) -> str:
    """The offending line and a caret under the column (as ansible-core shows YAML errors);
    never for a vault-encrypted file (its decrypted lines may be secret)."""
    if mark is None:
        return ""
    lines = text.splitlines()
    if not 0 <= mark.line < len(lines):
        return ""
    line = lines[mark.line].replace("\t", " ")
    if len(line) > 160:
        start = max(0, mark.column - 80)
        line, column = line[start:start + 160], mark.column - start
    else:
        column = mark.column
    return f"\n    {line}\n    {' ' * column}^ here"


def _secret_leaves(value: Any, source: str) -> Any:
    if isinstance(value, str):
        return Secret(value, source=f"vault {source}")
    if isinstance(value, LocDict):
        out = LocDict({k: _secret_leaves(v, source) for k, v in value.items()})
        out.loc, out.key_locs = value.loc, value.key_locs
        return out
    if isinstance(value, LocList):
        lst = LocList(_secret_leaves(v, source) for v in value)
        lst.loc, lst.item_locs = value.loc, value.item_locs
        return lst
    return value


def load_yaml(path: str | Path, error_cls: type[InputError] = InputError, vault: Any = None) -> Any:
    """Read and parse a YAML file (UTF-8)."""
    text = read_input_text(path, error_cls)
    return load_yaml_text(text, str(path), error_cls, vault)


def location_of(container: Any, key: Any) -> Location | None:
    """Location of `key` inside a LocDict/LocList, or of the container, if known."""
    if isinstance(container, (LocDict, LocList)):
        return container.loc_of(key)
    return None


def location_at(container: Any, path: tuple[Any, ...] | list[Any]) -> Location | None:
    """The location of a nested key/item (e.g. ('nics', 0, 'name')), or the deepest known one."""
    best = getattr(container, "loc", None)
    node = container
    for part in path:
        loc = location_of(node, part)
        if loc is not None:
            best = loc
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            break
    return best
