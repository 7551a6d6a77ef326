"""JUnit XML for CI dashboards (Jenkins, GitLab, GitHub test reporters) from a run document.

One `<testsuite>` per host (sorted by name), one `<testcase classname="hvprov.<host>">` per task,
in task order. Failed tasks are `<failure type="<module>">`, unreachable ones `<error>`, skipped
ones `<skipped/>`; a failure with `ignore_errors` passes and carries a `<system-out>` note. A
host that failed or was unreachable without a failing task to show it (an error before or
between tasks) gets a testcase named "host" holding the host's message, so no failed host can
look green. An interrupted run adds a suite "hvprov.run" with an error.

The output validates against the Jenkins xUnit plugin's `junit-10.xsd` (no `skipped` attribute
on `<testsuites>`, so the skipped totals stay on each `<testsuite>`). Every text is scrubbed
with the `SecretRegistry` before it is escaped, and characters XML 1.0 cannot hold are dropped.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any

from ..secrets import SecretRegistry, mask
from .console import SYMBOL
from .text import show_value as _value

# Characters outside XML 1.0's Char production (also lone surrogates and U+FFFE/U+FFFF).
_ILLEGAL_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
MESSAGE_CHARS = 500


def xml_text(text: str) -> str:
    """`text` without the characters XML 1.0 does not allow."""
    return _ILLEGAL_XML.sub("", text)


def _seconds(value: Any) -> str:
    try:
        return f"{max(0.0, float(value)):.3f}"
    except (TypeError, ValueError):
        return "0.000"




def _change_lines(c: Mapping[str, Any]) -> list[str]:
    """Console-style lines for one change (same symbols as the console reporter)."""
    action = str(c.get("action", ""))
    head = f"{SYMBOL.get(action, '*')} {c.get('resource', '')} ({action})"
    if c.get("disruptive"):
        head += " [disruptive]"
    if c.get("unknown"):
        head += " [effect unknown]"
    if c.get("reason"):
        head += f": {c['reason']}"
    lines = [head]
    before, after = c.get("before") or {}, c.get("after") or {}
    for k in sorted(set(before) | set(after), key=str):
        if k in before and k in after:
            if before[k] != after[k]:
                lines.append(f"    ~ {k}: {_value(before[k])} → {_value(after[k])}")
        elif k in after:
            lines.append(f"    + {k}: {_value(after[k])}")
        else:
            lines.append(f"    - {k}: {_value(before[k])}")
    return lines


class _Builder:
    def __init__(self, secrets: SecretRegistry | None) -> None:
        self.secrets = secrets

    def text(self, value: Any) -> str:
        raw = value if isinstance(value, str) else str(value)
        if self.secrets:
            raw = self.secrets.scrub(raw)
        return xml_text(raw)

    def short(self, value: Any) -> str:
        """An attribute-sized message: one line, shortened (after scrubbing)."""
        text = " ".join(self.text(value).split())
        return text if len(text) <= MESSAGE_CHARS else text[: MESSAGE_CHARS - 1].rstrip() + "…"

    def el(self, parent: ET.Element, tag: str, text: str | None = None, **attrs: Any) -> ET.Element:
        e = ET.SubElement(parent, tag, {k: self.text(v) for k, v in attrs.items()})
        if text:
            e.text = self.text(text)
        return e


def render_junit(doc: Mapping[str, Any], secrets: SecretRegistry | None = None) -> str:
    """JUnit XML (UTF-8 text with declaration) for a run document (`RunResult.to_dict()` shape)."""
    doc = mask(doc)
    b = _Builder(secrets)
    mode = str(doc.get("mode") or "apply")
    hosts: Mapping[str, Mapping[str, Any]] = doc.get("hosts") or {}
    root = ET.Element("testsuites")
    totals = {"tests": 0, "failures": 0, "errors": 0}
    suites: list[ET.Element] = []
    for name in sorted(hosts):
        suite, counts = _suite(b, mode, name, hosts[name])
        suites.append(suite)
        for k in totals:
            totals[k] += counts[k]
    if doc.get("interrupted"):
        suite = ET.Element("testsuite", {"name": "hvprov.run", "tests": "1", "failures": "0", "errors": "1",
                                         "skipped": "0", "time": "0.000"})
        case = b.el(suite, "testcase", classname="hvprov.run", name="run completed", time="0.000")
        b.el(case, "error", "The run was interrupted: results are incomplete.", message="run interrupted",
             type="interrupted")
        suites.append(suite)
        totals["tests"] += 1
        totals["errors"] += 1
    root.attrib.update({"name": b.text(f"hvprov {mode}"), "tests": str(totals["tests"]),
                        "failures": str(totals["failures"]), "errors": str(totals["errors"]),
                        "time": _seconds(doc.get("duration", 0))})
    root.extend(suites)
    ET.indent(root, space="  ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _suite(b: _Builder, mode: str, name: str, h: Mapping[str, Any]) -> tuple[ET.Element, dict[str, int]]:
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    status = str(h.get("status", ""))
    suite = ET.Element("testsuite")
    props = b.el(suite, "properties")
    b.el(props, "property", name="hvprov.mode", value=mode)
    b.el(props, "property", name="hvprov.status", value=status)
    mutating = sum(1 for t in h.get("tasks") or () for c in t.get("changes") or () if c.get("action") != "verify")
    b.el(props, "property", name="hvprov.changes", value=str(mutating))
    unknown = sum(1 for t in h.get("tasks") or () for c in t.get("changes") or ()
                  if c.get("action") != "verify" and c.get("unknown"))
    b.el(props, "property", name="hvprov.unknown", value=str(unknown))
    classname = f"hvprov.{name}"
    host_failure_shown = False
    for task in h.get("tasks") or ():
        counts["tests"] += 1
        st = str(task.get("status", ""))
        module = str(task.get("module", "") or "task")
        msg = str(task.get("msg") or "")
        case = b.el(suite, "testcase", classname=classname, name=str(task.get("name", "")),
                    time=_seconds(task.get("duration", 0)))
        out: list[str] = []
        if st in ("failed", "unreachable") and task.get("ignored"):
            out.append(f"{st} (ignored: ignore_errors): {msg}" if msg else f"{st} (ignored: ignore_errors)")
        elif st == "failed":
            counts["failures"] += 1
            host_failure_shown = True
            b.el(case, "failure", msg or str(h.get("msg") or "failed"),
                 message=b.short(msg or h.get("msg") or "failed"), type=module)
        elif st == "unreachable":
            counts["errors"] += 1
            host_failure_shown = True
            b.el(case, "error", msg or str(h.get("msg") or "unreachable"),
                 message=b.short(msg or h.get("msg") or "unreachable"), type=module)
        elif st == "skipped":
            counts["skipped"] += 1
            attrs = {"message": b.short(msg)} if msg else {}
            b.el(case, "skipped", **attrs)
        elif msg:
            out.append(msg)
        changes = task.get("changes") or ()
        if changes:
            out.append("Planned changes:" if mode == "plan" else "Changes:")
            out += [line for c in changes for line in _change_lines(c)]
        if out:
            b.el(case, "system-out", "\n".join(out))
    if status in ("failed", "unreachable") and not host_failure_shown:
        counts["tests"] += 1
        msg = str(h.get("msg") or status)
        case = b.el(suite, "testcase", classname=classname, name="host", time="0.000")
        if status == "failed":
            counts["failures"] += 1
            b.el(case, "failure", msg, message=b.short(msg), type="host")
        else:
            counts["errors"] += 1
            b.el(case, "error", msg, message=b.short(msg), type="unreachable")
    suite.attrib.update({"name": b.text(name), "tests": str(counts["tests"]), "failures": str(counts["failures"]),
                         "errors": str(counts["errors"]), "skipped": str(counts["skipped"]),
                         "time": _seconds(h.get("duration", 0))})
    return suite, counts


__all__ = ["render_junit", "xml_text"]
