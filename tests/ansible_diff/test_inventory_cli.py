"""`hvprov inventory` against `ansible-inventory` (the oracle) on the inventory corpus: --list in
JSON, YAML and TOML, with --export and --limit, --graph [GROUP] with --vars, --host. The output
must be identical (ansible-inventory's stdout; its warnings go to stderr)."""

from __future__ import annotations

import os
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from . import oracle

CASES = Path(__file__).parents[1] / "data" / "inventory" / "cases"


def _sources(case: Path) -> list[str]:
    import yaml

    spec = case / "case.yml"
    if spec.exists():
        loads = (yaml.safe_load(spec.read_text()) or {}).get("loads")
        if loads:
            return [str(case / p) for p in loads[0]]
    return [str(p) for p in sorted(case.glob("inventory.*"))[:1]]


FLAGS = [
    ["--list"], ["--list", "--yaml"], ["--list", "--toml"], ["--list", "--export"],
    ["--list", "--yaml", "--export"], ["--list", "--toml", "--export"], ["--list", "--limit", "all:!ungrouped"],
    ["--graph"], ["--graph", "--vars"],
]
RUNS = [(case.name, flags) for case in sorted(CASES.iterdir()) if _sources(case) for flags in FLAGS]


def _ansible(case: str, flags: list[str]) -> tuple[int, str]:
    args = [a for src in _sources(CASES / case) for a in ("-i", src)]
    with tempfile.TemporaryDirectory() as home:
        cfg = Path(home) / "empty.cfg"
        cfg.write_text("[defaults]\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
        env.update({"ANSIBLE_CONFIG": str(cfg), "ANSIBLE_HOME": home, "ANSIBLE_DEPRECATION_WARNINGS": "0",
                    "ANSIBLE_NOCOLOR": "1"})
        proc = subprocess.run([str(oracle.ansible_bin("ansible-inventory")), *args, *flags], env=env,
                              capture_output=True, text=True, timeout=300)
    return proc.returncode, proc.stdout + (proc.stderr if proc.returncode else "")


@pytest.fixture(scope="module")
def oracle_outputs() -> dict[tuple[str, str], tuple[int, str]]:
    oracle.ensure_venv()
    with ThreadPoolExecutor(3) as pool:
        futures = {(c, " ".join(f)): pool.submit(_ansible, c, f) for c, f in RUNS}
        return {k: fut.result() for k, fut in futures.items()}


@pytest.mark.parametrize(("case", "flags"), RUNS, ids=[f"{c}:{' '.join(f)}" for c, f in RUNS])
def test_inventory_output_matches_ansible_inventory(case: str, flags: list[str], oracle_outputs,  # type: ignore[no-untyped-def]
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    from hvprov.cli import main

    rc, theirs = oracle_outputs[(case, " ".join(flags))]
    args = [a for src in _sources(CASES / case) for a in ("-i", src)]
    code = main(["inventory", *args, *flags])
    ours, err = capsys.readouterr()
    if rc != 0:  # e.g. a null value cannot be TOML: ansible-inventory fails, so must we (cleanly)
        assert code == 5 and "ERROR:" in err, (code, err)
        return
    assert code == 0, err
    assert ours.rstrip("\n") == theirs.rstrip("\n")


def test_output_file_and_host(tmp_path: Path) -> None:
    from hvprov.cli import main

    src = str(CASES / "toml_inv" / "inventory.toml")
    out = tmp_path / "inv.yml"
    assert main(["inventory", "-i", src, "--list", "--yaml", "--output", str(out)]) == 0
    _, theirs = _ansible("toml_inv", ["--list", "--yaml"])
    assert out.read_text().rstrip("\n") == theirs.rstrip("\n")
    assert main(["inventory", "-i", src, "--host", "nosuchhost"]) == 5
