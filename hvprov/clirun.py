"""The CLI's commands (`hvprov apply`, `plan`, `show`, `inventory`, `doc`, `lab`, `facts`, `doctor`):
what `hvprov.cli.main` runs once argparse has read the command line. Kept apart from the parser so
that `hvprov --help`, `--version` and a usage error import none of this (docs/cli-startup.md)."""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from .config import load_config, with_host_defaults
from .errors import HvprovError, OptionsError
from .report.text import safe_text


def _lab_dir(args: argparse.Namespace) -> Path:
    return Path(args.lab_dir or os.environ.get("HVPROV_LAB_DIR") or ".hvprov-lab")


def _shard(text: str | None) -> tuple[int, int] | None:
    if not text:
        return None
    try:
        i, n = (int(x) for x in text.split("/", 1))
    except ValueError:
        raise OptionsError(f"--shard expects I/N (e.g. 2/4), got {text!r}") from None
    return i, n

def _do_run(args: argparse.Namespace) -> int:
    from . import api, playcli
    from .planfile import is_plan_file, write_atomic
    from .report.jsondoc import run_document
    from .secrets import SecretRegistry
    from .validate import check_script_timeout

    mode = "plan" if args.command == "plan" or getattr(args, "check", False) else "apply"
    playbooks, args.playbook = list(args.playbook), args.playbook[0]
    saved = mode == "apply" and is_plan_file(args.playbook)
    playcli.check(args, playbooks, saved)
    cfg = load_config()
    if not args.inventory and cfg.inventory and not saved:
        args.inventory = list(cfg.inventory)
    if args.forks is None:
        args.forks = cfg.forks if cfg.forks is not None else 5
    if not saved and not args.inventory and not args.syntax:
        raise OptionsError("-i/--inventory is required (except when applying a saved plan or "
                           "when ansible.cfg / ANSIBLE_INVENTORY names one)")
    if saved and args.inventory:
        raise OptionsError("a saved plan carries its own inventory: do not pass -i/--inventory")
    from .planfile import plan_key

    key = plan_key(None, getattr(args, "plan_key_file", None))
    check_script_timeout(args.script_timeout)
    if args.workers is not None and args.workers < 1:
        raise OptionsError(f"--workers must be at least 1, got {args.workers}")
    vault, default_password = _secrets_from_cli(args)
    extra = api.parse_extra_vars(args.extra_vars, vault)
    tags = tuple(t.strip() for v in args.tags for t in v.split(",") if t.strip())
    skip = tuple(t.strip() for v in args.skip_tags for t in v.split(",") if t.strip())
    if playcli.listing_wanted(args):
        inv = with_host_defaults(api.load_inventory(args.inventory, vault), cfg) if args.inventory else None
        return playcli.listing(args, playbooks, vault, extra, tags, skip, cfg.roles_path or None, inv)
    book, ends = playcli.run_inputs(playbooks, vault, cfg.roles_path or None)
    step = playcli.stepper(args)
    secrets = SecretRegistry()
    console = args.format == "console" and args.events != "-"
    heartbeat = float(os.environ.get("HVPROV_HEARTBEAT_SECONDS") or 30)
    reporter = None
    if console:  # rich is imported only for the console format
        from .report.console import ConsoleReporter

        reporter = ConsoleReporter(diff=args.diff, verbosity=args.verbose, secrets=secrets, heartbeat=heartbeat,
                                   **({"live": False} if args.step else {}))  # --step: prompts need a still screen
    sinks: list[Any] = [reporter] if reporter is not None else []
    events_sink = None
    if args.events:
        from .report.events import JsonLinesEvents

        events_sink = JsonLinesEvents(sys.stdout if args.events == "-" else args.events, secrets)
        sinks.append(events_sink)
    audit = None
    if args.log:
        from .report.audit import AuditLog

        audit = AuditLog(args.log, secrets)
        sinks.append(audit)

    def fan_out(event: dict[str, Any]) -> None:
        for sink in sinks:
            sink(event)

    # no sink (--format json/markdown without --events/--log): no events are built at all
    on_event = fan_out if sinks else None

    stop = threading.Event()

    def on_sigint(signum: int, frame: Any) -> None:
        if stop.is_set():  # second Ctrl-C: stop waiting for running scripts
            raise KeyboardInterrupt
        stop.set()
        print("\ninterrupt: no new tasks will start; running scripts finish or time out "
              "(Ctrl-C again to stop waiting)", file=sys.stderr)

    signal.signal(signal.SIGINT, on_sigint)
    from .secrets import ScrubFilter

    log_filter = ScrubFilter(secrets)  # -vvv: logged messages and tracebacks are outputs too
    logging.getLogger("hvprov").addFilter(log_filter)
    try:
        if saved:
            if args.limit or tags or skip or args.shard:
                raise OptionsError("a saved plan carries its own --limit/--tags/--shard: do not pass them again")
            _heap_settled(args)
            result = api.apply_plan(args.playbook, on_stale=args.stale, forks=args.forks, lab_dir=_lab_dir(args),
                                    on_event=on_event, script_timeout=args.script_timeout, stop_event=stop,
                                    lease_timeout=args.lease_timeout, secret_registry=secrets, vault=vault,
                                    default_password=default_password, plan_key=key, workers=args.workers,
                                    **({"extra_vars": extra} if extra else {}))
        else:
            inventory = with_host_defaults(api.load_inventory(args.inventory, vault), cfg)
            from .daskrun import cluster_executor

            with cluster_executor(args.dask) as (executor, cluster_workers):
                _heap_settled(args)
                result = api.run(
                  book, inventory, mode=mode, limit=args.limit, tags=tags, skip_tags=skip,
                  extra_vars=extra, forks=args.forks, lab_dir=_lab_dir(args), on_event=on_event,
                  shard=_shard(args.shard), script_timeout=args.script_timeout, out=getattr(args, "out", None),
                  scripts_dir=getattr(args, "scripts", None),
                  stop_event=stop, lease_timeout=args.lease_timeout, secret_registry=secrets,
                  vault=vault, default_password=default_password, plan_key=key,
                  roles_path=cfg.roles_path or None,  # ansible.cfg / ANSIBLE_ROLES_PATH
                  executor=executor, workers=args.workers or cluster_workers,  # threads unless asked
                  start_at_task=args.start_at_task, step=step, playbook_ends=ends, diff=args.diff,
                )
    except HvprovError as exc:  # a run-level error may quote a value: scrub it like any output
        exc.message = secrets.scrub(exc.message)
        raise
    finally:
        logging.getLogger("hvprov").removeFilter(log_filter)
        if reporter is not None:
            reporter.close()
        if audit is not None:
            audit.close()
        if events_sink is not None:
            events_sink.close()
    if reporter is not None:
        reporter.recap(result)
    elif args.format == "markdown":
        from .report.markdown import render_markdown

        print(render_markdown(result.to_dict(), secrets))
    elif args.events != "-":
        print(run_document(result, secrets))
    if args.junit:
        from .report.junit import render_junit

        write_atomic(args.junit, render_junit(result.to_dict(), secrets))
    results_file = args.results
    if result.interrupted and not results_file:
        results_file = time.strftime("hvprov-interrupted-%Y%m%d-%H%M%S.json")
    if results_file:
        write_atomic(results_file, run_document(result, secrets) + "\n")
        if result.interrupted:
            print(f"interrupted: partial results saved to {results_file}", file=sys.stderr)
    return result.exit_code(detailed=getattr(args, "detailed_exitcode", False))


def _heap_settled(args: argparse.Namespace) -> None:
    """In the `hvprov` process (not when main() is called by a program), what exists when a run
    starts -- modules, classes, the inventory -- lives until exit: gc.freeze() keeps the collector
    from walking it again in every full collection and at interpreter exit (docs/cli-startup.md).
    The collector, paused while the modules were imported, runs again for the run's objects."""
    if getattr(args, "own_process", False):
        gc.freeze()
        gc.enable()


def _secrets_from_cli(args: argparse.Namespace) -> tuple[Any, Any]:
    """Vault passwords and --ask-pass, read once before anything is loaded. Ansible's
    ANSIBLE_VAULT_PASSWORD_FILE / ANSIBLE_VAULT_IDENTITY_LIST are honoured as well."""
    cfg = load_config()  # ansible.cfg / ANSIBLE_VAULT_PASSWORD_FILE / ANSIBLE_VAULT_IDENTITY_LIST
    files = list(args.vault_password_files) + list(cfg.vault_password_files)
    ids = list(cfg.vault_identity_list) + list(args.vault_ids)
    if args.ask_vault_pass and files:
        raise OptionsError("--ask-vault-pass and --vault-password-file are mutually exclusive")
    vault = None
    if files or ids or args.ask_vault_pass:  # hvprov.vault is imported only when a vault option is given
        from .vault import VaultSecrets

        vault = VaultSecrets.from_cli(files, args.ask_vault_pass, ids)
    default_password = None
    if args.ask_pass:
        from .secretsources import ask_pass

        default_password = ask_pass()
    return vault, default_password


def _do_show(args: argparse.Namespace) -> int:
    from .plans import load_plan, plan_key, review_lines, verify
    from .report.console import ConsoleReporter

    saved = load_plan(args.plan)
    doc = saved.doc
    key = plan_key(None, args.plan_key_file)
    if key is not None:
        verify(doc, key, args.plan)
    if args.format == "json":
        print(json.dumps(doc, indent=1))
        return 0
    review = review_lines(doc, verified=key is not None)
    if args.format == "markdown":
        from .report.markdown import render_markdown

        print(render_markdown(doc, title=f"hvprov plan ({Path(args.plan).name})"))
        print("\n## What will run\n\n```text\n" + "\n".join(review).replace("```", "` ` `") + "\n```")
        return 0
    reporter = ConsoleReporter(diff=args.diff, live=False)
    reporter.show_document(doc, title=f"saved plan {args.plan} ({doc['created_with']})")
    reporter.console.print("\n".join(review), markup=False, highlight=False, soft_wrap=True)
    return 0


def _secrets_tagged(inv: Any) -> Any:
    """The inventory with plain values under secret-looking names (``*_password``...) made
    Secrets, so that every output masks them by position (docs/secrets.md)."""
    import dataclasses

    from .inventory import Inventory
    from .secrets import tag_by_name

    hosts = {n: dataclasses.replace(h, vars=tag_by_name(dict(h.vars)), own_vars=tag_by_name(dict(h.own_vars)))
             for n, h in inv.hosts.items()}
    groups = {n: dataclasses.replace(g, vars=tag_by_name(dict(g.vars))) for n, g in inv.groups.items()}
    return Inventory(hosts, groups, inv.sources)


def _do_inventory(args: argparse.Namespace) -> int:
    from . import api
    from .inventory import render
    from .plans import write_atomic
    from .runner import public_names

    vault, _ = _secrets_from_cli(args)
    if not args.inventory:
        args.inventory = list(load_config().inventory)
    if not args.inventory:
        raise OptionsError("-i/--inventory is required unless ansible.cfg / ANSIBLE_INVENTORY names one")
    inv = _secrets_tagged(api.load_inventory(args.inventory, vault))
    from .secrets import SecretRegistry

    registry = SecretRegistry()
    registry.protect(public_names(inv))  # masked by position, and scrubbed from every other text
    for h in inv.hosts.values():
        registry.collect(dict(h.vars))
    fmt = "yaml" if args.yaml else "toml" if args.toml else "json"
    if args.graph is not None:
        text = safe_text(render.graph(inv, args.graph, args.show_vars))  # names with control characters
    elif args.host:
        hosts = inv.select(args.host)
        if len(hosts) != 1:
            raise OptionsError("You must pass a single valid host to --host parameter")
        text = render.dump(render.host_vars(inv, hosts[0].name, args.export), fmt)
    else:
        shaped = {"json": render.list_doc, "yaml": render.yaml_doc, "toml": render.toml_doc}[fmt]
        text = render.dump(shaped(inv, args.export, args.limit), fmt)
    text = registry.scrub(text)
    if args.output:
        write_atomic(args.output, text if text.endswith("\n") else text + "\n")
    else:
        print(text.rstrip("\n") if fmt != "json" else text)
    return 0


def _do_fleet(args: argparse.Namespace) -> int:
    """`hvprov facts` and `hvprov doctor` (hvprov/fleetfacts.py, hvprov/doctor.py)."""
    from . import api, doctor, fleetfacts

    vault, _ = _secrets_from_cli(args)
    inv = api.load_inventory(args.inventory, vault)
    run = fleetfacts.facts_cli if args.command == "facts" else doctor.doctor_cli
    return run(args, inv, _lab_dir(args))


def _do_doc(args: argparse.Namespace) -> int:
    from .docs import module_doc, module_list, module_schema

    if args.module is None:
        print(module_list())
    elif args.json:
        print(json.dumps(module_schema(args.module), indent=2))
    else:
        print(module_doc(args.module))
    return 0


def _do_lab(args: argparse.Namespace) -> int:
    from .sim import lab as labmod
    from .sim.store import LabStore

    if args.lab_command == "profiles":
        from .sim.profiles import PROFILES

        width = max(len(n) for n in PROFILES)
        for name in sorted(PROFILES):
            print(f"{name.ljust(width)}  {PROFILES[name].summary}")
        return 0
    lab_dir = _lab_dir(args)
    if args.lab_command == "import":
        from .fleetfacts import lab_import_cli

        return lab_import_cli(args)
    if args.lab_command == "up":
        return _lab_up(lab_dir, args.inventory or ["inventories/lab.yml"], args.latency)
    if args.lab_command == "down":
        return _lab_down(lab_dir)
    store = LabStore(lab_dir)
    if args.lab_command == "alter":
        return _lab_alter(store, args)
    names = args.hosts or None
    if args.lab_command == "reset":
        removed = store.reset(names)
        print(f"lab reset: {len(removed)} simulated host(s) forgotten in {lab_dir}")
        return 0
    state = labmod.lab_state(lab_dir)
    if state and _alive(state["pid"]):
        print(f"lab servers: running (pid {state['pid']}); inventories: {', '.join(state['inventories'].values())}")
    else:
        print("lab servers: not running (`hvprov lab up` starts them)")
    rows = [r for r in store.status() if names is None or r["name"] in names]
    if not rows:
        print(f"no simulated hosts in {lab_dir} yet (they are created on first contact)")
    for row in rows:
        print("  " + "  ".join(f"{k}={v}" for k, v in row.items()))
    return 0


def _lab_alter(store: Any, args: argparse.Namespace) -> int:
    from .sim import drift

    mutators = [drift.stop_vm(v) for v in args.stop_vm] + [drift.delete_vm(v) for v in args.delete_vm]
    mutators += [drift.delete_switch(sw) for sw in args.delete_switch]
    for spec in args.set_vm:
        vm, _, assignment = spec.partition(":")
        field, eq, value = assignment.partition("=")
        if not vm or not eq:
            raise OptionsError(f"--set-vm expects VM:FIELD=VALUE, got {spec!r}")
        mutators.append(drift.set_vm(vm, **{field: int(value) if value.isdigit() else value}))
    if not mutators:
        raise OptionsError("lab alter: say what to change (--stop-vm, --delete-vm, --delete-switch, --set-vm)")
    if store.load(args.host) is None:
        raise OptionsError(f"lab alter: no simulated host {args.host!r} in {store.lab_dir} (run a playbook first)")
    for m in mutators:
        store.alter(args.host, m)
    print(f"altered {args.host}: {len(mutators)} change(s) made outside hvprov")
    return 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _lab_up(lab_dir: Path, inventories: list[str], latency: float) -> int:
    import subprocess
    import time

    from .errors import LabError
    from .sim import lab as labmod

    state = labmod.lab_state(lab_dir)
    if state and _alive(state["pid"]):
        print(f"lab servers already running (pid {state['pid']})")
    else:
        lab_dir.mkdir(parents=True, exist_ok=True)
        (lab_dir / "servers.json").unlink(missing_ok=True)
        cmd = [sys.executable, "-m", "hvprov.sim.lab", "serve", "--detach", "--lab-dir", str(lab_dir),
               "--latency", str(latency)]
        for inv in inventories:
            cmd += ["-i", inv]
        with open(lab_dir / "lab.log", "ab") as log:
            launched = subprocess.run(cmd, stdout=log, stderr=log, stdin=subprocess.DEVNULL, check=False, timeout=30)
        deadline = time.monotonic() + 30
        while (state := labmod.lab_state(lab_dir)) is None:
            if launched.returncode != 0 or time.monotonic() > deadline:
                tail = (lab_dir / "lab.log").read_text(errors="replace")[-500:]
                raise LabError(f"the lab servers did not start: {tail.strip()}")
            time.sleep(0.1)
    print(f"lab servers running (pid {state['pid']}) on 127.0.0.1:")
    for name, ports in sorted(state["ports"].items()):
        print(f"  {name}: winrm http {ports['http']}, https {ports['https']}, ssh {ports['ssh']}")
    print("inventories:")
    for path in state["inventories"].values():
        print(f"  {path}")
    return 0


def _lab_down(lab_dir: Path) -> int:
    import time

    from .sim import lab as labmod

    state = labmod.lab_state(lab_dir)
    if not state or not _alive(state["pid"]):
        print("lab servers are not running")
        (lab_dir / "servers.json").unlink(missing_ok=True)
        return 0
    os.kill(state["pid"], signal.SIGTERM)
    deadline = time.monotonic() + 10
    while _alive(state["pid"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    print(f"lab servers stopped (pid {state['pid']})")
    return 0


HANDLERS = {"apply": _do_run, "plan": _do_run, "inventory": _do_inventory, "doc": _do_doc, "lab": _do_lab,
            "show": _do_show, "facts": _do_fleet, "doctor": _do_fleet}
