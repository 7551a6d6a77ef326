"""ansible.builtin filters (ansible-core 2.19's filter/core.py, mathstuff.py, urls.py), written
to behave as those do: same arguments, same results, same failures."""

from __future__ import annotations

import base64
import datetime
import glob
import hashlib
import itertools
import json
import ntpath
import os.path
import random as _random
import re
import shlex
import time
import uuid
from collections.abc import Sequence
from typing import Any

import jinja2
import yaml
from jinja2.filters import pass_environment

from ..limits import BoundedRegex
from . import sizes
from .lists import (
    FilterError,
    combine,
    dict2items,
    difference,
    extract,
    flatten,
    intersect,
    inversepower,
    items2dict,
    logarithm,
    power,
    rekey_on_member,
    subelements,
    symmetric_difference,
    union,
    unique,
)

UUID_NAMESPACE_ANSIBLE = uuid.UUID("361E6D51-FAEC-444A-9079-341386DA8E2E")


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    return value if isinstance(value, str) else str(value)


def _is_sequence(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, (str, bytes))


class _Dumper(yaml.SafeDumper):
    """Ansible's AnsibleDumper: safe types, str subclasses as plain strings."""


_Dumper.add_multi_representer(str, yaml.representer.SafeRepresenter.represent_str)
_Dumper.add_multi_representer(dict, yaml.representer.SafeRepresenter.represent_dict)
_Dumper.add_multi_representer(list, yaml.representer.SafeRepresenter.represent_list)


def to_yaml(a: Any, *_args: Any, default_flow_style: bool | None = None, **kwargs: Any) -> str:
    return yaml.dump(a, Dumper=_Dumper, allow_unicode=True, default_flow_style=default_flow_style, **kwargs)


def to_nice_yaml(a: Any, indent: int = 4, *_args: Any, default_flow_style: bool = False, **kwargs: Any) -> str:
    return to_yaml(a, indent=indent, default_flow_style=default_flow_style, **kwargs)


def to_json(a: Any, **kwargs: Any) -> str:
    kwargs.pop("vault_to_text", None)
    kwargs.pop("preprocess_unsafe", None)
    kwargs.pop("profile", None)
    return json.dumps(a, **kwargs)


def to_nice_json(a: Any, indent: int = 4, sort_keys: bool = True, **kwargs: Any) -> str:
    kwargs.pop("separators", None)
    return to_json(a, indent=indent, sort_keys=sort_keys, separators=(",", ": "), **kwargs)


def from_json(a: Any, **kwargs: Any) -> Any:
    kwargs.pop("profile", None)
    return json.loads(a, **kwargs)


def from_yaml(data: Any) -> Any:
    return yaml.safe_load(data) if isinstance(data, str) else data


def from_yaml_all(data: Any) -> Any:
    if data is None:
        return []
    return list(yaml.safe_load_all(data)) if isinstance(data, str) else data


_TRUE = {"yes", "on", "true", "1"}
_FALSE = {"no", "off", "false", "0"}


def to_bool(value: Any) -> bool:
    check = value.lower() if isinstance(value, str) else str(value).lower() if isinstance(value, int) else value
    try:
        if check in _TRUE:
            return True
        if check in _FALSE:
            return False
        return bool(check == 1)
    except TypeError:
        return False


def to_datetime(string: str, format: str = "%Y-%m-%d %H:%M:%S") -> datetime.datetime:
    return datetime.datetime.strptime(string, format)


def strftime(string_format: str, second: Any = None, utc: bool = False) -> str:
    timefn = time.gmtime if utc else time.localtime
    if second is not None:
        try:
            second = float(second)
        except Exception:
            raise FilterError(f"Invalid value for epoch value ({second})") from None
    return time.strftime(string_format, timefn(second))


def quote(a: Any) -> str:
    return shlex.quote("" if a is None else _text(a))


def fileglob(pathname: str) -> list[str]:
    return [g for g in glob.glob(pathname) if os.path.isfile(g)]


def _flags(ignorecase: Any, multiline: Any) -> int:
    return (re.I if ignorecase else 0) | (re.M if multiline else 0)


def regex_replace(value: Any = "", pattern: str = "", replacement: str = "", ignorecase: bool = False,
                  multiline: bool = False, count: int = 0, mandatory_count: int = 0) -> str:
    output, subs = BoundedRegex(pattern, _flags(ignorecase, multiline)).subn(replacement, _text(value), count=count)
    if mandatory_count and mandatory_count != subs:
        raise FilterError(f"'{pattern}' should match {mandatory_count} times, but matches {count} times in '{value}'")
    return output


def regex_findall(value: Any, regex: str, multiline: bool = False, ignorecase: bool = False) -> list[Any]:
    return BoundedRegex(regex, _flags(ignorecase, multiline)).findall(_text(value))  # type: ignore[no-any-return]


def regex_search(value: Any, regex: str, *args: str, **kwargs: Any) -> Any:
    groups: list[Any] = []
    for arg in args:
        if arg.startswith("\\g"):
            groups.append(re.match(r"\\g<(\S+)>", arg).group(1))  # type: ignore[union-attr]
        elif arg.startswith("\\"):
            groups.append(int(re.match(r"\\(\d+)", arg).group(1)))  # type: ignore[union-attr]
        else:
            raise FilterError("Unknown argument")
    m = BoundedRegex(regex, _flags(kwargs.get("ignorecase"), kwargs.get("multiline"))).search(_text(value))
    if m:
        return [m.group(g) for g in groups] if groups else m.group()
    return None


def regex_escape(string: Any, re_type: str = "python") -> str:
    string = _text(string)
    if re_type == "python":
        return re.escape(string)
    if re_type == "posix_basic":
        return regex_replace(string, r"([].[^$*\\])", r"\\\1")
    if re_type == "posix_extended":
        raise FilterError(f"Regex type ({re_type}) not yet implemented")
    raise FilterError(f"Invalid regex type ({re_type})")


def ternary(value: Any, true_val: Any, false_val: Any, none_val: Any = None) -> Any:
    if value is None and none_val is not None:
        return none_val
    return true_val if bool(value) else false_val


@pass_environment
def rand(environment: Any, end: Any, start: Any = None, step: Any = None, seed: Any = None) -> Any:
    r = _random.SystemRandom() if seed is None else _random.Random(seed)
    if isinstance(end, int):
        return r.randrange(start or 0, end, step or 1)
    if hasattr(end, "__iter__"):
        if start or step:
            raise FilterError("start and step can only be used with integer values")
        return r.choice(end)
    raise FilterError("random can only be used on sequences and integers")


def shuffle(mylist: Any, seed: Any = None) -> Any:
    try:
        mylist = list(mylist)
        (_random.Random(seed) if seed else _random.SystemRandom()).shuffle(mylist)
    except Exception:
        pass
    return mylist


def get_hash(data: Any, hashtype: str = "sha1") -> str:
    try:
        h = hashlib.new(hashtype)
    except Exception as exc:
        raise FilterError(str(exc)) from None
    h.update(_text(data).encode("utf-8", "surrogateescape"))
    return h.hexdigest()


def to_uuid(string: Any, namespace: Any = UUID_NAMESPACE_ANSIBLE) -> str:
    ns = namespace
    if not isinstance(ns, uuid.UUID):
        try:
            ns = uuid.UUID(namespace)
        except (AttributeError, ValueError) as exc:
            raise FilterError(f"Invalid value '{namespace}' for 'namespace': {exc}") from None
    return str(uuid.uuid5(ns, _text(string)))


def mandatory(a: Any, msg: str | None = None) -> Any:
    if isinstance(a, jinja2.Undefined):
        if msg is not None:
            raise FilterError(str(msg))
        name = getattr(a, "_undefined_name", None)
        raise FilterError(f"Mandatory variable {f'{name!r} ' if name is not None else ''}not defined.")
    return a


_COMMENT_STYLES: dict[str, dict[str, str]] = {
    "plain": {"decoration": "# "}, "erlang": {"decoration": "% "}, "c": {"decoration": "// "},
    "cblock": {"beginning": "/*", "decoration": " * ", "end": " */"},
    "xml": {"beginning": "<!--", "decoration": " - ", "end": "-->"},
}


def comment(text: str, style: str = "plain", **kw: Any) -> str:
    if style not in _COMMENT_STYLES:
        raise FilterError(f"Invalid style {style!r}. Available styles: {', '.join(_COMMENT_STYLES)}")
    style_params = _COMMENT_STYLES[style]
    prepostfix = kw.get("decoration", style_params["decoration"])
    p: dict[str, Any] = {"newline": "\n", "beginning": "", "prefix": prepostfix.rstrip(), "prefix_count": 1,
                         "decoration": "", "postfix": prepostfix.rstrip(), "postfix_count": 1, "end": ""}
    p.update(style_params)
    p.update(kw)
    nl, deco = p["newline"], p["decoration"]
    beginning = f"{p['beginning']}{nl}" if p["beginning"] else ""
    prefix = ""
    if p["prefix"]:
        prefix = (f"{p['prefix']}{nl}" if p["prefix"] != nl else nl) * int(p["prefix_count"])
    body = (deco + text.replace(nl, nl + deco)).replace(deco + nl, deco.rstrip() + nl)
    postfix = nl.join([""] + [p["postfix"] for _ in range(p["postfix_count"])])
    end = f"{nl}{p['end']}" if p["end"] else ""
    return beginning + prefix + body + postfix + end


def b64encode(string: Any, encoding: str = "utf-8", urlsafe: bool = False) -> str:
    func = base64.urlsafe_b64encode if urlsafe else base64.b64encode
    return func(_text(string).encode(encoding, "surrogateescape")).decode("ascii")


def b64decode(string: Any, encoding: str = "utf-8", urlsafe: bool = False) -> str:
    func = base64.urlsafe_b64decode if urlsafe else base64.b64decode
    return func(_text(string).encode("utf-8", "surrogateescape")).decode(encoding, "surrogateescape")


def path_join(paths: Any) -> str:
    if isinstance(paths, str):
        return os.path.join(paths)
    if _is_sequence(paths):
        return os.path.join(*paths)
    raise FilterError(f"|path_join expects string or sequence, got {type(paths)} instead.")


def commonpath(paths: Any) -> str:
    if not _is_sequence(paths):
        raise FilterError(f"|commonpath expects sequence, got {type(paths)} instead.")
    return os.path.commonpath(paths)


def type_debug(obj: Any) -> str:
    from ..templating import UnsafeText

    if isinstance(obj, UnsafeText):
        return "str"
    return type(obj).__name__


def _wrap(func: Any) -> Any:
    def wrapped(value: Any, *args: Any, **kwargs: Any) -> str:
        return func(_text(value), *args, **kwargs)
    return wrapped


def password_hash(password: Any, hashtype: str = "sha512", salt: Any = None, salt_size: Any = None,
                  rounds: Any = None, ident: Any = None) -> str:
    from . import passwords

    return passwords.hash_password(password, hashtype, salt, salt_size, rounds, ident)


FILTERS: dict[str, Any] = {
    "b64decode": b64decode, "b64encode": b64encode, "to_uuid": to_uuid,
    "to_json": to_json, "to_nice_json": to_nice_json, "from_json": from_json,
    "to_yaml": to_yaml, "to_nice_yaml": to_nice_yaml, "from_yaml": from_yaml, "from_yaml_all": from_yaml_all,
    "basename": _wrap(os.path.basename), "dirname": _wrap(os.path.dirname),
    "expanduser": _wrap(os.path.expanduser), "expandvars": _wrap(os.path.expandvars),
    "path_join": path_join, "realpath": _wrap(os.path.realpath), "relpath": _wrap(os.path.relpath),
    "splitext": _wrap(os.path.splitext), "win_basename": _wrap(ntpath.basename),
    "win_dirname": _wrap(ntpath.dirname), "win_splitdrive": _wrap(ntpath.splitdrive),
    "commonpath": commonpath, "normpath": _wrap(os.path.normpath), "fileglob": fileglob,
    "bool": to_bool, "to_datetime": to_datetime, "strftime": strftime, "quote": quote,
    "md5": lambda data: hashlib.md5(_text(data).encode("utf-8", "surrogateescape")).hexdigest(),
    "sha1": lambda data: get_hash(data, "sha1"), "checksum": lambda data: get_hash(data, "sha1"),
    "password_hash": password_hash, "hash": get_hash,
    "regex_replace": regex_replace, "regex_escape": regex_escape, "regex_search": regex_search,
    "regex_findall": regex_findall, "ternary": ternary, "random": rand, "shuffle": shuffle,
    "mandatory": mandatory, "comment": comment, "type_debug": type_debug, "combine": combine,
    "extract": extract, "flatten": flatten, "dict2items": dict2items, "items2dict": items2dict,
    "subelements": subelements, "split": _wrap(str.split),
    # mathstuff.py
    "log": logarithm, "pow": power, "root": inversepower, "unique": unique, "intersect": intersect,
    "difference": difference, "symmetric_difference": symmetric_difference, "union": union,
    "product": itertools.product, "permutations": itertools.permutations,
    "combinations": itertools.combinations, "human_readable": sizes.human_readable,
    "human_to_bytes": sizes.human_to_bytes, "rekey_on_member": rekey_on_member,
    "zip": zip, "zip_longest": itertools.zip_longest,
}
