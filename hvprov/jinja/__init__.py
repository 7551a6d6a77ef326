"""ansible.builtin's Jinja plugins for hvprov: filters, tests and lookups, under their short and
fully qualified (`ansible.builtin.X`) names, behaving as ansible-core 2.19's.

`install(env)` adds them to a Jinja environment; `known_filters()` / `known_tests()` are what the
load-time check accepts (an unknown name is refused there, before any host is touched).
"""

from __future__ import annotations

from typing import Any

import jinja2

from . import extra
from .filters import FILTERS as _CORE_FILTERS
from .lookups import GLOBALS, LOOKUPS
from .tests import TESTS as _CORE_TESTS

FILTERS = {**_CORE_FILTERS, **extra.FILTERS}
TESTS = {**_CORE_TESTS, **extra.TESTS}

FQCN = "ansible.builtin."


def _both(table: dict[str, Any]) -> dict[str, Any]:
    return {**table, **{FQCN + k: v for k, v in table.items()}}


def install(env: jinja2.Environment) -> None:
    env.filters.update(_both(FILTERS))
    env.filters.update({FQCN + k: v for k, v in list(env.filters.items()) if "." not in k})
    env.tests.update(_both(TESTS))
    env.tests.update({FQCN + k: v for k, v in list(env.tests.items()) if "." not in k})
    env.globals.update(GLOBALS)


def check_names(ast: jinja2.nodes.Template, env: jinja2.Environment) -> None:
    """Refuse a parsed template naming a filter, test or lookup plugin that does not exist."""
    from .lookups import LookupError_, _plugin

    found: dict[type, list[Any]] = {jinja2.nodes.Filter: [], jinja2.nodes.Test: [], jinja2.nodes.Call: []}
    for node in ast.find_all(tuple(found)):  # one walk of the tree; checked in the same order as three
        found[next(kind for kind in found if isinstance(node, kind))].append(node)
    for node in found[jinja2.nodes.Filter]:
        if node.name not in env.filters:
            raise jinja2.TemplateAssertionError(f"no filter named {node.name!r}", node.lineno)
    for test in found[jinja2.nodes.Test]:
        if test.name not in env.tests:
            raise jinja2.TemplateAssertionError(f"no test named {test.name!r}", test.lineno)
    for call in found[jinja2.nodes.Call]:
        fn = call.node
        if isinstance(fn, jinja2.nodes.Name) and fn.name in GLOBALS and call.args \
                and isinstance(call.args[0], jinja2.nodes.Const) and isinstance(call.args[0].value, str):
            try:
                _plugin(call.args[0].value)
            except LookupError_ as exc:
                raise jinja2.TemplateAssertionError(str(exc), call.lineno) from None


__all__ = ["FILTERS", "LOOKUPS", "TESTS", "check_names", "install"]
