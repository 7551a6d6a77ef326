"""The console reporter writes the bytes rich writes (docs/cli-startup.md).

A result line that rich would print unchanged (no emoji code, no tab) is written directly, with the
escape codes rich puts around a line of that style; the live area on a terminal is rendered once per
refresh instead of once per printed line. The oracle is rich itself: every check renders the same
text through rich's `Console.print` (and `LiveRender`) and compares the bytes, on plain and
coloured consoles, for a fixed corpus, random text and a whole run's events.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console
from rich.live_render import LiveRender
from rich.markup import escape

import hvprov
from hvprov.report.console import STYLE, ConsoleReporter, RenderedOnce
from hvprov.report.text import safe_text
from hvprov.secrets import Secret, SecretRegistry

CONSOLES: dict[str, dict[str, Any]] = {
    "pipe": {},  # not a terminal: no colour
    "standard": {"force_terminal": True, "color_system": "standard"},
    "256": {"force_terminal": True, "color_system": "256"},
    "truecolor": {"force_terminal": True, "color_system": "truecolor"},
    "no_color": {"force_terminal": True, "color_system": "truecolor", "no_color": True},
    "narrow": {"force_terminal": True, "color_system": "256", "width": 12},
}
STYLES = [None, "bold", "dim", "magenta", "yellow", *{s for s in STYLE.values()}]
CORPUS = [
    "", "ok: [h1] say => h1", "\nPLAY [web] ***", "two\nlines", "trailing spaces   ", "   leading",
    "\n\nblank lines\n\n", "[bold]not markup[/bold]", "[/]", "\\[escaped]", "ends with a backslash \\",
    "\\", "[link=http://x]y[/link]", "ünïcödé → … 漢字 and emoji ✅", "right-to-left \u05d0\u05d1",
    "a very long line " * 20, "C:\\Hyper-V\\disk.vhdx", "50% [x] (y) {z}", "changed: [h1] a => {'k': [1, 2]}",
    # rich changes these: the reporter hands them to rich
    "emoji :smile: code", "ok: [h1] at 12:30:00", "tab\there", "::", ":thumbs_up:",
    # control characters reach rich escaped by safe_text, as before
    "bell \x07 escape \x1b[31m red \r return \x7f del \u202e bidi",
]


def _console(buf: io.StringIO, config: dict[str, Any]) -> Console:
    return Console(file=buf, highlight=False, soft_wrap=True, **config)


def _rich(text: str, style: str | None, config: dict[str, Any]) -> str:
    """What rich writes for one reporter line (the reporter's output before this cut)."""
    buf = io.StringIO()
    _console(buf, config).print(escape(safe_text(text)), style=style, soft_wrap=True)
    return buf.getvalue()


def _reporter(buf: io.StringIO, config: dict[str, Any], *, rich_only: bool = False) -> ConsoleReporter:
    cls = _RichOnly if rich_only else ConsoleReporter
    return cls(_console(buf, config), live=False, heartbeat=0)


class _RichOnly(ConsoleReporter):
    """The reporter with every line printed by rich (the oracle for whole runs)."""

    def _plain_codes(self, style: str | None) -> None:
        return None


def _ours(text: str, style: str | None, config: dict[str, Any]) -> tuple[str, ConsoleReporter]:
    buf = io.StringIO()
    reporter = _reporter(buf, config)
    reporter._print(text, style)
    return buf.getvalue(), reporter


@pytest.mark.parametrize("config", list(CONSOLES.values()), ids=list(CONSOLES))
@pytest.mark.parametrize("style", STYLES)
def test_every_line_is_the_bytes_rich_writes(config: dict[str, Any], style: str | None) -> None:
    for text in CORPUS:
        ours, reporter = _ours(text, style, config)
        assert ours == _rich(text, style, config), (text, style)
        if text == "ok: [h1] say => h1":  # the common line took the direct path
            assert reporter._codes.get(style) is not None


def test_a_coloured_line_carries_rich_codes_on_each_line() -> None:
    """The direct path is exercised with colour: rich's codes around each non-empty line."""
    ours, reporter = _ours("\nPLAY [x]\n", "bold", CONSOLES["256"])
    assert reporter._codes["bold"] == ("\x1b[1m", "\x1b[0m")
    assert ours == "\n\x1b[1mPLAY [x]\x1b[0m\n\n" == _rich("\nPLAY [x]\n", "bold", CONSOLES["256"])


@settings(max_examples=300, deadline=None)
@given(text=st.text(), style=st.sampled_from(STYLES), config=st.sampled_from(list(CONSOLES)))
def test_random_text_is_the_bytes_rich_writes(text: str, style: str | None, config: str) -> None:
    assert _ours(text, style, CONSOLES[config])[0] == _rich(text, style, CONSOLES[config])


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet="[]\\/:=@#ab \n\t→", max_size=30), style=st.sampled_from(STYLES),
       config=st.sampled_from(list(CONSOLES)))
def test_markup_like_text_is_the_bytes_rich_writes(text: str, style: str | None, config: str) -> None:
    """Brackets, backslashes and colons: what rich's markup and emoji parsing would touch."""
    assert _ours(text, style, CONSOLES[config])[0] == _rich(text, style, CONSOLES[config])


def test_a_secret_is_masked_on_the_direct_path() -> None:
    registry = SecretRegistry()
    registry.collect({"ansible_password": Secret("hunter2-pw")})
    buf = io.StringIO()
    reporter = ConsoleReporter(_console(buf, {}), live=False, heartbeat=0, secrets=registry)
    reporter._print("ok: [h1] the password is hunter2-pw")
    assert "hunter2-pw" not in buf.getvalue() and buf.getvalue().startswith("ok: [h1] the password is ")


PLAYBOOK = [{"hosts": "all", "gather_facts": False, "tasks": [
    {"name": "say [bold]hi[/bold] ünï → {{ inventory_hostname }}", "debug": {"msg": "{{ inventory_hostname }} → ✅"}},
    {"name": "emoji :smile: and tab\there", "debug": {"msg": "12:30:00"}},
    {"set_fact": {"x": 1}},
    {"name": "loop", "debug": {"msg": "{{ item }}"}, "loop": ["a", "[b]", "c:d:"]},
    {"name": "fails", "assert": {"that": ["x == 2"], "fail_msg": "x is {{ x }} [red]"}, "ignore_errors": True},
    {"name": "skipped", "debug": {"msg": "no"}, "when": "x == 3"},
    {"name": "stops", "fail": {"msg": "stop here"}, "when": "inventory_hostname == 'h2'"},
]}]


def _events(tmp_path: Path, mode: str) -> tuple[list[dict[str, Any]], Any]:
    inv = tmp_path / "inv.yml"
    inv.write_text(yaml.safe_dump({"all": {"hosts": {f"h{i}": {"ansible_connection": "sim"} for i in range(3)}}}))
    book = tmp_path / "pb.yml"
    book.write_text(yaml.safe_dump(PLAYBOOK, allow_unicode=True))
    events: list[dict[str, Any]] = []
    result = hvprov.run(str(book), hvprov.load_inventory([str(inv)]), mode=mode, lab_dir=tmp_path / "lab",
                        on_event=events.append, forks=1)
    return events, result


@pytest.mark.parametrize("config", ["pipe", "256", "no_color"])
@pytest.mark.parametrize("verbosity", [0, 1])
def test_a_whole_run_prints_what_rich_printed(tmp_path: Path, config: str, verbosity: int) -> None:
    events, result = _events(tmp_path, "apply")
    outputs = []
    for rich_only in (False, True):
        buf = io.StringIO()
        reporter = _RichOnly if rich_only else ConsoleReporter
        r = reporter(_console(buf, CONSOLES[config]), live=False, heartbeat=0, verbosity=verbosity)
        for ev in events:
            r(ev)
        r.recap(result)
        outputs.append(buf.getvalue())
    assert outputs[0] == outputs[1]
    assert "failed: [h2] stops" in outputs[0] and "PLAY RECAP" in outputs[0]


def test_a_saved_plan_shows_what_rich_showed(tmp_path: Path) -> None:
    _, result = _events(tmp_path, "plan")
    outputs = []
    for cls in (ConsoleReporter, _RichOnly):
        buf = io.StringIO()
        cls(_console(buf, CONSOLES["256"]), live=False, diff=True).show_document(result.to_dict(), title="saved [x]")
        outputs.append(buf.getvalue())
    assert outputs[0] == outputs[1] and "saved [x]" in outputs[0]


@pytest.mark.parametrize("width,height", [(100, 30), (30, 8), (12, 3)])
@pytest.mark.parametrize("hosts", [0, 3, 25])
def test_the_live_area_is_the_lines_rich_renders(width: int, height: int, hosts: int) -> None:
    """The cached live area gives LiveRender the segments the table itself gives, every time."""
    console = _console(io.StringIO(), {"force_terminal": True, "color_system": "256", "width": width,
                                        "height": height})
    reporter = ConsoleReporter(console, live=False, heartbeat=0)
    for i in range(hosts):
        reporter._current[f"host-{i:02d}.example"] = (f"task {i} ünï [x] " + "long " * i, 0.0)
    table, cached = reporter._table(), reporter._live_area()
    expected = list(console.render(LiveRender(table, vertical_overflow="crop"), console.options))
    for _ in range(2):  # the second time comes from the cache
        assert list(console.render(LiveRender(cached, vertical_overflow="crop"), console.options)) == expected
    narrower = console.options.update_width(max(1, width // 2))
    assert list(console.render(LiveRender(cached), narrower)) == list(console.render(LiveRender(table), narrower))
    assert isinstance(cached, RenderedOnce)
