"""Ansible-like console output: a line per host and task, diffs, a PLAY RECAP, a live view."""

from __future__ import annotations

import threading
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from ..model import Action, Change, RunResult, Status, TaskResult
from ..secrets import SecretRegistry

STYLE = {
    Status.OK: "green",
    Status.CHANGED: "yellow",
    Status.FAILED: "bold red",
    Status.UNREACHABLE: "bold red",
    Status.SKIPPED: "cyan",
}
SYMBOL = {"create": "+", "install": "+", "start": ">", "update": "~", "delete": "-", "remove": "-",
          "stop": "#", "reboot": "!", "run": "?", "verify": "="}


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "null"
    return str(v)


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
                lines.append(f"    ~ {k}: {_value(b)} → {_value(a)}")
            elif k in c.after and k not in c.before:
                lines.append(f"    + {k}: {_value(a)}")
            elif k in c.before and k not in c.after:
                lines.append(f"    - {k}: {_value(b)}")
    return lines


class ConsoleReporter:
    """Receives events (thread-safe: the runner serialises calls) and prints as they happen."""

    def __init__(self, console: Console | None = None, *, diff: bool = False, verbosity: int = 0,
                 secrets: SecretRegistry | None = None, live: bool | None = None) -> None:
        self.console = console or Console(highlight=False, soft_wrap=True)
        self.diff = diff
        self.verbosity = verbosity
        self.secrets = secrets or SecretRegistry()
        self._live_wanted = self.console.is_terminal if live is None else live
        self._live: Live | None = None
        self._current: dict[str, str] = {}
        self._blocks: dict[str, list[tuple[str, str | None]]] = {}  # per-host lines until the host is done
        self._last_fail: dict[str, str] = {}
        self._lock = threading.Lock()
        self._mode = "apply"

    def _print(self, text: str, style: str | None = None) -> None:
        self.console.print(escape(self.secrets.scrub(text)), style=style, soft_wrap=True)

    def _host_line(self, host: str, text: str, style: str | None = None) -> None:
        """Lines of one host are printed together when it finishes the play (readable plans)."""
        self._blocks.setdefault(host, []).append((text, style))

    def _flush(self, host: str) -> None:
        for text, style in self._blocks.pop(host, []):
            self._print(text, style)

    def _table(self) -> Table:
        t = Table.grid(padding=(0, 2))
        for host, what in sorted(self._current.items())[:20]:
            t.add_row(f"[bold]{escape(host)}[/]", escape(self.secrets.scrub(what)))
        if len(self._current) > 20:
            t.add_row("…", f"{len(self._current) - 20} more hosts working")
        return t

    def __call__(self, event: dict[str, Any]) -> None:
        with self._lock:
            self._handle(event)

    def _handle(self, ev: dict[str, Any]) -> None:
        kind, host = ev["event"], ev.get("host")
        if kind == "run_started":
            self._mode = ev.get("mode", "apply")
            title = "PLAN (dry run: nothing will be changed)" if self._mode == "plan" else "APPLY"
            self._print(f"{title} {ev.get('playbook', '')}", "bold")
            if self._live_wanted:
                self._live = Live(self._table(), console=self.console, refresh_per_second=4, transient=True)
                self._live.start()
        elif kind == "play_started":
            self._print(f"\nPLAY [{ev['name']}] " + "*" * max(3, 60 - len(ev["name"])), "bold")
        elif kind == "play_aborted":
            self._print(f"PLAY ABORTED [{ev['name']}]: {ev['reason']}", "bold red")
        elif kind == "task_started" and host:
            self._current[host] = ev.get("task", "")
        elif kind == "progress" and host:
            self._current[host] = ev.get("message", "")
            if self.verbosity:
                self._host_line(host, f"  [{host}] {ev.get('message', '')}", "dim")
        elif kind == "task_done" and host:
            self._task_done(host, ev["result"])
        elif kind == "host_done" and host:
            self._current.pop(host, None)
            if ev.get("status") in ("failed", "unreachable") and ev.get("msg") and ev["msg"] != self._last_fail.get(host):
                self._host_line(host, f"{ev['status']}: [{host}] {ev['msg']}", STYLE[Status(ev["status"])])
            self._flush(host)
        elif kind == "script_run" and host and self.verbosity >= 3:
            self._host_line(host, f"  [{host}] ran {ev['template']} ({ev['outcome']}, {ev['duration']:.3f} s)", "dim")
        if self._live is not None:
            self._live.update(self._table())

    def _task_done(self, host: str, r: TaskResult) -> None:
        if r.status is Status.SKIPPED and not self.verbosity:
            return
        label = r.status.value
        if self._mode == "plan" and r.status is Status.CHANGED:
            label = "would change"
        if r.ignored:
            label += " (ignored)"
        text = f"{label}: [{host}] {r.name}"
        if r.msg and (r.status is not Status.OK or self.verbosity or r.module in ("debug", "assert")):
            text += f" => {r.msg}"
        if r.status in (Status.FAILED, Status.UNREACHABLE):
            self._last_fail[host] = r.msg
        self._host_line(host, text, STYLE.get(r.status))
        if r.changes and (self.diff or self._mode == "plan" or self.verbosity):
            for c in r.changes:
                for line in change_lines(c, self.diff):
                    self._host_line(host, "    " + line, "yellow" if c.mutating else "dim")

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
        self._print(f"\n{len(doc['hosts'])} hosts; {s.get('changes', 0)} changes{unknown}", "bold")

    def close(self) -> None:
        for host in list(self._blocks):
            self._flush(host)
        if self._live is not None:
            self._live.stop()
            self._live = None

    def recap(self, result: RunResult) -> None:
        self.close()
        self._print("\nPLAY RECAP " + "*" * 60, "bold")
        width = max((len(n) for n in result.hosts), default=10)
        for name in sorted(result.hosts):
            h = result.hosts[name]
            counts = {s: 0 for s in ("ok", "changed", "unreachable", "failed", "skipped", "ignored")}
            for t in h.tasks:
                if t.ignored:
                    counts["ignored"] += 1
                elif t.status.value in counts:
                    counts[t.status.value] += 1
            if h.status is Status.CHANGED or h.status is Status.OK:
                counts["ok"] += counts["changed"]
            line = (f"{name.ljust(width)} : ok={counts['ok']:<3} changed={counts['changed']:<3} "
                    f"unreachable={counts['unreachable']:<3} failed={counts['failed']:<3} "
                    f"skipped={counts['skipped']:<3} ignored={counts['ignored']:<3} "
                    f"changes={h.change_count:<3} unknown={h.unknown_count:<3} round_trips={h.round_trips}")
            self._print(line, STYLE[h.status])
        s = result.summary()
        verb = "to make" if result.mode == "plan" else "made"
        self._print(f"\n{len(result.hosts)} hosts: " + ", ".join(f"{v} {k}" for k, v in s["hosts"].items() if v)
                    + f"; {s['changes']} changes {verb}" + (f" ({s['unknown']} unknown until applied)" if s["unknown"] else "")
                    + (" (interrupted)" if result.interrupted else ""), "bold")
