"""JUnit XML (hvprov/report/junit.py) from real run documents, validated against junit-10.xsd.

Golden files live in tests/data/reports/expected/; regenerate them after an intended change with
``HVPROV_UPDATE_GOLDEN=1`` and review the diff like code. The counts each test expects are
recomputed from the run document, not taken from the reporter.
"""

from __future__ import annotations

import copy
import json
import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import xmlschema

from hvprov.model import Action, Change, HostResult, RunResult, Status, TaskResult
from hvprov.report.junit import render_junit, xml_text
from hvprov.secrets import MASK, Secret, SecretRegistry

DATA = Path(__file__).parent / "data" / "reports"
EXPECTED = DATA / "expected"
UPDATE = os.environ.get("HVPROV_UPDATE_GOLDEN") == "1"
SAMPLES = ("plan-fresh-lab", "apply-role-lab")


@pytest.fixture(scope="module")
def schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(DATA / "junit.xsd"))


def load(name: str) -> dict[str, Any]:
    return json.loads((DATA / f"{name}.json").read_text(encoding="utf-8"))


def edge_doc() -> dict[str, Any]:
    """Cases the samples lack: unreachable task and host, host failure without a failed task,
    ignored failure, skipped task, hostile text, an interrupted run."""
    hosts = [
        HostResult("hv-edge01", Status.CHANGED, tasks=(
            TaskResult("Gathering Facts", "facts", Status.OK, duration=0.25),
            TaskResult("Optional <check> & \"quotes\"", "assert", Status.FAILED, msg="slow disk\x00\x1b[31m\ud800 ok",
                       ignored=True),
            TaskResult("Only on 2019", "debug", Status.SKIPPED, msg="when: os 2019"),
            TaskResult("Custom", "powershell", Status.CHANGED, changes=(
                Change("script/inline", Action.RUN, after={"source": "Write-Host ']]>'"}, unknown=True,
                       reason="raw PowerShell"),)),
        )),
        HostResult("hv-lost01", Status.UNREACHABLE, msg="host went away", tasks=(
            TaskResult("Gathering Facts", "facts", Status.OK),
            TaskResult("Enable the Hyper-V role", "windows_feature", Status.UNREACHABLE, msg="WinRM: read timed out"),
        )),
        HostResult("hv-down01", Status.UNREACHABLE, msg="WinRM: connection refused\nport 5986"),
        HostResult("hv-input01", Status.FAILED, msg="undefined variable 'vm_dir'",
                   tasks=(TaskResult("Gathering Facts", "facts", Status.OK),)),
    ]
    return RunResult(mode="apply", hosts={h.name: h for h in hosts}, interrupted=True, duration=1.5).to_dict()


def documents() -> dict[str, dict[str, Any]]:
    return {**{n: load(n) for n in SAMPLES}, "edge": edge_doc()}


def suites(xml: str) -> dict[str, ET.Element]:
    root = ET.fromstring(xml)
    assert root.tag == "testsuites"
    return {s.get("name"): s for s in root.findall("testsuite")}


# -- golden and schema -------------------------------------------------------------------------
@pytest.mark.parametrize("name", [*SAMPLES, "edge"])
def test_golden(name: str) -> None:
    text = render_junit(documents()[name])
    path = EXPECTED / f"{name}.junit.xml"
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"no golden file {path}: run with HVPROV_UPDATE_GOLDEN=1 and review it"
    assert text == path.read_text(encoding="utf-8"), f"{path} differs: review, then HVPROV_UPDATE_GOLDEN=1"


@pytest.mark.parametrize("name", [*SAMPLES, "edge"])
def test_valid_against_junit_schema(schema: xmlschema.XMLSchema, name: str) -> None:
    xml = render_junit(documents()[name])
    assert xml.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites ')
    schema.validate(xml)


def test_schema_rejects_what_jenkins_would_reject(schema: xmlschema.XMLSchema) -> None:
    """The XSD has teeth: the mistakes a hand-written JUnit writer makes fail validation."""
    good = '<testsuites><testsuite name="h" tests="1"><testcase name="t"/></testsuite></testsuites>'
    assert schema.is_valid(good)
    bad = [
        '<testsuites><testsuite name="h"><testcase name="t"/></testsuite></testsuites>',  # tests missing
        '<testsuites skipped="1"><testsuite name="h" tests="0"/></testsuites>',  # no skipped on the root
        '<testsuites><testsuite name="h" tests="1"><testcase classname="c"/></testsuite></testsuites>',  # no name
        '<testsuites><testcase name="t"/></testsuites>',  # testcase outside a suite
        '<testsuites><testsuite name="h" tests="1"><testcase name="t"><failure><b/></failure>'
        "</testcase></testsuite></testsuites>",  # elements inside a failure
    ]
    for doc in bad:
        assert not schema.is_valid(doc), doc


# -- structure and counts --------------------------------------------------------------------------
def expected_suite(host: dict[str, Any]) -> dict[str, int]:
    tasks = host["tasks"]
    failures = sum(1 for t in tasks if t["status"] == "failed" and not t["ignored"])
    errors = sum(1 for t in tasks if t["status"] == "unreachable" and not t["ignored"])
    tests = len(tasks)
    if host["status"] in ("failed", "unreachable") and not failures + errors:
        tests += 1  # the host's own testcase
        failures += host["status"] == "failed"
        errors += host["status"] == "unreachable"
    return {"tests": tests, "failures": failures, "errors": errors,
            "skipped": sum(1 for t in tasks if t["status"] == "skipped")}


@pytest.mark.parametrize("name", [*SAMPLES, "edge"])
def test_one_suite_per_host_one_case_per_task(name: str) -> None:
    doc = documents()[name]
    xml = render_junit(doc)
    root = ET.fromstring(xml)
    by_host = suites(xml)
    host_suites = [s.get("name") for s in root.findall("testsuite") if s.get("name") in doc["hosts"]]
    assert host_suites == sorted(doc["hosts"])
    for host_name, host in doc["hosts"].items():
        suite = by_host[host_name]
        cases = suite.findall("testcase")
        want = expected_suite(host)
        got = {k: int(suite.get(k)) for k in want}
        assert got == want, host_name
        assert len(cases) == want["tests"]
        assert len(suite.findall("testcase/failure")) == want["failures"]
        assert len(suite.findall("testcase/error")) == want["errors"]
        assert len(suite.findall("testcase/skipped")) == want["skipped"]
        assert [c.get("name") for c in cases[: len(host["tasks"])]] == [xml_text(t["name"]) for t in host["tasks"]]
        assert {c.get("classname") for c in cases} == {f"hvprov.{host_name}"}
    for attr in ("tests", "failures", "errors"):
        assert int(root.get(attr)) == sum(int(s.get(attr)) for s in root.findall("testsuite"))


def test_failed_prerequisite_hosts_are_failures() -> None:
    for name in SAMPLES:
        doc = load(name)
        by_host = suites(render_junit(doc))
        prereq_failed = {n: t for n, h in doc["hosts"].items() for t in h["tasks"]
                         if t["module"] == "hyperv_prereqs" and t["status"] == "failed"}
        assert len(prereq_failed) == 4, name
        for host_name, task in prereq_failed.items():
            (case,) = [c for c in by_host[host_name].findall("testcase") if c.get("name") == task["name"]]
            failure = case.find("failure")
            assert failure is not None, host_name
            assert failure.get("type") == "hyperv_prereqs"
            assert failure.get("message") == task["msg"]
            assert failure.text == task["msg"]
            assert int(by_host[host_name].get("failures")) >= 1
        for host_name, host in doc["hosts"].items():
            failing = int(by_host[host_name].get("failures")) + int(by_host[host_name].get("errors"))
            assert (failing > 0) == (host["status"] in ("failed", "unreachable")), host_name


def test_edge_cases() -> None:
    by_host = suites(render_junit(edge_doc()))
    edge = {c.get("name"): c for c in by_host["hv-edge01"].findall("testcase")}
    ignored = edge['Optional <check> & "quotes"']
    assert ignored.find("failure") is None and ignored.find("error") is None
    assert ignored.find("system-out").text == "failed (ignored: ignore_errors): slow disk[31m ok"
    assert edge["Only on 2019"].find("skipped").get("message") == "when: os 2019"
    assert "? script/inline (run) [effect unknown]: raw PowerShell" in edge["Custom"].find("system-out").text
    assert edge["Gathering Facts"].get("time") == "0.250"
    # an unreachable task is an error; the host's message is not repeated as a second error
    lost = by_host["hv-lost01"].findall("testcase")
    assert [c.get("name") for c in lost] == ["Gathering Facts", "Enable the Hyper-V role"]
    assert lost[1].find("error").get("message") == "WinRM: read timed out"
    # hosts that failed with no failing task still fail, in a testcase of their own
    (down,) = by_host["hv-down01"].findall("testcase")
    assert down.get("name") == "host" and down.find("error").text == "WinRM: connection refused\nport 5986"
    assert down.find("error").get("message") == "WinRM: connection refused port 5986"
    (facts, host) = by_host["hv-input01"].findall("testcase")
    assert host.find("failure").get("message") == "undefined variable 'vm_dir'"
    # an interrupted run is an error of its own
    run = by_host["hvprov.run"]
    assert run.find("testcase/error").get("message") == "run interrupted"


def test_characters_illegal_in_xml_are_dropped() -> None:
    doc = copy.deepcopy(load("plan-fresh-lab"))
    task = doc["hosts"]["hv-web01"]["tasks"][-1]
    task["msg"] = "bad\x00\x01\x08\x0b\x0c\x1f\ufffe\uffff\ud83d chars \U0001F600 kept\ttab"
    task["name"] = "name\x07 with bell"
    xml = render_junit(doc)
    case = next(c for c in suites(xml)["hv-web01"].findall("testcase") if c.get("name") == "name with bell")
    assert case.find("failure").text == "bad chars \U0001F600 kept\ttab"
    assert xml_text("a\x00b\r\nc\ud800") == "ab\r\nc"


# -- secrets ---------------------------------------------------------------------------------------
SECRET = "S3cr&t<\"pw\">]]>"


def test_secrets_never_appear(schema: xmlschema.XMLSchema) -> None:
    doc = copy.deepcopy(load("apply-role-lab"))
    std = doc["hosts"]["hv-std01"]
    std["tasks"][2]["changes"][0]["after"]["password"] = SECRET
    std["tasks"][2]["msg"] = f"used {SECRET} to log in"
    web = doc["hosts"]["hv-web01"]
    web["msg"] = web["tasks"][-1]["msg"] = "x" * 495 + SECRET  # straddles the message attribute's cut
    web["tasks"][-1]["name"] = f"check {SECRET}"
    doc["hosts"]["hv-dc01"]["tasks"][2]["changes"][0]["after"]["key"] = Secret("other-secret")
    xml = render_junit(doc, SecretRegistry([SECRET]))
    schema.validate(xml)
    escaped = SECRET.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    for variant in (SECRET, escaped, "S3cr", "other-secret"):
        assert variant not in xml, variant
    texts = [e.text or "" for e in ET.fromstring(xml).iter()] + [v for e in ET.fromstring(xml).iter()
                                                                   for v in e.attrib.values()]
    assert not any("S3cr" in t or "other-secret" in t for t in texts)
    # the fields were written, masked
    by_host = suites(xml)
    role = by_host["hv-std01"].findall("testcase")[2].find("system-out").text
    assert f"used {MASK} to log in" in role and f"+ password: {MASK}" in role
    assert any(c.get("name") == f"check {MASK}" for c in by_host["hv-web01"].findall("testcase"))
    assert f"+ key: {MASK}" in by_host["hv-dc01"].findall("testcase")[2].find("system-out").text


def test_stable_across_host_order() -> None:
    doc = load("plan-fresh-lab")
    reordered = copy.deepcopy(doc)
    reordered["hosts"] = {n: reordered["hosts"][n] for n in reversed(list(reordered["hosts"]))}
    assert render_junit(doc) == render_junit(reordered)


def test_a_saved_plan_shape_renders_the_same_cases(schema: xmlschema.XMLSchema) -> None:
    """Saved plan files keep no per-host counts or durations: counts come from the tasks."""
    doc = load("plan-fresh-lab")
    saved = copy.deepcopy(doc)
    saved.pop("duration")
    for h in saved["hosts"].values():
        for key in ("changes", "duration", "round_trips", "scripts_run"):
            h.pop(key)
        for t in h["tasks"]:
            t.pop("duration")
    xml = render_junit(saved)
    schema.validate(xml)
    strip_times = lambda x: re.sub(r' time="[0-9.]+"', "", x)  # noqa: E731
    assert strip_times(xml) == strip_times(render_junit(doc))
    props = {s.get("name"): {p.get("name"): p.get("value") for p in s.iter("property")}
             for s in ET.fromstring(xml).findall("testsuite")}
    for name, host in doc["hosts"].items():
        assert props[name]["hvprov.changes"] == str(host["changes"])
