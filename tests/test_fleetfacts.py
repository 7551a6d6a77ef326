"""`hvprov facts` then `hvprov lab import`: twins whose facts equal the originals (issue 10 item 8)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from hvprov.cli import main
from hvprov.sim.store import LabStore

ROOT = Path(__file__).resolve().parent.parent
SITE = str(ROOT / "playbooks" / "site.yml")
LAB = str(ROOT / "inventories" / "lab.yml")
PASSWORD = "Tw1n-S3cret-pw"


def _facts(d: Path) -> dict[str, dict]:
    out = {}
    for p in sorted(d.glob("*.json")):
        doc = json.loads(p.read_text(encoding="utf-8"))
        out[doc["host"]] = doc["facts"]
    return out


@pytest.fixture(scope="module")
def provisioned(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The lab after the site playbook (switches, VHDs, VMs), with a secret in one VM's notes."""
    d = tmp_path_factory.mktemp("fleet")
    inv = d / "lab.yml"
    text = Path(LAB).read_text(encoding="utf-8")
    text = text.replace("\n  vars:\n", f"\n  vars:\n    ansible_password: {PASSWORD}\n", 1)
    # fast reboots in the inventory itself: `-e sim=...` would win over it (Ansible's precedence)
    # for the apply only, and the facts run after it would then meet differently seeded hosts
    assert "reboot_seconds: 2\n" in text
    inv.write_text(text.replace("reboot_seconds: 2\n", "reboot_seconds: 0.3\n", 1), encoding="utf-8")
    (d / "group_vars").symlink_to(ROOT / "inventories" / "group_vars")
    assert main(["apply", SITE, "-i", str(inv), "--lab-dir", str(d / "lab"),
                 "-f", "13", "--format", "json"]) == 2  # the refused editions fail, truthfully

    def leak(host):  # noqa: ANN001, ANN202
        host.vms[0].notes = f"admin password is {PASSWORD}"

    LabStore(d / "lab").alter("hv-2019", leak)
    return d


@pytest.mark.parametrize("hashed", [False, True])
def test_twins_facts_equal_the_originals(provisioned: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                         hashed: bool) -> None:
    saved = tmp_path / "facts"
    extra = ["--hash-names", "--hash-salt", "t"] if hashed else []
    assert main(["facts", "-i", str(provisioned / "lab.yml"), "--lab-dir", str(provisioned / "lab"),
                 "--out", str(saved), *extra]) == 0
    assert main(["lab", "import", str(saved)]) == 0
    originals = _facts(saved)
    assert len(originals) == 13
    assert sum(len(f["vms"]) for f in originals.values()) >= 18  # the provisioned VMs are in the copy
    for path in saved.glob("*.json"):
        text = path.read_text(encoding="utf-8")
        assert PASSWORD not in text
        if hashed:
            assert "hv-2019" not in text.lower() and "HV-STD01" not in text and "web01" not in text
    twin_inv = yaml.safe_load((saved / "lab.yml").read_text(encoding="utf-8"))
    assert set(twin_inv["all"]["hosts"]) == set(originals)
    again = tmp_path / "twin-facts"
    assert main(["facts", "-i", str(saved / "lab.yml"), "--lab-dir", str(tmp_path / "twinlab"), "--out", str(again)]) == 0
    capsys.readouterr()
    twins = _facts(again)
    assert twins.keys() == originals.keys()
    for name in originals:
        assert twins[name] == originals[name], name
    masked = [vm["notes"] for f in originals.values() for vm in f["vms"] if "password" in vm["notes"]]
    assert masked == ([] if hashed else ["admin password is ********"])


def test_lab_import_refuses_what_is_not_a_facts_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lab", "import", str(tmp_path / "missing")]) == 5
    (tmp_path / "x.json").write_text('{"hello": 1}', encoding="utf-8")
    assert main(["lab", "import", str(tmp_path)]) == 4
    assert "not an hvprov facts file" in capsys.readouterr().err
