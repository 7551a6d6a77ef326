"""The engine side of a no-change WinRM run, apart from the transport: instructions per host.

    .venv/bin/python bench/winrm_replay.py [--hosts 41] [--small 11] [--tree DIR ...] [--keep FILE] [--inline]

Converges --hosts simulated hosts, serves them over http+NTLM (bench/labserve.py, as
bench/winrm_instructions.py) and runs the no-change apply of the site playbook (--skip-tags
network,vms) once over WinRM, recording every host's ExecResults (what `WinRMTransport._exec`
returned: stdout, stderr, exit code). Then, for each tree, runs the same apply in a fresh
interpreter under callgrind with `WinRMTransport._exec` answering from that record and
`open`/`close` doing nothing: no network, no NTLM, no XML; everything above the transport seam
(script rendering, result parsing, facts typing, task execution, events with their secret
scrubbing). One fork (one worker thread), PYTHONHASHSEED=0 (the same dict layouts run to run),
a 1-host run first (imports and first use), then --small and then --hosts hosts in the same
process: (count(1 + hosts) - count(1 + small)) / (hosts - small) is the marginal instructions per
host. The record is the transport's answers for those hosts, not a model: a tree whose scripts
differ from the record's still gets the recorded answers (the count then says nothing).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import PY, callgrind, converged_fleet, emit  # noqa: E402
from run import SITE, LabProcess  # noqa: E402

RECORD = """
import pickle, sys, threading
sys.path.insert(0, sys.argv[1])
import hvprov
from hvprov.transports import winrm
record, lock, real = {}, threading.Lock(), winrm.WinRMTransport._exec
def _exec(self, line, stdin, timeout):
    res = real(self, line, stdin, timeout)
    with lock:
        record.setdefault(self.spec.name, []).append(res)
    return res
winrm.WinRMTransport._exec = _exec
r = hvprov.run(sys.argv[2], sys.argv[3], mode="apply", forks=20, skip_tags=("network", "vms"), lab_dir=sys.argv[4])
assert r.hosts and all(h.status == "ok" for h in r.hosts.values()), {n: h.status for n, h in r.hosts.items()}
with open(sys.argv[5], "wb") as f:
    pickle.dump(record, f)
"""

REPLAY = """
import pickle, sys
sys.path.insert(0, sys.argv[1])
import hvprov
from hvprov.transports import winrm
with open(sys.argv[5], "rb") as f:
    record = pickle.load(f)
at = {}
def _exec(self, line, stdin, timeout):
    answers = record[self.spec.name]
    i = at.get(self.spec.name, 0)
    at[self.spec.name] = i + 1
    return answers[i % len(answers)]
winrm.WinRMTransport._exec = _exec
winrm.WinRMTransport.open = lambda self: None
winrm.WinRMTransport.close = lambda self: None
from concurrent.futures import Future, ThreadPoolExecutor
class Inline(ThreadPoolExecutor):  # the runner's thread path, each call run at once in this thread
    def submit(self, fn, /, *args, **kwargs):
        f = Future()
        try:
            f.set_result(fn(*args, **kwargs))
        except BaseException as exc:
            f.set_exception(exc)
        return f
inline = sys.argv[6] == "inline"
for n in (1, *map(int, sys.argv[7:])):
    at.clear()
    r = hvprov.run(sys.argv[2], sys.argv[3], mode="apply", forks=1, skip_tags=("network", "vms"), lab_dir=sys.argv[4],
                   limit=f"all[0:{n - 1}]", on_event=lambda e: None, **({"executor": Inline(1)} if inline else {}))
    assert len(r.hosts) == n and all(h.status == "ok" for h in r.hosts.values())
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tree", action="append", help="a checkout of hvprov (repeatable; default: this one)")
    ap.add_argument("--hosts", type=int, default=41)
    ap.add_argument("--small", type=int, default=11)
    ap.add_argument("--keep", help="keep the record (pickle) here")
    ap.add_argument("--json", help="write the figures here")
    ap.add_argument("--inline", action="store_true",
                    help="run each host's calls in the main thread (bench/worker.py's InlineThreadExecutor): no "
                         "thread hand-offs, whose instructions vary with the machine's timing (+-0.1 M per host "
                         "between two runs of one tree with threads); for A/B of a cut")
    args = ap.parse_args()
    if not 0 < args.small < args.hosts:
        ap.error("--small must be between 0 and --hosts")
    trees = [Path(t).resolve() for t in (args.tree or [Path(__file__).resolve().parent.parent])]
    t0 = time.time()
    out: dict[str, object] = {"hosts": args.hosts, "small": args.small, "trees": {}}
    with tempfile.TemporaryDirectory(prefix="hvprov-winrm-replay-") as tmp:
        work = Path(tmp)
        inv, lab = converged_fleet(work, args.hosts)
        record = Path(args.keep) if args.keep else work / "record.pkl"
        labp = LabProcess(inv, lab, 0.0)
        try:
            winrm_inv = labp.state["inventory"]
            rec = subprocess.run([PY, "-c", RECORD, str(trees[0]), str(SITE), winrm_inv, str(work / "ctl-rec"),
                                  str(record)], capture_output=True, text=True, timeout=900)
            if rec.returncode != 0:
                raise RuntimeError(f"recording failed: {rec.stderr[-2000:]}")
        finally:
            labp.stop()
        with record.open("rb") as f:
            out["requests_recorded"] = sum(len(v) for v in pickle.load(f).values())
        os.environ["PYTHONHASHSEED"] = "0"
        for i, tree in enumerate(trees):
            subprocess.run([PY, "-m", "compileall", "-q", str(tree / "hvprov")], capture_output=True,
                           env={k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"})
            counts = {}
            for n in (args.small, args.hosts):
                counts[n] = callgrind(["-c", REPLAY, str(tree), str(SITE), winrm_inv, str(work / f"ctl-{i}"),
                                       str(record), "inline" if args.inline else "threads", str(n)], timeout=3600,
                                      extra=["--callgrind-out-file=/dev/null"])
            fig = {"engine_marginal_per_host_M": round((counts[args.hosts] - counts[args.small])
                                                       / (args.hosts - args.small) / 1e6, 3), "counts": counts}
            out["trees"][str(tree)] = fig  # type: ignore[index]
            print(json.dumps({"tree": str(tree), **fig}), flush=True)
    emit(out, args.json, t0)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
