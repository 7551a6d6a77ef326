"""ansible-core stdout callback for the differential harness: per host and task, the status,
what the task printed or registered, as one JSON document on stdout (written at the end).

Runs inside the oracle venv's ansible-playbook, never imported by hvprov's own code.
"""

from __future__ import annotations

import json
import os

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: hvdiff
type: stdout
short_description: JSON per host and task for hvprov's differential tests
description: [Dumps status, debug output and registered results per host and task as JSON.]
"""

_DROP = ("invocation", "_ansible_no_log", "_ansible_verbose_always", "_ansible_verbose_override",
         "deprecations", "warnings", "exception", "_ansible_delegated_vars", "_ansible_item_label")


def _plain(value):
    """Tagged/trusted ansible types reduced to JSON-able builtins."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items() if not str(k).startswith("_ansible")
                and str(k) not in _DROP}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    return repr(value)


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "stdout"
    CALLBACK_NAME = "hvdiff"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._events = []
        self._messages = []

    def _record(self, result, status, ignored=False):
        task = getattr(result, "task", None) or result._task
        host = getattr(result, "host", None) or result._host
        raw = getattr(result, "result", None)
        if not isinstance(raw, dict):
            raw = result._result
        self._events.append({
            "host": host.get_name(),
            "task": task.get_name(),
            "action": task.action,
            "register": task.register or None,
            "status": status,
            "ignored": bool(ignored),
            "result": _plain(dict(raw)),
        })

    def v2_runner_on_ok(self, result):
        raw = getattr(result, "result", None) or result._result
        self._record(result, "changed" if raw.get("changed") else "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, "failed", ignore_errors)

    def v2_runner_on_skipped(self, result):
        self._record(result, "skipped")

    def v2_runner_on_unreachable(self, result):
        self._record(result, "unreachable")

    def v2_playbook_on_warning(self, *args, **kwargs):  # pragma: no cover - newer hook
        pass

    def v2_playbook_on_stats(self, stats):
        doc = {"events": self._events}
        out = os.environ.get("HVDIFF_OUT")
        text = json.dumps(doc, default=repr)
        if out:
            with open(out, "w", encoding="utf-8") as fh:
                fh.write(text)
        else:
            self._display.display(text)
