"""A host's connection settings from its variables, as Ansible resolves connection variables:
templated (the vault pattern `ansible_password: "{{ vault_admin_password }}"`), extra vars
winning over inventory variables; then a password source (env:/file:/prompt) or --ask-pass
when the variables give no password."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .connection import ConnectionSpec
from .inventory import Host
from .templating import Templar

_PREFIXES = ("ansible_", "hvprov_")


def connection_vars(host: Host, extra_vars: Mapping[str, Any], templar: Templar) -> dict[str, Any]:
    merged = {**host.vars, **extra_vars}
    out: dict[str, Any] = {}
    context: dict[str, Any] | None = None  # one per host, not one per variable: Templar never changes it
    for key, value in merged.items():
        if key.startswith(_PREFIXES) or key in ("sim", "sim_profile"):
            if context is None:
                context = {**merged, "inventory_hostname": host.name}
            where = None if key in extra_vars else host.var_sources.get(key)
            out[key] = templar.template(value, context, where, f"hosts.{host.name}.{key}")
    return out


def connection_spec(host: Host, extra_vars: Mapping[str, Any], templar: Templar, *, resolver: Any = None,
                    default_password: Any = None, lock: threading.Lock | None = None) -> ConnectionSpec:
    cvars = connection_vars(host, extra_vars, templar)
    spec = ConnectionSpec.from_vars(host.name, cvars)
    if spec.password is None and spec.kind in ("winrm", "ssh"):
        source = cvars.get("hvprov_password_source")
        if source and resolver is not None:
            where = host.var_sources.get("hvprov_password_source")
            base = Path(where.file).parent if where is not None and where.file and not where.file.startswith("<") else None
            with lock or threading.Lock():
                password = resolver.resolve(str(source), where=where, base_dir=base)
            spec = dataclasses.replace(spec, password=password)
        elif default_password is not None:
            spec = dataclasses.replace(spec, password=default_password)
    return spec
