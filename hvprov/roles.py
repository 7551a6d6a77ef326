"""Roles as ansible-core lays them out and finds them.

A role is a directory ``<name>/`` with ``tasks/main.yml``, ``handlers/main.yml``,
``defaults/main.yml``, ``vars/main.yml``, ``meta/main.yml`` (``dependencies``), ``files/`` and
``templates/``. It is found in ``<playbook dir>/roles``, then in the configured roles path
(`roles_path`, ``ANSIBLE_ROLES_PATH``), then in the playbook directory itself. Dependencies run
first; a role runs once per play with the same parameters unless ``allow_duplicates: true``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .errors import Location, PlaybookError
from .taskargs import split_args
from .tasktree import Node, RoleInfo, Task
from .templating import Templar
from .yamlsrc import load_yaml, location_of

ENTRY_KEYS = {"role", "name", "when", "tags", "vars", "become", "ignore_errors", "any_errors_fatal", "no_log",
              "environment", "check_mode", "diff"}
ROLE_TASK_ARGS = {"name", "tasks_from", "defaults_from", "vars_from", "handlers_from", "public", "allow_duplicates",
                  "rolespec_validate"}


def default_roles_path() -> list[Path]:
    env = os.environ.get("ANSIBLE_ROLES_PATH")
    if env:
        return [Path(p).expanduser() for p in env.split(os.pathsep) if p]
    return [Path("~/.ansible/roles").expanduser(), Path("/usr/share/ansible/roles"), Path("/etc/ansible/roles")]


class RoleLoader:
    def __init__(self, roles_path: Sequence[Path] | None = None) -> None:
        self.roles_path = list(roles_path) if roles_path is not None else default_roles_path()
        self.seen: set[tuple[str, str]] = set()  # (role path, params) already in this play

    def new_play(self) -> None:
        self.seen = set()

    def find(self, loader: Any, name: str) -> Path | None:
        p = Path(name).expanduser()
        if "/" in name or p.is_absolute():
            cands = [p if p.is_absolute() else loader.playbook_dir / p]
        else:
            cands = [loader.playbook_dir / "roles" / name, *(d / name for d in self.roles_path), loader.playbook_dir / name]
        return next((c for c in cands if c.is_dir()), None)

    def _vars_file(self, loader: Any, path: Path, what: str) -> dict[str, Any]:
        """defaults/vars/meta `main.yml` (or `.yaml`, or no extension), or a `main/` directory of
        YAML files merged in name order, as ansible-core reads them."""
        folder = path.with_suffix("")
        if folder.is_dir():
            merged: dict[str, Any] = {}
            for f in sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in (".yml", ".yaml", ".json")):
                merged.update(self._vars_file(loader, f, what))
            return merged
        for cand in (path, path.with_suffix(".yaml"), path.with_suffix("")):
            if cand.is_file():
                try:
                    data = load_yaml(cand, PlaybookError, loader.vault)
                except PlaybookError as exc:
                    loader.problems.append(exc)
                    return {}
                loader.files.append(str(cand))
                if data is None:
                    return {}
                if not isinstance(data, Mapping):
                    loader.err(f"role {what} must be a mapping, got {type(data).__name__}", Location(str(cand)), what)
                    return {}
                return dict(data)
        return {}

    def load(self, loader: Any, name: Any, where: Location | None, fpath: str, params: Mapping[str, Any],
             scope: Any, public: bool, froms: Mapping[str, str] | None = None, depth: int = 0) -> tuple[list[Node], RoleInfo | None]:
        """The role's nodes (dependencies first) and its RoleInfo; handlers go to loader.handlers."""
        if not isinstance(name, str) or not name or Templar.is_template(name):
            loader.err(f"a role needs a literal name, got {name!r}", where, fpath)
            return [], None
        if depth > 10:
            loader.err(f"role dependencies nested too deep at {name!r} (a dependency loop?)", where, fpath)
            return [], None
        path = self.find(loader, name)
        if path is None:
            searched = [str(loader.playbook_dir / "roles"), *map(str, self.roles_path), str(loader.playbook_dir)]
            loader.err(f"role {name!r} not found (searched {', '.join(searched)})", where, fpath)
            return [], None
        froms = froms or {}
        meta = self._vars_file(loader, path / "meta" / "main.yml", "meta/main.yml")
        if meta.get("argument_specs") or any((path / "meta" / f).is_file() for f in ("argument_specs.yml", "argument_specs.yaml")):
            loader.err(f"role {name!r} has argument_specs: ansible-core validates role arguments against them "
                       "(an extra task); hvprov does not yet", where, fpath)
        dep_nodes: list[Node] = []
        defaults: dict[str, Any] = {}
        rvars: dict[str, Any] = {}
        for i, dep in enumerate(meta.get("dependencies") or []):
            dname, dparams, dscope = self.entry(loader, dep, Location(str(path / "meta" / "main.yml")),
                                                f"{path.name}.meta.dependencies[{i}]", scope)
            nodes, info = self.load(loader, dname, Location(str(path / "meta" / "main.yml")),
                                    f"{path.name}.meta.dependencies[{i}]", dparams, dscope, public, depth=depth + 1)
            dep_nodes += nodes
            if info is not None:
                defaults.update(info.defaults)
                rvars.update(info.vars)
        defaults.update(self._vars_file(loader, path / "defaults" / froms.get("defaults_from", "main.yml"), "defaults"))
        rvars.update(self._vars_file(loader, path / "vars" / froms.get("vars_from", "main.yml"), "vars"))
        info = RoleInfo(name=path.name, path=str(path.resolve()), defaults=defaults, vars=rvars,
                        params=dict(params), public=public)
        key = (info.path, repr(sorted(params.items(), key=lambda kv: str(kv[0]))) + froms.get("tasks_from", ""))
        if key in self.seen and not meta.get("allow_duplicates"):
            return dep_nodes, info
        self.seen.add(key)
        inner = dataclasses.replace(scope, base=path / "tasks", role=info, depth=scope.depth + 1)
        nodes: list[Node] = list(dep_nodes)
        tasks_file = path / "tasks" / froms.get("tasks_from", "main.yml")
        if tasks_file.suffix == "" or not tasks_file.is_file():
            tasks_file = next((c for c in (tasks_file, tasks_file.with_suffix(".yml"), tasks_file.with_suffix(".yaml"))
                               if c.is_file()), tasks_file)
        if tasks_file.is_file():
            nodes += self._file_nodes(loader, tasks_file, inner)
        elif "tasks_from" in froms:
            loader.err(f"role {name!r} has no tasks file {froms['tasks_from']}", where, fpath)
        hfile = path / "handlers" / froms.get("handlers_from", "main.yml")
        if hfile.is_file():
            hscope = dataclasses.replace(inner, handler=True)
            for h in self._file_nodes(loader, hfile, hscope):
                if isinstance(h, Task):
                    loader.handlers.append(dataclasses.replace(h, listen=h.listen + (f"{info.name} : {h.name}",)))
        if public:
            loader.public_roles.append(info)
        return nodes, info

    def _file_nodes(self, loader: Any, path: Path, scope: Any) -> list[Node]:
        try:
            data = load_yaml(path, PlaybookError, loader.vault)
        except PlaybookError as exc:
            loader.problems.append(exc)
            return []
        loader.files.append(str(path))
        return list(loader.tasks(data, Location(str(path)), loader.rel(path), scope))

    def entry(self, loader: Any, raw: Any, where: Location | None, fpath: str, scope: Any) -> tuple[Any, dict[str, Any], Any]:
        """A `roles:` / dependencies entry: (name, params, scope with its when/tags)."""
        if isinstance(raw, str):
            return raw, {}, scope
        if not isinstance(raw, Mapping):
            loader.err(f"a role entry is a name or a mapping, got {type(raw).__name__}", where, fpath)
            return None, {}, scope
        name = raw.get("role", raw.get("name"))
        params = {k: v for k, v in raw.items() if k not in ENTRY_KEYS}
        params.update(loader.mapping(raw, "vars", fpath))
        inner = loader.inherit({k: v for k, v in raw.items() if k != "vars"}, fpath, scope)
        return name, params, inner

    # -- tasks that bring roles ------------------------------------------------
    def _task_args(self, loader: Any, raw: Mapping[str, Any], key: str, fpath: str) -> dict[str, Any] | None:
        args = raw[key]
        if isinstance(args, str):  # ansible-core parses the string as k=v (`name=web tasks_from=x`)
            parts = [p.partition("=") for p in split_args(args)] if "=" in args else []
            if not parts or any(not sep for _, sep, _ in parts):
                loader.err(f"{key} needs name: <role> (the string form is key=value, e.g. {key}: name=web)",
                           location_of(raw, key), f"{fpath}.{key}")
                return None
            args = {k: v for k, _, v in parts}
        if not isinstance(args, Mapping) or "name" not in args:
            loader.err(f"{key} needs name: <role>", location_of(raw, key), f"{fpath}.{key}")
            return None
        for k in args:
            if k not in ROLE_TASK_ARGS:
                loader.err(f"unknown argument {k!r} for {key}", location_of(args, k), f"{fpath}.{key}.{k}")
        return dict(args)

    def import_role(self, loader: Any, raw: Mapping[str, Any], key: str, where: Location | None, fpath: str,
                    scope: Any) -> list[Node]:
        args = self._task_args(loader, raw, key, fpath)
        for k in raw:
            if k in ("loop", "with_items", "with_list"):
                loader.err("import_role cannot loop (it is static): use include_role", location_of(raw, k), f"{fpath}.{k}")
        if args is None:
            return []
        froms = {k: str(v) for k, v in args.items() if k.endswith("_from")}
        nodes, _ = self.load(loader, args["name"], location_of(raw, key), f"{fpath}.{key}", {},
                             loader.inherit(raw, fpath, scope), public=True, froms=froms)
        return nodes

    def include_role(self, loader: Any, raw: Mapping[str, Any], key: str, where: Location | None, fpath: str,
                     scope: Any) -> tuple[Any, tuple[Node, ...] | None, RoleInfo | None]:
        args = self._task_args(loader, raw, key, fpath)
        if args is None:
            return None, None, None
        froms = {k: str(v) for k, v in args.items() if k.endswith("_from")}
        if args.get("public"):
            loader.err("include_role public: true is not supported (its variables would show only after it ran): "
                       "use import_role", location_of(raw[key], "public"), f"{fpath}.{key}.public")
        public = False
        saved, self.seen = self.seen, set()  # include_role runs the role each time it is included
        nodes, info = self.load(loader, args["name"], location_of(raw, key), f"{fpath}.{key}", {}, scope,
                                public=public, froms=froms)
        self.seen = saved
        if info is None:
            return None, None, None
        return {"name": info.name, "role": info}, tuple(nodes), scope.role
