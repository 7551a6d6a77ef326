#!/usr/bin/env python3
"""An inventory script as Ansible's script plugin runs it (--list, --host NAME)."""
import json
import sys

DOC = {
    "hyperv": {"hosts": ["hv01", "hv02"], "vars": {"vm_dir": "D:\\VMs"}, "children": ["legacy"]},
    "legacy": {"hosts": ["hv03"]},
    "web": ["www1"],
    "_meta": {"hostvars": {"hv01": {"ansible_host": "10.0.0.1", "cores": 8}, "hv03": {"old": True}}},
}
if sys.argv[1:] == ["--list"]:
    print(json.dumps(DOC))
elif sys.argv[1:2] == ["--host"]:
    print(json.dumps(DOC["_meta"]["hostvars"].get(sys.argv[2], {})))
else:
    sys.exit("usage: inventory.py --list | --host NAME")
