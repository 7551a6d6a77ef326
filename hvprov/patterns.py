"""Ansible host patterns: which hosts of an inventory a play, ``--limit`` or API call means.

    all  *                   every host
    web                      a group (its own hosts and those of its child groups) or a host
    hv-*  hv0?.lab           shell globs, matched against group names and host names
    ~hv0[12]                 a Python regular expression (matched at the start of the name,
                             like Ansible's ``re.match``)
    web:db   web,db          union (``,`` is preferred: ``:`` clashes with IPv6 and ranges)
    web:&w2019               intersection
    web:!hv-web01            exclusion
    web[0] web[-1]           one host of the group, by position
    web[0:2] web[1:]         a slice; the end is *inclusive*, as in Ansible

Evaluation follows Ansible's ``InventoryManager``: the plain terms are united first, then
every ``&`` term intersects, then every ``!`` term excludes, whatever order they were
written in; with no plain term, ``all`` is implied (``!web`` = every host but web's). A
term that is exactly a host name is that host. Otherwise a term matches groups by name
(giving all their hosts) and, when no group matched or the term is a regex or contains
one of ``. ? * [``, host names too.

A pattern that matches nothing is not an error (it is logged as a warning, Ansible warns);
a pattern that cannot be parsed raises `OptionsError`. Deviations from Ansible: an empty
pattern is an error (Ansible would silently mean ``all``), an unbalanced ``[``/``]`` is an
error, and results are always in inventory order (the order hosts were first seen).

`parse_address` (host[:port] with ``[x:y]`` ranges, IPv4, IPv6) is shared with the
inventory loader, which uses the same rules as Ansible for host keys.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .errors import OptionsError

log = logging.getLogger(__name__)

__all__ = ["HostMatcher", "Term", "parse_address", "parse_pattern", "split_pattern"]

# --------------------------------------------------------------------------- addresses
_NUM_RANGE = r"\[[0-9]+:[0-9]+(?::[0-9]+)?\]"
_ALNUM_RANGE = r"\[(?:[A-Za-z]:[A-Za-z]|[0-9]+:[0-9]+)(?::[0-9]+)?\]"
_LABEL = rf"(?:\w|{_ALNUM_RANGE})(?:[\w-]|{_ALNUM_RANGE})*(?<![_-])"
_HOSTNAME_RE = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\Z")
_V4_PART = rf"(?:25[0-5]|2[0-4][0-9]|[01]?[0-9]{{1,2}}|{_NUM_RANGE})"
_IPV4_RE = re.compile(rf"(?:{_V4_PART}\.){{3}}{_V4_PART}\Z")
_NUM_RANGE_RE = re.compile(_NUM_RANGE)
_BRACKETED_PORT_RE = re.compile(r"\[(.+)\]:([0-9]+)\Z", re.S)
_HOST_PORT_RE = re.compile(r"((?:[^:\[\]]|\[[^\]]*\])*):([0-9]+)\Z", re.S)


def _is_ipv6(text: str) -> bool:
    if ":" not in text or "%" in text:
        return False
    try:
        ipaddress.IPv6Address(_NUM_RANGE_RE.sub("0", text))
    except ValueError:
        return False
    return True


def parse_address(text: str) -> tuple[str, int | None] | None:
    """``host``, ``host:port``, ``[ipv6]:port`` (ranges allowed) -> (host, port), else None.

    The host must be a DNS-like name, an IPv4 or an IPv6 address, each possibly with
    ``[x:y]`` ranges; an IPv6 address takes a port only in brackets.
    """
    port: int | None = None
    m = _BRACKETED_PORT_RE.match(text)
    if m:
        text, port = m.group(1), int(m.group(2))
    m = _HOST_PORT_RE.match(text)
    if m:
        text, port = m.group(1), int(m.group(2))
    if _IPV4_RE.match(text) or _HOSTNAME_RE.match(text) or _is_ipv6(text):
        return text, port
    return None


# --------------------------------------------------------------------------- patterns
@dataclass(frozen=True)
class Term:
    """One term of a pattern: ``op`` is "" (union), "&" (intersection) or "!" (exclusion)."""

    op: str
    text: str  # as written, without the op
    expr: str  # without the subscript
    index: int | None  # web[2], web[-1]
    span: tuple[int, int | None] | None  # web[0:2] (end inclusive), web[1:] (end None)
    regex: re.Pattern[str]


_SUBSCRIPT_RE = re.compile(r"(.+)\[(?:(-?[0-9]+)|([0-9]+)([:-])([0-9]*))\]\Z", re.S)
_COLON_TERM_RE = re.compile(r"(?:[^\s:\[\]]|\[[^\]]*\])+")
_GLOB_CHARS = frozenset("*?[")


def _check_brackets(term: str, whole: str) -> None:
    depth = 0
    for ch in term:
        if ch == "[":
            if depth:
                raise OptionsError(f"host pattern {whole!r}: nested '[' in {term!r}")
            depth = 1
        elif ch == "]":
            if not depth:
                raise OptionsError(f"host pattern {whole!r}: ']' without '[' in {term!r}")
            depth = 0
    if depth:
        raise OptionsError(f"host pattern {whole!r}: '[' without ']' in {term!r}")


def split_pattern(pattern: str | Sequence[str]) -> list[str]:
    """Split a pattern into its terms, as Ansible does (``,`` first, else ``:``)."""
    if isinstance(pattern, (list, tuple)):
        return [t for p in pattern for t in split_pattern(p)]
    if not isinstance(pattern, str):
        raise OptionsError(f"a host pattern must be a string, got {type(pattern).__name__}")
    if "," in pattern:
        parts = pattern.split(",")
    elif parse_address(pattern.strip()) is not None:
        parts = [pattern]  # a host, host:port, an IPv6 address, a [x:y] range
    else:
        parts = _COLON_TERM_RE.findall(pattern)
        rest = _COLON_TERM_RE.sub("", pattern)
        if "[" in rest or "]" in rest:
            _check_brackets(pattern, pattern)
    return [p.strip() for p in parts if p.strip()]


def _compile(expr: str, whole: str) -> re.Pattern[str]:
    if expr.startswith("~"):
        if len(expr) == 1:
            raise OptionsError(
                f"host pattern {whole!r}: '~' must be followed by a regular expression"
            )
        try:
            return re.compile(expr[1:])
        except re.error as exc:
            raise OptionsError(
                f"host pattern {whole!r}: bad regular expression {expr[1:]!r}: {exc}"
            ) from None
    return re.compile(fnmatch.translate(expr))


def parse_pattern(pattern: str | Sequence[str]) -> list[Term]:
    """Parse a pattern into ordered terms (plain, then ``&``, then ``!``); raises OptionsError."""
    whole = pattern if isinstance(pattern, str) else ",".join(map(str, pattern))
    terms = split_pattern(pattern)
    if not terms:
        raise OptionsError(f"empty host pattern {whole!r} (use 'all' for every host)")
    out: list[Term] = []
    for raw in terms:
        op = raw[0] if raw[0] in "&!" else ""
        text = raw[len(op) :].strip()
        if not text:
            raise OptionsError(
                f"host pattern {whole!r}: {op!r} must be followed by a group or host"
            )
        if text[0] in "&!":
            raise OptionsError(f"host pattern {whole!r}: {raw!r} has more than one of '&' and '!'")
        expr = text
        index: int | None = None
        span: tuple[int, int | None] | None = None
        if not text.startswith("~"):
            _check_brackets(text, whole)
            m = _SUBSCRIPT_RE.match(text)
            if m:
                expr, single, start, sep, end = m.groups()
                if single is not None:
                    index = int(single)
                else:
                    if sep == "-":
                        log.warning(
                            "host pattern %r: use [x:y] instead of the old [x-y] subscript", whole
                        )
                    span = (int(start), int(end) if end else None)
        out.append(Term(op, text, expr, index, span, _compile(expr, whole)))
    plain = [t for t in out if not t.op]
    if not plain:
        plain = [Term("", "all", "all", None, None, _compile("all", whole))]
    return plain + [t for t in out if t.op == "&"] + [t for t in out if t.op == "!"]


class HostMatcher:
    """Evaluates patterns against host names and group memberships.

    `hosts`: every host name in inventory order. `groups`: each group name (in inventory
    order) to the names of every host in it or its descendants, in the group's own order
    (its direct hosts as listed, then its children's, breadth first), which is the order
    subscripts such as ``web[0]`` count in, as in Ansible.
    """

    def __init__(self, hosts: Sequence[str], groups: Mapping[str, Sequence[str]]) -> None:
        self.hosts = list(hosts)
        self.groups = groups
        self._index = {h: i for i, h in enumerate(self.hosts)}
        self._cache: dict[str, list[str]] = {}

    def _enumerate(self, term: Term) -> tuple[list[str], bool]:
        """(hosts in match order, whether any group or host name matched at all)."""
        expr = term.expr
        plain = not expr.startswith("~") and not (_GLOB_CHARS & set(expr))
        if plain:
            groups = [expr] if expr in self.groups else []
        else:
            groups = [g for g in self.groups if term.regex.match(g)]
        found: dict[str, None] = {}
        for g in groups:
            found.update(dict.fromkeys(self.groups[g]))
        matched = bool(groups)
        if not groups or not plain or "." in expr:
            if plain:
                if expr in self._index:
                    found[expr] = None
                    matched = True
            else:
                before = len(found)
                hits = [h for h in self.hosts if term.regex.match(h)]
                found.update(dict.fromkeys(hits))
                matched = matched or bool(hits) or len(found) != before
        return list(found), matched

    def _match(self, term: Term, whole: str) -> list[str]:
        hosts, matched = self._enumerate(term)
        if not matched and term.expr != "all":
            log.warning("host pattern %r: %r matches no group or host", whole, term.text)
        if not hosts:
            return hosts
        if term.index is not None:
            try:
                return [hosts[term.index]]
            except IndexError:
                raise OptionsError(
                    f"host pattern {whole!r}: {term.text!r} asks for host #{term.index} but "
                    f"{term.expr!r} matches {len(hosts)} host(s)"
                ) from None
        if term.span is not None:
            start, end = term.span
            return hosts[start : len(hosts) if end is None else end + 1]
        return hosts

    def select(self, pattern: str | Sequence[str] | None) -> list[str]:
        """Names of the hosts `pattern` means, in inventory order (None means all)."""
        if pattern is None:
            return list(self.hosts)
        if not isinstance(pattern, str) and not (
            isinstance(pattern, (list, tuple)) and all(isinstance(p, str) for p in pattern)
        ):
            raise OptionsError(
                f"a host pattern must be a string or a list of strings, got {pattern!r}"
            )
        key = pattern if isinstance(pattern, str) else "\x00".join(pattern)
        cached = self._cache.get(key)
        if cached is not None:
            return list(cached)
        result = list(self.hosts) if key.strip() in ("all", "*") else self._evaluate(pattern)
        self._cache[key] = result
        return list(result)

    def _evaluate(self, pattern: str | Sequence[str]) -> list[str]:
        whole = pattern if isinstance(pattern, str) else ",".join(pattern)
        chosen: dict[str, None] = {}
        for term in parse_pattern(pattern):
            if not term.op and term.text in self._index:
                hosts = [term.text]
            else:
                hosts = self._match(term, whole)
            if term.op == "&":
                keep = set(hosts)
                chosen = {h: None for h in chosen if h in keep}
            elif term.op == "!":
                for h in hosts:
                    chosen.pop(h, None)
            else:
                chosen.update(dict.fromkeys(hosts))
        return sorted(chosen, key=self._index.__getitem__)
