"""hvprov's ansible.windows / community.windows modules against the collections themselves.

The oracle is `ansible-doc --json` over the collections the `ansible` 12.3.0 package bundles
(wincollections.py). For every collection module name hvprov accepts:
* each argument hvprov accepts is documented, with the same type, default, choices and aliases;
* every documented argument hvprov does not run is refused at load (REFUSED) with file:line and
  its reason, which docs/ansible-windows.md lists;
* every documented RETURN key is registered on the lab's 2008 R2 and 2019 hosts with the
  documented type, or its absence is declared (ABSENT_RETURNS) and listed in the docs.
"""

from __future__ import annotations

import re
import types
import typing
from pathlib import Path
from typing import Any

import pytest
from pydantic_core import PydanticUndefined

import hvprov.api as api
from hvprov import modules
from hvprov.errors import InputError

from . import wincollections

REPO = Path(__file__).resolve().parents[2]
PREFIXES = ("ansible.windows.", "community.windows.", "microsoft.hyperv.")
NAMES = sorted(n for n in modules.ALIASES if n.startswith(PREFIXES))
# The documentation's name for the free-form text; the module itself reads _raw_params.
DOC_NAME = {"free_form": "_raw_params"}
# Arguments a task needs besides the one under test (to load at all).
REQUIRED = {"win_feature": {"name": "Web-Server"}, "win_powershell": {"script": "1"},
            "win_command": {"_raw_params": "whoami"}, "win_shell": {"_raw_params": "Get-Date"}, "win_reboot": {}}
SAMPLE = {"str": "x", "path": "C:\\x", "bool": True, "int": 3, "float": 3.5, "dict": {"a": 1},
          "list": ["x"], "raw": "x"}


@pytest.fixture(scope="module")
def docs() -> dict[str, Any]:
    return wincollections.docs(NAMES)


def _module(name: str) -> Any:
    mod = modules.get(name)
    assert mod is not None
    return mod


def _ansible_type(model: Any, field: str, annotation: Any) -> tuple[str, str | None, list[Any] | None]:
    """(type, elements, choices) of a pydantic field in ansible's argument-spec words."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and len(args) == 1:
        annotation = args[0]
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return "str", None, sorted(typing.get_args(annotation))
    if origin is list:
        (inner,) = typing.get_args(annotation)
        return "list", {str: "str", dict: "dict"}.get(inner, repr(inner)), None
    if origin is dict or annotation is dict:
        return "dict", None, None
    simple = {bool: "bool", int: "int", float: "float", str: "str"}[annotation]
    if simple == "str" and field in getattr(model, "PATHS", ()):
        return "path", None, None
    return simple, None, None


def _accepted(model: Any) -> dict[str, dict[str, Any]]:
    """hvprov's arguments by their first name: type, elements, default, choices, names."""
    out = {}
    for key, f in model.model_fields.items():
        names = [str(a) for a in getattr(f.validation_alias, "choices", ())] or [key]
        typ, elements, choices = _ansible_type(model, key, f.annotation)
        default = None if f.default is PydanticUndefined or f.default_factory is not None else f.default
        out[names[0]] = {"type": typ, "elements": elements, "default": default, "choices": choices,
                         "names": sorted(names)}
    return out


def _documented(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out = {}
    for name, o in doc["doc"]["options"].items():
        name = DOC_NAME.get(name, name)
        out[name] = {"type": o.get("type", "str"), "elements": o.get("elements"), "default": o.get("default"),
                     "choices": sorted(o["choices"]) if o.get("choices") else None,
                     "names": sorted([name, *o.get("aliases", [])])}
    return out


def _same_default(ours: Any, theirs: Any, typ: str) -> bool:
    if typ == "float" and isinstance(ours, (int, float)) and isinstance(theirs, (int, float)):
        return float(ours) == float(theirs)
    return ours == theirs


@pytest.mark.parametrize("name", NAMES)
def test_every_accepted_argument_is_documented_alike(name: str, docs: dict[str, Any]) -> None:
    model = _module(name).ArgsModel
    documented = _documented(docs[name])
    problems = []
    for arg, ours in _accepted(model).items():
        theirs = documented.get(arg)
        if theirs is None:
            problems.append(f"{arg}: accepted by hvprov, not documented by {name}")
            continue
        for key in ("type", "elements", "choices", "names"):
            if ours[key] != theirs[key]:
                problems.append(f"{arg}.{key}: hvprov {ours[key]!r}, collection {theirs[key]!r}")
        if not _same_default(ours["default"], theirs["default"], ours["type"]):
            problems.append(f"{arg}.default: hvprov {ours['default']!r}, collection {theirs['default']!r}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", NAMES)
def test_every_documented_argument_is_accepted_or_refused(name: str, docs: dict[str, Any]) -> None:
    model = _module(name).ArgsModel
    handled = set(_accepted(model)) | set(getattr(model, "REFUSED", {}))
    missing = set(_documented(docs[name])) - handled
    assert not missing, f"{name}: documented, neither accepted nor refused: {sorted(missing)}"


REFUSED_CASES = [(n, arg) for n in NAMES for arg in sorted(getattr(_module(n).ArgsModel, "REFUSED", {}))]


@pytest.mark.parametrize("name,arg", REFUSED_CASES, ids=[f"{n}.{a}" for n, a in REFUSED_CASES])
def test_refused_argument_fails_the_load_with_file_line_and_reason(name: str, arg: str, docs: dict[str, Any],
                                                                   tmp_path: Path) -> None:
    import yaml

    mod = _module(name)
    rule = mod.ArgsModel.REFUSED[arg]
    doc = docs[name]["doc"]["options"]
    typ = doc.get(arg, doc.get("free_form" if arg == "_raw_params" else arg, {})).get("type", "str")
    value = SAMPLE.get(typ, "x")
    if typ == "list" and doc[arg].get("elements") == "dict":
        value = [{"name": "p", "value": "v"}]
    args = {**REQUIRED[mod.name], arg: value}
    book = tmp_path / "playbook.yml"
    book.write_text(yaml.safe_dump([{"hosts": "all", "gather_facts": False, "tasks": [{name: args}]}], sort_keys=False))
    line = next(i for i, text in enumerate(book.read_text().splitlines(), 1) if text.strip().startswith(f"{arg}:"))
    with pytest.raises(InputError) as info:
        api.load_playbook_input(book)
    text = str(info.value)
    assert f"playbook.yml:{line}:" in text and rule.reason in text, text
    # the same argument templated is refused too (its value is unknown at load)
    book.write_text(book.read_text().replace(f"{arg}: ", f"{arg}: '{{{{ v }}}}' #", 1))
    with pytest.raises(InputError, match=re.escape(rule.reason)):
        api.load_playbook_input(book)


def test_the_documented_defaults_or_falses_of_refused_arguments_load(docs: dict[str, Any], tmp_path: Path) -> None:
    import yaml

    tasks = [{name: {**REQUIRED[_module(name).name], arg: allowed}}
             for name, arg in REFUSED_CASES for allowed in _module(name).ArgsModel.REFUSED[arg].allowed]
    assert tasks, "no refused argument has an allowed value (win_feature include_sub_features: false has)"
    book = tmp_path / "playbook.yml"
    book.write_text(yaml.safe_dump([{"hosts": "all", "gather_facts": False, "tasks": tasks}]))
    api.load_playbook_input(book)


def test_docs_list_every_refused_argument_and_every_absent_return_key() -> None:
    text = (REPO / "docs" / "ansible-windows.md").read_text()
    for name, arg in REFUSED_CASES:
        assert re.search(rf"`{re.escape(_module(name).name)}`.*`{re.escape(arg)}`", text), f"{name} {arg} not in docs"
    for name in NAMES:
        for key in getattr(_module(name), "ABSENT_RETURNS", {}):
            assert re.search(rf"`{re.escape(_module(name).name)}`.*`{re.escape(key)}`", text), f"{name} {key} not in docs"


# --------------------------------------------------------------------------- RETURN keys on the lab

INVENTORY = {"all": {"vars": {"ansible_connection": "sim", "sim": {"reboot_seconds": 1}},
                     "hosts": {"old": {"sim_profile": "2008r2-standard"}, "new": {"sim_profile": "2019-standard"}}}}
TASKS = {  # one task per module that gets as far as its full result
    "ansible.windows.win_feature": {"name": ["Hyper-V"], "include_management_tools": True},
    "ansible.windows.win_reboot": {"post_reboot_delay": 0},
    "ansible.windows.win_powershell": {"script": "Write-Host hi"},
    "ansible.windows.win_command": {"_raw_params": "whoami"},
    "ansible.windows.win_shell": {"_raw_params": "Get-Date"},
}
TYPES: dict[str, Any] = {"str": str, "int": int, "bool": bool, "float": (int, float), "list": list, "dict": dict}


@pytest.fixture(scope="module")
def lab_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, dict[str, Any]]]:
    tmp = tmp_path_factory.mktemp("contract")
    tasks = [{"name": n, n: a, "register": "r"} for n, a in TASKS.items()]
    res = api.apply([{"hosts": "all", "gather_facts": False, "tasks": tasks}], INVENTORY, lab_dir=tmp / "lab")
    return {h: {t.name: dict(t.data) for t in r.tasks} for h, r in res.hosts.items()}


def _type_ok(value: Any, typ: str) -> bool:
    if typ == "complex":
        return True
    want = TYPES[typ]
    return isinstance(value, want) and not (isinstance(value, bool) and typ in ("int", "float"))


def test_every_module_hvprov_accepts_is_run_here() -> None:
    assert sorted(TASKS) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_documented_return_keys_are_registered_with_their_types(name: str, docs: dict[str, Any],
                                                                 lab_results: dict[str, Any]) -> None:
    absent = getattr(_module(name), "ABSENT_RETURNS", {})
    problems = []
    for host, results in lab_results.items():
        data = results[name]
        for key, spec in (docs[name].get("return") or {}).items():
            if key in absent:
                if key in data:
                    problems.append(f"{host} {key}: declared absent but registered")
                continue
            if key not in data:
                problems.append(f"{host} {key}: documented ({spec.get('returned')}), not registered")
            elif not _type_ok(data[key], spec["type"]):
                problems.append(f"{host} {key}: {type(data[key]).__name__}, documented {spec['type']}")
            for sub, sspec in (spec.get("contains") or {}).items():
                full = f"{key}.{sub}"
                entries = data.get(key) if isinstance(data.get(key), list) else []
                if full in absent or not entries:
                    continue
                for entry in entries:
                    if sub not in entry:
                        problems.append(f"{host} {full}: not registered")
                    elif not _type_ok(entry[sub], sspec["type"]):
                        problems.append(f"{host} {full}: {type(entry[sub]).__name__}, documented {sspec['type']}")
    assert not problems, "\n".join(problems)


def test_win_feature_result_entries_were_checked(lab_results: dict[str, Any]) -> None:
    """The lab installs Hyper-V, so feature_result's entries above were not an empty list."""
    assert all(r["ansible.windows.win_feature"]["feature_result"] for r in lab_results.values())


@pytest.mark.parametrize("key", ["error", "information"])
def test_win_powershell_record_keys_are_the_templates(key: str, docs: dict[str, Any]) -> None:
    """The lab does not run scripts: the error / information records' keys are checked in the
    template that builds them on a real host."""
    text = (REPO / "hvprov" / "templates" / "powershell" / "structured.ps1.j2").read_text()
    built = set(re.findall(r"'(\w+)' = ", text))
    contains = docs["ansible.windows.win_powershell"]["return"][key]["contains"]
    assert set(contains) <= built, sorted(set(contains) - built)
