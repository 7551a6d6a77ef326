"""Controller instructions per no-change WinRM host, counted by valgrind (callgrind): the figure
bench/winrm_cpu.py measures in CPU time, in a count that the machine's load does not move.

    .venv/bin/python bench/winrm_instructions.py [--hosts 200] [--small 40] [--tree DIR ...]

Converges N simulated hosts and serves them over http+NTLM from bench/labserve.py in another
process (not under valgrind), as bench/winrm_cpu.py does. Then, for each tree (default: this
checkout), runs the no-change apply of the site playbook (--skip-tags network,vms, forks 20) in a
fresh interpreter under `valgrind --tool=callgrind`, once over the first --small hosts and once
over all --hosts (`limit` all[0:K]). The difference over the difference in hosts is the
**marginal** instructions per host (what one more host costs); the rest of the larger run is the
run's fixed part (interpreter start, imports, inventory and playbook loading, template
compilation), reported beside it, with the whole run over its hosts. Valgrind runs one thread at
a time, so the count has no lock contention in it; it counts instructions, not time (cache misses
are not in it): it ranks cuts, the time figures stay bench/winrm_cpu.py's.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import PY, callgrind, converged_fleet, emit  # noqa: E402
from run import SITE, LabProcess  # noqa: E402

DRIVER = """
import sys
sys.path.insert(0, sys.argv[1])
import hvprov
n = int(sys.argv[4])
if n:
    r = hvprov.run(sys.argv[2], sys.argv[3], mode="apply", forks=20, skip_tags=("network", "vms"),
                   lab_dir=sys.argv[5], limit=f"all[0:{n - 1}]")
    bad = {h: x.status for h, x in r.hosts.items() if x.status != "ok"}
    assert len(r.hosts) == n and not bad, (len(r.hosts), bad)
    changes = sum(len(t.changes) for x in r.hosts.values() for t in x.tasks)
    assert changes == 0, changes
"""


def instructions(tree: Path, inventory: str, lab: Path, hosts: int) -> int:
    return callgrind(["-c", DRIVER, str(tree), str(SITE), inventory, str(hosts), str(lab)],
                     timeout=3600, extra=["--callgrind-out-file=/dev/null"])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tree", action="append", help="a checkout of hvprov (repeatable; default: this one)")
    ap.add_argument("--hosts", type=int, default=200)
    ap.add_argument("--small", type=int, default=40)
    ap.add_argument("--json", help="write the figures here")
    args = ap.parse_args()
    if not 0 < args.small < args.hosts:
        ap.error("--small must be between 0 and --hosts")
    trees = [Path(t).resolve() for t in (args.tree or [Path(__file__).resolve().parent.parent])]
    t0 = time.time()
    out: dict[str, object] = {"hosts": args.hosts, "small": args.small, "trees": {}}
    with tempfile.TemporaryDirectory(prefix="hvprov-winrm-ins-") as tmp:
        work = Path(tmp)
        inv, lab = converged_fleet(work, args.hosts)
        labp = LabProcess(inv, lab, 0.0)
        try:
            winrm_inv = labp.state["inventory"]
            for tree in trees:  # bytecode compiled first: a run that compiles its imports counts that too
                subprocess.run([PY, "-m", "compileall", "-q", str(tree / "hvprov")], capture_output=True,
                               env={k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"})
                ctl = work / f"ctl-{len(out['trees'])}"  # type: ignore[arg-type]
                counts = {k: instructions(tree, winrm_inv, ctl, k) for k in (0, args.small, args.hosts)}
                marginal = (counts[args.hosts] - counts[args.small]) / (args.hosts - args.small)
                fig = {
                    "interpreter_and_import_hvprov_M": round(counts[0] / 1e6, 1),
                    "run_fixed_M": round((counts[args.small] - counts[0] - args.small * marginal) / 1e6, 1),
                    "marginal_per_host_M": round(marginal / 1e6, 3),
                    "whole_process_per_host_M": round(counts[args.hosts] / args.hosts / 1e6, 3),
                    "counts": counts,
                }
                out["trees"][str(tree)] = fig  # type: ignore[index]
                print(json.dumps({"tree": str(tree), **fig}), flush=True)
        finally:
            labp.stop()
    emit(out, args.json, t0)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
