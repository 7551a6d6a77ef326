"""Ansible-like console output: a line per host and task as each completes, diffs, a PLAY
RECAP, a live view of what every host is doing (terminals) or a heartbeat (pipes, CI).

Result lines are printed the moment a task (or a loop item) completes, as ansible-playbook
does; a terminal additionally gets a live area below them, one row per working host (never
wrapped, so Rich erases exactly the rows it drew). Every text from a host or an input file
goes through `safe_text`: terminal control characters are shown escaped, never sent raw.
"""

from __future__ import annotations

import re
import threading
import time
from typing import TYPE_CHECKING, Any

from rich.console import Console, ConsoleOptions, RenderResult
from rich.markup import escape
from rich.segment import Segment

if TYPE_CHECKING:  # the live area's modules are imported when a terminal shows one
    from rich.live import Live
    from rich.table import Table

from ..model import Action, Change, RunResult, Status, TaskResult
from ..secrets import SecretRegistry
from .text import plural, safe_text, show_value

STYLE = {
    Status.OK: "green",
    Status.CHANGED: "yellow",
    Status.FAILED: "bold red",
    Status.UNREACHABLE: "bold red",
    Status.SKIPPED: "cyan",
}
SYMBOL = {"create": "+", "install": "+", "start": ">", "update": "~", "delete": "-", "remove": "-",
          "stop": "#", "reboot": "!", "run": "?", "verify": "="}
LIVE_ROWS = 20
# What rich's Console.print(escape(text)) would change in a line (so such a line goes through rich):
# emoji codes (`:smile:`, rich's pattern needs two colons with no space between), tabs (expanded),
# a final backslash (escape() doubles it, rich prints it doubled) and a backslash before a bracket
# (rich's markup drops it).
_EMOJI_CODE = re.compile(r":[^\s:]*:")


class RenderedOnce:
    """A renderable drawn once per set of console options: the live area is drawn again under every
    printed line, while its content only changes when Live refreshes it (4 a second). The lines are
    rich's own rendering of the table, so the bytes are the same (tests/test_console_output.py)."""

    def __init__(self, renderable: Any) -> None:
        self.renderable = renderable
        self._cache: tuple[tuple[Any, ...], list[list[Segment]]] | None = None  # one tuple: threads read it

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        key = (options.size, options.min_width, options.max_width, options.max_height, options.justify,
               options.overflow, options.no_wrap, options.is_terminal, options.encoding, options.legacy_windows)
        cache = self._cache
        if cache is None or cache[0] != key:
            cache = self._cache = (key, console.render_lines(self.renderable, options, pad=False))
        new_line = Segment.line()
        for i, line in enumerate(cache[1]):
            if i:
                yield new_line
            yield from line


def change_lines(c: Change, diff: bool) -> list[str]:
    sym = SYMBOL.get(c.action.value, "*")
    head = f"{sym} {c.resource} ({c.action.value})"
    if c.disruptive:
        head += " [disruptive]"
    if c.unknown:
        head += " [effect unknown]"
    lines = [head + (f": {c.reason}" if c.reason else "")]
    if diff:
        keys = list(dict.fromkeys([*c.before, *c.after]))
        for k in keys:
            b, a = c.before.get(k, None), c.after.get(k, None)
            if k in c.before and k in c.after and b != a:
                lines.append(f"    ~ {k}: {show_value(b)} → {show_value(a)}")
            elif k in c.after and k not in c.before:
                lines.append(f"    + {k}: {show_value(a)}")
            elif k in c.before and k not in c.after:
                lines.append(f"    - {k}: {show_value(b)}")
    return lines


class ConsoleReporter:
    """Receives events (thread-safe: the runner serialises calls) and prints as they happen."""

    def __init__(self, console: Console | None = None, *, diff: bool = False, verbosity: int = 0,
                 secrets: SecretRegistry | None = None, live: bool | None = None,
                 heartbeat: float = 30.0) -> None:
        self.console = console or Console(highlight=False, soft_wrap=True)
        self.diff = diff
        self.verbosity = verbosity
        self.secrets = secrets or SecretRegistry()
        self._live_wanted = self.console.is_terminal if live is None else live
        self._live: Live | None = None
        self._current: dict[str, tuple[str, float]] = {}  # host -> (what it is doing, since)
        self._last_fail: dict[str, str] = {}
        self._looped: set[str] = set()  # hosts whose running task reported loop items
        self._lock = threading.RLock()
        self._mode = "apply"
        self._heartbeat = heartbeat
        self._last_output = time.monotonic()
        self._stop_beat = threading.Event()
        self._beat: threading.Thread | None = None
        self._codes: dict[str | None, tuple[str, str] | None] = {}  # style -> rich's codes around a line

    # -- output -----------------------------------------------------------------
    def _print(self, text: str, style: str | None = None) -> None:
        text = safe_text(self.secrets.scrub(text))
        plain = (self._live is None and "\t" not in text and not text.endswith("\\") and "\\[" not in text
                 and not _EMOJI_CODE.search(text))
        codes = (self._codes[style] if style in self._codes else self._plain_codes(style)) if plain else None
        if codes is None:
            self.console.print(escape(text), style=style, soft_wrap=True)
        else:  # the same characters rich writes for this line, without rich's per-line rendering
            prefix, suffix = codes
            if prefix or suffix:
                text = "\n".join(prefix + line + suffix if line else "" for line in text.split("\n"))
            try:
                self.console.file.write(text + "\n")
                self.console.file.flush()
            except BrokenPipeError:
                self.console.on_broken_pipe()  # as rich does
        self._last_output = time.monotonic()

    def _plain_codes(self, style: str | None) -> tuple[str, str] | None:
        """The escape codes rich puts around each line of `style` on this console, or None where
        rich must render (Jupyter, legacy Windows, recording, quiet). Learnt from rich itself: the
        console renders a marker once per style (docs/cli-startup.md)."""
        if style in self._codes:
            return self._codes[style]
        c = self.console
        codes = None
        if not (c.is_jupyter or c.legacy_windows or c.record or c.quiet):
            with c.capture() as cap:
                c.print("X", style=style, soft_wrap=True)
            out = cap.get()
            if out.count("X") == 1 and out.endswith("\n") and "\n" not in out[:-1]:
                prefix, suffix = out[:-1].split("X")
                codes = (prefix, suffix)
        self._codes[style] = codes
        return codes

    def _live_area(self) -> RenderedOnce:
        return RenderedOnce(self._table())

    def _table(self) -> Table:
        from rich.table import Table
        from rich.text import Text

        t = Table.grid(padding=(0, 2))
        t.add_column(no_wrap=True, overflow="ellipsis")
        t.add_column(no_wrap=True, overflow="ellipsis")
        # called by Live's refresh thread (4 a second) without our lock (Live holds its own lock while
        # it asks, and printing takes that lock under ours): a copy is one atomic step for str keys
        rows = sorted(self._current.copy().items())
        for host, (what, _) in rows[:LIVE_ROWS]:
            t.add_row(Text(safe_text(host), style="bold"), Text(safe_text(self.secrets.scrub(what))))
        if len(rows) > LIVE_ROWS:
            t.add_row("…", f"{len(rows) - LIVE_ROWS} more hosts working")
        if not rows:  # never an empty renderable: the live area always has a row to erase
            t.add_row("", "")
        return t

    def __call__(self, event: dict[str, Any]) -> None:
        with self._lock:
            self._handle(event)

    def _handle(self, ev: dict[str, Any]) -> None:
        kind, host = ev["event"], ev.get("host")
        if kind == "task_done" and host:  # the two events of every host-task first (each kind is one branch)
            self._task_done(host, ev["result"])
        elif kind == "task_started" and host:
            self._current[host] = (ev.get("task", ""), time.monotonic())
        elif kind == "run_started":
            self._start(ev)
        elif kind == "play_started":
            self._print(f"\nPLAY [{ev['name']}] " + "*" * max(3, 60 - len(ev["name"])), "bold")
        elif kind == "warning":
            self._print(f"[WARNING]: {ev.get('message', '')}", "magenta")
        elif kind == "play_aborted":
            self._print(f"PLAY ABORTED [{ev['name']}]: {ev['reason']}", "bold red")
        elif kind == "progress" and host:
            self._current[host] = (ev.get("message", ""), self._current.get(host, ("", time.monotonic()))[1])
            if self.verbosity:
                self._print(f"  [{host}] {ev.get('message', '')}", "dim")
        elif kind == "task_retry" and host:  # ansible-core's retry line
            self._print(f"FAILED - RETRYING: [{host}]: {ev.get('task', '')} ({ev.get('left', 0)} retries left).", "yellow")
        elif kind == "item_done" and host:
            self._item_done(host, ev)
        elif kind == "host_done" and host:
            self._current.pop(host, None)
            if ev.get("status") in ("failed", "unreachable") and ev.get("msg") and ev["msg"] != self._last_fail.get(host):
                self._print(f"{ev['status']}: [{host}] {ev['msg']}", STYLE[Status(ev["status"])])
            elif str(ev.get("msg", "")).startswith("interrupted"):
                self._print(f"interrupted: [{host}] {ev['msg']}", "magenta")
        elif kind == "script_run" and host and self.verbosity >= 3:
            self._print(f"  [{host}] ran {ev['template']} ({ev['outcome']}, {ev['duration']:.3f} s)", "dim")

    def _start(self, ev: dict[str, Any]) -> None:
        self._mode = ev.get("mode", "apply")
        title = "PLAN (dry run: nothing will be changed)" if self._mode == "plan" else "APPLY"
        self._print(f"{title} {ev.get('playbook', '')}", "bold")
        if self._live_wanted:
            from rich.live import Live

            # the live area is built when Live refreshes it, not on every event
            self._live = Live(console=self.console, refresh_per_second=4, transient=True,
                              vertical_overflow="crop", get_renderable=self._live_area)
            self._live.start()
        elif self._heartbeat > 0 and self._beat is None:
            self._beat = threading.Thread(target=self._beats, name="hvprov-heartbeat", daemon=True)
            self._beat.start()

    def _beats(self) -> None:
        """Pipes and CI: a line at least every `heartbeat` seconds while hosts work silently."""
        while not self._stop_beat.wait(min(1.0, self._heartbeat)):
            with self._lock:
                now = time.monotonic()
                if self._current and now - self._last_output >= self._heartbeat:
                    parts = [f"{h}: {what} ({now - since:.0f} s)" for h, (what, since) in sorted(self._current.items())]
                    shown = "; ".join(parts[:5]) + (f"; {len(parts) - 5} more" if len(parts) > 5 else "")
                    self._print(f"... still working ({plural(len(parts), 'host')}): {shown}", "dim")

    def _label(self, status: Status) -> str:
        if self._mode == "plan" and status is Status.CHANGED:
            return "would change"
        return status.value

    def _item_done(self, host: str, ev: dict[str, Any]) -> None:
        status = Status(ev["status"])
        self._looped.add(host)
        if status is Status.SKIPPED and not self.verbosity:
            return
        text = f"{self._label(status)}: [{host}] {ev.get('task', '')} => (item={ev.get('item', '')})"
        if ev.get("msg"):
            text += f" {ev['msg']}"
        self._print(text, STYLE.get(status))

    def _task_done(self, host: str, r: TaskResult) -> None:
        looped = host in self._looped
        self._looped.discard(host)
        if r.status is Status.SKIPPED and not self.verbosity:
            return
        failed = r.status in (Status.FAILED, Status.UNREACHABLE)
        if failed:
            self._last_fail[host] = r.msg
        if failed or r.blocked or not looped:  # a loop's items have said it, line by line
            label = "blocked" if r.blocked else self._label(r.status) + (" (ignored)" if r.ignored else "")
            text = f"{label}: [{host}] {r.name}"
            if r.msg and (r.status is not Status.OK or self.verbosity or r.module in ("debug", "assert")):
                text += f" => {r.msg}"
            self._print(text, STYLE.get(r.status))
        if r.changes and (self.diff or self._mode == "plan" or self.verbosity):
            for c in r.changes:
                for line in change_lines(c, self.diff):
                    self._print("    " + line, "yellow" if c.mutating else "dim")

    # -- documents and the recap -------------------------------------------------
    def show_document(self, doc: dict[str, Any], title: str = "") -> None:
        """Render a run document or saved plan (dicts, as written to JSON)."""
        self._mode = doc.get("mode", "plan")
        if title:
            self._print(title, "bold")
        for name in sorted(doc["hosts"]):
            h = doc["hosts"][name]
            status = Status(h["status"])
            self._print(f"\n{name}: {status.value}" + (f" => {h['msg']}" if h.get("msg") else ""), STYLE[status])
            for t in h["tasks"]:
                for c in t.get("changes", []):
                    change = Change(c["resource"], Action(c["action"]), c.get("before", {}), c.get("after", {}),
                                    c.get("reason", ""), c.get("disruptive", False), c.get("unknown", False))
                    for line in change_lines(change, self.diff):
                        self._print("    " + line, "yellow" if change.mutating else "dim")
        s = doc.get("summary", {})
        unknown = f" ({s['unknown']} unknown until applied)" if s.get("unknown") else ""
        self._print(f"\n{plural(len(doc['hosts']), 'host')}; {plural(s.get('changes', 0), 'change')}{unknown}", "bold")

    def close(self) -> None:
        self._stop_beat.set()
        with self._lock:
            if self._live is not None:
                self._live.stop()
                self._live = None

    def recap(self, result: RunResult) -> None:
        self.close()
        self._print("\nPLAY RECAP " + "*" * 60, "bold")
        width = max((len(safe_text(n)) for n in result.hosts), default=10)
        for name in sorted(result.hosts):
            h = result.hosts[name]
            counts = recap_counts(h.tasks, h.status)
            line = (f"{safe_text(name).ljust(width)} : ok={counts['ok']:<3} changed={counts['changed']:<3} "
                    f"unreachable={counts['unreachable']:<3} failed={counts['failed']:<3} "
                    f"skipped={counts['skipped']:<3} ignored={counts['ignored']:<3} "
                    f"changes={h.change_count:<3} unknown={h.unknown_count:<3} round_trips={h.round_trips}")
            if h.msg.startswith("interrupted"):
                line += "  (interrupted)"
            self._print(line, STYLE[h.status])
        s = result.summary()
        verb = "to make" if result.mode == "plan" else "made"
        self._print(f"\n{plural(len(result.hosts), 'host')}: " + ", ".join(f"{v} {k}" for k, v in s["hosts"].items() if v)
                    + f"; {plural(s['changes'], 'change')} {verb}"
                    + (f" ({s['unknown']} unknown until applied)" if s["unknown"] else "")
                    + (" (interrupted)" if result.interrupted else ""), "bold")


def recap_counts(tasks: tuple[TaskResult, ...], host_status: Status) -> dict[str, int]:
    """The PLAY RECAP numbers of one host. A host that failed or was unreachable outside any task
    (a stale plan, a bad sim_profile) counts one, so the row agrees with the summary."""
    counts = {s: 0 for s in ("ok", "changed", "unreachable", "failed", "skipped", "ignored")}
    for t in tasks:
        if t.ignored:
            counts["ignored"] += 1
        elif t.status.value in counts:
            counts[t.status.value] += 1
    if host_status in (Status.CHANGED, Status.OK):
        counts["ok"] += counts["changed"]
    if host_status in (Status.FAILED, Status.UNREACHABLE) and counts[host_status.value] == 0:
        counts[host_status.value] = 1
    return counts
