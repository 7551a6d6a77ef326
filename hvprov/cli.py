"""Command line: a thin layer over hvprov.api. The only place that reads argv and the
environment and sets exit codes.

Exit codes (as ansible-playbook; `plan --detailed-exitcode` as terraform):
  0 success | 2 a host failed | 3 a host unreachable | 4 inventory/playbook/variable error
  5 bad options | 99 interrupted | 250 unexpected error
  plan --detailed-exitcode: 0 no changes | 2 changes pending | 1 error
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import sys
from collections.abc import Callable, Sequence

from . import __version__

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (type checkers take the name as true)

if TYPE_CHECKING:  # annotations only: `hvprov --help` imports no typing
    from typing import Any

# The commands themselves (hvprov/clirun.py), the error classes, the config reader and logging are
# imported by main() once argparse has read the command line: `hvprov --help`, `--version` and a
# usage error do not pay for them (docs/cli-startup.md, "Start-up, phase 7").

EPILOG = __doc__.split("\n\n", 1)[1] if __doc__ else ""


def _run_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("playbook", nargs="+", help="playbook YAML file(s), run in order (or one saved plan)")
    p.add_argument("-i", "--inventory", action="append", help="inventory file (repeatable; required unless applying a saved plan)")
    p.add_argument("-l", "--limit", help="host pattern to restrict the run (groups, globs, !exclude, &intersect)")
    p.add_argument("-t", "--tags", action="append", default=[], help="only tasks with these tags (comma-separated)")
    p.add_argument("--skip-tags", action="append", default=[], help="skip tasks with these tags")
    p.add_argument("-e", "--extra-vars", action="append", default=[], help="key=value, JSON/YAML mapping, or @file")
    p.add_argument("-f", "--forks", type=int, default=None, help="hosts in parallel (default: ansible.cfg forks, else 5)")
    p.add_argument("-D", "--diff", action="store_true", help="show before/after of every change")
    p.add_argument("--format", choices=("console", "json", "markdown"), default="console",
                   help="output: console lines and recap, the JSON run document, or Markdown for a code review")
    p.add_argument("--junit", metavar="FILE", help="also write JUnit XML (one testcase per host and task)")
    p.add_argument("--events", metavar="FILE", help="stream events as JSON Lines to FILE ('-' for stdout)")
    p.add_argument("--lab-dir", help="simulated lab state directory (default $HVPROV_LAB_DIR or ./.hvprov-lab)")
    p.add_argument("--shard", help="run only shard I of N of the selected hosts (CI matrices)")
    p.add_argument("--workers", type=int, default=None,
                   help="processes that each run a batch of hosts on --forks threads (default: threads in one process)")
    p.add_argument("--dask", metavar="ADDRESS", default=None,
                   help="run host batches on the Dask cluster whose scheduler is at ADDRESS (pip install hvprov[dask])")
    p.add_argument("--script-timeout", type=float, help="seconds a single script may run")
    p.add_argument("--lease-timeout", type=float, default=300.0,
                   help="seconds to wait while another hvprov run holds a host's lease (default 300)")
    p.add_argument("--log", help="append an audit log (JSON Lines: every script run with host, template, masked "
                   "parameters, duration, outcome, round trips; every task and host result)")
    p.add_argument("--results", help="also write the run document (JSON) to this file, atomically; on Ctrl-C the "
                   "partial results go there (default: ./hvprov-interrupted-<time>.json)")
    p.add_argument("--vault-id", dest="vault_ids", action="append", default=[],
                   help="Ansible Vault identity: label@source (source: a password file, an executable, or 'prompt')")
    p.add_argument("--vault-password-file", "--vault-pass-file", dest="vault_password_files", action="append",
                   default=[], help="file holding the vault password (an executable prints it)")
    p.add_argument("-J", "--ask-vault-pass", "--ask-vault-password", dest="ask_vault_pass", action="store_true",
                   help="prompt for the vault password")
    p.add_argument("-k", "--ask-pass", action="store_true",
                   help="prompt for the connection password (for hosts whose inventory sets none)")
    p.add_argument("-v", "--verbose", action="count", default=0)
    p.add_argument("--plan-key-file", metavar="FILE",
                   help=f"key to sign a saved plan (plan --out) or to require a valid signature (apply PLAN); "
                        f"default ${'HVPROV_PLAN_KEY'}")
    from .cliargs import add_playbook_flags

    add_playbook_flags(p)


class _Deferred(argparse.ArgumentParser):
    """A subcommand's parser whose arguments are added when it is first used (parsed, or its help
    or usage formatted): `hvprov apply` does not build the arguments of `inventory`, `lab`, `doc`,
    ... (docs/cli-startup.md). Once filled it is the parser the same calls build eagerly."""

    _fill: Callable[[argparse.ArgumentParser], None] | None = None

    def _filled(self) -> None:
        fill, self._fill = self._fill, None
        if fill is not None:
            fill(self)

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        self._filled()
        return super().parse_known_args(args, namespace)

    def format_usage(self) -> str:
        self._filled()
        return super().format_usage()

    def format_help(self) -> str:
        self._filled()
        return super().format_help()


def _apply_args(p: argparse.ArgumentParser) -> None:
    _run_common(p)
    p.add_argument("-C", "--check", action="store_true", help="dry run (same as `hvprov plan`)")
    p.add_argument("--stale", choices=("skip", "abort"), default="skip",
                   help="applying a saved plan: refuse only the hosts that changed since (skip) or all (abort)")


def _plan_args(p: argparse.ArgumentParser) -> None:
    _run_common(p)
    p.add_argument("--detailed-exitcode", action="store_true", help="exit 0 no changes, 2 changes pending, 1 error")
    p.add_argument("-o", "--out", help="save the plan to this JSON file (`hvprov apply FILE` applies exactly it)")
    p.add_argument("--scripts", metavar="DIR",
                   help="write, per host, the exact PowerShell each planned change would run (secrets masked)")


def _show_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("plan", help="a file written by `hvprov plan --out`")
    p.add_argument("--format", choices=("console", "json", "markdown"), default="console")
    p.add_argument("--diff", action="store_true", help="show before/after of every change")
    p.add_argument("--plan-key-file", metavar="FILE", help="verify the plan's signature (default $HVPROV_PLAN_KEY)")


def _inventory_args(p_inv: argparse.ArgumentParser) -> None:
    p_inv.add_argument("-i", "--inventory", action="append", default=None)
    p_inv.add_argument("--vault-id", dest="vault_ids", action="append", default=[])
    p_inv.add_argument("--vault-password-file", "--vault-pass-file", dest="vault_password_files", action="append", default=[])
    p_inv.add_argument("-J", "--ask-vault-pass", dest="ask_vault_pass", action="store_true")
    p_inv.set_defaults(ask_pass=False)
    g = p_inv.add_mutually_exclusive_group(required=True)
    g.add_argument("--list", action="store_true", help="the inventory as `ansible-inventory --list` prints it")
    g.add_argument("--host", help="variables of one host")
    g.add_argument("--graph", nargs="?", const="all", metavar="GROUP", help="group tree (Ansible's |-- drawing)")
    p_inv.add_argument("--vars", dest="show_vars", action="store_true", help="with --graph: show variables")
    fmt = p_inv.add_mutually_exclusive_group()
    fmt.add_argument("-y", "--yaml", action="store_true", help="YAML instead of JSON")
    fmt.add_argument("--toml", action="store_true", help="TOML instead of JSON")
    p_inv.add_argument("--export", action="store_true", help="own host/group variables, not merged ones")
    p_inv.add_argument("-l", "--limit", help="only hosts matching this pattern")
    p_inv.add_argument("--output", help="write to this file instead of stdout")


def _doc_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("module", nargs="?")
    p.add_argument("--json", action="store_true", help="machine-readable schema")


def _lab_args(p_lab: argparse.ArgumentParser) -> None:
    lab_sub = p_lab.add_subparsers(dest="lab_command", required=True, parser_class=argparse.ArgumentParser)
    for name, text in (("reset", "forget all simulated host state (fresh hosts on next contact)"),
                       ("status", "lab servers and simulated hosts")):
        lp = lab_sub.add_parser(name, help=text)
        lp.add_argument("hosts", nargs="*", help="only these hosts")
        lp.add_argument("--lab-dir")
    lab_sub.add_parser("profiles", help="the simulated Windows Server editions (sim_profile values)")
    lp = lab_sub.add_parser("up", help="serve the inventory's sim hosts over WinRM (http+NTLM, https) and SSH on 127.0.0.1")
    lp.add_argument("-i", "--inventory", action="append", default=None, help="default inventories/lab.yml")
    lp.add_argument("--lab-dir")
    lp.add_argument("--latency", type=float, default=0.0, help="seconds added to every request (benchmarks)")
    lp = lab_sub.add_parser("down", help="stop the lab servers")
    lp.add_argument("--lab-dir")
    lp = lab_sub.add_parser("alter", help="change a simulated host behind hvprov's back (drift)")
    lp.add_argument("host")
    lp.add_argument("--stop-vm", action="append", default=[], metavar="VM", help="turn a VM off")
    lp.add_argument("--delete-vm", action="append", default=[], metavar="VM")
    lp.add_argument("--delete-switch", action="append", default=[], metavar="SWITCH")
    lp.add_argument("--set-vm", action="append", default=[], metavar="VM:FIELD=VALUE", help="e.g. web01:memory_mb=4096")
    lp.add_argument("--lab-dir")
    from .cliargs import add_lab_import_parser

    add_lab_import_parser(lab_sub)


def _subcommands() -> list[tuple[str, dict[str, Any], Callable[[argparse.ArgumentParser], None]]]:
    """(name, add_parser's keywords, the function that adds its arguments), in `hvprov --help` order."""
    from .cliargs import add_doctor_args, add_facts_args

    raw = {"epilog": EPILOG, "formatter_class": argparse.RawDescriptionHelpFormatter}
    return [
        ("apply", {"help": "apply a playbook", **raw}, _apply_args),
        ("plan", {"help": "dry run: show what apply would change", **raw}, _plan_args),
        ("show", {"help": "render a saved plan"}, _show_args),
        ("inventory", {"help": "show the resolved inventory"}, _inventory_args),
        ("doc", {"help": "list modules or show one module's arguments"}, _doc_args),
        ("lab", {"help": "the simulated lab"}, _lab_args),
        ("facts", {"help": "save each host's facts (secrets masked) for a lab twin"}, add_facts_args),
        ("doctor", {"help": "read-only first-contact checklist per host, with the fix for each failure"}, add_doctor_args),
    ]


def build_parser(*, deferred: bool = True) -> argparse.ArgumentParser:
    """The command line. `deferred`: each subcommand's arguments are added when that subcommand is
    parsed or its help shown (`_Deferred`); False adds them all now (the same parser, built eagerly)."""
    parser = argparse.ArgumentParser(prog="hvprov", description="Provision Hyper-V hosts declaratively.",
                                     epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"hvprov {__version__}")
    sub = parser.add_subparsers(dest="command", required=True,
                                parser_class=_Deferred if deferred else argparse.ArgumentParser)
    for name, kwargs, fill in _subcommands():
        p = sub.add_parser(name, **kwargs)
        if isinstance(p, _Deferred):
            p._fill = fill
        else:
            fill(p)
    return parser

def main(argv: Sequence[str] | None = None, *, own_process: bool = False) -> int:
    """`own_process`: called by the `hvprov` command, whose process ends when this returns
    (`entry`, `python -m hvprov`); a program calling main() leaves it False."""
    # pydantic's documented switch: no scan of every installed package's entry points for pydantic
    # plugins when the first argument schema is built (docs/cli-startup.md); a value the user set wins
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: 2 for usage errors -> our 5
        return 0 if exc.code == 0 else 5
    args.own_process = own_process and args.command in ("apply", "plan")
    if args.own_process:  # importing the run's modules makes no garbage worth collecting
        gc.disable()
    import signal
    import traceback

    from .clirun import HANDLERS
    from .errors import HvprovError
    from .report.text import safe_text

    verbose = getattr(args, "verbose", 0)
    handler = None
    _print_warnings()
    if verbose >= 3:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        logging.getLogger("hvprov").addHandler(handler)
        logging.getLogger("hvprov").setLevel(logging.DEBUG)
    previous = signal.getsignal(signal.SIGINT)
    try:
        return HANDLERS[args.command](args)
    except HvprovError as exc:
        if verbose >= 3:
            traceback.print_exc()
        print(f"ERROR: {safe_text(str(exc))}", file=sys.stderr)
        code = exc.exit_code
        if getattr(args, "detailed_exitcode", False) and code not in (99,):
            return 1
        return code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 99
    except BrokenPipeError:  # `hvprov ... | head`: the reader left; not an error of ours
        sys.stderr.close()
        return 0
    except Exception as exc:  # pragma: no cover - last resort
        if verbose >= 3:
            traceback.print_exc()
        print(f"ERROR: unexpected {type(exc).__name__}: {exc} (run with -vvv for a traceback)", file=sys.stderr)
        return 250
    finally:
        if args.own_process:
            gc.enable()  # an error before the run started
        signal.signal(signal.SIGINT, previous)
        if handler is not None:  # a later main() in this process must not write to this stderr
            logging.getLogger("hvprov").removeHandler(handler)


def _print_warnings() -> None:
    """Warnings about the input (hvprov.validate.warn) as Ansible prints them."""
    from .report.text import safe_text

    class _Stderr(logging.Handler):
        hvprov_cli = True

        def emit(self, record: logging.LogRecord) -> None:  # sys.stderr as it is now (tests swap it)
            print(f"[WARNING]: {safe_text(record.getMessage())}", file=sys.stderr)

    logger = logging.getLogger("hvprov.warnings")
    if not any(getattr(h, "hvprov_cli", False) for h in logger.handlers):
        logger.addHandler(_Stderr())


def entry() -> None:
    """The `hvprov` command (pyproject's console script)."""
    sys.exit(main(own_process=True))


if __name__ == "__main__":
    entry()
