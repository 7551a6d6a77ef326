"""Task files as ansible-core finds them (beside the including file, in the role's tasks/ or
vars/, in the playbook's directory): import_tasks, the files of include_tasks, include_vars."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import Location, PlaybookError
from .tasktree import Node
from .templating import Templar
from .yamlsrc import location_of

if TYPE_CHECKING:
    from .taskload import Scope

MAX_DEPTH = 20


class TaskFiles:
    """Mixed into TaskLoader (which provides err, tasks, inherit, problems, files, vault, playbook_dir)."""

    problems: list[PlaybookError]
    files: list[str]
    vault: Any
    playbook_dir: Path

    # -- task files ----------------------------------------------------------
    def find_file(self, name: str, scope: Scope) -> Path | None:
        p = Path(name)
        if p.is_absolute():
            return p if p.is_file() else None
        candidates = [scope.base / p]
        if scope.role is not None:
            candidates.append(Path(scope.role.path) / "tasks" / p)
        candidates.append(self.playbook_dir / p)
        return next((c for c in candidates if c.is_file()), None)

    def load_file(self, name: str, where: Location | None, fpath: str, scope: Scope) -> tuple[Node, ...] | None:
        if scope.depth >= MAX_DEPTH:
            self.err(f"includes nested more than {MAX_DEPTH} deep (a loop of includes?)", where, fpath)
            return None
        found = self.find_file(name, scope)
        if found is None:
            self.err(f"task file not found: {name} (looked in {scope.base}"
                     f"{', ' + str(Path(scope.role.path) / 'tasks') if scope.role else ''}, {self.playbook_dir})",
                     where, fpath)
            return None
        from .yamlsrc import load_yaml

        try:
            data = load_yaml(found, PlaybookError, self.vault)
        except PlaybookError as exc:
            self.problems.append(exc)
            return None
        self.files.append(str(found))
        inner = dataclasses.replace(scope, base=found.parent, depth=scope.depth + 1)
        return self.tasks(data, Location(str(found)), self.rel(found), inner)

    def rel(self, path: Path) -> str:
        """A task file's name in field paths (and saved plans): relative to the playbook's directory."""
        try:
            return str(path.resolve().relative_to(self.playbook_dir.resolve()))
        except ValueError:
            return str(path)

    def import_tasks(self, raw: Mapping[str, Any], key: str, where: Location | None, fpath: str,
                     scope: Scope) -> list[Node]:
        allowed = {key, "name", "when", "tags", "vars", "ignore_errors", "any_errors_fatal", "run_once", "no_log"}
        for k in raw:
            if k not in allowed:
                reason = ("import_tasks cannot loop (it is static): use include_tasks"
                          if k in ("loop", "with_items", "with_list") else f"{k!r} is not valid on import_tasks")
                self.err(reason, location_of(raw, k), f"{fpath}.{k}")
        name = raw[key]
        if isinstance(name, Mapping):
            name = name.get("file")
        if not isinstance(name, str) or Templar.is_template(name):
            self.err("import_tasks needs a literal file name (it is resolved at load time; "
                     "use include_tasks for a templated one)", location_of(raw, key), f"{fpath}.{key}")
            return []
        nodes = self.load_file(name, location_of(raw, key), f"{fpath}.{key}", self.inherit(raw, fpath, scope))
        return list(nodes or ())

    def include_vars(self, args: Any, where: Location | None, fpath: str, scope: Scope) -> dict[str, Any] | None:
        """include_vars of a literal file, read now (its variables are known to the pre-flight check);
        found beside the including file, in the role's vars/, then in the playbook's directory."""
        name = args.get("file") if isinstance(args, Mapping) else args
        if isinstance(args, Mapping):
            for k in args:
                if k not in ("file", "name"):
                    self.err(f"include_vars {k!r} is not supported (file and name are)", location_of(args, k), f"{fpath}.{k}")
        if not isinstance(name, str) or not name or Templar.is_template(name):
            self.err("include_vars needs a literal file name", where, fpath)
            return None
        cands = [Path(name)] if Path(name).is_absolute() else [scope.base / name] + (
            [Path(scope.role.path) / "vars" / name] if scope.role else []) + [self.playbook_dir / name]
        found = next((c for c in cands if c.is_file()), None)
        if found is None:
            self.err(f"vars file not found: {name}", where, fpath)
            return None
        from .yamlsrc import load_yaml

        try:
            data = load_yaml(found, PlaybookError, self.vault)
        except PlaybookError as exc:
            self.problems.append(exc)
            return None
        if data is not None and not isinstance(data, Mapping):
            self.err(f"a vars file must hold a mapping, got {type(data).__name__}", Location(str(found)), fpath)
            return None
        self.files.append(str(found))
        target = args.get("name") if isinstance(args, Mapping) else None
        values = dict(data or {})
        return {"file": str(found.resolve()), "vars": {str(target): values} if target else values}

