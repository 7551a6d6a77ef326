"""ansible.cfg: found as ansible-core finds it (checked against `ansible --version`), its
settings, the ANSIBLE_* overrides, and a run with neither -i nor a vault flag."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from hvprov.cli import main
from hvprov.config import ConfigError, find_config, load_config

VAULT_PW = "cfg-test-password"


def _oracle_config_file(cwd: Path, env: dict[str, str]) -> str | None:
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from ansible_diff import oracle

    full = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    full.update(env)
    out = subprocess.run([str(oracle.ansible_bin("ansible")), "--version"], cwd=cwd, env=full,
                         capture_output=True, text=True, timeout=120).stdout
    m = re.search(r"config file = (.*)", out)
    assert m, out
    return None if m.group(1).strip() == "None" else m.group(1).strip()


def _layout(tmp_path: Path) -> tuple[Path, Path, Path]:
    home, proj, other = tmp_path / "home", tmp_path / "proj", tmp_path / "other"
    for d in (home, proj, other):
        d.mkdir()
    (home / ".ansible.cfg").write_text("[defaults]\nforks = 2\n")
    (proj / "ansible.cfg").write_text("[defaults]\nforks = 3\n")
    (other / "ansible.cfg").write_text("[defaults]\nforks = 4\n")
    return home, proj, other


@pytest.mark.parametrize("setup", ["cwd", "home", "explicit_file", "explicit_dir", "world_writable_cwd"])
def test_search_order_matches_ansible(tmp_path: Path, setup: str) -> None:
    home, proj, other = _layout(tmp_path)
    env = {"HOME": str(home)}
    cwd = proj
    if setup == "home":
        cwd = tmp_path
    elif setup == "explicit_file":
        env["ANSIBLE_CONFIG"] = str(other / "ansible.cfg")
    elif setup == "explicit_dir":
        env["ANSIBLE_CONFIG"] = str(other)
    elif setup == "world_writable_cwd":
        proj.chmod(0o777)
    ours = find_config(env, cwd)
    theirs = _oracle_config_file(cwd, env)
    assert (str(ours) if ours else None) == theirs


def test_settings_env_overrides_and_relative_paths(tmp_path: Path) -> None:
    (tmp_path / "ansible.cfg").write_text(
        "[defaults]\ninventory = inv/a.yml, /abs/b.yml\nforks = 7 ; inline comment\n"
        "vault_password_file = secrets/pw\nvault_identity_list = dev@x, prod@y\n"
        "roles_path = roles:/shared/roles\nhost_key_checking = False\ntimeout = 30\n")
    cfg = load_config({"HOME": str(tmp_path)}, tmp_path)
    assert cfg.inventory == (str(tmp_path / "inv/a.yml"), "/abs/b.yml")
    assert cfg.forks == 7
    assert cfg.vault_password_files == (str(tmp_path / "secrets/pw"),)
    assert cfg.vault_identity_list == ("dev@x", "prod@y")
    assert cfg.roles_path == (str(tmp_path / "roles"), "/shared/roles")
    assert cfg.host_defaults() == {"ansible_host_key_checking": False, "ansible_timeout": 30}
    env = {"HOME": str(tmp_path), "ANSIBLE_FORKS": "9", "ANSIBLE_INVENTORY": "x.yml,y.yml", "ANSIBLE_TIMEOUT": "5"}
    cfg = load_config(env, tmp_path)
    assert (cfg.forks, cfg.inventory, cfg.timeout) == (9, ("x.yml", "y.yml"), 5)


def test_bad_value_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "ansible.cfg").write_text("[defaults]\n# comment\nforks = many\n")
    with pytest.raises(ConfigError) as info:
        load_config({"HOME": str(tmp_path)}, tmp_path)
    assert f"{tmp_path / 'ansible.cfg'}:3" in str(info.value) and info.value.exit_code == 5


def _project(tmp_path: Path) -> Path:
    from hvprov.vault import encrypt_string

    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / ".vault_pass").write_text(VAULT_PW + "\n")
    (proj / "vars.yml").write_text(encrypt_string("s3cret!", VAULT_PW, name="vault_msg") + "\n")
    (proj / "inv.yml").write_text("all:\n  vars:\n    ansible_connection: sim\n  hosts:\n    h1: {}\n    h2: {ansible_timeout: 3}\n")
    (proj / "ansible.cfg").write_text("[defaults]\ninventory = inv.yml\nvault_password_file = .vault_pass\ntimeout = 17\n")
    (proj / "pb.yml").write_text(
        "- hosts: all\n  gather_facts: false\n  vars_files: [vars.yml]\n  tasks:\n"
        "    - assert:\n        that:\n          - vault_msg is defined\n"
        "          - ansible_timeout == (3 if inventory_hostname == 'h2' else 17)\n")
    return proj


def test_cfg_alone_runs_without_inventory_or_vault_flags(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    proj = _project(tmp_path)
    monkeypatch.chdir(proj)
    monkeypatch.setenv("HOME", str(tmp_path))
    for var in [v for v in os.environ if v.startswith("ANSIBLE_")]:
        monkeypatch.delenv(var)
    assert main(["apply", "pb.yml", "--lab-dir", str(tmp_path / "lab")]) == 0
    (proj / "ansible.cfg").write_text("[defaults]\ninventory = inv.yml\n")
    assert main(["apply", "pb.yml", "--lab-dir", str(tmp_path / "lab")]) == 4
    assert "no vault password was given" in capsys.readouterr().err
