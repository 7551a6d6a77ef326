"""Argument parsers of `hvprov facts`, `hvprov lab import` and `hvprov doctor`, apart from their
logic (hvprov/fleetfacts.py, hvprov/doctor.py) so that `hvprov --help` imports neither."""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (type checkers take the name as true)

if TYPE_CHECKING:  # annotations only: `hvprov --help` imports no typing
    from typing import Any


def add_fleetfacts_parsers(sub: Any, lab_sub: Any) -> None:
    add_facts_args(sub.add_parser("facts", help="save each host's facts (secrets masked) for a lab twin"))
    add_lab_import_parser(lab_sub)


def add_facts_args(p: Any) -> None:
    p.add_argument("-i", "--inventory", action="append", required=True)
    p.add_argument("-l", "--limit")
    p.add_argument("--out", required=True, help="directory for <host>.json")
    p.add_argument("--hash-names", action="store_true", help="replace host, VM and switch names by salted hashes")
    p.add_argument("--hash-salt", help="salt for --hash-names (default: random)")
    p.add_argument("--lab-dir")
    p.add_argument("--vault-id", dest="vault_ids", action="append", default=[])
    p.add_argument("--vault-password-file", dest="vault_password_files", action="append", default=[])
    p.add_argument("-J", "--ask-vault-pass", dest="ask_vault_pass", action="store_true")
    p.set_defaults(ask_pass=False)


def add_lab_import_parser(lab_sub: Any) -> None:
    lp = lab_sub.add_parser("import", help="create lab hosts (a sim inventory) from `hvprov facts` files")
    lp.add_argument("facts_dir")
    lp.add_argument("--out", help="inventory file to write (default: <facts_dir>/lab.yml)")
    lp.add_argument("--lab-dir")


def add_doctor_parser(sub: Any) -> None:
    add_doctor_args(sub.add_parser("doctor", help="read-only first-contact checklist per host, with the fix for each failure"))


def add_doctor_args(p: Any) -> None:
    p.add_argument("-i", "--inventory", action="append", required=True)
    p.add_argument("-l", "--limit")
    p.add_argument("--format", choices=("console", "json"), default="console")
    p.add_argument("--lab-dir")
    p.add_argument("--vault-id", dest="vault_ids", action="append", default=[])
    p.add_argument("--vault-password-file", dest="vault_password_files", action="append", default=[])
    p.add_argument("-J", "--ask-vault-pass", dest="ask_vault_pass", action="store_true")
    p.set_defaults(ask_pass=False)


def add_playbook_flags(p: Any) -> None:
    """ansible-playbook's listing, checking and stepping flags on `hvprov apply` / `hvprov plan`
    (hvprov/playcli.py, docs/cli.md)."""
    p.add_argument("--syntax-check", dest="syntax", action="store_true",
                   help="load and validate the playbook(s) only; touch no host")
    p.add_argument("--list-hosts", dest="listhosts", action="store_true", help="list the hosts each play would run on")
    p.add_argument("--list-tasks", dest="listtasks", action="store_true", help="list the tasks that would run")
    p.add_argument("--list-tags", dest="listtags", action="store_true", help="list the tags in use")
    p.add_argument("--start-at-task", metavar="NAME",
                   help="start at the first task named NAME (or 'role : NAME'; fnmatch patterns)")
    p.add_argument("--step", action="store_true", help="ask before each task: (N)o/(y)es/(c)ontinue (needs a terminal)")
