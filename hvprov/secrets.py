"""Secret values: passwords and keys that must never be shown (docs/secrets.md).

A `Secret` is a value that templating carries along: a template that reads a secret yields a
`Secret` too (``{{ pw | upper }}``, ``'x' ~ pw``, ``{{ pw | b64encode }}``), whose `reveal()`
is the real value (what goes to a host) and whose `shown` is the same template rendered with
every secret masked (``x********``). Only transports and the PowerShell renderer reveal.

Two layers keep secrets out of what people see:

* **by position** (structured outputs): `mask()` replaces every `Secret` in nested data by its
  shown form, so JSON, plans and events never hold one.
* **by value** (free text: messages, scripts, logs): `SecretRegistry.scrub()` replaces every
  *form* a known secret value takes in hvprov's outputs (`forms()`: raw, Python repr and JSON
  escapes, XML escapes, PowerShell quoting, base64 of UTF-8 and of UTF-16LE) by the same form
  of its shown text. One Aho-Corasick automaton set (pyahocorasick) scans each text once,
  whatever the number of secrets; secrets added during a run go to a new small automaton that
  is merged with the others like a binary counter (log2(n) automata, O(n log n) building).

The readability rule: an occurrence of a secret strictly inside an occurrence of a *public
name* (an inventory host, group or variable name, see `protect()`) is left alone, so host
``vagrant-box1`` stays readable when a password is ``vagrant``; everywhere else (user names
included) the secret wins. Values shorter than `MIN_SCRUB` characters are masked by position
only: scrubbing them from free text would garble every message.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
import traceback
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from typing import Any

import ahocorasick  # type: ignore[import-not-found,unused-ignore]  # pyahocorasick ships no stubs

from .memo import BoundedMemo

MASK = "********"
MIN_SCRUB = 3
MEMO_MIN = 4096  # texts at least this long are scrubbed once per registry state (SecretRegistry.scrub)
MEMO_KEEP = 8  # how many such texts a registry keeps scrubbed
SHORT_MAX = 512  # texts up to this long (event fields: task names, messages) are remembered too,
SHORT_KEEP = 2048  # up to this many per registry state (then forgotten and collected again)
_CLEAN = object()  # a remembered short text that holds no secret: scrub gives the text itself
_NO_LOG: ContextVar[bool] = ContextVar("hvprov_no_log", default=False)

SCALARS = frozenset({int, float, bool, type(None)})  # exact types: never a Secret, never hold one, never a template
LEAVES = SCALARS | {str}  # the same, with the exact str


class Secret:
    """A secret string. Compares by value; shows only `shown` (the mask, or a masked derivation)."""

    __slots__ = ("_value", "shown", "source")

    def __init__(self, value: str, source: str = "", shown: str = MASK) -> None:
        self._value = str(value)
        self.source = source
        self.shown = shown

    def reveal(self) -> str:
        return self._value

    def __str__(self) -> str:
        return self.shown

    def __repr__(self) -> str:
        return f"Secret({self.shown!r})" if self.shown != MASK else f"Secret({MASK})"

    def __format__(self, spec: str) -> str:
        return self.shown

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self) -> Any:  # pickling keeps the value (process pools), repr never does
        return (Secret, (self._value, self.source, self.shown))


# --------------------------------------------------------------------------- forms


def _py_inner(text: str) -> list[str]:
    """The body of Python reprs of a string holding `text`, both quote styles."""
    single = repr(text + "'\"")[1:-4]  # forces single quotes with \' escaped
    return [repr(text)[1:-1], single, single.replace("\\'", "'")]


def _xml_escape(text: str, entities: Mapping[str, str] | None = None) -> str:
    """xml.sax.saxutils.escape (same order: &, >, <, then `entities`) without importing it: that
    module pulls in urllib.request and http.client, a tenth of the CLI's start-up."""
    text = text.replace("&", "&amp;").replace(">", "&gt;").replace("<", "&lt;")
    for key, value in (entities or {}).items():
        text = text.replace(key, value)
    return text


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def forms(text: str) -> list[str]:
    """Every form `text` takes in hvprov's outputs, in a fixed order (see the module docstring)."""
    json_ascii = json.dumps(text)[1:-1]
    out = [
        text,
        *_py_inner(text),
        json_ascii,
        json.dumps(text, ensure_ascii=False)[1:-1],
        json.dumps(json_ascii)[1:-1],  # JSON inside JSON (an event quoting a JSON message)
        *_py_inner(json_ascii),  # a repr of text holding JSON (an error quoting a script's header)
        _xml_escape(text, {'"': "&quot;", "'": "&apos;"}),
        _xml_escape(text),
        text.replace("'", "''"),  # PowerShell single-quoted
        text.replace("`", "``").replace("$", "`$").replace('"', '`"'),  # PowerShell double-quoted
        _b64(text.encode("utf-8", "surrogatepass")),
        _b64(text.encode("utf-16-le", "surrogatepass")),
    ]
    return out


def _pairs(value: str, shown: str) -> dict[str, str]:
    """form of the value -> same form of the shown text."""
    out: dict[str, str] = {}
    for f, s in zip(forms(value), forms(shown), strict=True):
        if len(f) >= MIN_SCRUB and f != s:
            out.setdefault(f, s)
    return out


class _Level:
    """One automaton over a fixed set of forms."""

    __slots__ = ("automaton", "pairs")

    def __init__(self, pairs: dict[str, str]) -> None:
        self.pairs = pairs
        self.automaton = ahocorasick.Automaton()
        for form, shown in pairs.items():
            self.automaton.add_word(form, (len(form), shown))
        self.automaton.make_automaton()


class SecretRegistry:
    """The secret values known to one run, and the matcher that scrubs them; thread-safe."""

    def __init__(self, values: Iterable[str | Secret] = (), public: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._shown: dict[str, str] = {}
        self._levels: tuple[_Level, ...] = ()
        self._public: _Level | None = None
        self._public_names: set[str] = set()
        # scrubbed large texts (the facts script every host's script_run event shows), each with
        # the levels and public names it was scrubbed with: valid while those are the registry's
        self._memo = BoundedMemo(MEMO_KEEP)  # text -> (levels, public, scrubbed)
        # short texts scrubbed with these levels and public names: text -> scrubbed or _CLEAN
        self._short: tuple[Any, Any, dict[str, Any]] = (None, None, {})
        self.add_all(values)
        self.protect(public)

    # -- registering -------------------------------------------------------------
    def add(self, value: str | Secret) -> None:
        self.add_all([value])

    def add_all(self, values: Iterable[str | Secret]) -> None:
        new: dict[str, str] = {}
        with self._lock:
            for value in values:
                raw = value.reveal() if isinstance(value, Secret) else str(value)
                shown = value.shown if isinstance(value, Secret) else MASK
                if len(raw) < MIN_SCRUB or raw == shown or raw in self._shown:
                    continue
                self._shown[raw] = shown
                for f, s in _pairs(raw, shown).items():
                    new.setdefault(f, s)
            if new:
                self._merge(new)

    def _merge(self, pairs: dict[str, str]) -> None:
        """Binary-counter merge: levels stay sorted by size, each at least twice the next."""
        levels = list(self._levels)
        while levels and len(levels[-1].pairs) <= 2 * len(pairs):
            pairs = {**levels.pop().pairs, **pairs}
        levels.append(_Level(pairs))
        self._levels = tuple(levels)

    def collect(self, obj: Any) -> None:
        """Register every Secret found inside nested dicts/lists."""
        found: list[Secret] = []
        _walk_secrets(obj, found)
        if found:
            self.add_all(found)

    def protect(self, names: Iterable[str]) -> None:
        """Public names (hosts, groups, variable names) that scrubbing must not cut into."""
        with self._lock:
            fresh = {str(n) for n in names if len(str(n)) > MIN_SCRUB} - self._public_names
            if fresh:
                self._public_names |= fresh
                self._public = _Level({n: n for n in self._public_names})

    def values(self) -> list[str]:
        with self._lock:
            return sorted(self._shown)

    def secrets(self) -> list[Secret]:
        """Every registered value as a Secret with its shown form (to hand to another process)."""
        with self._lock:
            return [Secret(v, shown=s) for v, s in sorted(self._shown.items())]

    # -- scrubbing ---------------------------------------------------------------
    def scrub(self, text: str) -> str:
        """`text` without any form of a known secret. A shown form may itself hold another
        secret (template text equal to a password): scrub again until nothing changes (bounded).
        A large text is scrubbed once while the registry's secrets and public names stay the
        same (a fleet's hosts all show the same facts script: 36 KB scanned per host was a fifth
        of a no-change WinRM host's instructions when events are consumed)."""
        if type(text) is not str:  # a str subclass (UnsafeText) keeps its type
            return self._scrub_all(text)
        levels, public = self._levels, self._public
        if len(text) <= SHORT_MAX:
            return self._scrub_short(text, levels, public)
        if len(text) < MEMO_MIN:
            return self._scrub_all(text)
        hit = self._memo.get(text)
        if hit is not None and hit[0] is levels and hit[1] is public:
            return hit[2]
        out = self._scrub_all(text)  # with these levels or newer ones: never fewer secrets
        self._memo.put(text, (levels, public, out))
        return out

    def _scrub_short(self, text: str, levels: tuple[_Level, ...], public: _Level | None) -> str:
        """`_scrub_all(text)`, remembered while the registry's secrets and public names stay the
        same: a run's events repeat the same short texts on every host (task and module names,
        "changed", the same messages), and scanning each again was about 5 % of a no-change
        WinRM host's instructions (docs/winrm-performance.md, phase 7). A plain dict without a
        lock: its get and set are atomic under the GIL, and a value scrubbed with newer secrets
        than its key's is never fewer secrets (as the large-text memo)."""
        short = self._short
        if short[0] is levels and short[1] is public:
            hit = short[2].get(text)
            if hit is not None:
                return text if hit is _CLEAN else hit  # type: ignore[no-any-return]
        else:
            short = self._short = (levels, public, {})
        out = self._scrub_all(text)
        kept = short[2]
        if len(kept) >= SHORT_KEEP:
            kept.clear()
        kept[text] = _CLEAN if out is text else out
        return out

    def _scrub_all(self, text: str) -> str:
        for _ in range(3):
            out = self._scrub_once(text)
            if out == text:
                break
            text = out
        return text

    def _scrub_once(self, text: str) -> str:
        levels = self._levels
        if not levels or not text:
            return text
        matches: list[tuple[int, int, str]] = []
        for level in levels:
            for end, (length, shown) in level.automaton.iter(text):
                matches.append((end + 1 - length, end + 1, shown))
        if not matches:
            return text
        matches.sort(key=lambda m: (m[0], -m[1]))
        public = self._public_spans(text)
        out: list[str] = []
        pos = 0
        for start, end, shown in matches:
            if start < pos or _inside(public, start, end):
                continue
            out.append(text[pos:start])
            out.append(shown)
            pos = end
        out.append(text[pos:])
        return "".join(out)

    def _public_spans(self, text: str) -> list[tuple[int, int]]:
        public = self._public
        if public is None:
            return []
        return [(end + 1 - length, end + 1) for end, (length, _) in public.automaton.iter(text)]

    def scrub_data(self, obj: Any) -> Any:
        """A copy of nested data, Secrets masked by position and every string scrubbed."""
        if not self._levels:  # nothing to scrub: what is left is masking, the same copy
            return mask(obj)
        kind = type(obj)  # the common exact types first (events: strings, flags, numbers)
        if kind is str:
            return self.scrub(obj)
        if kind in LEAVES:
            return obj
        if isinstance(obj, Secret):
            return self.scrub(obj.shown)
        if isinstance(obj, str):
            return self.scrub(obj)
        if isinstance(obj, dict):  # a str or scalar value without a call of its own (a task's result)
            scrub, data = self.scrub, self.scrub_data
            out = {}
            for k, v in obj.items():
                key = scrub(str(k)) if isinstance(k, str) else k
                kind = type(v)
                out[key] = scrub(v) if kind is str else v if kind in LEAVES else data(v)
            return out
        if isinstance(obj, (list, tuple)):
            return [self.scrub_data(v) for v in obj]
        return obj


def _inside(spans: list[tuple[int, int]], start: int, end: int) -> bool:
    """Whether [start, end) lies strictly inside one public-name occurrence."""
    return any(a <= start and end <= b and (b - a) > (end - start) for a, b in spans)


def _walk_secrets(obj: Any, found: list[Secret]) -> None:
    if type(obj) in LEAVES:
        return
    if isinstance(obj, Secret):
        found.append(obj)
    elif type(obj) is dict or isinstance(obj, Mapping):  # dict first: an ABC check costs a call
        for v in obj.values():
            if type(v) not in LEAVES:  # (a plain leaf without a call: most module arguments)
                _walk_secrets(v, found)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            if type(v) not in LEAVES:
                _walk_secrets(v, found)


def has_secret(obj: Any) -> bool:
    if type(obj) in LEAVES:
        return False
    if isinstance(obj, Secret):
        return True
    if type(obj) is dict or isinstance(obj, Mapping):
        return any(has_secret(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return any(has_secret(v) for v in obj)
    return False


def retag(obj: Any, secrets: Iterable[Secret]) -> Any:
    """A copy of nested data where every string equal to one of `secrets`' values is that Secret
    again (what a module hands back from its revealed arguments, e.g. set_fact, stays secret)."""
    table = {s.reveal(): s for s in secrets}
    if not table:
        return obj

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            return table.get(value, value)
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [walk(v) for v in value]
        return value

    return walk(obj)


def secrets_in(obj: Any) -> list[Secret]:
    found: list[Secret] = []
    _walk_secrets(obj, found)
    return found


def mask(obj: Any) -> Any:
    """A copy of nested data with every Secret replaced by its shown form (for JSON output)."""
    if type(obj) in LEAVES:  # most of a result: plain leaves (no isinstance chain for them)
        return obj
    if isinstance(obj, Secret):
        return obj.shown
    if isinstance(obj, dict):
        return {k: mask(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [mask(v) for v in obj]
    return obj


def reveal(obj: Any) -> Any:
    """A copy of nested data with every Secret replaced by its value (for the host only)."""
    if isinstance(obj, Secret):
        return obj.reveal()
    if isinstance(obj, dict):
        return {k: reveal(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [reveal(v) for v in obj]
    return obj


class ScrubFilter(logging.Filter):
    """A logging filter that scrubs a record's message and traceback (hvprov's -vvv log)."""

    def __init__(self, registry: SecretRegistry) -> None:
        super().__init__()
        self.registry = registry

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = self.registry.scrub(record.getMessage()), None
        if record.exc_info and not record.exc_text:
            record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        if record.exc_text:  # another filter or handler may have formatted it already
            record.exc_text = self.registry.scrub(record.exc_text)
        return True


# --------------------------------------------------------------------------- names and no_log

SECRET_NAME_PATTERN = r"pass(word|wd|phrase)?$|_pass$|secret|token|api_key|private_key$"


_SECRET_NAME = re.compile(SECRET_NAME_PATTERN, re.IGNORECASE)
_NOT_SECRET_WORDS = frozenset({"yes", "no", "true", "false", "on", "off", "none", "null", "y", "n"})


def tag_by_name(variables: dict[str, Any], source: str = "") -> dict[str, Any]:
    """The same variables with plain strings under secret-looking names (``*_password``,
    ``*_token``...) made Secrets; other values untouched. Templates stay templates (they are
    resolved later and their results are secrets through the values they read). Boolean and
    null words (``use_secret_store: "yes"``) are not secrets: masking them would garble every
    output."""
    out = None
    for k, v in variables.items():
        if (isinstance(k, str) and secret_name(k) and isinstance(v, str) and v and "{{" not in v and "{%" not in v
                and v.strip().lower() not in _NOT_SECRET_WORDS):
            if out is None:
                out = dict(variables)
            out[k] = Secret(v, source=f"{source}{k}")
    return variables if out is None else out


@lru_cache(maxsize=4096)
def secret_name(name: str) -> bool:
    """Whether a variable name looks like it holds a secret (SECRET_NAME_PATTERN, any case).
    Every task's variables are checked by name: the answer for a name is kept (a pure function
    of the name; the cache is bounded)."""
    return _SECRET_NAME.search(name) is not None


@contextmanager
def no_log_scope(active: bool) -> Iterator[None]:
    """While active, events about scripts and changes carry no arguments (task `no_log`)."""
    token = _NO_LOG.set(active)
    try:
        yield
    finally:
        _NO_LOG.reset(token)


def no_log_active() -> bool:
    return _NO_LOG.get()
