"""ansible-core as the oracle: its own venv at <repo>/.venv-ansible (never a dependency of hvprov).

`ansible_bin()` creates the venv when missing (scripts/test.sh does it up front for CI), then
every call runs a fresh process: nothing is cached between runs that could hide a difference.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
VENV = REPO / ".venv-ansible"
ANSIBLE_CORE = "ansible-core==2.19.14"
# passlib: what ansible-core's password_hash uses when present (as on most controllers).
EXTRA = ("passlib==1.7.4", "tomli-w==1.2.0")


class OracleError(RuntimeError):
    pass


def _installed() -> bool:
    stamp = VENV / "hvdiff-stamp"
    return (VENV / "bin" / "ansible-playbook").exists() and stamp.exists() and \
        stamp.read_text() == " ".join((ANSIBLE_CORE, *EXTRA))


def ensure_venv() -> Path:
    """The oracle venv, created (under a lock, once) when missing or of another version."""
    if _installed():
        return VENV
    VENV.parent.mkdir(parents=True, exist_ok=True)
    with open(REPO / ".venv-ansible.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _installed():
            if not (VENV / "bin" / "python").exists():
                subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True, timeout=300)
            proc = subprocess.run([str(VENV / "bin" / "python"), "-m", "pip", "install", "-q", ANSIBLE_CORE, *EXTRA],
                                  capture_output=True, text=True, timeout=900)
            if proc.returncode != 0:
                raise OracleError(f"cannot install {ANSIBLE_CORE} into {VENV}: {proc.stderr[-2000:]}")
            (VENV / "hvdiff-stamp").write_text(" ".join((ANSIBLE_CORE, *EXTRA)))
    return VENV


def ansible_bin(name: str = "ansible-playbook") -> Path:
    return ensure_venv() / "bin" / name


def python_bin() -> Path:
    return ensure_venv() / "bin" / "python"


def _env(home: Path, out: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update({
        "ANSIBLE_HOME": str(home), "ANSIBLE_LOCAL_TEMP": str(home / "tmp"),
        "ANSIBLE_REMOTE_TEMP": str(home / "rtmp"),
        "ANSIBLE_CONFIG": str(home / "none.cfg"),  # no ansible.cfg from the cwd or ~
        "ANSIBLE_STDOUT_CALLBACK": "hvdiff", "ANSIBLE_CALLBACK_PLUGINS": str(HERE / "callback_plugins"),
        "ANSIBLE_PYTHON_INTERPRETER": str(VENV / "bin" / "python"),
        "ANSIBLE_RETRY_FILES_ENABLED": "0", "ANSIBLE_NOCOLOR": "1", "ANSIBLE_DEPRECATION_WARNINGS": "0",
        "ANSIBLE_LOCALHOST_WARNING": "0", "ANSIBLE_HOST_KEY_CHECKING": "0", "ANSIBLE_GATHERING": "explicit",
        "HVDIFF_OUT": str(out),
    })
    return env


def run_case(case_dir: Path, workdir: Path, case: dict[str, Any]) -> dict[str, Any]:
    """One ansible-playbook process for one case on local-connection hosts; its events as JSON."""
    play_dir = workdir / "case"
    shutil.copytree(case_dir, play_dir)
    home = workdir / "ansible-home"
    home.mkdir()
    (home / "none.cfg").write_text("[defaults]\n")
    out = workdir / "events.json"
    cmd = [str(ansible_bin()), "-i", "inventory.yml", "-c", "local", "playbook.yml"]
    if case.get("extra_vars"):
        ev = workdir / "extra_vars.json"
        ev.write_text(json.dumps(case["extra_vars"]))
        cmd += ["-e", f"@{ev}"]
    if case.get("limit"):
        cmd += ["--limit", str(case["limit"])]
    if case.get("diff"):
        cmd += ["--diff"]
    if "vault_password" in case:
        pw = workdir / "vault-password"
        pw.write_text(str(case["vault_password"]) + "\n")
        cmd += ["--vault-password-file", str(pw)]
    proc = subprocess.run(cmd, cwd=play_dir, env=_env(home, out), capture_output=True, text=True, timeout=300)
    if not out.exists():
        raise OracleError(f"ansible-playbook wrote no events (rc {proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    doc = json.loads(out.read_text())
    doc["rc"] = proc.returncode
    doc["stderr"] = proc.stderr[-3000:]
    return doc


_EVAL = r'''
import json, sys
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template
from ansible.utils.collection_loader._collection_finder import _AnsibleCollectionFinder
_AnsibleCollectionFinder(paths=[])._install()  # as the CLI does: makes ansible.builtin.* names resolvable
req = json.load(sys.stdin)
loader = DataLoader()
loader.set_basedir(req["basedir"])
out = []
for entry in req["entries"]:
    variables = dict(req["vars"])
    variables.update(entry.get("vars") or {})
    templar = Templar(loader=loader, variables=variables)
    try:
        value = templar.template(trust_as_template(entry["template"]))
        out.append({"value": json.loads(json.dumps(value, default=repr))})
    except Exception as exc:
        out.append({"error": type(exc).__name__ + ": " + str(exc).splitlines()[0] if str(exc) else type(exc).__name__})
json.dump(out, sys.stdout)
'''


def eval_templates(entries: list[dict[str, Any]], variables: dict[str, Any], basedir: Path,
                   extra_env: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Every entry's template through ansible-core's Templar, in ONE oracle process."""
    with tempfile.TemporaryDirectory() as home:
        env = {**_env(Path(home), Path(home) / "unused"), **(extra_env or {})}
        (Path(home) / "none.cfg").write_text("[defaults]\n")
        proc = subprocess.run([str(python_bin()), "-c", _EVAL], input=json.dumps(
            {"entries": entries, "vars": variables, "basedir": str(basedir)}),
            cwd=basedir, env=env, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise OracleError(f"oracle templar failed: {proc.stderr[-3000:]}")
    return json.loads(proc.stdout)


_NAMES = r'''
import importlib, json, os
import ansible.plugins.lookup as lk
out = {"filters": [], "tests": [], "lookups": []}
for mod in ("core", "mathstuff", "urls", "urlsplit", "encryption"):
    out["filters"] += list(importlib.import_module("ansible.plugins.filter." + mod).FilterModule().filters())
for mod in ("core", "files", "mathstuff", "uri"):
    out["tests"] += list(importlib.import_module("ansible.plugins.test." + mod).TestModule().tests())
out["lookups"] = sorted(f[:-3] for f in os.listdir(os.path.dirname(lk.__file__)) if f.endswith(".py") and f != "__init__.py")
print(json.dumps(out))
'''


def builtin_names() -> dict[str, list[str]]:
    """The names ansible-core's own ansible.builtin filter, test and lookup plugins define."""
    proc = subprocess.run([str(python_bin()), "-c", _NAMES], capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise OracleError(f"cannot list ansible.builtin plugins: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout)
