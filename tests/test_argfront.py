"""The control modules' fast argument path against pydantic, the validator of record.

Every input goes both ways: through the module's `ArgsModel` (modules/argfront.py: a plain valid
dict is taken by hand, anything else handed to the pydantic model) and straight through the
pydantic model in modules/controlargs.py. Same field values and types, same `model_fields_set`
and `model_extra`, or the same error as the engine reports it (describe_validation of the first
error, as taskexec does); and what the load-time check (`accepts`) lets through, pydantic takes.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from hvprov.modules import MODULES
from hvprov.modules.argfront import FastArgs, validation_errors
from hvprov.playbook import describe_validation
from hvprov.secrets import Secret
from hvprov.templating import UnsafeText
from hvprov.yamlsrc import LocDict, LocList

CONTROL = ("debug", "set_fact", "assert", "fail")
KEYS = ("msg", "var", "that", "fail_msg", "success_msg", "quiet", "cacheable", "counter", "last_step",
        "_private", "model_config", "copy", "my-var", "Ünïcode", "x", "")


def shape(value: Any) -> Any:
    """A value with its types all the way down (True and 1 differ, str and UnsafeText differ)."""
    if isinstance(value, dict):
        return (type(value), [(shape(k), shape(v)) for k, v in value.items()])
    if isinstance(value, (list, tuple)):
        return (type(value), [shape(v) for v in value])
    return (type(value), value)


def outcome(model: Any, raw: Any) -> tuple[str, Any]:
    """What a validation gives: the fields (with types), fields set and extra; or the error text."""
    try:
        made = model.model_validate(raw)
    except Exception as exc:
        errors = validation_errors(exc)
        assert errors is not None, f"not a validation error: {exc!r}"
        assert errors == ValidationError.errors(exc) if isinstance(exc, ValidationError) else False
        pyd = model.pydantic_model() if isinstance(model, type) and issubclass(model, FastArgs) else model
        return "error", [describe_validation(e, pyd) for e in errors]
    fields = {name: shape(getattr(made, name)) for name in type(made).model_fields} \
        if not isinstance(made, FastArgs) else {name: shape(getattr(made, name)) for name in made._FIELDS}
    extra = None if made.model_extra is None else shape(made.model_extra)
    return "ok", (fields, sorted(made.model_fields_set), extra)


def same_both_ways(module: str, raw: Any) -> bool:
    """Checks one input; True when the fast path (not pydantic) made the result."""
    front = MODULES[module].ArgsModel
    assert issubclass(front, FastArgs)
    pyd = front.pydantic_model()
    assert outcome(front, raw) == outcome(pyd, raw), (module, raw)
    if isinstance(raw, dict) and front.accepts(raw):  # load time: what it lets through, pydantic takes
        pyd.model_validate(dict(raw))
    try:
        return isinstance(front.model_validate(raw), FastArgs)
    except ValidationError:
        return False


# data-driven corpus: the awkward cases by name
SECRET = Secret("s3cret", "vault")
CORPUS: list[tuple[str, Any, bool]] = [  # module, input, fast path expected
    ("debug", {}, True),
    ("debug", {"msg": "hello"}, True),
    ("debug", {"msg": None}, True),
    ("debug", {"msg": 3}, True),
    ("debug", {"msg": ["a", {"b": [1, None]}]}, True),
    ("debug", {"msg": SECRET}, True),
    ("debug", {"msg": UnsafeText("{{ x }}")}, True),
    ("debug", {"msg": "héllo ☃ \U0001f600"}, True),
    ("debug", {"var": "hostvars"}, True),
    ("debug", {"var": None, "msg": "x"}, True),
    ("debug", {"var": 3}, False),
    ("debug", {"var": True}, False),
    ("debug", {"var": UnsafeText("x")}, False),
    ("debug", {"var": SECRET}, False),
    ("debug", {"var": "\ud800"}, False),
    ("debug", {"var": b"bytes"}, False),
    ("debug", {"var": ["a"]}, False),
    ("debug", {"msg": "x", "verbosity": 1}, False),
    ("debug", {"mesg": "x"}, False),
    ("debug", {1: "x"}, False),
    ("set_fact", {"counter": "{{ 1 + 1 }}", "last_step": 3}, True),
    ("set_fact", {"cacheable": True, "a": 1}, True),
    ("set_fact", {"cacheable": "yes", "a": 1}, False),
    ("set_fact", {"cacheable": "no"}, False),
    ("set_fact", {"cacheable": 1}, False),
    ("set_fact", {"cacheable": None}, False),
    ("set_fact", {"cacheable": "maybe"}, False),
    ("set_fact", {}, True),
    ("set_fact", {"x": None, "y": [[1, [2]], {"z": SECRET}]}, True),
    ("set_fact", {"_private": 1}, False),
    ("set_fact", {"model_config": 1}, True),
    ("set_fact", {"my-var": 1}, False),
    ("set_fact", {"Ünïcode": "ö"}, True),
    ("set_fact", {1: 2}, False),
    ("assert", {"that": ["a == 1", "b"]}, True),
    ("assert", {"that": "a == 1"}, True),
    ("assert", {"that": True}, True),
    ("assert", {"that": None}, True),
    ("assert", {"that": []}, True),
    ("assert", {"that": [["nested"], {"k": 1}]}, True),
    ("assert", {"that": LocList(["a"])}, True),
    ("assert", {"that": ("a", "b")}, True),
    ("assert", {}, False),
    ("assert", {"fail_msg": "no"}, False),
    ("assert", {"that": "x", "quiet": "yes"}, False),
    ("assert", {"that": "x", "quiet": "no"}, False),
    ("assert", {"that": "x", "quiet": 0}, False),
    ("assert", {"that": "x", "quiet": True, "fail_msg": "f", "success_msg": None}, True),
    ("assert", {"that": "x", "fail_msg": 3}, False),
    ("assert", {"that": "x", "fail_msg": ["a"]}, False),
    ("assert", {"that": "x", "success_msg": SECRET}, False),
    ("assert", {"that": "x", "msg": "m"}, False),
    ("fail", {}, True),
    ("fail", {"msg": "{{ inventory_hostname }} is not supported"}, True),
    ("fail", {"msg": None}, True),
    ("fail", {"msg": "x", "other": 1}, False),
]


@pytest.mark.parametrize(("module", "raw", "fast"), CORPUS, ids=[f"{m}-{i}" for i, (m, _, _) in enumerate(CORPUS)])
def test_the_corpus_validates_as_pydantic_does(module: str, raw: Any, fast: bool) -> None:
    assert same_both_ways(module, raw) is fast


def test_non_dict_input_and_options_go_to_pydantic() -> None:
    front = MODULES["debug"].ArgsModel
    for raw in (["msg"], "msg=x", None, LocDict(msg="x")):
        assert outcome(front, raw) == outcome(front.pydantic_model(), raw)
    made = front.model_validate({"msg": "x"}, strict=True)
    assert type(made) is front.pydantic_model()


LEAF = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=8),
                 st.sampled_from(["yes", "no", "true", "False", "on", "0", "1", "{{ x }}", "\ud800", "é☃"]),
                 st.builds(UnsafeText, st.text(max_size=4)), st.just(SECRET), st.binary(max_size=3))
VALUE = st.recursive(LEAF, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
                     | st.builds(LocList, st.lists(inner, max_size=2)), max_leaves=6)
AWKWARD = st.one_of(st.booleans(), st.integers(-1, 2), st.none(), LEAF, VALUE)  # the typed fields' edge values first
OWN_KEYS = {"debug": ["msg", "var"], "set_fact": ["cacheable"], "assert": ["that", "fail_msg", "success_msg", "quiet"],
            "fail": ["msg"]}


@st.composite
def module_args(draw: Any) -> tuple[str, dict[str, Any]]:
    """A module and its arguments: mostly its own keys (with `that` mostly given), sometimes others."""
    module = draw(st.sampled_from(CONTROL))
    own = OWN_KEYS[module]
    raw = {k: draw(AWKWARD) for k in own if draw(st.integers(0, 3)) or k == "that" and draw(st.integers(0, 8))}
    raw.update(draw(st.dictionaries(st.sampled_from(KEYS), VALUE, max_size=2)) if draw(st.integers(0, 2)) == 0 else {})
    return module, raw


@settings(max_examples=500, deadline=None)
@given(case=module_args())
def test_generated_inputs_validate_as_pydantic_does(case: tuple[str, dict[str, Any]]) -> None:
    same_both_ways(*case)


def test_the_docs_and_schema_are_pydantics() -> None:
    from hvprov.docs import module_doc, module_schema

    for name in CONTROL:
        front = MODULES[name].ArgsModel
        pyd = front.pydantic_model()
        assert module_schema(name)["args"] == pyd.model_json_schema()
        assert front.model_fields == pyd.model_fields and front.model_config == pyd.model_config
        assert module_doc(name)
    assert "<any>" in module_doc("set_fact")


@pytest.mark.parametrize("name", CONTROL)
def test_each_front_declares_its_models_fields(name: str) -> None:
    """The hand-kept field table against the model it fronts: the same field names, each required
    or not as the model says, with the model's default; unknown keys allowed exactly when the
    model's `extra` is "allow" (a table left behind by a change to controlargs.py fails here)."""
    front = MODULES[name].ArgsModel
    pyd = front.pydantic_model()
    assert set(front._FIELDS) == set(pyd.model_fields)
    for field, (_, required, default) in front._FIELDS.items():
        info = pyd.model_fields[field]
        assert required == info.is_required(), field
        if not required:
            assert shape(default) == shape(info.get_default(call_default_factory=True)), field
    assert front._EXTRA == (pyd.model_config.get("extra") == "allow")


def _run(tmp_path: Path, tasks: list[dict[str, Any]], probe: str) -> subprocess.CompletedProcess[str]:
    """`python -m hvprov apply` in a fresh interpreter on one sim host; prints what `probe` says at exit."""
    (tmp_path / "inv.yml").write_text(yaml.safe_dump({"all": {"hosts": {"h1": {
        "ansible_connection": "sim", "sim_profile": "2019-standard"}}}}))
    (tmp_path / "pb.yml").write_text(yaml.safe_dump([{"hosts": "all", "gather_facts": False, "tasks": tasks}]))
    code = ("import atexit, sys, runpy\n"
            f"atexit.register(lambda: print('PROBE', {probe}, file=sys.stderr))\n"
            "sys.argv = ['hvprov', 'apply', '-i', sys.argv[1], sys.argv[2], '--lab-dir', sys.argv[3], '--format', 'json']\n"
            "runpy.run_module('hvprov', run_name='__main__')\n")
    return subprocess.run([sys.executable, "-c", code, str(tmp_path / "inv.yml"), str(tmp_path / "pb.yml"),
                           str(tmp_path / "lab")], capture_output=True, text=True, timeout=120)


PYDANTIC_LOADED = "sorted(m for m in sys.modules if m.split('.')[0].startswith(('pydantic', 'hvprov.modules.controlargs')) or m == 'hvprov.modules.controlargs')"
CONTROL_TASKS = [{"debug": {"msg": "{{ inventory_hostname }} step"}}, {"set_fact": {"counter": "{{ 1 + 1 }}", "n": 2}},
                 {"assert": {"that": ["counter | int == 2", "n == 2"], "quiet": True}}, {"debug": {"var": "counter"}},
                 {"assert": {"that": "n == 2", "success_msg": "fine"}}]


def test_a_controller_only_run_imports_no_pydantic(tmp_path: Path) -> None:
    done = _run(tmp_path, CONTROL_TASKS, PYDANTIC_LOADED)
    assert done.returncode == 0, done.stderr
    assert '"status": "ok"' in done.stdout
    assert "PROBE []" in done.stderr


def test_a_coerced_argument_is_pydantics_and_a_host_module_validates_with_pydantic(tmp_path: Path) -> None:
    done = _run(tmp_path, [{"set_fact": {"cacheable": "yes", "n": 2}}, {"assert": {"that": "n == 2"}}], PYDANTIC_LOADED)
    assert done.returncode == 0, done.stderr
    assert "'hvprov.modules.controlargs'" in done.stderr and "'pydantic'" in done.stderr
    bad = _run(tmp_path, [{"hyperv_vswitch": {"name": "ext", "type": "external", "bogus": 1}}], PYDANTIC_LOADED)
    assert bad.returncode == 4, bad.stderr
    assert "unknown argument 'bogus'" in bad.stdout + bad.stderr and "'pydantic'" in bad.stderr


def test_a_bad_control_argument_is_reported_in_pydantics_words(tmp_path: Path) -> None:
    done = _run(tmp_path, [{"set_fact": {"cacheable": "maybe"}}], PYDANTIC_LOADED)
    assert done.returncode == 4
    out = done.stdout + done.stderr
    pyd = MODULES["set_fact"].ArgsModel.pydantic_model()
    with pytest.raises(ValidationError) as exc:
        pyd.model_validate({"cacheable": "maybe"})
    assert describe_validation(exc.value.errors()[0], pyd) in out
