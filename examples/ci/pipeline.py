"""hvprov as a library in a CI job: build the inventory in code, plan, review, apply.

    python examples/ci/pipeline.py            # against the simulated lab, no setup needed

Exit code: 0 converged, 2 a host failed, 3 a host unreachable (as the CLI).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import hvprov
from hvprov.report.markdown import render_markdown

ROOT = Path(__file__).resolve().parents[2]


def inventory() -> dict:
    """A CI job often knows its hosts from elsewhere (a CMDB, cloud tags): build it in code."""
    hosts = {
        "hv-std01": {"sim_profile": "2008r2-standard"},
        "hv-2019": {"sim_profile": "2019-standard"},
    }
    return {"all": {"vars": {"ansible_connection": "sim", "sim": {"reboot_seconds": 0.5}},
                    "children": {"hyperv_hosts": {"hosts": hosts}, "vm_hosts": {"hosts": dict.fromkeys(hosts)}}}}


def main() -> int:
    lab = Path(tempfile.mkdtemp(prefix="hvprov-lab-"))
    playbook = str(ROOT / "playbooks" / "site.yml")
    extra = {"vm_dir": "C:\\Hyper-V", "vhd_ext": "vhd",
             "vms": [{"name": "ci01", "memory": 1024, "cpus": 1, "disk_size": "20GB", "switch": "Internal"}]}
    events: list[dict] = []
    plan = hvprov.plan(playbook, inventory(), lab_dir=lab, extra_vars=extra, on_event=events.append,
                       out=lab / "plan.json")
    print(render_markdown(plan.to_dict(), title="CI plan"))
    print(f"{len(events)} events; changes pending: {plan.total_changes}", file=sys.stderr)
    if plan.failed:
        return plan.exit_code()
    result = hvprov.apply_plan(lab / "plan.json", lab_dir=lab)
    print(f"changed: {result.changed_hosts}; failed: {result.failed_hosts}", file=sys.stderr)
    return result.exit_code()


if __name__ == "__main__":
    sys.exit(main())
