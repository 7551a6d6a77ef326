"""`hvprov --help`, `--version` and a usage error import only the parser (issue 15 item 4, phase 7).

The commands live in hvprov/clirun.py and are imported by main() once argparse has read the
command line; hvprov, hvprov.cli and hvprov.cliargs annotate without importing typing. Each check
runs a fresh interpreter (a module imported by an earlier test would hide a regression) and reads
`sys.modules`; what the process prints is compared with the parser built eagerly in this process
(`build_parser(deferred=False)`, the oracle of tests/test_cli_parser.py). Figures: docs/cli-startup.md.
"""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys

import pytest

from hvprov.cli import build_parser

# what a parse that ends in argparse (help, version, usage error) must not import
NOT_FOR_PARSING = ("typing", "dataclasses", "inspect", "json", "signal", "hvprov.clirun", "hvprov.config",
                   "hvprov.errors", "hvprov.report.text", "hvprov.api", "pydantic", "jinja2", "yaml")

PROBE = """
import contextlib, io, sys
watch = sys.argv[1].split(",")
import hvprov.cli
out, err = io.StringIO(), io.StringIO()
with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
    rc = hvprov.cli.main(sys.argv[2:])
loaded = [m for m in watch if m in sys.modules]  # before this probe imports json to answer
import json
print(json.dumps({"rc": rc, "out": out.getvalue(), "err": err.getvalue(), "loaded": loaded}))
"""


def _probe(*argv: str) -> dict[str, object]:
    proc = subprocess.run([sys.executable, "-c", PROBE, ",".join(NOT_FOR_PARSING), *argv], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _eager(*argv: str) -> dict[str, object]:
    """The same command line through the parser built at once, in this process: rc as main() maps it."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            build_parser(deferred=False).parse_args(list(argv))
            rc = None
        except SystemExit as exc:
            rc = 0 if exc.code == 0 else 5
    return {"rc": rc, "out": out.getvalue(), "err": err.getvalue()}


@pytest.mark.parametrize("argv", [("--help",), ("--version",), ("apply", "--help"), ("plan", "--help"),
                                  ("lab", "up", "--help"), ("apply",), ("bogus",), ("apply", "pb.yml", "--forks", "x")])
def test_a_parse_that_ends_in_argparse_imports_none_of_the_commands(argv: tuple[str, ...]) -> None:
    got = _probe(*argv)
    assert got.pop("loaded") == [], got
    assert got == _eager(*argv) and got["rc"] in (0, 5)


def test_a_command_still_imports_its_machinery_and_maps_its_errors(tmp_path: object) -> None:
    """Past the parse, main() imports the commands: an input error is still exit 5 with its message."""
    got = _probe("apply", "pb.yml")  # no inventory: OptionsError raised by hvprov.clirun
    assert got["rc"] == 5 and got["err"].startswith("ERROR: -i/--inventory is required"), got
    assert {"hvprov.clirun", "hvprov.errors", "hvprov.config"} <= set(got["loaded"])
