"""The Windows collections as the oracle for hvprov's ansible.windows modules.

ansible-core carries no collections; the `ansible` package on PyPI bundles them. `ensure()`
downloads that one wheel (pip's cache keeps it; pip download takes ~1 s here, 54 MB) and
extracts only ansible_collections/ansible/windows and community/windows (~2.8 MB, ~1 s) into
<repo>/.venv-ansible/collections, git-ignored with the oracle venv. ansible 12.3.0 requires
ansible-core ~=2.19.5, matching the oracle's ansible-core 2.19.14. microsoft.hyperv is not part
of the `ansible` package (and not on PyPI): hvprov accepts none of its names.

`docs(names)` is `ansible-doc --json -t module NAMES` with ANSIBLE_COLLECTIONS_PATH set to it.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from . import oracle

ANSIBLE = "ansible==12.3.0"
WANTED = ("ansible_collections/ansible/windows/", "ansible_collections/community/windows/")
ROOT = oracle.VENV / "collections"


def _installed() -> bool:
    stamp = ROOT / "hvdiff-stamp"
    return stamp.exists() and stamp.read_text() == " ".join((ANSIBLE, *WANTED))


def ensure() -> Path:
    """The collections directory (for ANSIBLE_COLLECTIONS_PATH), extracted once under a lock."""
    if _installed():
        return ROOT
    oracle.ensure_venv()
    with open(oracle.REPO / ".venv-ansible.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _installed():
            return ROOT
        with tempfile.TemporaryDirectory() as tmp:
            proc = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", tmp, ANSIBLE],
                                  capture_output=True, text=True, timeout=900)
            wheels = list(Path(tmp).glob("ansible-*.whl"))
            if proc.returncode != 0 or len(wheels) != 1:
                raise oracle.OracleError(f"cannot download {ANSIBLE}: {proc.stderr[-2000:]}")
            with zipfile.ZipFile(wheels[0]) as whl:
                for member in whl.namelist():
                    if member.startswith(WANTED) and not member.endswith("/"):
                        whl.extract(member, ROOT)
        (ROOT / "hvdiff-stamp").write_text(" ".join((ANSIBLE, *WANTED)))
    return ROOT


def docs(names: list[str]) -> dict[str, Any]:
    """Each module's documentation as ansible-doc prints it (doc, return, examples)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    with tempfile.TemporaryDirectory() as home:
        Path(home, "none.cfg").write_text("[defaults]\n")
        env.update({"ANSIBLE_COLLECTIONS_PATH": str(ensure()), "ANSIBLE_HOME": home,
                    "ANSIBLE_CONFIG": str(Path(home, "none.cfg")), "ANSIBLE_NOCOLOR": "1"})
        proc = subprocess.run([str(oracle.ansible_bin("ansible-doc")), "--json", "-t", "module", *names],
                              env=env, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise oracle.OracleError(f"ansible-doc failed: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout)


if __name__ == "__main__":  # scripts/test.sh: set up before the tests run
    print(ensure())
