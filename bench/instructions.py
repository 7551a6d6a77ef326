"""Instructions per host-task of the engine, counted by valgrind (callgrind): a figure that the
machine's load and speed do not move, to compare two trees or two commits of hvprov.

    .venv/bin/python bench/instructions.py [--tree DIR ...] [--hosts 200] [--tasks 10]

For each tree (default: this checkout), in a fresh interpreter under `valgrind --tool=callgrind`:
import hvprov from that tree, run the engine section's workload (bench/benchlib.py
engine_playbook / engine_inventory: debug, set_fact, assert on sim hosts, forks 1) once, and
again with two more runs; the difference over two runs is one warm run's instructions, divided
by the host-tasks. The CPU-time figures of bench/run.py vary by 30-50 % on this machine from one
minute to the next (a fixed Python loop: 0.30-0.48 s); this count repeats to within a few
tenths of a percent. It counts instructions, not time: cache misses and the memory system are
not in it, so it ranks cuts; the time figures stay bench/run.py's.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import PY, ROOT, callgrind, engine_inventory, engine_playbook, write_yaml  # noqa: E402

DRIVER = """
import sys
sys.path.insert(0, sys.argv[1])
import hvprov
for _ in range(int(sys.argv[4])):
    r = hvprov.run(sys.argv[2], sys.argv[3], forks=1, lab_dir=sys.argv[5])
    assert not r.failed, r.summary()
"""


def instructions(tree: Path, playbook: Path, inventory: Path, lab: Path, runs: int) -> int:
    return callgrind(["-c", DRIVER, str(tree), str(playbook), str(inventory), str(runs), str(lab)],
                     timeout=1800, extra=["--callgrind-out-file=/dev/null"])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tree", action="append", help="a checkout of hvprov (repeatable; default: this one)")
    ap.add_argument("--hosts", type=int, default=200)
    ap.add_argument("--tasks", type=int, default=10)
    args = ap.parse_args()
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        return 2
    trees = [Path(t).resolve() for t in (args.tree or [str(ROOT)])]
    out = []
    with tempfile.TemporaryDirectory(prefix="hvprov-instr-") as tmp:
        work = Path(tmp)
        book = write_yaml(work / "playbook.yml", engine_playbook(args.tasks))
        inv = write_yaml(work / "inventory.yml", engine_inventory(args.hosts, args.tasks, tool="hvprov"))
        for tree in trees:
            subprocess.run([PY, "-m", "compileall", "-q", str(tree / "hvprov")], capture_output=True,
                           env={k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"})
            one = instructions(tree, book, inv, work / "lab", 1)
            three = instructions(tree, book, inv, work / "lab", 3)
            row = {"tree": str(tree), "host_tasks": args.hosts * args.tasks, "first_run_with_import": one,
                   "instructions_per_host_task": round((three - one) / 2 / (args.hosts * args.tasks))}
            out.append(row)
            print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
