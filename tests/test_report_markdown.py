"""The Markdown review summary (hvprov/report/markdown.py), driven by real run documents.

Golden files live in tests/data/reports/expected/; regenerate them after an intended change with
``HVPROV_UPDATE_GOLDEN=1`` and review the diff like code. Every other assertion recomputes what
it expects from the run document itself, not from the reporter.
"""

from __future__ import annotations

import copy
import html
import json
import os
import re
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from markdown_it import MarkdownIt

from hvprov.model import Action, Change, HostResult, RunResult, Status, TaskResult
from hvprov.report.markdown import render_markdown
from hvprov.secrets import MASK, Secret, SecretRegistry

DATA = Path(__file__).parent / "data" / "reports"
EXPECTED = DATA / "expected"
UPDATE = os.environ.get("HVPROV_UPDATE_GOLDEN") == "1"
SAMPLES = ("plan-fresh-lab", "apply-role-lab")

# Independent of the reporter's own table: the column each action belongs to.
COLUMN_OF = {"create": "add", "install": "add", "start": "add", "update": "change", "run": "change",
             "delete": "destroy", "remove": "destroy", "stop": "destroy", "reboot": "reboot"}
COLUMNS = ("add", "change", "destroy", "reboot", "unknown")
HEADER = ["Host", "Status", "Add", "Change", "Destroy", "Reboot", "Unknown", "Message"]


def load(name: str) -> dict[str, Any]:
    return json.loads((DATA / f"{name}.json").read_text(encoding="utf-8"))


def mixed_doc() -> dict[str, Any]:
    """A run the sample documents lack: updates, deletes, stops, unknown effects, an unreachable
    host, an ignored failure, hostile names in the state; built from the real model types."""
    edit = HostResult(
        name="hv-edit01", status=Status.CHANGED, msg="",
        tasks=(
            TaskResult("Gathering Facts", "facts", Status.OK),
            TaskResult("VM web01", "hyperv_vm", Status.CHANGED, changes=(
                Change("vm/web01", Action.STOP, before={"state": "running"}, after={"state": "off"},
                       reason="settings need the VM off", disruptive=True),
                Change("vm/web01", Action.UPDATE, before={"memory": "1024 MB", "cpus": 1},
                       after={"memory": "2048 MB", "cpus": 2}, reason="memory, cpus differ"),
                Change("vm/web01", Action.START, before={"state": "off"}, after={"state": "running"}),
            )),
            TaskResult("Old things are gone", "hyperv_vswitch", Status.CHANGED, changes=(
                Change("vswitch/Legacy", Action.DELETE, before={"type": "internal", "notes": ""}, reason="state absent"),
                Change("feature/Windows-Server-Backup", Action.REMOVE, before={"installed": True},
                       after={"installed": False}),
            )),
            TaskResult("Custom tuning", "powershell", Status.CHANGED, changes=(
                Change("script/tune.ps1", Action.RUN, after={"source": "Set-VMHost -Foo 1\nRestart-Service vmms"},
                       reason="raw PowerShell: its effect is unknown until it runs", unknown=True),
            )),
            TaskResult("Optional check", "assert", Status.FAILED, msg="disk | slow ``` <b>", ignored=True),
            TaskResult("Only on 2019", "debug", Status.SKIPPED, msg="when: os 2019"),
            TaskResult("Reboot", "reboot", Status.CHANGED, changes=(
                Change("host", Action.REBOOT, before={"pending_reboot": "yes"}, after={"pending_reboot": "none"},
                       disruptive=True),
                Change("hypervisor", Action.VERIFY, before={"running": False}, after={"running": True}),
            )),
        ),
        state={
            "switches": [
                {"name": 'Ext "A" [x]', "type": "external", "adapter": "NIC #1 <fast>", "allow_management_os": False},
                {"name": "web-01", "type": "private", "adapter": None, "allow_management_os": False},
            ],
            "vms": [
                {"name": "web-01", "state": "running", "memory_mb": 2048, "cpus": 2,
                 "switches": ['Ext "A" [x]', 'Ext "A" [x]'], "disks": []},
                {"name": "web_01", "state": "off", "memory_mb": 512, "cpus": 1, "switches": ["Ghost", "web-01"],
                 "disks": []},
                {"name": "end", "state": "off", "memory_mb": 256, "cpus": 1, "switches": [], "disks": []},
            ],
        },
    )
    down = HostResult(name="hv-down01", status=Status.UNREACHABLE,
                      msg="WinRM: connection refused | port 5986\nsecond line")
    bad = HostResult(name="hv-input01", status=Status.FAILED, msg="undefined variable 'vm_dir' in task 'VM {{ x }}'",
                     tasks=(TaskResult("Gathering Facts", "facts", Status.OK),))
    unr = HostResult(name="hv-lost01", status=Status.UNREACHABLE, msg="host went away",
                     tasks=(TaskResult("Gathering Facts", "facts", Status.OK),
                            TaskResult("Enable the Hyper-V role", "windows_feature", Status.UNREACHABLE,
                                       msg="WinRM: read timed out")))
    run = RunResult(mode="plan", hosts={h.name: h for h in (edit, down, bad, unr)}, interrupted=True, input_error=True)
    return run.to_dict()


def documents() -> dict[str, dict[str, Any]]:
    return {**{n: load(n) for n in SAMPLES}, "mixed": mixed_doc()}


def expected_counts(host: dict[str, Any]) -> dict[str, int]:
    counts = Counter()
    for task in host["tasks"]:
        for change in task["changes"]:
            if change["action"] == "verify":
                continue
            counts["unknown" if change["unknown"] else COLUMN_OF[change["action"]]] += 1
    return {c: counts[c] for c in COLUMNS}


def table_rows(md: str) -> list[list[str]]:
    """Cells of the host table (split on unescaped pipes), header and rule excluded."""
    lines = md.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| Host |"))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        rows.append(cells)
    return rows


def unescape_md(text: str) -> str:
    return html.unescape(re.sub(r"\\(.)", r"\1", text))


def mermaid_blocks(md: str) -> list[list[str]]:
    return [m.group(1).splitlines() for m in re.finditer(r"^```mermaid\n(.*?)\n```$", md, re.M | re.S)]


def host_sections(md: str) -> dict[str, str]:
    sections = {}
    for m in re.finditer(r"<details>\n<summary><b>(.*?)</b>.*?</summary>\n(.*?)\n</details>", md, re.S):
        sections[html.unescape(m.group(1))] = m.group(2)
    return sections


# -- golden -------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", [*SAMPLES, "mixed"])
def test_golden(name: str) -> None:
    text = render_markdown(documents()[name])
    path = EXPECTED / f"{name}.md"
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"no golden file {path}: run with HVPROV_UPDATE_GOLDEN=1 and review it"
    assert text == path.read_text(encoding="utf-8"), f"{path} differs: review, then HVPROV_UPDATE_GOLDEN=1"


# -- table ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", [*SAMPLES, "mixed"])
def test_table_has_one_row_per_host_with_counts_from_the_document(name: str) -> None:
    doc = documents()[name]
    rows = table_rows(render_markdown(doc))
    assert [unescape_md(r[0]) for r in rows] == sorted(doc["hosts"])
    for row in rows:
        assert len(row) == len(HEADER), row
        host = doc["hosts"][unescape_md(row[0])]
        want = expected_counts(host)
        got = dict(zip(COLUMNS, (int(x) for x in row[2:7]), strict=True))
        assert got == want, row[0]
        assert sum(got.values()) == host["changes"], row[0]  # each change counted exactly once
        assert unescape_md(row[1]).strip("*") == host["status"]


def test_sample_documents_cover_adds_and_reboots() -> None:
    """Guards the data-driven tests: the sample plan really has counts to get wrong."""
    totals = Counter()
    for host in load("plan-fresh-lab")["hosts"].values():
        totals.update(expected_counts(host))
    assert totals["add"] > 50 and totals["reboot"] >= 8


@pytest.mark.parametrize("name", [*SAMPLES, "mixed"])
def test_failed_and_unreachable_hosts_show_their_message(name: str) -> None:
    doc = documents()[name]
    md = render_markdown(doc)
    rows = {unescape_md(r[0]): r for r in table_rows(md)}
    failing = [n for n, h in doc["hosts"].items() if h["status"] in ("failed", "unreachable")]
    assert failing
    for n in failing:
        msg = " ".join(doc["hosts"][n]["msg"].split())
        cell = unescape_md(rows[n][7])
        assert cell, n
        assert msg.startswith(cell.rstrip("…")), (n, cell)
        assert len(cell) <= 120
    for n, h in doc["hosts"].items():
        if h["status"] not in ("failed", "unreachable"):
            assert rows[n][7] == "", n


def test_heading_has_mode_and_totals() -> None:
    for name in SAMPLES:
        doc = load(name)
        first = render_markdown(doc).splitlines()[0]
        assert first.startswith(f"## hvprov {doc['mode']}: {len(doc['hosts'])} hosts")
        s = doc["summary"]
        assert f"{s['changes']} changes" in first
        for status, n in s["hosts"].items():
            if n:
                assert f"{n} {status}" in first
    assert render_markdown(load("apply-role-lab"), title="Lab | nightly").startswith("## Lab \\| nightly: ")


# -- per-host changes ----------------------------------------------------------------------------
def test_changes_render_as_terraform_style_diff() -> None:
    sections = host_sections(render_markdown(mixed_doc()))
    body = sections["hv-edit01"]
    diff = re.search(r"```diff\n(.*?)\n```", body, re.S)
    assert diff
    lines = diff.group(1).splitlines()
    assert "~ vm/web01 (update)  # memory, cpus differ" in lines
    i = lines.index("~ vm/web01 (update)  # memory, cpus differ")
    assert lines[i + 1:i + 3] == ["    ~ cpus: 1 → 2", "    ~ memory: 1024 MB → 2048 MB"]
    assert "- vswitch/Legacy (delete)  # state absent" in lines
    assert "    - type: internal" in lines and '    - notes: ""' in lines
    assert "- feature/Windows-Server-Backup (remove)" in lines
    assert "! host (reboot)  # disruptive" in lines
    assert "# vm/web01 (stop)  # disruptive: settings need the VM off" in lines
    assert "= hypervisor (verify)" in lines
    # unknown effects are not in the diff but under their own list
    assert not any("script/tune.ps1" in line for line in lines)
    unknown = body.split("**Unknown until applied**", 1)[1]
    assert "- `script/tune.ps1` (run): raw PowerShell" in unknown
    assert "Set-VMHost" not in body  # script sources stay out of the review comment
    # an ignored failure is listed as such; a skipped task is not a problem
    assert "**failed (ignored)**: Optional check (`assert`): disk \\| slow" in body
    assert "Only on 2019" not in body
    # two separate lists: unknown effects, then failures (not one list running on)
    html_body = MarkdownIt("commonmark").render(body)
    lists = re.findall(r"<ul>(.*?)</ul>", html_body, re.S)
    assert len(lists) == 2 and "script/tune.ps1" in lists[0] and "Optional check" in lists[1]


def test_every_change_of_the_sample_plan_is_listed_per_host() -> None:
    doc = load("plan-fresh-lab")
    sections = host_sections(render_markdown(doc))
    assert sorted(sections) == sorted(doc["hosts"])
    for name, host in doc["hosts"].items():
        diff = re.search(r"^```diff\n(.*?)\n```$", sections[name], re.M | re.S)
        diff_lines = diff.group(1).splitlines() if diff else []
        heads = [line for line in diff_lines if not line.startswith(" ")]
        want = [(c["resource"], c["action"]) for t in host["tasks"] for c in t["changes"] if not c["unknown"]]
        assert [re.match(r"^. (.*) \((\w+)\)", h).groups() for h in heads] == want, name
        for head, change in zip(heads, [c for t in host["tasks"] for c in t["changes"]], strict=True):
            assert ("# disruptive" in head) == change["disruptive"], head


def test_disruptive_reboots_are_marked_in_the_plan() -> None:
    md = render_markdown(load("plan-fresh-lab"))
    reboots = [line for line in md.splitlines() if line.startswith("! host (reboot)")]
    assert len(reboots) == 8
    assert all("# disruptive" in line for line in reboots)


def test_code_fences_cannot_be_closed_by_content() -> None:
    doc = mixed_doc()
    doc["hosts"]["hv-edit01"]["tasks"][1]["changes"][1]["after"]["notes"] = "a ```` fence"
    md = render_markdown(doc)
    assert "`````diff" in md  # a fence longer than any backtick run inside
    tokens = MarkdownIt("commonmark").parse(md)
    fences = [t for t in tokens if t.type == "fence" and t.info == "diff"]
    assert any("a ```` fence" in t.content and "vm/web01 (update)" in t.content for t in fences)


# -- Mermaid ---------------------------------------------------------------------------------------
NODE = re.compile(r'^    ([A-Za-z0-9_]+)(\(\["([^"]*)"\]\)|\["([^"]*)"\])$')
EDGE = re.compile(r"^    ([A-Za-z0-9_]+) -->(?:\|([^|\"]*)\|)? ([A-Za-z0-9_]+)$")


def parse_mermaid(lines: list[str]) -> tuple[dict[str, str], list[tuple[str, str]]]:
    assert lines[0] == "flowchart LR"
    nodes: dict[str, str] = {}
    edges: list[tuple[str, str]] = []
    for line in lines[1:]:
        for open_, close in ("()", "[]", "{}"):
            assert line.count(open_) == line.count(close), line
        assert line.count('"') % 2 == 0, line
        if m := NODE.match(line):
            assert m.group(1) not in nodes, line
            nodes[m.group(1)] = m.group(3) if m.group(3) is not None else m.group(4)
        elif m := EDGE.match(line):
            edges.append((m.group(1), m.group(3)))
        else:
            raise AssertionError(f"not a node or an edge: {line!r}")
    for a, b in edges:
        assert a in nodes and b in nodes, (a, b)
    return nodes, edges


def test_mermaid_diagram_per_host_with_switches_or_vms() -> None:
    doc = load("plan-fresh-lab")
    md = render_markdown(doc)
    sections = host_sections(md)
    with_state = sorted(n for n, h in doc["hosts"].items() if h["state"].get("switches") or h["state"].get("vms"))
    assert len(with_state) == 8
    assert len(mermaid_blocks(md)) == len(with_state)
    for name in with_state:
        state = doc["hosts"][name]["state"]
        blocks = mermaid_blocks(sections[name])
        assert len(blocks) == 1, name
        nodes, edges = parse_mermaid(blocks[0])
        labels = sorted(nodes.values())
        assert len(nodes) == len(state["switches"]) + len(state["vms"])
        for s in state["switches"]:
            label = next(lbl for lbl in labels if lbl.startswith(s["name"] + " · "))
            assert s["type"] in label
            assert (f" on {s['adapter']}" in label) == (s["type"] == "external"), label
        for v in state["vms"]:
            assert f"{v['name']} · {v['memory_mb']} MB · {v['cpus']} CPU" in " | ".join(labels)
        want_edges = sorted((v["name"], sw) for v in state["vms"] for sw in set(v["switches"]))
        got_edges = sorted((nodes[a].split(" · ")[0], nodes[b].split(" · ")[0]) for a, b in edges)
        assert got_edges == want_edges


def test_mermaid_ids_are_sanitised_and_labels_quoted_safely() -> None:
    md = render_markdown(mixed_doc())
    (block,) = mermaid_blocks(md)
    nodes, edges = parse_mermaid(block)
    assert all(re.fullmatch(r"[A-Za-z0-9_]+", n) for n in nodes)
    assert len(nodes) == 6  # 2 switches, 3 VMs (two of them sanitise alike), 1 switch the state lacks
    labels = " | ".join(nodes.values())
    assert "Ext #quot;A#quot; [x] · external on NIC #35;1 #lt;fast#gt;" in labels
    assert "Ghost · not found" in labels
    vm_ids = [i for i, lbl in nodes.items() if i.startswith("vm_") and lbl.startswith(("web-01 ·", "web_01 ·"))]
    assert len(vm_ids) == 2 and len(set(vm_ids)) == 2
    assert any(i.startswith("vm_end") for i in nodes)  # a reserved word never stands alone as an id
    assert "-->|2 NICs|" in "\n".join(block)


# -- secrets ---------------------------------------------------------------------------------------
SECRET = 'Pa55|w"rd<&>#x`'


def secret_variants(secret: str) -> list[str]:
    return [secret, "Pa55", html.escape(secret), secret.replace("|", "\\|"), json.dumps(secret)[1:-1]]


def doc_with_secrets() -> dict[str, Any]:
    doc = copy.deepcopy(load("plan-fresh-lab"))
    vm = next(c for t in doc["hosts"]["hv-2019"]["tasks"] for c in t["changes"] if c["resource"] == "vm/web01")
    vm["after"]["admin_password"] = SECRET
    vm["reason"] = f"password {SECRET} set"
    fnd = doc["hosts"]["hv-fnd01"]
    fnd["msg"] = "x" * 110 + SECRET + " tail"  # straddles the table's truncation point
    fnd["tasks"][-1]["msg"] = f"login with {SECRET} refused"
    doc["hosts"]["hv-2019"]["state"]["vms"][0]["name"] = SECRET
    doc["hosts"]["hv-dc01"]["tasks"][-1]["changes"][1]["after"]["password"] = Secret("other-secret")
    return doc


def test_secrets_never_appear_in_markdown_or_its_html() -> None:
    md = render_markdown(doc_with_secrets(), SecretRegistry([SECRET]))
    rendered = MarkdownIt("commonmark").enable("table").render(md)
    for out in (md, rendered, html.unescape(rendered)):
        for variant in secret_variants(SECRET):
            assert variant not in out, variant
        assert "other-secret" not in out
    # the fields were rendered, masked
    assert "+ admin_password: ********" in md
    assert "password ******** set" in md
    assert "login with ******** refused" in html.unescape(rendered)
    assert "x" * 110 + "********" in html.unescape(rendered)  # the table cell, cut after the mask
    assert html.unescape(rendered).count(MASK) >= 6


def test_without_a_registry_the_injected_secret_would_show() -> None:
    """The secret test's premise: the fields holding it are rendered at all."""
    md = render_markdown(doc_with_secrets())
    assert SECRET.replace("|", "\\|") in md or SECRET in md


# -- stability ---------------------------------------------------------------------------------------
def shuffled(doc: dict[str, Any]) -> dict[str, Any]:
    """The same run saved differently: other key orders, other durations and timings."""
    out = copy.deepcopy(doc)
    out["hosts"] = {n: out["hosts"][n] for n in reversed(list(out["hosts"]))}
    out["duration"] = 123.4
    for h in out["hosts"].values():
        h["duration"] = 9.9
        h["state"]["switches"] = list(reversed(h["state"].get("switches", [])))
        h["state"]["vms"] = list(reversed(h["state"].get("vms", [])))
        for t in h["tasks"]:
            t["duration"] = 7.7
            for c in t["changes"]:
                c["before"] = dict(reversed(list(c["before"].items())))
                c["after"] = dict(reversed(list(c["after"].items())))
    return out


@pytest.mark.parametrize("name", [*SAMPLES, "mixed"])
def test_output_is_stable_across_orderings_and_timings(name: str) -> None:
    doc = documents()[name]
    assert render_markdown(doc) == render_markdown(shuffled(doc))


def test_no_timestamps_or_durations_of_the_run() -> None:
    md = render_markdown(load("apply-role-lab"))
    assert "4.627" not in md and "duration" not in md


# -- rendered HTML ------------------------------------------------------------------------------------
class _Tables(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tables: list[dict[str, list[list[str]]]] = []
        self._section = ""
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag == "table":
            self.tables.append({"thead": [], "tbody": []})
        elif tag in ("thead", "tbody"):
            self._section = tag
        elif tag == "tr":
            self.tables[-1][self._section].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][self._section][-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


@pytest.mark.parametrize("name", [*SAMPLES, "mixed"])
def test_markdown_renders_an_html_table_with_one_row_per_host(name: str) -> None:
    doc = documents()[name]
    rendered = MarkdownIt("commonmark").enable("table").render(render_markdown(doc))
    parser = _Tables()
    parser.feed(rendered)
    assert len(parser.tables) == 1
    table = parser.tables[0]
    assert table["thead"] == [HEADER]
    assert [row[0] for row in table["tbody"]] == sorted(doc["hosts"])
    assert all(len(row) == len(HEADER) for row in table["tbody"])
    for row in table["tbody"]:
        host = doc["hosts"][row[0]]
        assert row[1] == host["status"]
        if host["status"] in ("failed", "unreachable"):
            assert " ".join(host["msg"].split()).startswith(row[7].rstrip("…"))
    # host details become collapsible blocks, the changes code blocks
    assert rendered.count("<details>") == len(doc["hosts"])
    assert ('<code class="language-diff">' in rendered) == any(h["changes"] for h in doc["hosts"].values())


def saved_plan_shape(doc: dict[str, Any]) -> dict[str, Any]:
    """A saved plan file keeps less per host (no counts, durations or round trips) and adds its own keys."""
    out = copy.deepcopy(doc)
    out.pop("duration")
    out["format"] = "hvprov-plan/1"
    for h in out["hosts"].values():
        for key in ("changes", "duration", "round_trips", "scripts_run"):
            h.pop(key)
    return out


def test_a_saved_plan_renders_like_the_run_it_came_from() -> None:
    doc = load("plan-fresh-lab")
    assert render_markdown(saved_plan_shape(doc)) == render_markdown(doc)
