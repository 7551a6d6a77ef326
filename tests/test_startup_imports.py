"""Start-up stays lean (issue 15 item 4): the CLI imports what a run needs, when it needs it.

Each check runs a fresh interpreter (a module imported by an earlier test would hide a
regression) and reads `sys.modules`; the figures (start-up time) are in bench/, not here.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

HEAVY_TRANSPORTS = ("winrm", "requests", "urllib3", "spnego", "paramiko", "dask", "distributed")
# not needed by a one-host plan over the sim connection with JSON output either
NOT_FOR_A_SIM_RUN = (*HEAVY_TRANSPORTS, "rich", "cryptography", "regex", "hvprov.workers", "hvprov.jobs",
                     "hvprov.transports.winrm", "hvprov.transports.ssh", "hvprov.modules.vm", "xml.sax.saxutils",
                     # typed facts are parsed only when a play gathers them; the saved-plan schema
                     # (pydantic models) is built only when a saved plan is read; tomllib when a TOML inventory is
                     "hvprov.facts", "hvprov.planschema", "tomllib",
                     # vars_prompt's module only for a play that has one; difflib only to suggest a name
                     "hvprov.prompts", "difflib",
                     # vault cryptography only for vault data or options; the saved-plan machinery only for plans
                     "hvprov.vault", "hvprov.plans",
                     # password sources (env:, file:, prompt) only for a host that has one
                     "hvprov.secretsources")
# what `import hvprov.cli` (and so `hvprov --help`) does not load: the run's machinery comes with a run
NOT_FOR_HELP = (*NOT_FOR_A_SIM_RUN, "pydantic", "pydantic_core", "jinja2", "yaml", "hvprov.api", "hvprov.validate",
                "configparser")  # ansible.cfg's parser: only when there is a file to read

PROBE = """
import json, sys, io, contextlib
watch = json.loads(sys.argv[1])
import hvprov.cli
after_import = [m for m in watch if m in sys.modules]
after_run = None
if len(sys.argv) > 2:
    with contextlib.redirect_stdout(io.StringIO()) as out:
        rc = hvprov.cli.main(sys.argv[2:])
    assert rc == 0, (rc, out.getvalue()[-2000:])
    after_run = [m for m in watch if m in sys.modules]
print(json.dumps({"import": after_import, "run": after_run}))
"""


def _probe(watch: tuple[str, ...], *argv: str, cwd: Path | None = None) -> dict[str, list[str] | None]:
    proc = subprocess.run([sys.executable, "-c", PROBE, json.dumps(list(watch)), *argv], capture_output=True,
                          text=True, timeout=120, cwd=cwd)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_importing_the_cli_loads_no_transport_library() -> None:
    assert _probe(HEAVY_TRANSPORTS)["import"] == []


def test_importing_the_cli_loads_none_of_the_run_machinery() -> None:
    assert _probe(NOT_FOR_HELP)["import"] == []


def test_a_saved_plan_check_builds_its_schema_when_asked() -> None:
    """The saved-plan schema moved out of hvprov.validate still refuses an edited plan, naming the field."""
    import pytest

    from hvprov.errors import InputError
    from hvprov.validate import check_plan_document

    text = '{"format": "hvprov-plan/1", "inputs": {}, "hosts": {"h1": {"status": "bogus"}}}'
    with pytest.raises(InputError) as info:
        check_plan_document(json.loads(text), text, "p.json")
    assert info.value.field == "inputs.playbook" and "saved plan edited by hand" in str(info.value)


def test_a_one_host_sim_run_loads_only_what_it_uses(tmp_path: Path) -> None:
    book = tmp_path / "pb.yml"
    book.write_text(yaml.safe_dump([{"hosts": "all", "gather_facts": False, "tasks": [
        {"name": "say", "debug": {"msg": "{{ inventory_hostname }}"}},
        {"set_fact": {"x": 1}}, {"assert": {"that": ["x == 1"]}}]}]))
    inv = tmp_path / "inv.yml"
    inv.write_text(yaml.safe_dump({"all": {"hosts": {"h1": {"ansible_connection": "sim"}}}}))
    res = _probe(NOT_FOR_A_SIM_RUN, "apply", str(book), "-i", str(inv), "--lab-dir", str(tmp_path / "lab"),
                 "--format", "json", cwd=tmp_path)
    assert res["import"] == [] and res["run"] == [], res


def test_configparser_is_imported_only_when_there_is_an_ansible_cfg(tmp_path: Path) -> None:
    """A run with no ansible.cfg anywhere does not import configparser; with one it reads it."""
    import os

    from hvprov.config import find_config

    book = tmp_path / "pb.yml"
    book.write_text(yaml.safe_dump([{"hosts": "all", "gather_facts": False, "tasks": [{"debug": {"msg": "x"}}]}]))
    inv = tmp_path / "inv.yml"
    inv.write_text(yaml.safe_dump({"all": {"hosts": {"h1": {"ansible_connection": "sim"}}}}))
    argv = ("apply", str(book), "-i", str(inv), "--lab-dir", str(tmp_path / "lab"), "--format", "json")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env["HOME"] = str(tmp_path)  # no ~/.ansible.cfg
    found = find_config(env, tmp_path)  # /etc/ansible/ansible.cfg is the machine's
    proc = subprocess.run([sys.executable, "-c", PROBE, json.dumps(["configparser"]), *argv], capture_output=True,
                          text=True, timeout=120, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1])["run"] == (["configparser"] if found else [])
    (tmp_path / "ansible.cfg").write_text("[defaults]\nforks = 7\n")
    proc = subprocess.run([sys.executable, "-c", PROBE, json.dumps(["configparser"]), *argv], capture_output=True,
                          text=True, timeout=120, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1])["run"] == ["configparser"]


def test_the_lazy_module_registry_is_the_whole_table() -> None:
    """Lazily built modules are the same objects a lookup returns, and every name resolves."""
    from hvprov import modules

    for name in modules.MODULES:
        mod = modules.MODULES[name]
        assert mod.name == name and modules.MODULES[name] is mod and modules.get(name) is mod
    for alias, target in modules.ALIASES.items():
        assert modules.get(alias) is modules.MODULES[target]
    assert modules.get("no_such_module") is None and "no_such_module" not in modules.MODULES


def _sim_inputs(tmp_path: Path) -> tuple[Path, Path]:
    book = tmp_path / "pb.yml"
    book.write_text(yaml.safe_dump([{"hosts": "all", "gather_facts": False, "tasks": [
        {"name": "say", "debug": {"msg": "{{ inventory_hostname }}"}}]}]))
    inv = tmp_path / "inv.yml"
    inv.write_text(yaml.safe_dump({"all": {"hosts": {"h1": {"ansible_connection": "sim"}}}}))
    return book, inv


def test_a_piped_console_run_draws_no_live_area(tmp_path: Path) -> None:
    """Not a terminal: the console format prints lines; rich's Live and Table are not imported."""
    book, inv = _sim_inputs(tmp_path)
    res = _probe(("rich.live", "rich.table", "rich.console"), "apply", str(book), "-i", str(inv),
                 "--lab-dir", str(tmp_path / "lab"), cwd=tmp_path)
    assert res["run"] == ["rich.console"], res


PLUGIN_PROBE = """
import io, sys, contextlib
import hvprov.cli
with contextlib.redirect_stdout(io.StringIO()):
    assert hvprov.cli.main(sys.argv[1:]) == 0
from pydantic.plugin import _loader
print("scanned" if _loader._plugins is not None else "not scanned")
"""


def test_the_cli_skips_the_pydantic_plugin_scan_unless_the_user_asks(tmp_path: Path) -> None:
    """PYDANTIC_DISABLE_PLUGINS (pydantic's documented switch) is the CLI's default: no entry-point
    scan of every installed package; a value the user set (even empty) is kept."""
    import os

    book, inv = _sim_inputs(tmp_path)
    # a run that validates with pydantic: plain control-module arguments do not (modules/argfront.py),
    # pydantic's coercion of "yes" does
    book.write_text(yaml.safe_dump([{"hosts": "all", "gather_facts": False, "tasks": [
        {"name": "coerced", "set_fact": {"cacheable": "yes", "x": 1}}]}]))
    argv = ["apply", str(book), "-i", str(inv), "--lab-dir", str(tmp_path / "lab"), "--format", "json"]
    seen = {}
    for label, extra in (("default", {}), ("user", {"PYDANTIC_DISABLE_PLUGINS": ""})):
        env = {k: v for k, v in os.environ.items() if k != "PYDANTIC_DISABLE_PLUGINS"} | extra
        proc = subprocess.run([sys.executable, "-c", PLUGIN_PROBE, *argv], capture_output=True, text=True,
                              timeout=120, cwd=tmp_path, env=env)
        assert proc.returncode == 0, proc.stderr[-2000:]
        seen[label] = proc.stdout.strip().splitlines()[-1]
    assert seen == {"default": "not scanned", "user": "scanned"}


GC_PROBE = """
import atexit, gc, io, json, runpy, sys, contextlib
how, argv = sys.argv[1], sys.argv[2:]
def report():
    sys.stderr.write("GC " + json.dumps({"frozen": gc.get_freeze_count(), "enabled": gc.isenabled()}) + "\\n")
atexit.register(report)
if how == "command":  # as `python -m hvprov ...`
    sys.argv = ["hvprov", *argv]
    runpy.run_module("hvprov", run_name="__main__", alter_sys=True)
else:  # a program calling main()
    import hvprov.cli
    with contextlib.redirect_stdout(io.StringIO()):
        assert hvprov.cli.main(argv) == 0
"""


def test_the_command_freezes_what_exists_when_a_run_starts_and_a_program_keeps_its_collector(tmp_path: Path) -> None:
    """`hvprov apply` (its own process) moves the imported modules and the loaded inputs out of the
    collector's way (gc.freeze) and collects again during the run; main() called by a program
    changes nothing in its process's collector."""
    book, inv = _sim_inputs(tmp_path)
    argv = ["apply", str(book), "-i", str(inv), "--lab-dir", str(tmp_path / "lab"), "--format", "json"]
    seen = {}
    for how in ("command", "program"):
        proc = subprocess.run([sys.executable, "-c", GC_PROBE, how, *argv], capture_output=True, text=True,
                              timeout=120, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr[-2000:]
        seen[how] = json.loads(proc.stderr.strip().splitlines()[-1].removeprefix("GC "))
    assert seen["command"]["enabled"] and seen["command"]["frozen"] > 10_000, seen
    assert seen["program"] == {"frozen": 0, "enabled": True}, seen


def test_a_command_that_fails_before_the_run_leaves_the_collector_on(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-c", GC_PROBE.replace("assert hvprov.cli.main(argv) == 0", "pass"),
                           "command", "apply", str(tmp_path / "missing.yml"), "-i", str(tmp_path / "none.yml")],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 4, proc.stderr[-2000:]
    assert json.loads(proc.stderr.strip().splitlines()[-1].removeprefix("GC "))["enabled"] is True
