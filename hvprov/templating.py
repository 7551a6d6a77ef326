"""Jinja2 for playbook values (not PowerShell: that is render.py).

Ansible semantics: a string that is exactly one ``{{ expression }}`` evaluates to the native
value (a list stays a list); any other string with Jinja2 renders to a string; undefined
variables are errors (StrictUndefined) reported with the file, line and field. Expressions
are compiled once per `Templar` (one per run) and cached.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import warnings
from collections import ChainMap
from collections.abc import Iterator, Mapping
from typing import Any

import jinja2
import jinja2.meta
import jinja2.nativetypes
import yaml
from jinja2.sandbox import ImmutableSandboxedEnvironment

from . import jinja as ansible_builtin
from . import limits
from .errors import Location, VariableError
from .jinja.lexer import LiteralBackslashes
from .secrets import LEAVES, MASK, SCALARS, Secret, has_secret, mask, reveal, tag_by_name

_SINGLE_EXPR = re.compile(r"^\{\{(?P<expr>(?:(?!\{\{|\}\}).)*)\}\}$", re.DOTALL)


def _to_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("yes", "true", "on", "1", "y")
    return bool(value)


def _mandatory(value: Any, msg: str | None = None) -> Any:
    if isinstance(value, jinja2.Undefined):
        raise jinja2.UndefinedError(msg or "mandatory variable not defined")
    return value


def _combine(*dicts: Mapping[str, Any], recursive: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for d in dicts:
        for k, v in d.items():
            if recursive and isinstance(out.get(k), dict) and isinstance(v, Mapping):
                out[k] = _combine(out[k], v, recursive=True)
            else:
                out[k] = v
    return out


FILTERS: dict[str, Any] = {
    "bool": _to_bool,
    "to_json": lambda v, **kw: json.dumps(v, **kw),
    "from_json": lambda v: json.loads(v),
    "to_yaml": lambda v: yaml.safe_dump(v, default_flow_style=False),
    "from_yaml": lambda v: yaml.safe_load(v),
    "regex_replace": limits.regex_replace,
    "regex_search": limits.regex_search,
    "mandatory": _mandatory,
    "combine": _combine,
    "dict2items": lambda d: [{"key": k, "value": v} for k, v in d.items()],
    "items2dict": lambda items: {i["key"]: i["value"] for i in items},
    "quote": lambda v: "'" + str(v).replace("'", "'\"'\"'") + "'",
    "type_debug": lambda v: type(v).__name__,
}

TESTS: dict[str, Any] = {
    "match": limits.regex_match_test,
    "search": limits.regex_search_test,
    "contains": lambda seq, x: x in seq,
}


class _Context(jinja2.runtime.Context):
    """jinja2's template context, with the variable lookup it documents as the one to override
    (`resolve_or_missing`) reading the render's `_Scope` directly: the variables, then the
    environment's globals, as `key in scope` then `scope[key]` would, without two method calls
    through the Mapping per name a template reads."""

    def resolve_or_missing(self, key: str) -> Any:
        if key in self.vars:
            return self.vars[key]
        scope = self.parent
        if type(scope) is not _Scope:
            return super().resolve_or_missing(key)
        variables = scope._vars
        if key in variables:
            return variables[key]
        env_globals = scope._globals
        if key in env_globals:
            return env_globals[key]
        return jinja2.runtime.missing


class _Bounded(ImmutableSandboxedEnvironment):
    """Sandboxed: templates cannot reach Python internals, nor compute huge values."""

    intercepted_binops = frozenset({"*", "**", "%"})
    context_class = _Context

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        limits.check_binop(operator, left, right)
        return super().call_binop(context, operator, left, right)


class _CondEnv(_Bounded, jinja2.nativetypes.NativeEnvironment):
    """Native types (a list stays a list), sandboxed and bounded (_Bounded).
    Used as is for conditionals (when, that): Jinja's own string escapes, as Ansible."""


class _Env(LiteralBackslashes, _CondEnv):
    """Templates: backslashes in string constants inside {{ }} are literal, as Ansible's lexer."""


class _TextEnv(LiteralBackslashes, _Bounded):
    pass


class UnsafeText(str):
    """Text that came from a host or from a task's result: it is data, never a template.

    Values the user wrote (inventory, playbook, vars files, extra vars) may hold templates that
    are resolved when referenced, as Ansible does; values read from hosts (facts, registered
    results) and set at run time are wrapped in this so that a VM's notes reading
    ``{{ 7*7 }}`` stay that text."""

    __slots__ = ()


def unsafe(value: Any) -> Any:
    """Mark strings inside nested data as UnsafeText (host data, results)."""
    t = type(value)  # the common exact types first (no ABC check for them)
    if t is str:
        return UnsafeText(value)
    if value is None or t is int or t is bool or t is float or t is UnsafeText:
        return value
    if t is dict:
        return {k: unsafe(v) for k, v in value.items()}
    if t is list:
        return [unsafe(v) for v in value]
    if isinstance(value, UnsafeText) or not isinstance(value, (str, Mapping, list, tuple)):
        return value
    if isinstance(value, str):
        return UnsafeText(value)
    if isinstance(value, Mapping):
        if isinstance(value, Secret):
            return value
        return {k: unsafe(v) for k, v in value.items()}
    return [unsafe(v) for v in value]


def _finalize(value: Any) -> Any:
    # A secret interpolated into a string must reach the host with its real value; every
    # output is scrubbed of known secret values by the run's SecretRegistry.
    return value.reveal() if isinstance(value, Secret) else value


def _finalize_text(value: Any) -> Any:
    # ansible-core 2.19 drops None nodes when it joins a template's parts: "a{{ None }}" is "a"
    return "" if value is None else _finalize(value)


UNVAULT_MASKED = "__hvprov_unvault_masked__"  # set in the masked render: unvault returns the mask


class Templar:
    """Evaluates templated values against variables. Thread-safe; compile cache per instance."""

    def __init__(self, vault: Any = None, secrets: Any = None) -> None:
        """`vault` (VaultSecrets) and `secrets` (SecretRegistry): the run's, for the unvault lookup only."""
        self.native = _Env(undefined=jinja2.StrictUndefined, finalize=_finalize)
        self.text = _TextEnv(undefined=jinja2.StrictUndefined, autoescape=False, finalize=_finalize_text)
        self.cond = _CondEnv(undefined=jinja2.StrictUndefined, finalize=_finalize)
        for env in (self.native, self.text, self.cond):
            env.filters.update(FILTERS)
            env.tests.update(TESTS)
            ansible_builtin.install(env)  # ansible.builtin's filters, tests and lookups (short + FQCN)
            limits.bound_filters(env.filters)  # widths and formats bounded (regexes: limits.BoundedRegex)
            env.hvprov_vault, env.hvprov_secrets = vault, secrets  # per run, never module-level
        self._cache: dict[tuple[Any, ...], Any] = {}  # compiled templates, parsed names, shapes
        self._lock = threading.Lock()

    # -- compile cache ---------------------------------------------------------
    def _compiled(self, kind: str, source: str) -> Any:
        key = (kind, source)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        compiled: Any
        with _lenient_escapes():
            if kind in ("expr", "cond"):
                env = self.cond if kind == "cond" else self.native
                compiled = env.compile_expression(source, undefined_to_none=False)
            elif kind == "native":
                compiled = self.native.from_string(source)
            else:
                compiled = self.text.from_string(source)
        with self._lock:
            self._cache[key] = compiled
        return compiled

    @staticmethod
    def is_template(value: Any) -> bool:
        return isinstance(value, str) and not isinstance(value, UnsafeText) and ("{{" in value or "{%" in value)

    # -- evaluation ------------------------------------------------------------
    def template(self, value: Any, variables: Mapping[str, Any], where: Location | None = None, field: str = "",
                 _depth: int = 0) -> Any:
        """Recursively template strings inside lists/dicts."""
        t = type(value)
        if t is str:  # _plain_leaf and is_template, inline for the common case
            if "{{" not in value and "{%" not in value:
                return value
            return self._render_str(value, variables, where, field, _depth)
        if t in SCALARS:
            return value
        if isinstance(value, str):
            if not self.is_template(value):
                return value
            return self._render_str(value, variables, where, field, _depth)
        if isinstance(value, dict) or (not isinstance(value, list) and isinstance(value, Mapping)
                                       and not isinstance(value, Secret)):  # (a dict is never a Secret)
            out = {}
            for k, v in value.items():
                t = type(v)  # _plain_leaf(v), inline: most arguments are plain
                if t in SCALARS or (t is str and "{{" not in v and "{%" not in v):
                    out[k] = v
                else:
                    out[k] = self.template(v, variables, _loc(value, k, where), f"{field}.{k}" if field else str(k),
                                           _depth)
            return out
        if isinstance(value, (list, tuple)):
            return [v if (type(v) is str and "{{" not in v and "{%" not in v) or _plain_leaf(v)
                    else self.template(v, variables, _loc(value, i, where), f"{field}[{i}]", _depth)
                    for i, v in enumerate(value)]
        return value

    def _render_str(self, value: str, variables: Mapping[str, Any], where: Location | None, field: str,
                    depth: int = 0) -> Any:
        try:
            single, source, names = self._shape(value)
            variables, secret = self._prepared(source, variables, names, where, field, depth)
            unvault = "unvault" in source and self.native.hvprov_vault is not None  # type: ignore[attr-defined]
            if secret or unvault:  # render with the real values, and again masked: the result is a Secret
                real = self._render_once(value, source, single, _overlay(variables, secret, reveal))
                masked = _overlay(variables, secret, mask)
                masked = ChainMap({UNVAULT_MASKED: True}, masked) if unvault else masked  # lookups.lk_unvault
                return derive(real, self._render_once(value, source, single, masked))
            return self._render_once(value, source, single, variables)
        except jinja2.UndefinedError as exc:
            raise VariableError(f"undefined variable: {exc.message}", location=where, field=field or None) from None
        except jinja2.TemplateSyntaxError as exc:
            raise VariableError(f"template syntax error: {exc.message} in {value!r}", location=where, field=field or None) from None
        except jinja2.exceptions.SecurityError as exc:
            raise VariableError(f"template refused by the sandbox: {exc}", location=where, field=field or None) from None
        except VariableError:
            raise
        except RecursionError:
            raise VariableError(f"template nesting too deep in {value!r}", location=where, field=field or None) from None
        except Exception as exc:  # filters raising TypeError/ValueError on bad input
            raise VariableError(f"template error: {type(exc).__name__}: {exc} in {value!r}", location=where, field=field or None) from None

    def _shape(self, value: str) -> tuple[bool, str, frozenset[str]]:
        """What rendering a template string needs that depends on the string only, worked out
        once per Templar: whether it is exactly one {{ expression }}, the source to compile, the
        names it reads. (Raises VariableError for a syntax error, then nothing is kept.)"""
        key = ("shape", value)
        hit = self._cache.get(key)
        if hit is None:
            m = _SINGLE_EXPR.match(value) if value.strip() == value else None
            source = m.group("expr").strip() if m else value
            hit = (m is not None, source, self._names(source, m is not None))
            with self._lock:
                self._cache[key] = hit
        return hit  # type: ignore[no-any-return]

    def _render_once(self, value: str, source: str, single: bool, variables: Mapping[str, Any]) -> Any:
        if single:
            out = self._eval_expr(source, variables)
            if isinstance(out, jinja2.Undefined):
                out._fail_with_undefined_error()
            return _materialised(out)
        tmpl = self._compiled("text", value)
        return self.text.concat(tmpl.root_render_func(self._context(tmpl, self.text, variables)))

    @staticmethod
    def _context(tmpl: Any, env: Any, variables: Mapping[str, Any]) -> Any:
        """A render context over the variables without copying them (they are many: facts,
        group_vars...): jinja2 would copy them all into a new dict for every string. Made as
        `tmpl.new_context(vars, shared=True)` makes it, less the set of the template's globals'
        names it builds for every context (only `{% import %}` of a loaded template reads it, and
        these environments have no loader): the globals are reached through `_Scope`."""
        return env.context_class(env, _Scope(variables, env.globals), tmpl.name, tmpl.blocks)

    def _eval_expr(self, source: str, variables: Mapping[str, Any], kind: str = "expr") -> Any:
        """compile_expression()'s evaluation, over a shared (uncopied) context."""
        tmpl = self._compiled(kind, source)._template
        ctx = self._context(tmpl, self.cond if kind == "cond" else self.native, variables)
        for _ in tmpl.root_render_func(ctx):
            pass
        return ctx.vars["result"]

    def _prepared(self, source: str, variables: Mapping[str, Any], names: frozenset[str], where: Location | None,
                  field: str, depth: int) -> tuple[Mapping[str, Any], list[str]]:
        """The variables to render with and the names among them that hold a Secret. Variables
        the template refers to whose user-written values are templates themselves are resolved
        first (lazily, as Ansible): the output of a render is never rendered again. One pass
        over the names when none is a template (then the values the Secrets are looked for in
        are those read); otherwise the Secrets are looked for in the resolved variables."""
        overlay = {}
        secret = []
        for name in names:
            value = variables.get(name)
            t = type(value)
            if t in SCALARS or (t is str and "{{" not in value and "{%" not in value):
                continue  # neither a template nor a Secret: a plain leaf, without the calls
            if _holds_template(value):
                if depth >= 10:
                    raise VariableError(f"recursive loop detected in template {source!r} (variable {name!r})",
                                        location=where, field=field or None)
                overlay[name] = self.template(value, variables, where, field, depth + 1)
            elif has_secret(value):
                secret.append(name)
        if not overlay:
            return variables, secret
        # `db_password: "{{ x }}"` is a secret whatever x is
        variables = {**variables, **tag_by_name(overlay)}
        return variables, _secret_names(names, variables)

    def _names(self, source: str, bare: bool) -> frozenset[str]:
        key = ("names", source, bare)
        hit = self._cache.get(key)
        if hit is None:
            hit = frozenset(self.undeclared(source, bare=bare))
            with self._lock:
                self._cache[key] = hit
        return hit

    def evaluate(self, expression: str, variables: Mapping[str, Any], where: Location | None = None, field: str = "") -> Any:
        """A bare expression (``when``, ``changed_when``, ``that``)."""
        key = ("bare", expression)
        expr = self._cache.get(key)
        if expr is None:
            expr = expression.strip()
            m = _SINGLE_EXPR.match(expr)
            if m:  # users sometimes write when: "{{ x }}"
                expr = m.group("expr").strip()
            with self._lock:
                self._cache[key] = expr
        try:
            variables, secret = self._prepared(expr, variables, self._names(expr, True), where, field, 0)
            if secret:
                real = self._eval_checked(expr, _overlay(variables, secret, reveal))
                return derive(real, self._eval_checked(expr, _overlay(variables, secret, mask)))
            return self._eval_checked(expr, variables)
        except jinja2.UndefinedError as exc:
            raise VariableError(f"undefined variable: {exc.message}", location=where, field=field or None) from None
        except jinja2.TemplateSyntaxError as exc:
            raise VariableError(f"expression syntax error: {exc.message} in {expression!r}", location=where, field=field or None) from None
        except jinja2.exceptions.SecurityError as exc:
            raise VariableError(f"expression refused by the sandbox: {exc}", location=where, field=field or None) from None
        except Exception as exc:
            raise VariableError(f"expression error: {type(exc).__name__}: {exc} in {expression!r}", location=where, field=field or None) from None

    def _eval_checked(self, expr: str, variables: Mapping[str, Any]) -> Any:
        """A condition (when, failed_when, assert...): Jinja's own escapes, a lazy result as a list."""
        out = self._eval_expr(expr, variables, "cond")
        if isinstance(out, jinja2.Undefined):
            out._fail_with_undefined_error()
        return _materialised(out)

    def undeclared(self, value: Any, bare: bool = False) -> set[str]:
        """Top-level variable names a value refers to (for the pre-flight check)."""
        names: set[str] = set()
        if isinstance(value, str):
            source = None
            if bare:
                source = "{{ " + value + " }}"
            elif self.is_template(value):
                source = value
            if source is not None:
                key = ("parsed", source)  # one parse per text and run: pre-flight and rendering ask alike
                found = self._cache.get(key)
                if found is None:
                    try:
                        with _lenient_escapes():
                            ast = self.text.parse(source)
                        ansible_builtin.check_names(ast, self.text)  # unknown filter/test: refused at load
                        found = frozenset(jinja2.meta.find_undeclared_variables(ast))
                    except jinja2.TemplateSyntaxError as exc:
                        raise VariableError(f"template syntax error: {exc.message} in {value!r}") from None
                    with self._lock:
                        self._cache[key] = found
                names |= found
        elif isinstance(value, Mapping):
            for v in value.values():
                names |= self.undeclared(v)
        elif isinstance(value, (list, tuple)):
            for v in value:
                names |= self.undeclared(v)
        return names


@contextlib.contextmanager
def _lenient_escapes() -> Iterator[None]:
    """Jinja decodes string literals with Python's unicode-escape codec, which warns about regex
    escapes such as '\\d' (kept as written, as in Ansible): not something to show the user."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "invalid escape sequence", DeprecationWarning)
        yield


def _materialised(value: Any) -> Any:
    """A lazy result (map, select, zip, product...) as the list Ansible makes of it."""
    if type(value) in _NOT_LAZY:
        return value
    if isinstance(value, Iterator):
        return list(value)
    return value


def _secret_names(names: frozenset[str], variables: Mapping[str, Any]) -> list[str]:
    """The variables a template reads that hold a Secret (at any depth)."""
    out = []
    for n in names:
        value = variables.get(n)
        if type(value) in LEAVES:
            continue  # has_secret's answer for a plain leaf, without the call
        if has_secret(value):
            out.append(n)
    return out


_NOT_LAZY = frozenset({str, int, float, bool, type(None), list, dict, tuple, UnsafeText})  # exact types, no Iterator


def _overlay(variables: Mapping[str, Any], names: list[str], how: Any) -> Mapping[str, Any]:
    return ChainMap({n: how(variables[n]) for n in names}, variables)  # type: ignore[arg-type]


def derive(real: Any, shown: Any) -> Any:
    """The result of a template that read secrets: strings that differ from their masked
    rendering become Secrets (value = real, shown = masked); structures are compared position by
    position; numbers and booleans computed from a secret stay plain (as in Ansible)."""
    if isinstance(real, str):
        return real if real == shown else Secret(real, source="derived", shown=str(shown) if isinstance(shown, str) else MASK)
    if isinstance(real, Mapping):
        if isinstance(shown, Mapping) and shown.keys() == real.keys():
            return {k: derive(v, shown[k]) for k, v in real.items()}
        return {k: derive(v, None) for k, v in real.items()}
    if isinstance(real, (list, tuple)):
        if isinstance(shown, (list, tuple)) and len(shown) == len(real):
            return [derive(v, s) for v, s in zip(real, shown, strict=True)]
        return [derive(v, None) for v in real]
    return real


class _Scope(Mapping[str, Any]):
    """The variables over the environment's globals: `ChainMap(variables, globals)` for the two
    lookups Jinja makes per name (`in`, then `[]`), without ChainMap's generator per lookup."""

    __slots__ = ("_vars", "_globals")

    def __init__(self, variables: Mapping[str, Any], env_globals: Mapping[str, Any]) -> None:
        self._vars, self._globals = variables, env_globals

    def __contains__(self, key: object) -> bool:
        return key in self._vars or key in self._globals

    def __getitem__(self, key: str) -> Any:
        try:
            return self._vars[key]
        except KeyError:
            return self._globals[key]

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys([*self._globals, *self._vars]))

    def __len__(self) -> int:
        return len(set(self._vars).union(self._globals))


def _plain_leaf(value: Any) -> bool:
    """A value template() returns unchanged without looking further: a plain string with no
    template markers, a number, a boolean, None (no location or field name is worked out)."""
    t = type(value)
    return t in SCALARS or (t is str and "{{" not in value and "{%" not in value)


def _holds_template(value: Any) -> bool:
    if _plain_leaf(value):
        return False
    if isinstance(value, UnsafeText):
        return False
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    if type(value) is dict or (isinstance(value, Mapping) and not isinstance(value, Secret)):
        return any(_holds_template(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_holds_template(v) for v in value)
    return False


def _loc(container: Any, key: Any, default: Location | None) -> Location | None:
    loc_of = getattr(container, "loc_of", None)
    if loc_of is not None:
        found = loc_of(key)
        if found is not None:
            return found
    return default


BUILTIN_NAMES = frozenset(
    {"range", "dict", "lipsum", "cycler", "joiner", "namespace", "true", "false", "none", "True", "False", "None", "omit"}
)
