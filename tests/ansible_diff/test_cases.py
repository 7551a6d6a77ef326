"""Differential tests: every case under cases/ through ansible-core (the oracle, local connection)
and through hvprov (sim hosts); per host and task the status, debug output and registered
results must agree. A case with `refused:` must instead fail hvprov's load with that text and
the file:line it is about. The ansible side of all cases runs up front, a few processes at once.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml

from . import compare, oracle

CASES = Path(__file__).parent / "cases"
CASE_DIRS = sorted(p for p in CASES.iterdir() if (p / "playbook.yml").exists()) if CASES.is_dir() else []
CASE_KEYS = {"refused", "extra_vars", "limit", "note", "vault_password", "diff"}
PARALLEL = 3


def _case(path: Path) -> dict[str, Any]:
    f = path / "case.yml"
    data = yaml.safe_load(f.read_text()) if f.exists() else {}
    data = data or {}
    unknown = set(data) - CASE_KEYS
    assert not unknown, f"{f}: unknown keys {sorted(unknown)} (known: {sorted(CASE_KEYS)})"
    return data


@pytest.fixture(scope="session")
def ansible_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Future[dict[str, Any]]]:
    """Start ansible-playbook for every non-refused case; each test waits for its own."""
    oracle.ensure_venv()
    base = tmp_path_factory.mktemp("ansible")
    pool = ThreadPoolExecutor(PARALLEL)
    futures: dict[str, Future[dict[str, Any]]] = {}
    for path in CASE_DIRS:
        case = _case(path)
        if "refused" not in case:
            work = base / path.name
            work.mkdir()
            futures[path.name] = pool.submit(oracle.run_case, path, work, case)
    yield futures
    pool.shutdown(wait=True, cancel_futures=True)


def _run_hvprov(path: Path, work: Path, case: dict[str, Any]) -> Any:
    import hvprov.api as api

    play_dir = work / "case"
    shutil.copytree(path, play_dir)
    sim = work / "zz-hvdiff-sim.yml"
    sim.write_text("all:\n  vars:\n    ansible_connection: sim\n")
    from hvprov.vault import VaultSecrets

    vault = VaultSecrets([(None, str(case["vault_password"]))]) if "vault_password" in case else None
    return api.apply(play_dir / "playbook.yml", [play_dir / "inventory.yml", sim],
                     extra_vars=case.get("extra_vars") or None, limit=case.get("limit"),
                     lab_dir=work / "lab", forks=5, vault=vault, diff=bool(case.get("diff")))


@pytest.mark.parametrize("path", CASE_DIRS, ids=[p.name for p in CASE_DIRS])
def test_case_agrees_with_ansible(path: Path, ansible_runs: dict[str, Future[dict[str, Any]]]) -> None:
    from hvprov.errors import InputError

    case = _case(path)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if "refused" in case:
            with pytest.raises(InputError) as info:
                _run_hvprov(path, work, case)
            text = str(info.value)
            assert case["refused"] in text
            assert re.search(r"[\w./-]+\.ya?ml:\d+", text), f"no file:line in {text!r}"
            return
        result = _run_hvprov(path, work, case)
    doc = ansible_runs[path.name].result()
    theirs = compare.from_ansible(doc)
    assert theirs, f"ansible-core ran no task (rc {doc['rc']}): {doc['stderr']}"
    ours = compare.from_hvprov(result)
    diffs = compare.differences(theirs, ours)
    assert not diffs, f"{path.name}: hvprov differs from ansible-core:\n  " + "\n  ".join(diffs)
