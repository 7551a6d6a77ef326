"""Input hvprov used to accept silently (issue 11 item 5) that ansible-core only warns about, and
`powershell: file:` resolved from the playbook's directory. The refusals are corpus cases
(tests/data/bad/, tests/test_bad_input_corpus.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "tests" / "data" / "bad" / "hostile" / "_site.yml"


def _hvprov(*args: str, cwd: Path) -> tuple[int, str, str]:
    proc = subprocess.run([sys.executable, "-m", "hvprov", *args], capture_output=True, text=True, timeout=120,
                          cwd=cwd, env={**os.environ, "COLUMNS": "300"}, stdin=subprocess.DEVNULL, check=False)
    return proc.returncode, proc.stdout, proc.stderr


def test_a_host_and_a_group_with_the_same_name_is_ansibles_warning(tmp_path: Path) -> None:
    inv = tmp_path / "inv.yml"
    inv.write_text("all:\n  hosts:\n    web:\n      ansible_connection: sim\n  children:\n    web:\n      hosts:\n"
                   "        h2: {ansible_connection: sim}\n", encoding="utf-8")
    code, out, err = _hvprov("plan", str(SITE), "-i", str(inv), "--lab-dir", str(tmp_path / "lab"), cwd=tmp_path)
    assert code == 0, out + err
    # ansible-core 2.19.14 prints exactly this for the same inventory (docs/hardening.md)
    assert "[WARNING]: Found both group and host with same name: web" in err
    assert "ok: [web] debug => hello" in out and "ok: [h2] debug => hello" in out


def test_powershell_file_is_resolved_from_the_playbooks_directory(tmp_path: Path) -> None:
    book_dir = tmp_path / "site"
    (book_dir / "scripts").mkdir(parents=True)
    (book_dir / "scripts" / "hello.ps1").write_text("Write-Output 'hello from a file'\n", encoding="utf-8")
    (book_dir / "play.yml").write_text("- hosts: all\n  gather_facts: true\n  tasks:\n"
                                       "    - powershell:\n        file: scripts/hello.ps1\n", encoding="utf-8")
    inv = tmp_path / "inv.yml"
    inv.write_text("all:\n  hosts:\n    hvs-a: {ansible_connection: sim, sim_profile: hyperv-server-2008r2}\n",
                   encoding="utf-8")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for mode in ("plan", "apply"):
        code, out, err = _hvprov(mode, str(book_dir / "play.yml"), "-i", str(inv), "--lab-dir", str(tmp_path / "lab"),
                                 cwd=elsewhere)
        assert code == 0, out + err
        assert "1 host: 1 changed; 1 change" in out, out


def test_a_negative_script_timeout_is_an_options_error(tmp_path: Path) -> None:
    code, out, err = _hvprov("plan", str(SITE), "-i", str(ROOT / "tests" / "data" / "bad" / "hostile" / "_inv.yml"),
                             "--script-timeout", "0", "--lab-dir", str(tmp_path / "lab"), cwd=tmp_path)
    assert code == 5, out + err
    assert "--script-timeout must be a positive number of seconds, got 0.0" in err


def test_yaml_syntax_errors_show_the_line_with_a_caret(tmp_path: Path) -> None:
    book = tmp_path / "broken.yml"
    book.write_text("- name: broken\n  hosts: all\n  tasks:\n    - name: x\n     debug: {msg: hi}\n", encoding="utf-8")
    code, out, err = _hvprov("plan", str(book), "-i", str(ROOT / "tests" / "data" / "inv" / "one.yml"),
                             "--lab-dir", str(tmp_path / "lab"), cwd=tmp_path)
    assert code == 4, out + err
    lines = err.splitlines()
    at = next(i for i, s in enumerate(lines) if s.startswith(f"ERROR: {book}:5:6: YAML syntax error"))
    assert lines[at + 1] == "         debug: {msg: hi}"
    assert lines[at + 2] == "         ^ here"  # under column 6 of the line


def test_lab_profiles_lists_the_simulated_editions(tmp_path: Path) -> None:
    from hvprov.sim.profiles import PROFILES

    code, out, err = _hvprov("lab", "profiles", cwd=tmp_path)
    assert code == 0, err
    names = [line.split()[0] for line in out.splitlines()]
    assert names == sorted(PROFILES) and "2008r2-standard" in names and "hyperv-server-2008r2" in names
    assert "Hyper-V Server 2008 R2 (SKU 42)" in out


def test_the_readme_first_inventory_and_playbook_work_against_the_lab(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Your first inventory and playbook", 1)[1].split("\n## ", 1)[0]
    inventory, playbook = (block.split("\n", 1)[1] for block in section.split("```yaml")[1:3])
    inventory, playbook = inventory.split("```")[0], playbook.split("```")[0]
    lines = [s for s in inventory.splitlines() if not s.strip().startswith(("ansible_host", "ansible_user", "hvprov_"))]
    inventory = "\n".join(lines) + "\n      ansible_connection: sim\n      sim_profile: 2008r2-standard\n"
    (tmp_path / "inventory.yml").write_text(inventory, encoding="utf-8")
    (tmp_path / "site.yml").write_text(playbook, encoding="utf-8")
    args = ["site.yml", "-i", "inventory.yml", "--lab-dir", str(tmp_path / "lab")]
    code, out, err = _hvprov("apply", *args, cwd=tmp_path)
    assert code == 0, out + err
    assert "changed: [hv01] VM web01" in out and "1 host: 1 changed;" in out
    code, out, err = _hvprov("plan", *args, "--detailed-exitcode", cwd=tmp_path)
    assert code == 0, out + err  # converged


def test_a_3000_deep_children_chain_loads_lists_and_runs(tmp_path: Path) -> None:
    """Used to exit 250 (RecursionError): group depth, --graph and --list are iterative now."""
    lines = ["[g0]", "h1 ansible_connection=sim"]
    for i in range(1, 3001):
        lines += [f"[g{i}:children]", f"g{i - 1}"]
    inv = tmp_path / "deep.ini"
    inv.write_text("\n".join(lines) + "\n", encoding="utf-8")
    code, out, err = _hvprov("plan", str(SITE), "-i", str(inv), "--lab-dir", str(tmp_path / "lab"), cwd=tmp_path)
    assert code == 0, out[-2000:] + err
    assert "ok: [h1] debug => hello" in out
    code, out, err = _hvprov("inventory", "-i", str(inv), "--graph", cwd=tmp_path)
    assert code == 0, err
    graph = out.splitlines()
    assert graph[:3] == ["@all:", "  |--@ungrouped:", "  |--@g3000:"] and graph[-1].endswith("|--h1")
    assert len(graph) == 3004 and graph[-1].count("|") == 3002  # ansible-inventory's drawing, 3,001 levels deep
    code, out, err = _hvprov("inventory", "-i", str(inv), "--list", cwd=tmp_path)
    assert code == 0, err
    assert '"g1": {' in out
