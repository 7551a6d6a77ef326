"""The inventories `hvprov lab up` writes work from any directory (issue 11 item 6): every file
they name (the CA, the client key, known_hosts) is an absolute path, even for a relative --lab-dir."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hvprov.sim.lab import LabServers, load_source

ROOT = Path(__file__).resolve().parent.parent


def test_generated_lab_inventories_use_absolute_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    inv, seeds = load_source([str(ROOT / "inventories" / "lab.yml")])
    seeds = {n: s for n, s in seeds.items() if n == "hv-std01"}
    with LabServers(Path("relative-lab"), seeds, source=inv) as servers:
        files = servers.inventories()
    checked = 0
    for path in files.values():
        doc = yaml.safe_load(Path(path).read_text())
        for hvars in doc["all"]["hosts"].values():
            for key in ("ansible_winrm_ca_trust_path", "ansible_ssh_private_key_file", "hvprov_ssh_known_hosts"):
                if key in hvars:
                    assert Path(hvars[key]).is_absolute(), (key, hvars[key])
                    assert Path(hvars[key]).exists(), (key, hvars[key])
                    checked += 1
    assert checked == 3
