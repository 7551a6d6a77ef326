"""Play `vars_prompt`, as ansible-playbook answers it (playbook_executor + Display.do_var_prompt):

* a name given with `-e` is not asked;
* on a terminal: asked (`prompt [default]: `), hidden when `private` (the default), twice when
  `confirm`; an empty answer takes `default`; `encrypt` hashes it as `password_hash` does;
* without a terminal: ansible-core warns and takes `default`. With no default it would set the
  text "None": hvprov refuses that before any host is touched (exit 4, file:line).

Answers are play variables; private answers are secrets (masked in every output).
"""

from __future__ import annotations

import dataclasses
import getpass
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import InputError, Location
from .secrets import Secret

PROMPT_KEYS = ("name", "prompt", "default", "private", "confirm", "encrypt", "salt_size", "salt", "unsafe")


@dataclass(frozen=True)
class Prompt:
    name: str
    prompt: str
    location: Location
    default: Any = None
    private: bool = True
    confirm: bool = False
    encrypt: str | None = None
    salt_size: int | None = None
    salt: str | None = None


def parse_prompts(loader: Any, raw: Any, where: Location | None, fpath: str) -> tuple[Prompt, ...]:
    """The play's vars_prompt entries, checked (problems go to `loader.err`)."""
    from .yamlsrc import location_of

    if raw is None:
        return ()
    if not isinstance(raw, list):
        loader.err(f"vars_prompt expects a list of prompts, got {type(raw).__name__}", where, fpath)
        return ()
    out = []
    for i, entry in enumerate(raw):
        loc, path = location_of(raw, i) or where, f"{fpath}[{i}]"
        if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str) or not entry["name"].isidentifier():
            loader.err("a vars_prompt entry needs a 'name' (a variable name)", loc, path)
            continue
        for key in entry:
            if key not in PROMPT_KEYS:
                loader.err(f"unknown vars_prompt key {key!r} (known: {', '.join(PROMPT_KEYS)})", location_of(entry, key) or loc,
                           f"{path}.{key}")
        flags = {k: loader.bool(entry.get(k), location_of(entry, k) or loc, f"{path}.{k}", d)
                 for k, d in (("private", True), ("confirm", False))}
        out.append(Prompt(entry["name"], str(entry.get("prompt", entry["name"])), loc or Location(loader.path),
                          entry.get("default"), bool(flags["private"]), bool(flags["confirm"]),
                          entry.get("encrypt"), entry.get("salt_size"), entry.get("salt")))
    return tuple(out)


def answer(prompts: tuple[Prompt, ...], extra_vars: Mapping[str, Any], *,
           is_tty: Callable[[], bool] | None = None, ask: Callable[[str, bool], str] | None = None,
           warn: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Answers for the prompts not given with -e (asked on the terminal, or their defaults)."""
    tty = (is_tty or (lambda: sys.stdin is not None and sys.stdin.isatty()))()
    ask = ask or (lambda msg, private: getpass.getpass(msg) if private else input(msg))
    out: dict[str, Any] = {}
    for p in prompts:
        if p.name in extra_vars:
            continue
        value: Any = None
        if tty:
            msg = f"{p.prompt} [{p.default}]: " if p.default is not None else f"{p.prompt}: "
            value = ask(msg, p.private)
            while p.confirm and ask("confirm " + msg, p.private) != value:
                value = ask(msg, p.private)
        else:
            if p.default is None:
                raise InputError(f"vars_prompt {p.name!r}: no terminal to ask on and no default; pass -e {p.name}=...",
                                 location=p.location, field=f"vars_prompt.{p.name}")
            if warn is not None:
                warn("Not prompting as we are not in interactive mode")
        if not value and p.default is not None:
            value = p.default
        value = str(value)
        if p.encrypt:
            from .jinja.passwords import hash_password

            value = hash_password(value, str(p.encrypt), p.salt, p.salt_size)
        # what was typed in private is a secret; a default written in the playbook is not
        out[p.name] = Secret(value, source=f"vars_prompt {p.name}") if p.private and tty else value
    return out


def answer_book(book: Any, extra_vars: Mapping[str, Any], warn: Callable[[str], None] | None = None,
                collect: Callable[[Any], Any] | None = None) -> Any:
    """The playbook with each play's prompts answered into its play vars (`collect` registers secrets)."""
    plays = []
    for play in book.plays:
        if play.prompts:
            answers = answer(play.prompts, extra_vars, warn=warn)
            if collect is not None:
                collect(answers)
            play = dataclasses.replace(play, vars={**play.vars, **answers}, own_vars={**play.own_vars, **answers})
        plays.append(play)
    return dataclasses.replace(book, plays=tuple(plays))
