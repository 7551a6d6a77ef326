"""The ansible-playbook habits of `hvprov apply` / `hvprov plan`: several playbooks, the
listings and --syntax-check (hvprov/playlist.py), --start-at-task (hvprov/startat.py), --step
(hvprov/stepping.py). cli.py calls `check()` first, then `listing()` or `run_inputs()`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from .errors import OptionsError


def listing_wanted(args: argparse.Namespace) -> bool:
    return bool(args.syntax or args.listhosts or args.listtasks or args.listtags)


def check(args: argparse.Namespace, playbooks: Sequence[str], saved: bool) -> None:
    """Option conflicts, refused before anything is loaded (exit 5)."""
    from .planfile import is_plan_file

    if len(playbooks) > 1 and any(is_plan_file(p) for p in playbooks):
        raise OptionsError("a saved plan is applied on its own: do not mix it with playbooks "
                           f"({' '.join(playbooks)})")
    if saved and (listing_wanted(args) or args.start_at_task is not None or args.step):
        raise OptionsError("a saved plan applies exactly its changes: --syntax-check, --list-*, --start-at-task "
                           "and --step take a playbook")
    if getattr(args, "out", None) and (len(playbooks) > 1 or args.start_at_task is not None or args.step):
        raise OptionsError("plan --out saves the plan of one whole playbook: not with several playbooks, "
                           "--start-at-task or --step")
    if args.step and not listing_wanted(args):
        if args.workers is not None or args.dask:
            raise OptionsError("--step asks on this terminal: not with --workers or --dask")
        if args.format != "console" or args.events == "-":
            raise OptionsError("--step prompts on stdout: use it with the console output")


def stepper(args: argparse.Namespace) -> Any:
    if not args.step:
        return None
    from .stepping import terminal_stepper

    return terminal_stepper()


def load_books(playbooks: Sequence[str], vault: Any, roles_path: Any) -> list[Any]:
    from . import api

    return [api.load_playbook_input(p, vault, roles_path) for p in playbooks]


def run_inputs(playbooks: Sequence[str], vault: Any, roles_path: Any) -> tuple[Any, tuple[int, ...]]:
    """The playbook argument of api.run: the path, or several combined (and where each ends)."""
    if len(playbooks) == 1:
        return playbooks[0], ()
    from .startat import combine

    return combine(load_books(playbooks, vault, roles_path))


def listing(args: argparse.Namespace, playbooks: Sequence[str], vault: Any, extra: dict[str, Any],
            tags: Sequence[str], skip: Sequence[str], roles_path: Any, inventory: Any) -> int:
    """--syntax-check / --list-hosts / --list-tasks / --list-tags: print as ansible-playbook, exit 0."""
    from .playlist import listing as render

    books = load_books(playbooks, vault, roles_path)  # every playbook loads (or fails, exit 4) before output
    text = render(list(zip(playbooks, books)), inventory, args.limit, extra, tags, skip, args.syntax,
                  args.listhosts, args.listtasks, args.listtags, vault, roles_path)
    sys.stdout.write(text + "\n")
    return 0
