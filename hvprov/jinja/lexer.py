"""Backslashes in string constants inside {{ }} are taken literally, as ansible-core's AnsibleLexer
does: templates usually come from YAML double-quoted strings, where YAML has already processed
the escapes ("{{ x | regex_replace('(\\d+)', '\\1') }}" must not be unescaped twice).

Conditionals (when, that, changed_when, failed_when) are evaluated without this, as in Ansible.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from jinja2.lexer import TOKEN_STRING, TOKEN_VARIABLE_BEGIN, TOKEN_VARIABLE_END, Lexer


class AnsibleLexer(Lexer):
    def tokeniter(self, source: str, name: str | None, filename: str | None = None,
                  state: str | None = None) -> Iterator[tuple[int, str, str]]:
        in_variable = state == "variable"  # compile_expression(): the whole source is inside {{ }}
        for lineno, kind, value in super().tokeniter(source, name, filename, state):
            if kind == TOKEN_VARIABLE_BEGIN:
                in_variable = True
            elif kind == TOKEN_VARIABLE_END:
                in_variable = False
            elif in_variable and kind == TOKEN_STRING:
                value = value.replace("\\", "\\\\")
            yield lineno, kind, value


class LiteralBackslashes:
    """Mixin for a jinja2 Environment: use AnsibleLexer."""

    @property
    def lexer(self) -> Any:
        lexer = self.__dict__.get("_hvprov_lexer")
        if lexer is None:
            lexer = AnsibleLexer(self)  # type: ignore[arg-type]
            self.__dict__["_hvprov_lexer"] = lexer
        return lexer
