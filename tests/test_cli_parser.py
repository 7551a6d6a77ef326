"""The command line's subcommand parsers are filled when first used (hvprov/cli.py `_Deferred`,
docs/cli-startup.md): the oracle is the same parser built eagerly (`build_parser(deferred=False)`,
plain argparse parsers filled at once, as the CLI always built them). Every help text, usage
error and parsed namespace must be the same."""

from __future__ import annotations

import argparse
import contextlib
import io
from typing import Any

import pytest

from hvprov.cli import _Deferred, build_parser, main

HELPS = [["--help"], *[[c, "--help"] for c in ("apply", "plan", "show", "inventory", "doc", "lab", "facts", "doctor")],
         *[["lab", c, "--help"] for c in ("reset", "status", "profiles", "up", "down", "alter", "import")]]
ARGVS = [
    [], ["--version"], ["--vers"], ["bogus"], ["apply"], ["plan"], ["inventory"], ["lab"], ["lab", "nope"], ["doc"],
    ["apply", "p.yml", "-i", "i.yml", "-f", "3", "--format", "json"], ["apply", "p.yml", "--form", "json"],
    ["apply", "x.yml", "--bogus"], ["plan", "x.yml", "-f", "z"], ["plan", "p.yml", "-i", "x", "-D", "-o", "o.json"],
    ["plan", "a.yml", "b.yml", "-t", "x,y", "--skip-tags", "z", "-e", "k=v", "-vvv", "--step"],
    ["apply", "p.yml", "--stale", "sometimes"], ["show", "plan.json", "--format", "markdown"],
    ["inventory", "-i", "x", "--list"], ["inventory", "-i", "x", "--list", "--graph"], ["inventory", "--toml", "-y"],
    ["lab", "alter", "h", "--stop-vm", "v"], ["lab", "up", "--latency", "x"], ["lab", "import", "d"],
    ["doctor", "-i", "x"], ["doctor"], ["facts", "-i", "x"], ["facts", "-i", "x", "--out", "d"], ["doc", "debug", "--json"],
]


def _outcome(parser: argparse.ArgumentParser, argv: list[str]) -> tuple[Any, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            result: Any = sorted(vars(parser.parse_args(argv)).items())
        except SystemExit as exc:
            result = ("exit", exc.code)
    return result, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("argv", HELPS + ARGVS, ids=lambda a: " ".join(a) or "(none)")
def test_deferred_parser_parses_and_reports_as_the_eager_one(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    assert _outcome(build_parser(), argv) == _outcome(build_parser(deferred=False), argv)


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


@pytest.mark.parametrize("method", ["format_help", "format_usage"])
def test_a_subcommand_formatted_before_any_parse_is_filled_first(method: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    lazy, eager = _subparsers(build_parser()), _subparsers(build_parser(deferred=False))
    assert list(lazy) == list(eager)
    for name in lazy:
        assert getattr(lazy[name], method)() == getattr(eager[name], method)(), name


def test_parsing_one_subcommand_builds_only_its_arguments() -> None:
    parser = build_parser()
    subs = _subparsers(parser)
    assert all(isinstance(p, _Deferred) and p._fill is not None for p in subs.values())
    parser.parse_args(["apply", "p.yml", "-i", "i.yml"])
    assert [n for n, p in subs.items() if p._fill is None] == ["apply"]
    assert len(subs["plan"]._actions) == 1  # only -h until it is used


def test_the_cli_reports_a_bad_option_of_a_deferred_subcommand_with_exit_5(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "p.yml", "--no-such-option"]) == 5
    assert "unrecognized arguments: --no-such-option" in capsys.readouterr().err
