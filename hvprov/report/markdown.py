"""A Markdown summary of a run document for a code-review comment (GitHub/GitLab flavoured).

`render_markdown(doc)` reads the run document (`RunResult.to_dict()`, or a saved plan file's
JSON), so a plan can be rendered long after it was made. Output is deterministic: hosts,
switches and VMs sorted by name, attributes sorted by key, no timestamps or durations, so two
plans of the same lab diff cleanly.

Layout: a heading with the mode and totals; a table with one row per host (status, adds,
changes, destroys, reboots, unknowns, and the message of failed/unreachable hosts); then one
`<details>` block per host with its changes as a terraform-style ```diff block, changes whose
effect is unknown under "Unknown until applied", failed tasks, and a Mermaid flowchart of the
host's switches and VMs (as planned, in a plan).

Every change that alters a host is counted in exactly one column: "unknown" when its effect
cannot be predicted, otherwise by its action (so the columns add up to the host's `changes`).
Every text taken from the document is scrubbed with the `SecretRegistry` *before* it is
shortened or escaped, so neither truncation nor escaping can let part of a secret through.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping
from typing import Any

from ..secrets import SecretRegistry, mask
from .console import SYMBOL

# Columns of the host table; each mutating action is counted in exactly one of them.
ADD_ACTIONS = frozenset({"create", "install", "start"})
CHANGE_ACTIONS = frozenset({"update", "run"})
DESTROY_ACTIONS = frozenset({"delete", "remove", "stop"})
REBOOT_ACTIONS = frozenset({"reboot"})
NON_MUTATING_ACTIONS = frozenset({"verify"})
COLUMNS = ("add", "change", "destroy", "reboot", "unknown")

TABLE_MESSAGE_CHARS = 120
DETAIL_MESSAGE_CHARS = 2000
VALUE_CHARS = 120


def change_category(change: Mapping[str, Any]) -> str | None:
    """The table column a change counts in, or None for changes that alter nothing (verify)."""
    action = str(change.get("action", ""))
    if action in NON_MUTATING_ACTIONS:
        return None
    if change.get("unknown"):
        return "unknown"
    if action in ADD_ACTIONS:
        return "add"
    if action in DESTROY_ACTIONS:
        return "destroy"
    if action in REBOOT_ACTIONS:
        return "reboot"
    return "change"  # update, run, and any action this version does not know


def host_counts(host: Mapping[str, Any]) -> dict[str, int]:
    counts = dict.fromkeys(COLUMNS, 0)
    for task in host.get("tasks") or ():
        for change in task.get("changes") or ():
            cat = change_category(change)
            if cat is not None:
                counts[cat] += 1
    return counts


# -- text helpers ---------------------------------------------------------------------------
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_WS = re.compile(r"\s+")
_MD_INLINE = re.compile(r"([\\`*_\[\]|~])")


class _Text:
    """Scrubbing and escaping for one rendering; scrub always comes first."""

    def __init__(self, secrets: SecretRegistry | None) -> None:
        self.secrets = secrets

    def scrub(self, value: Any) -> str:
        text = value if isinstance(value, str) else str(value)
        return self.secrets.scrub(text) if self.secrets else text

    def line(self, value: Any, limit: int) -> str:
        """Scrubbed, on one line (whitespace runs collapsed, control characters dropped), shortened."""
        text = _WS.sub(" ", _CONTROL.sub("", self.scrub(value))).strip()
        return shorten(text, limit)

    def inline(self, value: Any, limit: int) -> str:
        """For Markdown text and table cells: one line, Markdown and HTML neutralised, `|` escaped."""
        text = self.line(value, limit)
        text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        return _MD_INLINE.sub(r"\\\1", text)

    def html(self, value: Any, limit: int) -> str:
        """For text inside raw HTML (`<summary>`): HTML-escaped, one line."""
        return html.escape(self.line(value, limit), quote=True)

    def code(self, value: Any, limit: int) -> str:
        """For a line inside a fenced code block: one line, no escaping needed."""
        return self.line(value, limit)

    def mermaid(self, value: Any, limit: int = 80) -> str:
        """For a quoted Mermaid label: entity codes for the characters Mermaid would read."""
        text = self.line(value, limit)
        for ch, code in (("#", "#35;"), ('"', "#quot;"), ("<", "#lt;"), (">", "#gt;"), ("`", "#96;")):
            text = text.replace(ch, code)
        return text


def shorten(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[: max(0, limit - 1)].rstrip() + "…"


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "null"
    if isinstance(v, str):
        return v if v and v == v.strip() else '"' + v + '"'
    if isinstance(v, Mapping):
        return "{" + ", ".join(f"{k}: {_value(v[k])}" for k in sorted(v, key=str)) + "}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    return str(v)


def _fence(lines: Iterable[str], info: str) -> list[str]:
    """A fenced code block whose fence no line of the content can close."""
    body = list(lines)
    longest = max((len(m) for line in body for m in re.findall(r"`{3,}", line)), default=0)
    fence = "`" * max(3, longest + 1)
    return [fence + info, *body, fence]


# -- the document -----------------------------------------------------------------------------
def render_markdown(doc: Mapping[str, Any], secrets: SecretRegistry | None = None, *,
                    title: str | None = None) -> str:
    """Markdown for a run document (`RunResult.to_dict()` shape); every text scrubbed with `secrets`."""
    doc = mask(doc)  # any Secret object left in the data prints as the mask
    t = _Text(secrets)
    mode = str(doc.get("mode") or "apply")
    hosts: dict[str, Mapping[str, Any]] = doc.get("hosts") or {}
    names = sorted(hosts)
    counts = {n: host_counts(hosts[n]) for n in names}

    out: list[str] = []
    out.append(f"## {t.inline(title or 'hvprov ' + mode, 200)}: {_totals(mode, hosts, counts)}")
    out.append("")
    out.append(_breakdown(mode, counts))
    notes = []
    if doc.get("interrupted"):
        notes.append("> [!WARNING]\n> The run was interrupted: results are incomplete.")
    if doc.get("input_error"):
        notes.append("> [!WARNING]\n> Bad input (an undefined variable or a bad argument) failed at least one host.")
    for note in notes:
        out += ["", note]
    out.append("")
    if names:
        out += _table(t, names, hosts, counts)
    else:
        out.append("_No hosts matched._")
    for name in names:
        out.append("")
        out += _host_block(t, mode, name, hosts[name], counts[name])
    return "\n".join(out).rstrip("\n") + "\n"


def _totals(mode: str, hosts: Mapping[str, Mapping[str, Any]], counts: Mapping[str, dict[str, int]]) -> str:
    by_status: dict[str, int] = {}
    for h in hosts.values():
        s = str(h.get("status", ""))
        by_status[s] = by_status.get(s, 0) + 1
    order = ["changed", "ok", "failed", "unreachable", "skipped"]
    order += sorted(s for s in by_status if s not in order)
    parts = [f"{by_status[s]} {s}" for s in order if by_status.get(s)]
    total = sum(sum(c.values()) for c in counts.values())
    noun = "host" if len(hosts) == 1 else "hosts"
    verb = "to make" if mode == "plan" else "made"
    status = f" ({', '.join(parts)})" if parts else ""
    return f"{len(hosts)} {noun}{status}, {total} {'change' if total == 1 else 'changes'} {verb}"


def _breakdown(mode: str, counts: Mapping[str, dict[str, int]]) -> str:
    tot = {c: sum(h[c] for h in counts.values()) for c in COLUMNS}
    if mode == "plan":
        words = ("to add", "to change", "to destroy", "to reboot", "unknown until applied")
    else:
        words = ("added", "changed", "destroyed", "rebooted", "of unknown effect")
    return " · ".join(f"**{tot[c]}** {w}" for c, w in zip(COLUMNS, words, strict=True))


def _table(t: _Text, names: list[str], hosts: Mapping[str, Mapping[str, Any]],
           counts: Mapping[str, dict[str, int]]) -> list[str]:
    rows = ["| Host | Status | Add | Change | Destroy | Reboot | Unknown | Message |",
            "|:-----|:-------|----:|-------:|--------:|-------:|--------:|:--------|"]
    for name in names:
        h, c = hosts[name], counts[name]
        status = str(h.get("status", ""))
        failed = status in ("failed", "unreachable")
        message = t.inline(_host_message(h), TABLE_MESSAGE_CHARS) if failed else ""
        shown_status = f"**{t.inline(status, 40)}**" if failed else t.inline(status, 40)
        rows.append(f"| {t.inline(name, 100)} | {shown_status} | {c['add']} | {c['change']} | {c['destroy']} "
                    f"| {c['reboot']} | {c['unknown']} | {message} |")
    return rows


def _host_message(h: Mapping[str, Any]) -> str:
    if h.get("msg"):
        return str(h["msg"])
    for task in h.get("tasks") or ():
        if task.get("status") in ("failed", "unreachable") and not task.get("ignored") and task.get("msg"):
            return str(task["msg"])
    return ""


def _host_block(t: _Text, mode: str, name: str, h: Mapping[str, Any], counts: dict[str, int]) -> list[str]:
    status = str(h.get("status", ""))
    total = sum(counts.values())
    summary = f"<b>{t.html(name, 100)}</b>: {t.html(status, 40)}"
    if total:
        summary += f", {total} {'change' if total == 1 else 'changes'}"
    if counts["reboot"]:
        summary += ", reboot"
    out = ["<details>", f"<summary>{summary}</summary>", ""]

    known: list[Mapping[str, Any]] = []
    unknown: list[Mapping[str, Any]] = []
    for task in h.get("tasks") or ():
        for change in task.get("changes") or ():
            (unknown if change.get("unknown") else known).append(change)

    if known:
        out += _fence((line for c in known for line in _change_lines(t, c)), "diff")
    if unknown:
        out += ["", "**Unknown until applied**" if mode == "plan" else "**Effect unknown**", ""]
        for c in unknown:
            item = f"- `{t.code(c.get('resource', ''), 200).replace('`', chr(39))}` ({t.inline(c.get('action', ''), 40)})"
            if c.get("disruptive"):
                item += " **disruptive**"
            if c.get("reason"):
                item += f": {t.inline(c['reason'], 300)}"
            out.append(item)
    if not known and not unknown:
        out.append("No changes." if status not in ("failed", "unreachable") else "No changes recorded.")

    problems = _problems(t, h)
    if problems:
        out += ["", "**Failures**", "", *problems]

    diagram = _mermaid(t, h.get("state") or {})
    if diagram:
        heading = "Planned switches and VMs" if mode == "plan" else "Switches and VMs"
        out += ["", f"**{heading}**", "", *diagram]
    out += ["", "</details>"]
    return out


def _change_lines(t: _Text, c: Mapping[str, Any]) -> list[str]:
    action = str(c.get("action", ""))
    sym = SYMBOL.get(action, "*")
    head = f"{sym} {t.code(c.get('resource', ''), 200)} ({t.code(action, 40)})"
    notes = []
    if c.get("disruptive"):
        notes.append("disruptive")
    if c.get("reason"):
        notes.append(t.code(c["reason"], 200))
    if notes:
        head += "  # " + ": ".join(notes)
    lines = [head]
    before = c.get("before") or {}
    after = c.get("after") or {}
    for k in sorted(set(before) | set(after), key=str):
        key = t.code(k, 80)
        if k in before and k in after:
            if before[k] != after[k]:
                lines.append(f"    ~ {key}: {t.code(_value(before[k]), VALUE_CHARS)} → {t.code(_value(after[k]), VALUE_CHARS)}")
        elif k in after:
            lines.append(f"    + {key}: {t.code(_value(after[k]), VALUE_CHARS)}")
        else:
            lines.append(f"    - {key}: {t.code(_value(before[k]), VALUE_CHARS)}")
    return lines


def _problems(t: _Text, h: Mapping[str, Any]) -> list[str]:
    lines = []
    shown = set()
    for task in h.get("tasks") or ():
        st = task.get("status")
        if st not in ("failed", "unreachable"):
            continue
        label = "failed (ignored)" if task.get("ignored") else str(st)
        msg = str(task.get("msg") or "")
        shown.add(msg)
        line = f"- **{t.inline(label, 40)}**: {t.inline(task.get('name', ''), 200)} (`{t.code(task.get('module', ''), 60).replace('`', chr(39))}`)"
        if msg:
            line += f": {t.inline(msg, DETAIL_MESSAGE_CHARS)}"
        lines.append(line)
    if h.get("status") in ("failed", "unreachable") and h.get("msg") and str(h["msg"]) not in shown:
        lines.append(f"- **{t.inline(h['status'], 40)}**: {t.inline(h['msg'], DETAIL_MESSAGE_CHARS)}")
    return lines


# -- Mermaid ------------------------------------------------------------------------------------
_ID_BAD = re.compile(r"[^A-Za-z0-9_]")


def mermaid_id(prefix: str, name: str, taken: set[str]) -> str:
    """A node id of only [A-Za-z0-9_], unique among `taken` (which it joins)."""
    base = prefix + _ID_BAD.sub("_", name)
    node, n = base, 2
    while node in taken:
        node, n = f"{base}_{n}", n + 1
    taken.add(node)
    return node


def _mermaid(t: _Text, state: Mapping[str, Any]) -> list[str]:
    switches = sorted((s for s in state.get("switches") or () if isinstance(s, Mapping)),
                      key=lambda s: str(s.get("name", "")))
    vms = sorted((v for v in state.get("vms") or () if isinstance(v, Mapping)), key=lambda v: str(v.get("name", "")))
    if not switches and not vms:
        return []
    taken: set[str] = set()
    sw_ids: dict[str, str] = {}
    lines = ["flowchart LR"]
    for s in switches:
        name = str(s.get("name", ""))
        if name in sw_ids:
            continue
        sw_ids[name] = mermaid_id("sw_", t.scrub(name), taken)
        label = f"{name} · {s.get('type') or 'switch'}"
        if s.get("type") == "external" and s.get("adapter"):
            label += f" on {s['adapter']}"
        lines.append(f'    {sw_ids[name]}(["{t.mermaid(label)}"])')
    edges: list[str] = []
    for v in vms:
        name = str(v.get("name", ""))
        node = mermaid_id("vm_", t.scrub(name), taken)
        label = name
        if v.get("memory_mb") is not None:
            label += f" · {v['memory_mb']} MB"
        if v.get("cpus") is not None:
            label += f" · {v['cpus']} {'CPU' if v['cpus'] == 1 else 'CPUs'}"
        lines.append(f'    {node}["{t.mermaid(label)}"]')
        nics: dict[str, int] = {}
        for sw in v.get("switches") or ():
            if sw:
                nics[str(sw)] = nics.get(str(sw), 0) + 1
        for sw in sorted(nics):
            if sw not in sw_ids:  # a NIC on a switch the state does not list
                sw_ids[sw] = mermaid_id("sw_", t.scrub(sw), taken)
                lines.append(f'    {sw_ids[sw]}(["{t.mermaid(sw + " · not found")}"])')
            arrow = f"-->|{nics[sw]} NICs|" if nics[sw] > 1 else "-->"
            edges.append(f"    {node} {arrow} {sw_ids[sw]}")
    return _fence(lines + edges, "mermaid")


__all__ = ["COLUMNS", "change_category", "host_counts", "mermaid_id", "render_markdown"]
