"""Raw facts for tests: a realistic 2008 R2 Standard host, with deep overrides."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from hvprov.facts import HostFacts, parse_facts

DATA = Path(__file__).parent / "data" / "facts"


def raw_facts(name: str = "2008r2-standard-fresh", **overrides: Any) -> dict[str, Any]:
    """Load a raw facts file; overrides use dotted keys: raw_facts(**{"os.sku": 17})."""
    raw = json.loads((DATA / f"{name}.json").read_text())
    for dotted, value in overrides.items():
        set_path(raw, dotted, value)
    return raw


def set_path(raw: dict[str, Any], dotted: str, value: Any) -> None:
    node = raw
    parts = dotted.split(".")
    for p in parts[:-1]:
        node = node[int(p)] if isinstance(node, list) else node[p]
    last = parts[-1]
    if isinstance(node, list):
        node[int(last)] = copy.deepcopy(value)
    else:
        node[last] = copy.deepcopy(value)


def facts(name: str = "2008r2-standard-fresh", **overrides: Any) -> HostFacts:
    return parse_facts(raw_facts(name, **overrides))
