"""The library API: what the CLI and CI pipelines call.

    import hvprov
    result = hvprov.plan("playbooks/site.yml", "inventories/lab.yml")
    result = hvprov.apply(playbook, inventory, extra_vars={"vm_memory_mb": 2048},
                          on_event=print, limit="hyperv_hosts:!hv-web01")
    result.changed_hosts, result.failed, result.to_dict(), result.exit_code()

Inputs are paths or already-loaded objects (`Inventory`, `Playbook`) or plain Python data
(a dict shaped like a YAML inventory, a list of plays). No global state: each call builds its
own runner, renderer and templar, so runs in several threads do not interfere.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import planfile
from .errors import InputError, Location, OptionsError, VariableError
from .inventory import Inventory
from .model import RunResult
from .playbook import Playbook, load_playbook, playbook_from_data
from .tasktree import walk
from .runner import Runner, RunOptions
from .secrets import Secret, SecretRegistry, tag_by_name
from .validate import check_extra_vars, check_inventory_hosts, check_limit, is_var_name
from .yamlsrc import load_yaml, load_yaml_text

if TYPE_CHECKING:  # annotations only: hvprov.vault is imported when vault data or options are met
    from .vault import VaultSecrets

InventoryInput = Inventory | str | Path | Sequence[str | Path] | Mapping[str, Any]
PlaybookInput = Playbook | str | Path | Sequence[Mapping[str, Any]]


def load_inventory(source: InventoryInput, vault: VaultSecrets | None = None,
                   playbook_dir: Path | None = None) -> Inventory:
    """`playbook_dir`: the playbook's group_vars/ and host_vars/ are read too, as Ansible does."""
    if isinstance(source, Inventory):
        return source
    if isinstance(source, Mapping):
        return Inventory.from_dict(source, base_dir=playbook_dir)
    if isinstance(source, (str, Path)):
        return Inventory.load([source], vault=vault, playbook_dir=playbook_dir)
    return Inventory.load(list(source), vault=vault, playbook_dir=playbook_dir)


def load_playbook_input(source: PlaybookInput, vault: VaultSecrets | None = None,
                        roles_path: Sequence[str | Path] | None = None) -> Playbook:
    """`roles_path`: directories searched for roles after `<playbook dir>/roles` (default:
    ANSIBLE_ROLES_PATH, else Ansible's default roles path)."""
    paths = [Path(p).expanduser() for p in roles_path] if roles_path is not None else None
    if isinstance(source, Playbook):
        return source
    if isinstance(source, (str, Path)):
        return load_playbook(source, vault, paths)
    return playbook_from_data(source if isinstance(source, Mapping) else list(source), vault=vault, roles_path=paths)


def parse_extra_vars(values: Sequence[str], vault: VaultSecrets | None = None) -> dict[str, Any]:
    """-e/--extra-vars: key=value pairs, a JSON/YAML mapping, or @file (YAML/JSON)."""
    out: dict[str, Any] = {}
    for i, raw in enumerate(values):
        where = Location(f"--extra-vars[{i}]")
        text = raw.strip()
        if text.startswith("@"):
            if not text[1:].strip() or Path(text[1:]).is_dir():
                raise VariableError(f"-e @FILE needs a vars file, got {raw!r}", location=where)
            data = load_yaml(text[1:], VariableError, vault)
            if data is None:
                continue
            if not isinstance(data, Mapping):
                raise VariableError(f"extra vars file must hold a mapping, got {type(data).__name__}",
                                    location=Location(text[1:]))
            out.update(data)
            check_extra_vars(data, Location(text[1:]), VariableError)
        elif text.startswith("{"):
            try:
                data = json.loads(text)
            except json.JSONDecodeError:
                data = load_yaml_text(text, where.file, VariableError)
            if not isinstance(data, Mapping):
                raise VariableError("expected a mapping", location=where)
            out.update(data)
            check_extra_vars(data, where, VariableError)
        else:
            import shlex

            try:
                parts = shlex.split(text)
            except ValueError as exc:
                raise VariableError(f"cannot parse {raw!r}: {exc}", location=where) from None
            for part in parts:
                key, sep, value = part.partition("=")
                if not sep or not is_var_name(key):
                    raise VariableError(f"expected key=value with a variable name, got {part!r}", location=where)
                out[key] = value
    return out


def run(
    playbook: PlaybookInput,
    inventory: InventoryInput,
    *,
    mode: str = "apply",
    limit: str | None = None,
    tags: Sequence[str] = (),
    skip_tags: Sequence[str] = (),
    extra_vars: Mapping[str, Any] | None = None,
    secrets: Mapping[str, str | Secret] | None = None,
    forks: int = 5,
    lab_dir: str | Path | None = None,
    on_event: Callable[[dict[str, Any]], None] | None = None,
    executor: Executor | None = None,
    script_timeout: float | None = None,
    shard: tuple[int, int] | None = None,
    out: str | Path | None = None,
    saved_plan: Any = None,
    on_stale: str = "skip",
    stop_event: threading.Event | None = None,
    lease_timeout: float = 300.0,
    secret_registry: SecretRegistry | None = None,
    scripts_dir: str | Path | None = None,
    vault: VaultSecrets | None = None,
    default_password: Secret | None = None,
    plan_key: bytes | str | None = None,
    roles_path: Sequence[str | Path] | None = None,
    workers: int | str | None = None,
    diff: bool = False,
    start_at_task: str | None = None,
    step: Callable[..., bool] | None = None,
    playbook_ends: Sequence[int] = (),
) -> RunResult:
    """Plan or apply a playbook on an inventory; returns the typed result (never raises for host failures).

    Raises `InputError` (exit 4) for bad inventory/playbook/variables and `OptionsError` (5) for bad options.
    `secrets` are extra variables whose values are masked everywhere they could be shown.
    `start_at_task`, `step`: ansible-playbook's --start-at-task and --step (hvprov/startat.py,
    hvprov/stepping.py); `playbook_ends`: several playbooks combined (startat.combine).
    """
    if mode not in ("plan", "apply"):
        raise OptionsError(f"mode must be 'plan' or 'apply', got {mode!r}")
    if forks < 1:
        raise OptionsError(f"forks must be at least 1, got {forks}")
    if workers is not None and workers != "auto" and (not isinstance(workers, int) or workers < 1):
        raise OptionsError(f"workers must be at least 1 or 'auto', got {workers!r}")
    if shard is not None and not (1 <= shard[0] <= shard[1]):
        raise OptionsError(f"shard must be I/N with 1 <= I <= N, got {shard[0]}/{shard[1]}")
    registry = secret_registry if secret_registry is not None else SecretRegistry()
    if vault is not None:
        for password in vault.passwords():
            registry.add(password)
    if default_password is not None:
        registry.add(default_password)
    inv = load_inventory(inventory, vault, Path(playbook).parent if isinstance(playbook, (str, Path)) else None)
    check_inventory_hosts(inv, InputError)  # ansible_connection local, ansible_port
    book = load_playbook_input(playbook, vault, roles_path)
    evars = dict(extra_vars or {})
    for key, value in (secrets or {}).items():
        evars[key] = value if isinstance(value, Secret) else Secret(str(value), source=f"secret {key}")
    evars = tag_by_name(evars, "extra var ")  # -e admin_password=... is a secret
    registry.collect(evars)
    if any(play.prompts for play in book.plays):  # vars_prompt: answered before any host is touched
        from .prompts import answer_book

        book = answer_book(book, evars, collect=registry.collect,
                           warn=(lambda text: on_event({"event": "warning", "host": None, "message": text})) if on_event else None)
    else:  # as answer_book returns it: the plays as a tuple
        book = replace(book, plays=tuple(book.plays))
    if start_at_task is not None:
        from .startat import has_hosts_for, start_at

        book = start_at(book, start_at_task, tags, skip_tags, has_hosts_for(inv, limit, evars))
    if scripts_dir is not None and mode != "plan":
        raise OptionsError("scripts_dir (--scripts) writes the scripts a plan would run: use it with plan")
    if on_stale not in ("skip", "abort"):
        raise OptionsError(f"on_stale must be 'skip' or 'abort', got {on_stale!r}")
    options = RunOptions(
        mode=mode, forks=forks, limit=limit, tags=tuple(tags), skip_tags=tuple(skip_tags),
        extra_vars=evars, lab_dir=Path(lab_dir) if lab_dir else None, executor=executor,
        script_timeout=script_timeout, shard=shard, saved_plan=saved_plan, on_stale=on_stale,
        stop_event=stop_event, lease_timeout=lease_timeout,
        scripts_dir=Path(scripts_dir) if scripts_dir is not None else None,
        default_password=default_password,
        plan_key=planfile.plan_key(plan_key) if (out is not None or saved_plan is not None) else None,
        workers=workers if isinstance(workers, int) else None,
        vault=vault, diff=diff,
        step=step, playbook_ends=tuple(playbook_ends),
    )
    for text in check_limit(inv, limit):  # nothing matched: OptionsError; part of it: a warning
        if on_event is not None:
            on_event({"event": "warning", "host": None, "message": text})
    result = _run_with_workers(Runner(inv, book, options, on_event=on_event, secrets=registry), len(inv.hosts),
                               workers == "auto")
    if out is not None:
        if mode != "plan":
            raise OptionsError("out= (--out) saves a plan: use it with plan")
        from . import plans

        selection = {"limit": limit, "tags": list(tags), "skip_tags": list(skip_tags), "shard": list(shard) if shard else None}
        base = Path(out).resolve().parent
        fp = _fingerprint(book, inv, evars, selection, base)
        doc = plans.build_plan(result, playbook=book.path, inventory=list(inv.sources), extra_vars=evars,
                               selection=selection, fp=fp, registry=registry, base=base,
                               key=options.plan_key)
        plans.write_atomic(out, registry.scrub(json.dumps(doc, indent=1, sort_keys=False)))
    return result


def _fingerprint(book: Playbook, inv: Inventory, evars: Mapping[str, Any], selection: Mapping[str, Any],
                 base: Path | None = None) -> dict[str, Any]:
    """Digests of every file the run reads: playbook, imports and role files, vars files,
    inventories, and `powershell: file:` scripts written literally."""
    from . import plans

    vars_files = list(dict.fromkeys(f for play in book.plays for f in (*play.vars_files, *play.files)))
    return plans.fingerprint(book.path, vars_files, list(inv.sources), evars, selection, base=base,
                             scripts=_script_files(book))


def _script_files(book: Playbook) -> list[str]:
    """`powershell: file:` paths written literally in the playbook (relative to its directory)."""
    out = []
    for play in book.plays:
        for task in [*walk(tuple(n for section in play.sections for n in section)), *walk(play.handlers)]:
            args = getattr(task, "args", None)
            if getattr(task, "module", "") == "powershell" and isinstance(args, Mapping):
                f = args.get("file")
                if isinstance(f, str) and "{{" not in f and "{%" not in f:
                    out.append(str(Path(book.base_dir) / f) if not Path(f).is_absolute() else f)
    return out


def apply_plan(path: str | Path, *, on_stale: str = "skip", **kwargs: Any) -> RunResult:
    """Apply a saved plan: exactly its changes, refusing hosts (or, with on_stale='abort', all hosts)
    whose facts changed since, and every host if the playbook, inventory or variables changed."""
    from . import plans

    saved = plans.load_plan(path)
    key = plans.plan_key(kwargs.pop("plan_key", None))
    if key is not None:
        plans.verify(saved.doc, key, str(path))
    inputs = saved.inputs
    base = Path(path).resolve().parent
    secret_names = inputs["fingerprint"].get("secret_extra_vars", [])
    passed = dict(kwargs.pop("extra_vars", None) or {})
    missing = [n for n in secret_names if n not in passed]
    if missing:
        raise OptionsError(f"the plan used secret variables ({', '.join(missing)}): pass them again (extra_vars / -e)")
    saved_plain = {k: v for k, v in inputs["extra_vars"].items() if k not in secret_names}
    evars = tag_by_name({**saved_plain, **passed}, "extra var ")
    sel = inputs["selection"]
    vault = kwargs.get("vault")
    book = load_playbook(plans.resolve(inputs["playbook"], base), vault)
    inv = Inventory.load([plans.resolve(i, base) for i in inputs["inventory"]], vault=vault,
                         playbook_dir=Path(plans.resolve(inputs["playbook"], base)).parent)
    current = _fingerprint(book, inv, evars, sel, base)
    problems = saved.check_inputs(current)
    if key is not None:
        problems += saved.check_secret_vars(key, plans.split_extra_vars(evars)[1])
    if problems:
        raise plans.StalePlanError("plan is stale: " + "; ".join(problems) + "; nothing was applied; make a new plan")
    return run(book, inv, mode="apply", limit=sel.get("limit"), tags=sel.get("tags", ()), skip_tags=sel.get("skip_tags", ()),
               shard=tuple(sel["shard"]) if sel.get("shard") else None, extra_vars=evars, saved_plan=saved,
               on_stale=on_stale, plan_key=key, **kwargs)


def plan(playbook: PlaybookInput, inventory: InventoryInput, **kwargs: Any) -> RunResult:
    """Dry run: changes nothing; later tasks plan against the state earlier ones will produce."""
    return run(playbook, inventory, mode="plan", **kwargs)


def apply(playbook: PlaybookInput, inventory: InventoryInput, **kwargs: Any) -> RunResult:
    return run(playbook, inventory, mode="apply", **kwargs)


__all__ = ["InputError", "apply", "apply_plan", "load_inventory", "load_playbook_input", "parse_extra_vars", "plan", "run"]


def _run_with_workers(runner: Runner, hosts: int, auto: bool) -> RunResult:
    """workers > 1 (or "auto": from the host count and the cores) and no executor of the
    caller's: host batches run in that many processes, forks threads each. Not given (the API's
    and the CLI's default): threads in this process (a library caller's CPU and memory stay its own)."""
    opts = runner.opts
    if opts.executor is not None or (opts.workers in (None, 1) and not auto):
        return runner.run()  # threads (or the caller's executor): workers.py is not even imported
    from .workers import default_workers, needs_lockstep, process_pool

    n = opts.workers if opts.workers is not None else (default_workers(hosts) if auto else 1)
    if opts.workers is None and any(needs_lockstep(p, opts.strategy) for p in runner.playbook.plays):
        n = 1  # the default never splits a play that needs its hosts in lockstep
    if opts.executor is not None or n <= 1:
        return runner.run()
    opts.workers = n
    with process_pool(n) as pool:
        opts.executor = pool
        try:
            return runner.run()
        finally:
            opts.executor = None
