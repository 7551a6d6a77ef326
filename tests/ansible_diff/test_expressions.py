"""The expression table (expressions.yml) through ansible-core's Templar and hvprov's Templar.

Both must give the same value, or both must fail. Entries marked `differs: reason` are known
disagreements: they must still differ (an entry that starts agreeing must lose its mark) and
their count is bounded, so the table cannot quietly rot.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from . import oracle

HERE = Path(__file__).parent
TABLE = yaml.safe_load((HERE / "expressions.yml").read_text())
FILES = HERE / "exprfiles"
PROBE = {"HVDIFF_PROBE": "probe-value"}
MAX_DIFFERING = 7


def _entries() -> list[dict[str, Any]]:
    out = []
    for raw in TABLE["expressions"]:
        entry = {"template": raw} if isinstance(raw, str) else {"template": raw["t"], **raw}
        out.append(entry)
    return out


ENTRIES = _entries()


def _variables() -> dict[str, Any]:
    return {**TABLE["vars"], "playbook_dir": str(FILES)}


@pytest.fixture(scope="module")
def oracle_results() -> list[dict[str, Any]]:
    return oracle.eval_templates([{"template": e["template"]} for e in ENTRIES], _variables(), FILES, PROBE)


def _hvprov(template: str) -> dict[str, Any]:
    from hvprov.errors import HvprovError
    from hvprov.templating import Templar

    old = {k: os.environ.get(k) for k in PROBE}
    os.environ.update(PROBE)
    try:
        value = Templar().template(template, _variables())
        return {"value": json.loads(json.dumps(value, default=repr))}
    except HvprovError as exc:
        return {"error": str(exc)}
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _agree(theirs: dict[str, Any], ours: dict[str, Any]) -> bool:
    if "error" in theirs or "error" in ours:
        return "error" in theirs and "error" in ours
    return bool(theirs["value"] == ours["value"])


def test_table_has_the_issue_coverage() -> None:
    assert len(ENTRIES) >= 132


@pytest.mark.parametrize("index", range(len(ENTRIES)), ids=[e["template"][:60] for e in ENTRIES])
def test_expression_agrees_with_ansible(index: int, oracle_results: list[dict[str, Any]]) -> None:
    entry = ENTRIES[index]
    theirs, ours = oracle_results[index], _hvprov(entry["template"])
    if "differs" in entry:
        assert not _agree(theirs, ours), f"now agrees: drop `differs` from {entry['template']!r}"
        return
    assert _agree(theirs, ours), f"{entry['template']!r}: ansible-core={theirs} hvprov={ours}"


def test_known_differences_are_few() -> None:
    differing = [e["template"] for e in ENTRIES if "differs" in e]
    assert len(differing) <= MAX_DIFFERING, differing
