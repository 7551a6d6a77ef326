"""The JSON Lines event sink (hvprov/report/events.py), fed by real runs on simulated hosts and by
hand-made events for secrets, odd values and concurrency."""

from __future__ import annotations

import io
import json
import math
import re
import threading
import time
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any

import pytest

import hvprov
from hvprov.model import Action, Change, Status, TaskResult
from hvprov.report.events import DOCUMENTED_EVENTS, JsonLinesEvents, iso_utc
from hvprov.secrets import MASK, Secret, SecretRegistry

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
PW = "S3cret-Value!"
INVENTORY = {"all": {"vars": {"ansible_connection": "sim", "sim": {"reboot_seconds": 0.2}},
                     "hosts": {"h1": {"sim_profile": "2008r2-standard"}, "h2": {"sim_profile": "2008r2-web"}}}}
PLAY = [{"name": "t", "hosts": "all", "gather_facts": True, "tasks": [
    {"name": "prereqs", "hyperv_prereqs": {}},
    {"name": "role", "windows_feature": {"name": "Hyper-V", "state": "present"}},
    {"name": "say", "debug": {"msg": "pw={{ admin_pw }}"}},
    {"name": "ps", "powershell": {"script": 'Write-Output "{{ admin_pw }}"'}},
]}]


def read_lines(path: Path) -> list[dict[str, Any]]:
    text = path.read_text(encoding="utf-8")
    assert text.endswith("\n")
    return [json.loads(line) for line in text.split("\n")[:-1]]


class Tee:
    """Collects the raw events and passes them on to the sink under test."""

    def __init__(self, sink: JsonLinesEvents) -> None:
        self.sink = sink
        self.events: list[dict[str, Any]] = []

    def __call__(self, event: dict[str, Any]) -> None:
        self.events.append(event)
        self.sink(event)


@pytest.fixture(scope="module")
def applied(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict[str, Any]], Path, hvprov.RunResult]:
    tmp = tmp_path_factory.mktemp("events")
    out = tmp / "run.jsonl"
    with JsonLinesEvents(out, SecretRegistry([PW])) as sink:
        tee = Tee(sink)
        result = hvprov.apply(PLAY, INVENTORY, lab_dir=tmp / "lab", on_event=tee, secrets={"admin_pw": PW})
    return tee.events, out, result


def test_a_real_run_is_written_line_by_line_in_order(applied: Any) -> None:
    events, out, result = applied
    lines = read_lines(out)
    assert len(lines) == len(events) > 20
    assert [x["event"] for x in lines] == [e["event"] for e in events]
    assert [x["host"] for x in lines] == [e.get("host") for e in events]
    assert lines[0]["event"] == "run_started" and lines[-1]["event"] == "run_done"
    assert {"task_started", "task_done", "change_applied", "script_run", "host_done"} <= {x["event"] for x in lines}
    for line, event in zip(lines, events, strict=True):
        assert list(line)[:4] == ["event", "time", "ts", "host"]
        assert line["ts"] == event["ts"] and isinstance(line["ts"], float)
        assert ISO.match(line["time"]), line["time"]
        parsed = datetime.fromisoformat(line["time"].replace("Z", "+00:00")).timestamp()
        assert abs(parsed - event["ts"]) < 0.001
    assert lines[-1]["summary"] == result.summary()


def test_task_results_are_written_as_their_dict(applied: Any) -> None:
    events, out, result = applied
    done = [(x, e) for x, e in zip(read_lines(out), events, strict=True) if x["event"] == "task_done"]
    assert done
    for line, event in done:
        assert isinstance(event["result"], TaskResult)
        assert line["result"] == json.loads(json.dumps(event["result"].to_dict()))
    h1 = [x["result"] for x, _ in done if x["host"] == "h1"]
    assert h1 == [json.loads(json.dumps(t.to_dict())) for t in result.hosts["h1"].tasks]


def test_scripts_dropped_unless_asked_for(applied: Any, tmp_path: Path) -> None:
    events, out, _ = applied
    runs = [x for x in read_lines(out) if x["event"] == "script_run"]
    assert runs and all("script" not in x for x in runs)
    assert all("template" in x and "params" in x for x in runs)
    buf = io.StringIO()
    sink = JsonLinesEvents(buf, SecretRegistry([PW]), include_scripts=True)
    for e in events:
        sink(e)
    kept = [json.loads(line) for line in buf.getvalue().splitlines() if '"script_run"' in line]
    assert [x["script"] for x in kept] == [e["script"] for e in events if e["event"] == "script_run"]
    assert any("hvprov-template: powershell/script.ps1.j2" in x["script"] for x in kept)


def test_no_secret_in_a_real_run(applied: Any) -> None:
    _, out, _ = applied
    text = out.read_text(encoding="utf-8")
    assert PW not in text
    assert "pw=********" in text  # the debug message was written, masked


def test_documented_events_filter(applied: Any) -> None:
    events, _, _ = applied
    buf = io.StringIO()
    sink = JsonLinesEvents(buf, events=DOCUMENTED_EVENTS)
    for e in events:
        sink(e)
    names = [json.loads(line)["event"] for line in buf.getvalue().splitlines()]
    assert names == [e["event"] for e in events if e["event"] in DOCUMENTED_EVENTS]
    assert set(names) == set(DOCUMENTED_EVENTS)


def test_other_events_pass_through_under_their_name() -> None:
    buf = io.StringIO()
    sink = JsonLinesEvents(buf)
    for kind in ("play_started", "progress", "play_aborted", "something_new"):
        sink({"event": kind, "ts": 1.5, "host": None, "x": 1})
    assert [json.loads(line)["event"] for line in buf.getvalue().splitlines()] == [
        "play_started", "progress", "play_aborted", "something_new"]


# -- secrets and odd values ---------------------------------------------------------------------
HARD = 'p"a\\ss\u00e9\u2028wörd'  # JSON escapes it (quote, backslash, U+2028): scrubbing the line would miss it


def test_secrets_masked_before_encoding() -> None:
    buf = io.StringIO()
    sink = JsonLinesEvents(buf, SecretRegistry([HARD, PW]))
    result = TaskResult("login", "powershell", Status.FAILED, msg=f"bad password {HARD}", changes=(
        Change("user/admin", Action.UPDATE, before={"password": "old"}, after={"password": HARD}),))
    sink({"event": "task_done", "ts": 10.0, "host": "h1", "result": result})
    sink({"event": "host_done", "ts": 11.0, "host": "h1", "status": "failed", "msg": f"{HARD}!",
          "extra": {HARD: [PW, Secret("object-secret"), (PW,)]}})
    text = buf.getvalue()
    for variant in (HARD, json.dumps(HARD)[1:-1], json.dumps(HARD, ensure_ascii=True)[1:-1], PW, "object-secret",
                    "p\\\"a"):
        assert variant not in text, variant
    first, second = (json.loads(line) for line in text.splitlines())
    assert first["result"]["msg"] == f"bad password {MASK}"
    assert first["result"]["changes"][0]["after"] == {"password": MASK}
    assert second["msg"] == f"{MASK}!"
    assert second["extra"] == {MASK: [MASK, MASK, [MASK]]}


class Color(Enum):
    RED = "red"


def test_values_json_cannot_hold_are_converted() -> None:
    buf = io.StringIO()
    sink = JsonLinesEvents(buf)
    sink({"event": "progress", "ts": 2.0, "host": "h", "nan": math.nan, "inf": -math.inf, "path": Path("/x/y"),
          "enum": Color.RED, "status": Status.OK, "set": {"b", "a"}, "bytes": b"\xffok", "sep": "a\u2028b\x85c"})
    raw = buf.getvalue()
    assert raw.count("\n") == 1 and "\u2028" not in raw and "\x85" not in raw
    line = json.loads(raw)
    assert line["nan"] == "nan" and line["inf"] == "-inf"
    assert line["path"] == str(Path("/x/y")) and line["enum"] == "red" and line["status"] == "ok"
    assert line["set"] == ["a", "b"] and line["bytes"] == "\ufffdok" and line["sep"] == "a\u2028b\x85c"


def test_missing_or_bad_timestamps_get_the_current_time() -> None:
    buf = io.StringIO()
    sink = JsonLinesEvents(buf)
    sink({"event": "x"})
    sink({"event": "y", "ts": "yesterday", "host": "h"})
    for line in buf.getvalue().splitlines():
        rec = json.loads(line)
        assert isinstance(rec["ts"], float) and ISO.match(rec["time"])
    assert iso_utc(0.0) == "1970-01-01T00:00:00.000Z"
    assert iso_utc(1700000000.5) == "2023-11-14T22:13:20.500Z"


# -- files, flushing, threads, errors -----------------------------------------------------------------
def test_each_line_is_flushed_as_it_happens(tmp_path: Path) -> None:
    path = tmp_path / "live.jsonl"
    sink = JsonLinesEvents(path)
    for i in range(5):
        sink({"event": "progress", "ts": float(i), "host": "h", "i": i})
        assert len(read_lines(path)) == i + 1  # readable by another process before close
    sink.close()
    sink({"event": "late", "ts": 9.0})  # ignored after close
    assert len(read_lines(path)) == 5
    assert sink.lines_written == 5


def test_binary_file_objects() -> None:
    buf = io.BytesIO()
    sink = JsonLinesEvents(buf)
    sink({"event": "progress", "ts": 1.0, "host": "hé", "message": "ünïcode"})
    assert json.loads(buf.getvalue().decode("utf-8"))["message"] == "ünïcode"
    assert not buf.closed  # file objects belong to the caller


def test_concurrent_writers_never_interleave(tmp_path: Path) -> None:
    path = tmp_path / "threads.jsonl"
    threads_n, per_thread = 8, 400
    sink = JsonLinesEvents(path)
    barrier = threading.Barrier(threads_n)

    def work(n: int) -> None:
        barrier.wait()
        for i in range(per_thread):
            sink({"event": "progress", "ts": float(i), "host": f"h{n}", "seq": i, "pad": "x" * (i % 50) * 40})

    threads = [threading.Thread(target=work, args=(n,)) for n in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sink.close()
    lines = read_lines(path)
    assert len(lines) == threads_n * per_thread
    for n in range(threads_n):
        assert [x["seq"] for x in lines if x["host"] == f"h{n}"] == list(range(per_thread))


class ChunkyWriter(io.StringIO):
    """A file object that is not thread-safe: each write lands in pieces, yielding between them."""

    def write(self, s: str) -> int:
        for i in range(0, len(s), 7):
            super().write(s[i:i + 7])
            time.sleep(0)
        return len(s)


def test_concurrent_writers_on_a_file_object_that_is_not_thread_safe() -> None:
    out = ChunkyWriter()
    sink = JsonLinesEvents(out)
    barrier = threading.Barrier(4)

    def work(n: int) -> None:
        barrier.wait()
        for i in range(100):
            sink({"event": "progress", "ts": float(i), "host": f"h{n}", "seq": i})

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(lines) == 400 and sink.lines_written == 400
    for n in range(4):
        assert [x["seq"] for x in lines if x["host"] == f"h{n}"] == list(range(100))


def test_write_errors_do_not_stop_the_run_but_surface_on_close() -> None:
    buf = io.StringIO()
    sink = JsonLinesEvents(buf)
    sink({"event": "a", "ts": 1.0})
    buf.close()
    sink({"event": "b", "ts": 2.0})  # no exception into the runner
    sink({"event": "c", "ts": 3.0})
    assert isinstance(sink.error, ValueError) and sink.lines_written == 1
    with pytest.raises(ValueError):
        sink.close()
