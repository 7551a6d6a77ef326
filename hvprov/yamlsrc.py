"""YAML loading that remembers where every key and item came from.

`load_yaml(path)` returns plain-looking data whose mappings are `LocDict` and sequences
`LocList`; both remember the file, line and column of each key/item so that errors can say
``site.yml:12:7: tasks[2].hyperv_vm.cpus: ...``. Duplicate keys are an error (PyYAML would
silently keep the last one).

Parsing uses libyaml (`yaml.CParser`, PyYAML's C parser) when PyYAML was built with it: the
same node graph with the same line/column marks, about 8x faster than the pure-Python parser
(docs/winrm-performance.md). The constructors below run on either. A document the C path
refuses in any way is parsed again by the pure-Python loader, which gives the error (so every
message, with its file:line:column and caret, is what it always was); without libyaml the pure
loader does everything.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .errors import InputError, Location
from .limits import MAX_YAML_NODES, alias_bomb, read_input_text
from .secrets import Secret
from .vaulttext import YAML_TAGS, construct_vault, decrypt_if_vault, is_vault  # vault: on use


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


_STR_TAG = "tag:yaml.org,2002:str"
_ScalarNode = yaml.nodes.ScalarNode


def _construct(loader: Any, node: yaml.Node) -> Any:
    """`loader.construct_object(node, deep=True)`, with its result for a plain string scalar
    taken directly: PyYAML's SafeConstructor makes a `!!str` scalar its `node.value` (the
    scalar cannot recurse, and an alias to it gives an equal immutable str). Three in four
    nodes of an inventory are such strings; the generic path was a third of loading one."""
    if node.__class__ is _ScalarNode and node.tag == _STR_TAG and loader.hv_fast_str:
        return node.value
    return loader.construct_object(node, deep=True)


class _Constructor(yaml.constructor.SafeConstructor):
    """hvprov's constructors (locations, duplicate keys, `!vault`), on either parser."""

    hv_filename = "<string>"
    hv_error_cls: type[InputError] = InputError
    hv_vault_secrets: Any = None  # vault.VaultSecrets for `!vault` values
    hv_bounded = False  # True: the text cannot hold an alias bomb (see _bounded)
    # `!!str` scalars taken as their value (see _construct): only while the constructor for
    # the tag is SafeConstructor's, which returns exactly that (checked below, per class)
    hv_fast_str = True

    def __init__(self) -> None:
        yaml.constructor.SafeConstructor.__init__(self)
        self.hv_resolved: dict[tuple[Any, Any, Any], str] = {}  # resolve's tags for this document

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        """yaml.resolver.Resolver.resolve, remembered per document for each (kind, value,
        implicit): without path resolvers (SafeLoader has none) the tag is a function of those
        three, and an inventory repeats its values (hosts' users, ports, connection names)."""
        if self.yaml_path_resolvers:  # type: ignore[attr-defined]
            return yaml.resolver.Resolver.resolve(self, kind, value, implicit)  # type: ignore[arg-type]
        memo = self.hv_resolved
        key = (kind, value, implicit)
        tag = memo.get(key)
        if tag is None:
            tag = memo[key] = yaml.resolver.Resolver.resolve(self, kind, value, implicit)  # type: ignore[arg-type]
        return tag

    def get_single_data(self) -> Any:
        node = self.get_single_node()  # type: ignore[attr-defined]
        if node is None:
            return None
        why = None if self.hv_bounded else alias_bomb(node)
        if why:
            raise self.hv_error_cls(why, location=_mark(self, node))  # type: ignore[arg-type]
        return self.construct_document(node)


class _Loader(yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser, yaml.composer.Composer,
              _Constructor, yaml.resolver.Resolver):
    """The pure-Python loader (yaml.SafeLoader's parts): the reference, and every error's text."""

    def __init__(self, stream: str) -> None:
        yaml.reader.Reader.__init__(self, stream)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)
        yaml.composer.Composer.__init__(self)
        _Constructor.__init__(self)
        yaml.resolver.Resolver.__init__(self)


try:
    from yaml.cyaml import CParser as _CParser
except ImportError:  # PyYAML built without libyaml
    _CParser = None

if _CParser is not None:
    class _CLoader(_CParser, _Constructor, yaml.resolver.Resolver):  # type: ignore[misc,valid-type]
        """libyaml's parser and composer (yaml.CSafeLoader's parts) with the same constructors."""

        def __init__(self, stream: str) -> None:
            _CParser.__init__(self, stream)
            _Constructor.__init__(self)
            yaml.resolver.Resolver.__init__(self)


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LocDict:
    loader.flatten_mapping(node)
    out = LocDict()
    out.loc = _mark(loader, node)
    for key_node, value_node in node.value:
        key = _construct(loader, key_node)
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
        out[key] = _construct(loader, value_node)
        out.key_locs[key] = _mark(loader, key_node)
    return out


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> LocList:
    out = LocList()
    out.loc = _mark(loader, node)
    for child in node.value:
        out.append(_construct(loader, child))
        out.item_locs.append(_mark(loader, child))
    return out


_Constructor.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Constructor.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)
for _tag in YAML_TAGS:
    _Constructor.add_constructor(_tag, construct_vault)
_Constructor.hv_fast_str = (
    _Constructor.yaml_constructors.get(_STR_TAG) is yaml.constructor.SafeConstructor.construct_yaml_str
)


def load_yaml_text(
    text: str, filename: str = "<string>", error_cls: type[InputError] = InputError, vault: Any = None
) -> Any:
    """Parse YAML text; syntax errors become `error_cls` naming file, line and column.

    A file encrypted whole with Ansible Vault is decrypted first; `!vault` values become
    `Secret`s (with `vault`, a `hvprov.vault.VaultSecrets`)."""
    encrypted = is_vault(text)
    text = decrypt_if_vault(text, vault, filename)
    # libyaml accepts some tabs PyYAML's pure scanner refuses (after a plain scalar: `a: b<TAB>`):
    # a text with a tab goes to the pure loader, so what is accepted stays exactly the same.
    if _CParser is not None and "\t" not in text:
        try:
            data = _parse(_CLoader(text), _bounded(text), filename, error_cls, vault)
        except (yaml.YAMLError, InputError, RecursionError, ValueError, TypeError, AttributeError):
            pass  # refused: the pure loader below says why, in the same words as always
        else:
            return _secret_leaves(data, filename) if encrypted else data
    return _load_pure(text, filename, error_cls, vault, encrypted)


def _bounded(text: str) -> bool:
    """Whether `alias_bomb` could not refuse this text, so its walk of the node graph (half of
    the C loader's time) can be skipped: without an anchor (`&`) or without an alias (`*`)
    nothing is expanded, and a text shorter than MAX_YAML_NODES / 3 characters cannot write
    MAX_YAML_NODES nodes (the densest YAML, `[:,:,...]`, writes 3 nodes per 2 characters)."""
    return ("*" not in text or "&" not in text) and len(text) < MAX_YAML_NODES // 3


def _parse(loader: Any, bounded: bool, filename: str, error_cls: type[InputError], vault: Any) -> Any:
    loader.hv_bounded = bounded
    loader.hv_filename = filename
    loader.hv_error_cls = error_cls
    loader.hv_vault_secrets = vault
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def _load_pure(text: str, filename: str, error_cls: type[InputError], vault: Any, encrypted: bool) -> Any:
    try:
        loader = _Loader(text)  # its Reader refuses control characters here, before parsing
    except yaml.reader.ReaderError as exc:
        pos = exc.position
        loc = Location(filename, text.count("\n", 0, pos) + 1, pos - (text.rfind("\n", 0, pos) + 1) + 1)
        raise error_cls(f"YAML syntax error: unacceptable character #x{exc.character:04x}: {exc.reason}",
                        location=loc) from None
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
    except (ValueError, TypeError, AttributeError) as exc:  # a bad explicit tag value (`!!int x`): was a traceback
        raise error_cls(f"YAML error: cannot construct a value: {exc}", location=Location(filename)) from None
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
