"""Worker processes vs threads on the 1,000-host simulated fleet (issue 15 item 2), side by side.

Runs the CLI (`hvprov plan|apply playbooks/site.yml --skip-tags network,vms`) on N sim hosts
with `--workers 1` (threads only) and `--workers 2`, interleaved, the same number of
repetitions each, a fresh lab directory per run; records wall, CPU (the run and its worker
processes, via wait4), the 1-minute load average and CPU steal (/proc/stat) before and during
each run: the machine is shared, so every figure carries the load it was measured under.

    .venv/bin/python bench/workers_fleet.py [--hosts 1000] [--forks 50] [--reps 2]  -> bench/workers.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import fleet_inventory, loadavg, machine, run_measured, write_yaml  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "playbooks" / "site.yml"
PY = sys.executable


def cpu_ticks() -> tuple[int, int]:
    """(all ticks, steal ticks) of the machine, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return sum(fields), fields[7] if len(fields) > 7 else 0


def one(mode: str, workers: int, inv: Path, forks: int, work: Path, tag: str) -> dict[str, object]:
    lab = work / f"lab-{tag}"
    t0, s0, load0 = *cpu_ticks(), loadavg()
    r = run_measured([PY, "-m", "hvprov", mode, str(SITE), "-i", str(inv), "--lab-dir", str(lab), "--skip-tags",
                      "network,vms", "-f", str(forks), "--workers", str(workers), "--format", "json"], timeout=1200)
    t1, s1 = cpu_ticks()
    summary = json.loads(r.stdout)["summary"] if r.stdout.strip().startswith("{") else {"rc": r.rc, "err": r.stderr[-500:]}
    return {"mode": mode, "workers": workers, "wall_s": round(r.wall, 2), "cpu_s": round(r.cpu, 2), "rc": r.rc,
            "summary": summary, "loadavg_1m_before_after": [load0, loadavg()],
            "steal_pct": round(100.0 * (s1 - s0) / max(1, t1 - t0), 2)}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hosts", type=int, default=1000)
    ap.add_argument("--forks", type=int, default=50)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--modes", default="plan,apply")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "workers.json"))
    args = ap.parse_args()
    runs = []
    with tempfile.TemporaryDirectory(prefix="hvprov-workers-") as tmp:
        work = Path(tmp)
        inv = write_yaml(work / "fleet.yml", fleet_inventory(args.hosts))
        for rep in range(args.reps):
            for mode in args.modes.split(","):
                for workers in (1, 2) if rep % 2 == 0 else (2, 1):  # interleaved, alternating order
                    fig = one(mode, workers, inv, args.forks, work, f"{mode}-{workers}-{rep}")
                    print(json.dumps(fig), flush=True)
                    runs.append(fig)
    doc = {"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "machine": machine(), "hosts": args.hosts,
           "forks": args.forks, "reps": args.reps,
           "playbook": "playbooks/site.yml --skip-tags network,vms (facts, prereqs, role, reboot 0.2 s sim)",
           "note": "shared 2-core machine: read each figure with its load average and steal", "runs": runs}
    Path(args.out).write_text(json.dumps(doc, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
