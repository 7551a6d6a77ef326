"""Instructions per host of the WinRM transport alone, counted by valgrind (callgrind): a figure
the machine's load does not move, to compare transport variants (bench/winrm_cpu.py VARIANTS) or
two trees of hvprov.

    .venv/bin/python bench/winrm_instr.py --variants lean,lean-xyz [--tree DIR ...] [--hosts 40]

Serves N simulated hosts over http+NTLM from bench/labserve.py in another process (not counted),
then for each (tree, variant), in a fresh interpreter under ``valgrind --tool=callgrind``: select
the variant (bench/winrm_cpu.py _select_path), open / run ``Write-Output 'ok'`` / close on a few
hosts to warm up, then on --hosts others, as bench/winrm_cpu.py --transport-only does. The count
starts at the loop (callgrind ``--zero-before=os_getppid``, the driver calls os.getppid() just
before it) and ends with it (os._exit): start-up, imports and warm-up are not in it; divided by
the hosts. It counts user-space instructions: the kernel's work for the system calls and the
waits are not in it (bench/winrm_cpu.py's CPU figures are).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import PY, ROOT, fleet_inventory, write_yaml  # noqa: E402
from run import LabProcess  # noqa: E402

DRIVER = """
import dataclasses, sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
sys.path.insert(0, sys.argv[1] + "/bench")
import yaml
import winrm_cpu
from hvprov.connection import ConnectionSpec
from hvprov.transports.winrm import WinRMTransport
winrm_cpu._select_path(sys.argv[3])
hosts = yaml.safe_load(Path(sys.argv[2]).read_text())["all"]["hosts"]
cache = {}
specs = [dataclasses.replace(ConnectionSpec.from_vars(n, dict(v)), credential_cache=cache) for n, v in hosts.items()]
warm, count = int(sys.argv[4]), int(sys.argv[5])
def one(spec):
    t = WinRMTransport(spec)
    t.open()
    res = t.run("Write-Output 'ok'")
    t.close()
    assert res.stdout, res
for spec in specs[:warm]:
    one(spec)
import os
os.getppid()  # callgrind zeroes its counts here
for spec in specs[warm:warm + count]:
    one(spec)
sys.stdout.flush()
os._exit(0)
"""


def instructions(tree: Path, inventory: str, variant: str, warm: int, count: int, out: Path,
                 keep: Path | None = None) -> int:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"} | {"PYTHONHASHSEED": "0"}
    proc = subprocess.run(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", "--zero-before=os_getppid", PY, "-c", DRIVER,
         str(tree), inventory, variant, str(warm), str(count)],
        capture_output=True, text=True, env=env, timeout=3600, cwd=tempfile.gettempdir(),
    )
    found = re.search(r"^totals: (\d+)", out.read_text() if out.exists() else "", re.M)
    if proc.returncode != 0 or not found:
        raise RuntimeError(f"valgrind run failed ({proc.returncode}): {proc.stderr[-2500:]}")
    if keep is not None:
        shutil.move(str(out), str(keep))
    else:
        out.unlink()
    return int(found.group(1))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tree", action="append", help="a checkout of hvprov (repeatable; default: this one)")
    ap.add_argument("--variants", default="lean")
    ap.add_argument("--hosts", type=int, default=40, help="hosts counted")
    ap.add_argument("--warm", type=int, default=3, help="hosts before the count starts")
    ap.add_argument("--repeats", type=int, default=1, help="runs per tree and variant, alternated")
    ap.add_argument("--keep", help="keep the last run's callgrind output here (for callgrind_annotate)")
    args = ap.parse_args()
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        return 2
    trees = [Path(t).resolve() for t in (args.tree or [str(ROOT)])]
    with tempfile.TemporaryDirectory(prefix="hvprov-winrm-instr-") as tmp:
        work = Path(tmp)
        (work / "lab").mkdir()
        inv = write_yaml(work / "fleet-sim.yml", fleet_inventory(args.warm + args.hosts))
        labp = LabProcess(inv, work / "lab", 0.0)
        try:
            winrm_inv = labp.state["inventory"]
            for _ in range(args.repeats):
                for tree in trees:
                    for variant in args.variants.split(","):
                        total = instructions(tree, winrm_inv, variant, args.warm, args.hosts, work / "callgrind.out",
                                             Path(args.keep).resolve() if args.keep else None)
                        row = {"tree": str(tree), "variant": variant, "hosts": args.hosts,
                               "instructions_per_host": round(total / args.hosts)}
                        print(json.dumps(row), flush=True)
        finally:
            labp.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
