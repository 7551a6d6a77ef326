"""ansible.builtin's Jinja plugins for hvprov: filters, tests and lookups, under their short and
fully qualified (`ansible.builtin.X`) names, behaving as ansible-core 2.19's.

`install(env)` adds them to a Jinja environment; `known_filters()` / `known_tests()` are what the
load-time check accepts (an unknown name is refused there, before any host is touched).
"""

from __future__ import annotations

from typing import Any

import jinja2

from .filters import FILTERS
from .lookups import GLOBALS, LOOKUPS
from .tests import TESTS

FQCN = "ansible.builtin."


def _both(table: dict[str, Any]) -> dict[str, Any]:
    return {**table, **{FQCN + k: v for k, v in table.items()}}


def install(env: jinja2.Environment) -> None:
    env.filters.update(_both(FILTERS))
    builtin_filters = {k: v for k, v in env.filters.items() if "." not in k}
    env.filters.update({FQCN + k: v for k, v in builtin_filters.items()})
    env.tests.update(_both(TESTS))
    builtin_tests = {k: v for k, v in env.tests.items() if "." not in k}
    env.tests.update({FQCN + k: v for k, v in builtin_tests.items()})
    env.globals.update(GLOBALS)


__all__ = ["FILTERS", "LOOKUPS", "TESTS", "install"]
