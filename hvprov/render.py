"""Rendering PowerShell scripts from the Jinja2 templates in ``hvprov/templates/``.

Values reach PowerShell only as literals. The environment's ``finalize`` hook turns every
``{{ value }}`` into a PowerShell expression that evaluates to exactly that value, the way
Jinja2's autoescape makes HTML safe:

    ====================  ======================================================================
    Python value          PowerShell literal
    ====================  ======================================================================
    str (plain ASCII)     ``'C:\\VMs\\web01.vhd'`` -- only ``[A-Za-z0-9 _.,:\\/@+=-]``
    str (anything else)   ``([Text.Encoding]::UTF8.GetString([Convert]::FromBase64String('...')))``
    bool / None           ``$true`` / ``$false`` / ``$null``
    int / float           ``42``, ``1.5``, ``(-3)`` (invariant; NaN and infinities rejected)
    list / tuple          ``@('a', 'b')``, ``@()``; a single nested list keeps its nesting: ``@(,@(1, 2))``
    dict                  ``@{'k' = 'v'; 'n' = 1}`` (keys are literals too)
    Secret                its literal in ``RenderedScript.text``; ``'********'`` in ``.shown``
    anything else         TypeError
    ====================  ======================================================================

Quote escaping is never relied on: a string that is not plain ASCII travels as base64 of its
UTF-8 bytes, inert in every quoting context and every PowerShell version (domain brief §6.2).

Filters:
  * ``| ps_raw``  -- insert a trusted, template-internal fragment verbatim (greppable; never for
    values that come from outside the template).
  * ``| ps_b64``  -- a string as the base64 expression even when it is plain ASCII (user code).
  * ``| ps_wql``  -- the body of a WQL string literal: ``\\``, ``'`` and ``"`` escaped with a
    backslash (brief §6.2); the result is then quoted by finalize like any string, so a
    template writes ``-Filter ('Name=''' + {{ name | ps_wql }} + '''')``. NUL is rejected.
    For ``LIKE`` patterns prefer fetching all instances and comparing with ``-eq``.

Templates extend ``_lib/base.ps1.j2`` (prelude, a ``functions`` block, then the ``body`` block
inside the one try/catch that ends every run in exactly one result line). The two header lines
(contracts §1) are written by `ScriptRenderer.render`, not by the templates. A template's
parameters are the variables it uses: `render` refuses missing or unexpected ones (TypeError),
and templates refuse bad values before anything runs with the ``raise_error(msg)`` global
(ValueError). One renderer is shared by a run's threads: the reveal/mask mode is a ContextVar.
"""

from __future__ import annotations

import base64
import json
import math
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import jinja2
import jinja2.meta

from .secrets import MASK, Secret, mask, reveal

HEADER_TEMPLATE = "# hvprov-template: "
HEADER_PARAMS = "# hvprov-params: "
LIB_PREFIX = "_lib/"
SUFFIX = ".ps1.j2"

_SAFE = re.compile(r"[A-Za-z0-9 _.,:\\/@+=-]*")
_INT64 = 2**63
_SHOWN_SECRET = "'" + MASK + "'"  # what a Secret renders as in the copy people see
# Whether Secrets render as their value (the copy sent to the host) or as the mask.
_REVEAL: ContextVar[bool] = ContextVar("hvprov_render_reveal", default=True)
# A task's `environment` (name, value) pairs: set in the process before the script's body runs.
_ENVIRONMENT: ContextVar[tuple[tuple[str, Any], ...]] = ContextVar("hvprov_render_environment", default=())


@contextmanager
def script_environment(env: dict[str, Any]) -> Iterator[None]:
    """Every script rendered inside (in this thread) first sets these environment variables."""
    token = _ENVIRONMENT.set(tuple(env.items()))
    try:
        yield
    finally:
        _ENVIRONMENT.reset(token)


def _env_lines(reveal_secrets: bool) -> str:
    return "".join(f"[Environment]::SetEnvironmentVariable({ps_literal(k)}, {ps_literal(v, reveal_secrets=reveal_secrets)}, "
                   "'Process')\n" for k, v in _ENVIRONMENT.get())


class PsRaw(str):
    """A trusted PowerShell fragment that finalize inserts verbatim (made only by filters)."""

    __slots__ = ()


# --------------------------------------------------------------------------- literals


def ps_string(value: str) -> str:
    """A PowerShell expression evaluating to exactly `value`."""
    if _SAFE.fullmatch(value):
        return "'" + value + "'"
    return ps_base64(value)


def ps_base64(value: str) -> str:
    try:
        data = value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("string contains a lone surrogate and cannot be sent as UTF-8") from None
    b64 = base64.b64encode(data).decode("ascii")
    return f"([Text.Encoding]::UTF8.GetString([Convert]::FromBase64String('{b64}')))"


def ps_number(value: int | float) -> str:
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"cannot render {value!r} as a PowerShell number")
        text = repr(value)
        negative = math.copysign(1.0, value) < 0
    else:
        if not -_INT64 <= value < _INT64:
            raise ValueError(f"integer {value} is outside the Int64 range")
        text = str(value)
        negative = value < 0
    return f"({text})" if negative else text


def ps_literal(value: Any, *, reveal_secrets: bool = True) -> str:
    """The PowerShell literal for a Python value (see the module docstring)."""
    if isinstance(value, PsRaw):
        return str(value)
    if isinstance(value, Secret):
        return ps_string(value.reveal()) if reveal_secrets else _SHOWN_SECRET
    if value is None:
        return "$null"
    if isinstance(value, bool):
        return "$true" if value else "$false"
    if isinstance(value, str):
        return ps_string(value)
    if isinstance(value, (int, float)):
        return ps_number(value)
    if isinstance(value, (list, tuple)):
        items = [ps_literal(v, reveal_secrets=reveal_secrets) for v in value]
        if len(value) == 1 and isinstance(value[0], (list, tuple)):
            return "@(," + items[0] + ")"  # @(@(1, 2)) would flatten to @(1, 2)
        return "@(" + ", ".join(items) + ")"
    if isinstance(value, dict):
        entries = []
        for k, v in value.items():
            if isinstance(k, bool) or not isinstance(k, (str, int)):
                raise TypeError(f"hashtable key {k!r} ({type(k).__name__}) cannot be rendered")
            key = ps_literal(k, reveal_secrets=reveal_secrets)
            entries.append(f"{key} = {ps_literal(v, reveal_secrets=reveal_secrets)}")
        return "@{" + "; ".join(entries) + "}"
    raise TypeError(f"cannot render a {type(value).__name__} as a PowerShell literal")


def _finalize(value: Any) -> str:
    if isinstance(value, jinja2.Undefined):
        str(value)  # StrictUndefined raises UndefinedError naming the variable
    return ps_literal(value, reveal_secrets=_REVEAL.get())


# --------------------------------------------------------------------------- filters


def _ps_raw(value: Any) -> PsRaw:
    if not isinstance(value, str) or isinstance(value, Secret):
        raise TypeError(f"ps_raw takes a str, not {type(value).__name__}")
    return PsRaw(value)


def _ps_b64(value: Any) -> PsRaw:
    if isinstance(value, Secret):
        if not _REVEAL.get():
            return PsRaw(_SHOWN_SECRET)
        value = value.reveal()
    if not isinstance(value, str):
        raise TypeError(f"ps_b64 takes a str, not {type(value).__name__}")
    return PsRaw(ps_base64(value))


def wql_escape(value: str) -> str:
    """The body of a WQL string literal (quoted either way): ``\\``, ``'``, ``"`` escaped."""
    if "\x00" in value:
        raise ValueError("a WQL string cannot contain NUL")
    return value.replace("\\", "\\\\").replace("'", "\\'").replace('"', '\\"')


def _ps_wql(value: Any) -> str:
    if not isinstance(value, str) or isinstance(value, PsRaw):
        raise TypeError(f"ps_wql takes a str, not {type(value).__name__}")
    return wql_escape(value)


def _raise_error(message: str) -> None:
    raise ValueError(message)


# --------------------------------------------------------------------------- renderer


@dataclass(frozen=True)
class RenderedScript:
    template: str  # e.g. "facts/host.ps1.j2"
    text: str  # sent to the host (real secret values)
    shown: str  # for people/logs/--scripts: secrets masked
    params: dict[str, Any]  # params with secrets masked (JSON-able)


def _has_secret(obj: Any) -> bool:
    if isinstance(obj, Secret):
        return True
    if isinstance(obj, dict):
        return any(_has_secret(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return any(_has_secret(v) for v in obj)
    return False


def _params_json(params: dict[str, Any]) -> str:
    return json.dumps(
        params, ensure_ascii=True, separators=(",", ":"), sort_keys=True, allow_nan=False
    )


RENDER_CACHE = 32  # rendered scripts a renderer keeps (first in, first out)
_PLAIN = (str, int, float, bool, type(None))


def _cache_key(template: str, params: dict[str, Any]) -> tuple[str, str, tuple[Any, ...]] | None:
    """A key for a render whose parameters are plain JSON (exact types: no Secret, no PsRaw or
    other str subclass, which render differently) and whose environment holds no secret."""
    env = _ENVIRONMENT.get()
    if not all(_json_plain(v) for v in params.values()) or not all(type(v) in _PLAIN for _, v in env):
        return None
    return template, json.dumps(params, separators=(",", ":")), env


def _json_plain(v: Any) -> bool:
    if type(v) in _PLAIN:
        return type(v) is not float or v == v  # NaN: not JSON, not a key
    if type(v) is list:
        return all(_json_plain(x) for x in v)
    if type(v) is dict:
        return all(type(k) is str and _json_plain(x) for k, x in v.items())
    return False


@contextmanager
def _revealing(flag: bool) -> Iterator[None]:
    token = _REVEAL.set(flag)
    try:
        yield
    finally:
        _REVEAL.reset(token)


def _compile(env: jinja2.Environment, template: str) -> tuple[jinja2.Template, frozenset[str]]:
    """A renderable template and the parameter names it uses, from one parse of its source.

    What `env.get_template(template)` does through the loader (`BaseLoader.load`: compile the
    source with its name and file name, `Template.from_code` with the environment's globals),
    with the syntax tree parsed once and given both to `find_undeclared_variables` and to
    `Environment.compile` (which takes a parsed template as well as a source). The facts script
    was parsed twice per run: a quarter of compiling it. Renderable templates are only loaded
    here (the `_lib/` ones they extend, include and import go through the environment)."""
    source, filename, uptodate = env.loader.get_source(env, template)  # type: ignore[union-attr]
    tree = env.parse(source, template, filename)
    code = env.compile(tree, template, filename)
    tpl = env.template_class.from_code(env, code, env.make_globals(None), uptodate)
    return tpl, _params(env, tree)


def _params(env: jinja2.Environment, tree: jinja2.nodes.Template) -> frozenset[str]:
    """The parameter names a parsed template uses (its undeclared names, the globals aside)."""
    return frozenset(jinja2.meta.find_undeclared_variables(tree) - set(env.globals))


class ScriptRenderer:
    """Renders templates; compiled templates are cached per instance. Thread-safe."""

    def __init__(self) -> None:
        self._env = jinja2.Environment(
            loader=jinja2.PackageLoader("hvprov", "templates"),
            undefined=jinja2.StrictUndefined,
            autoescape=False,
            finalize=_finalize,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
            auto_reload=False,
            cache_size=-1,
        )
        self._env.filters.update(ps_raw=_ps_raw, ps_b64=_ps_b64, ps_wql=_ps_wql)
        self._env.globals["raise_error"] = _raise_error
        self._lock = threading.Lock()
        self._compiled: dict[str, tuple[jinja2.Template, frozenset[str]]] = {}
        self._rendered: dict[tuple[str, str, tuple[Any, ...]], RenderedScript] = {}

    def templates(self) -> list[str]:
        """Every renderable template (``*.ps1.j2`` outside ``_lib/``), sorted."""
        return sorted(
            t
            for t in self._env.list_templates()
            if t.endswith(SUFFIX) and not t.startswith(LIB_PREFIX)
        )

    def template_params(self, template: str) -> frozenset[str]:
        """The parameter names a template uses."""
        return self._load(template)[1]

    def _load(self, template: str) -> tuple[jinja2.Template, frozenset[str]]:
        cached = self._compiled.get(template)
        if cached is not None:
            return cached
        if template.startswith(LIB_PREFIX) or not template.endswith(SUFFIX):
            raise ValueError(f"{template!r} is not a renderable script template")
        with self._lock:
            cached = self._compiled.get(template)
            if cached is None:
                cached = _compile(self._env, template)
                self._compiled[template] = cached
        return cached

    def render(self, template: str, **params: Any) -> RenderedScript:
        """Render a packaged template; its parameters must be exactly the ones it uses.
        Renders with plain JSON parameters (the facts script's, mostly the same on every host)
        are kept, a few per run: the text is a function of the template, parameters and
        environment, and rendering it was 5 % of a no-change host's CPU."""
        tpl, names = self._load(template)
        key = _cache_key(template, params)
        if key is None:
            return self._render(template, tpl, names, params)
        with self._lock:
            hit = self._rendered.get(key)
        if hit is None:
            hit = self._render(template, tpl, names, params)
            with self._lock:
                if len(self._rendered) >= RENDER_CACHE:
                    self._rendered.pop(next(iter(self._rendered)))
                self._rendered[key] = hit
        return hit

    def render_source(self, source: str, /, **params: Any) -> RenderedScript:
        """Render template text that is not packaged (tests, one-off tools); same rules."""
        tree = self._env.parse(source)  # once: from_string takes the tree as it takes the text
        return self._render("<inline>", self._env.from_string(tree), _params(self._env, tree), params)

    def _render(
        self, name: str, tpl: jinja2.Template, names: frozenset[str], params: dict[str, Any]
    ) -> RenderedScript:
        missing, unknown = names - params.keys(), params.keys() - names
        if missing or unknown:
            parts = [f"missing {sorted(missing)}"] if missing else []
            parts += [f"unexpected {sorted(unknown)}"] if unknown else []
            raise TypeError(f"{name}: wrong parameters: {', '.join(parts)}")
        masked = mask(params)
        masked_json = _params_json(masked)
        secret = _has_secret(params)
        head = HEADER_TEMPLATE + name + "\n" + HEADER_PARAMS
        with _revealing(True):
            body = tpl.render(**params)
        env_secret = any(isinstance(v, Secret) for _, v in _ENVIRONMENT.get())
        text = head + (_params_json(reveal(params)) if secret else masked_json) + "\n" + _env_lines(True) + body
        if secret or env_secret:
            with _revealing(False):
                shown = head + masked_json + "\n" + _env_lines(False) + tpl.render(**params)
        else:
            shown = text
        return RenderedScript(template=name, text=text, shown=shown, params=masked)
