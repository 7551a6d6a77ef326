"""The engine's per host-task cuts (docs/winrm-performance.md, "Engine, phase 7") against the code
they replace, kept here as the oracle:

- Templar: a template string's shape (one expression or text, its source, the names it reads)
  and the names of a parsed text kept per Templar; render contexts made without jinja2's set of
  the globals' names, whose name lookup reads the variables directly (Context.resolve_or_missing);
  template() without a call per plain leaf; check_names in one walk of the tree. The oracle is the previous
  Templar (`PreviousTemplar`, below): every differential-test case runs with each, and the run
  document, the events and the console lines must be the same.
- hostvars.magic: the part that stays the same for a play made once per host and role, and the
  linear round's host lists shared by the round's hosts (made once per task, not per host-task);
  checked on every call of every case against the previous magic(); its other lists are fresh
  copies; no task can change the shared lists (the sandbox refuses, what keeps a value copies it).
- hostvars.drop_omitted: without a call per leaf; checked against the previous one on every call
  and on generated data.
"""

from __future__ import annotations

import io
import json
import random
import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2
import pytest

import hvprov.hostvars as hv
import hvprov.templating as tm
from hvprov.errors import Location, VariableError
from hvprov.secrets import Secret, has_secret, mask, reveal, tag_by_name

CASES = Path(__file__).parent / "ansible_diff" / "cases"
CASE_DIRS = sorted(p for p in CASES.iterdir() if (p / "playbook.yml").exists()
                   and "refused:" not in ((p / "case.yml").read_text() if (p / "case.yml").exists() else ""))


# --------------------------------------------------------------------------- the previous code
class PreviousTemplar(tm.Templar):
    """The Templar as it was before the cuts: every render matches the string against the
    one-expression pattern, looks its names up twice, and jinja2 makes its own context (its own
    Context class, whose lookups go through the _Scope mapping)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for env in (self.native, self.text, self.cond):
            env.context_class = jinja2.runtime.Context

    def template(self, value: Any, variables: Mapping[str, Any], where: Location | None = None, field: str = "",
                 _depth: int = 0) -> Any:
        if tm._plain_leaf(value):
            return value
        if isinstance(value, str):
            if not self.is_template(value):
                return value
            return self._render_str(value, variables, where, field, _depth)
        if type(value) is dict or (isinstance(value, Mapping) and not isinstance(value, Secret)):
            return {k: v if tm._plain_leaf(v) else
                    self.template(v, variables, tm._loc(value, k, where), f"{field}.{k}" if field else str(k), _depth)
                    for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [v if tm._plain_leaf(v) else self.template(v, variables, tm._loc(value, i, where), f"{field}[{i}]", _depth)
                    for i, v in enumerate(value)]
        return value

    def _render_str(self, value: str, variables: Mapping[str, Any], where: Location | None, field: str,
                    depth: int = 0) -> Any:
        try:
            m = tm._SINGLE_EXPR.match(value.strip()) if value.strip() == value else None
            source = m.group("expr").strip() if m else value
            variables = self._old_resolved(source, variables, bool(m), where, field, depth)
            secret = self._old_secret_names(source, bool(m), variables)
            unvault = "unvault" in source and self.native.hvprov_vault is not None  # type: ignore[attr-defined]
            if secret or unvault:
                real = self._render_once(value, source, m is not None, tm._overlay(variables, secret, reveal))
                masked = tm._overlay(variables, secret, mask)
                masked = tm.ChainMap({tm.UNVAULT_MASKED: True}, masked) if unvault else masked
                return tm.derive(real, self._render_once(value, source, m is not None, masked))
            return self._render_once(value, source, m is not None, variables)
        except jinja2.UndefinedError as exc:
            raise VariableError(f"undefined variable: {exc.message}", location=where, field=field or None) from None
        except jinja2.TemplateSyntaxError as exc:
            raise VariableError(f"template syntax error: {exc.message} in {value!r}", location=where, field=field or None) from None
        except jinja2.exceptions.SecurityError as exc:
            raise VariableError(f"template refused by the sandbox: {exc}", location=where, field=field or None) from None
        except VariableError:
            raise
        except RecursionError:
            raise VariableError(f"template nesting too deep in {value!r}", location=where, field=field or None) from None
        except Exception as exc:
            raise VariableError(f"template error: {type(exc).__name__}: {exc} in {value!r}", location=where, field=field or None) from None

    def _old_secret_names(self, source: str, bare: bool, variables: Mapping[str, Any]) -> list[str]:
        return [n for n in self._names(source, bare) if has_secret(variables.get(n))]

    @staticmethod
    def _context(tmpl: Any, env: Any, variables: Mapping[str, Any]) -> Any:
        return tmpl.new_context(tm._Scope(variables, env.globals), shared=True)

    def _old_resolved(self, source: str, variables: Mapping[str, Any], bare: bool, where: Location | None,
                      field: str, depth: int) -> Mapping[str, Any]:
        names = self._names(source, bare)
        overlay = {}
        for name in names:
            value = variables.get(name)
            if value is not None and tm._holds_template(value):
                if depth >= 10:
                    raise VariableError(f"recursive loop detected in template {source!r} (variable {name!r})",
                                        location=where, field=field or None)
                overlay[name] = self.template(value, variables, where, field, depth + 1)
        if overlay:
            overlay = tag_by_name(overlay)
        return {**variables, **overlay} if overlay else variables

    def evaluate(self, expression: str, variables: Mapping[str, Any], where: Location | None = None, field: str = "") -> Any:
        expr = expression.strip()
        m = tm._SINGLE_EXPR.match(expr)
        if m:
            expr = m.group("expr").strip()
        try:
            variables = self._old_resolved(expr, variables, True, where, field, 0)
            secret = self._old_secret_names(expr, True, variables)
            if secret:
                real = self._eval_checked(expr, tm._overlay(variables, secret, reveal))
                return tm.derive(real, self._eval_checked(expr, tm._overlay(variables, secret, mask)))
            return self._eval_checked(expr, variables)
        except jinja2.UndefinedError as exc:
            raise VariableError(f"undefined variable: {exc.message}", location=where, field=field or None) from None
        except jinja2.TemplateSyntaxError as exc:
            raise VariableError(f"expression syntax error: {exc.message} in {expression!r}", location=where, field=field or None) from None
        except jinja2.exceptions.SecurityError as exc:
            raise VariableError(f"expression refused by the sandbox: {exc}", location=where, field=field or None) from None
        except Exception as exc:
            raise VariableError(f"expression error: {type(exc).__name__}: {exc} in {expression!r}", location=where, field=field or None) from None

    def undeclared(self, value: Any, bare: bool = False) -> set[str]:
        names: set[str] = set()
        if isinstance(value, str):
            source = None
            if bare:
                source = "{{ " + value + " }}"
            elif self.is_template(value):
                source = value
            if source is not None:
                try:
                    with tm._lenient_escapes():
                        ast = self.text.parse(source)
                    tm.ansible_builtin.check_names(ast, self.text)
                    names |= jinja2.meta.find_undeclared_variables(ast)
                except jinja2.TemplateSyntaxError as exc:
                    raise VariableError(f"template syntax error: {exc.message} in {value!r}") from None
        elif isinstance(value, Mapping):
            for v in value.values():
                names |= self.undeclared(v)
        elif isinstance(value, (list, tuple)):
            for v in value:
                names |= self.undeclared(v)
        return names


def previous_magic(pctx: hv.PlayContext, host: Any, role: Any) -> dict[str, Any]:
    ctx = pctx.ctx
    source, source_dir = pctx.source_of(host)
    out: dict[str, Any] = {
        "inventory_hostname": host.name,
        "inventory_hostname_short": host.name.split(".")[0],
        "group_names": sorted(g for g in host.groups if g != "all"),
        "groups": pctx.groups,
        "hostvars": hv.HostVars(pctx),
        "ansible_play_hosts_all": list(pctx.hosts_all),
        "ansible_play_hosts": pctx.play_hosts("hosts"),
        "ansible_play_batch": pctx.play_hosts("batch"),
        "play_hosts": pctx.play_hosts("batch"),
        "ansible_play_name": pctx.play.name,
        "ansible_check_mode": ctx.opts.mode == "plan",
        "ansible_diff_mode": ctx.opts.diff,
        "hvprov_mode": ctx.opts.mode,
        "playbook_dir": pctx.playbook_dir,
        "inventory_file": source,
        "inventory_dir": source_dir,
        "ansible_run_tags": list(ctx.opts.tags) or ["all"],
        "ansible_skip_tags": list(ctx.opts.skip_tags),
        "ansible_version": dict(hv.ANSIBLE_VERSION),
        "omit": hv.OMIT,
    }
    if role is not None:
        out.update(role_path=role.path, role_name=role.name, ansible_role_name=role.name)
    return out


ROUND_LISTS = {"ansible_play_hosts_all": "all", "ansible_play_hosts": "hosts", "ansible_play_batch": "batch",
               "play_hosts": "play_hosts"}  # magic name -> the linear round's list (PlayContext.freeze)


def previous_drop_omitted(value: Any) -> Any:
    if type(value) is dict or isinstance(value, Mapping):
        return {k: previous_drop_omitted(v) for k, v in value.items() if not (isinstance(v, str) and v == hv.OMIT)}
    if isinstance(value, list):
        return [previous_drop_omitted(v) for v in value if not (isinstance(v, str) and v == hv.OMIT)]
    return value


# --------------------------------------------------------------------------- helpers
def _typed(x: Any) -> Any:
    """A value with its types (a Secret, an UnsafeText and a str must not compare equal)."""
    if isinstance(x, Secret):
        return ("Secret", x.reveal(), x.shown)
    if isinstance(x, Mapping) and not isinstance(x, hv.HostVars):
        return (type(x).__name__, [(k, _typed(v)) for k, v in x.items()])  # keys in order
    if isinstance(x, (list, tuple)):
        return (type(x).__name__, [_typed(v) for v in x])
    if isinstance(x, hv.HostVars):
        return "HostVars"
    return (type(x).__name__, x)


def _run_case(path: Path, tmp: Path, fmt: str) -> tuple[str, list[dict[str, Any]], str]:
    """The case's run document (durations out), its events (times out) and its console lines."""
    import yaml
    from rich.console import Console

    import hvprov.api as api
    from hvprov.errors import HvprovError
    from hvprov.report.console import ConsoleReporter
    from hvprov.report.jsondoc import run_document
    from hvprov.secrets import SecretRegistry
    from hvprov.vault import VaultSecrets

    case = yaml.safe_load((path / "case.yml").read_text()) if (path / "case.yml").exists() else {}
    case = case or {}
    play_dir = tmp / "case"
    shutil.copytree(path, play_dir)
    sim = tmp / "zz-sim.yml"
    sim.write_text("all:\n  vars:\n    ansible_connection: sim\n")
    vault = VaultSecrets([(None, str(case["vault_password"]))]) if "vault_password" in case else None
    registry = SecretRegistry()
    buf = io.StringIO()
    reporter = ConsoleReporter(Console(file=buf, highlight=False, soft_wrap=True, width=200), live=False, heartbeat=0,
                               secrets=registry)
    events: list[dict[str, Any]] = []

    def sink(event: dict[str, Any]) -> None:
        reporter(event)
        text = json.dumps({k: v for k, v in event.items() if k != "ts"}, default=repr)
        events.append(json.loads(text.replace(json.dumps(str(tmp))[1:-1], "TMP")))

    try:
        result = api.apply(play_dir / "playbook.yml", [play_dir / "inventory.yml", sim],
                           extra_vars=case.get("extra_vars") or None, limit=case.get("limit"), lab_dir=tmp / "lab",
                           forks=1, vault=vault, on_event=sink, secret_registry=registry)
        doc = run_document(result, registry)
        reporter.recap(result)
    except HvprovError as exc:
        doc = f"error: {exc}"
    doc = re.sub(r'"duration": [0-9.e-]+', '"duration": 0', doc)
    for ev in events:
        for key in ("duration", "round_trips"):
            ev.pop(key, None)
        if isinstance(ev.get("result"), str):
            ev["result"] = re.sub(r"duration=[0-9.e-]+", "duration=0", ev["result"])
    text = re.sub(r"\(\d+\.\d+ s\)", "(s)", buf.getvalue())
    return doc.replace(json.dumps(str(tmp))[1:-1], "TMP"), events, text.replace(str(tmp), "TMP")


# --------------------------------------------------------------------------- tests
@pytest.mark.parametrize("path", CASE_DIRS, ids=[p.name for p in CASE_DIRS])
def test_runs_match_the_previous_engine(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every differential case: the same document, events and console lines with the previous
    Templar, magic() and drop_omitted() as with the new ones, whose every call is checked too."""
    real_magic, real_drop = hv.magic, hv.drop_omitted
    checked = {"magic": 0, "drop": 0}

    def magic(pctx: hv.PlayContext, host: Any, role: Any) -> dict[str, Any]:
        got, again = real_magic(pctx, host, role), real_magic(pctx, host, role)
        assert _typed(got) == _typed(previous_magic(pctx, host, role))
        assert list(got) == list(previous_magic(pctx, host, role))  # the same order
        shared = set(ROUND_LISTS) if pctx.snapshot is not None else set()
        for key, value in got.items():  # lists and dicts are fresh on every call, as before, but the
            if isinstance(value, (list, dict)) and key != "groups" and key not in shared:  # round's host lists
                assert value is not again[key], key
        for key in shared:
            assert got[key] is pctx.snapshot[ROUND_LISTS[key]], key
        checked["magic"] += 1
        return got

    def drop(value: Any) -> Any:
        got = real_drop(value)
        assert _typed(got) == _typed(previous_drop_omitted(value))
        checked["drop"] += 1
        return got

    monkeypatch.setattr(hv, "magic", magic)
    monkeypatch.setattr("hvprov.taskexec.drop_omitted", drop)
    new = _run_case(path, tmp_path / "new", "json")
    monkeypatch.setattr("hvprov.runctx.Templar", PreviousTemplar)
    monkeypatch.setattr(hv, "magic", previous_magic)
    monkeypatch.setattr("hvprov.taskexec.drop_omitted", previous_drop_omitted)
    old = _run_case(path, tmp_path / "old", "json")
    assert new[0] == old[0], "run document"
    assert new[1] == old[1], "events"
    assert new[2] == old[2], "console"
    tasks = (path / "playbook.yml").read_text().count("tasks:")
    assert checked["magic"] or not tasks, "no task ran"


def test_drop_omitted_matches_the_previous_on_generated_data() -> None:
    from hvprov.yamlsrc import LocDict

    rng = random.Random(7)
    leaves = [hv.OMIT, tm.UnsafeText(hv.OMIT), "x", tm.UnsafeText("{{ y }}"), 1, 2.5, True, None, Secret("pw"), b"b"]

    def gen(depth: int) -> Any:
        roll = rng.random()
        if depth > 3 or roll < 0.4:
            return rng.choice(leaves)
        if roll < 0.6:
            return [gen(depth + 1) for _ in range(rng.randrange(4))]
        if roll < 0.7:
            return tuple(gen(depth + 1) for _ in range(rng.randrange(3)))
        if roll < 0.8:
            return LocDict({f"k{i}": gen(depth + 1) for i in range(rng.randrange(4))})
        return {f"k{i}": gen(depth + 1) for i in range(rng.randrange(4))}

    for _ in range(2000):
        value = gen(0)
        assert _typed(hv.drop_omitted(value)) == _typed(previous_drop_omitted(value))


TEMPLATES = [
    "{{ a }}", " {{ a }}", "{{ a }} ", "{{ a }}{{ b }}", "x {{ a }} y", "{{ nested }}", "{{ pw }}", "p={{ pw }}",
    "{{ items | map('upper') | list }}", "{{ n + 1 }}", "{% if a %}yes{% endif %}", "{{ undefined_x }}",
    "{{ a | bogus_filter }}", "{{ a", "{{ loopy }}", "{{ tpl_pw }}", "{{ omit }}", "{{ t }}", "{{ 7 * 7 }}",
    "{{ namespace }} {{ range(2) | list }}", "{{ lookup('vars', 'a') }}", "{{ nope | default('d') }}",
]


@pytest.mark.parametrize("text", TEMPLATES)
def test_templar_matches_the_previous(text: str) -> None:
    """One string, in a value, in a list and as a bare condition: the same result (or the same
    error) from the Templar and from the previous one, twice (the second from the caches)."""
    variables = tag_by_name({"a": "A", "b": "B", "nested": "{{ a }}-{{ b }}", "pw_password": "s3cret", "n": 2,
                             "items": ["x", "y"], "loopy": "{{ loopy }}", "tpl_password": "{{ a }}", "t": tm.UnsafeText("{{ a }}"),
                             "omit": hv.OMIT, "namespace": "a variable named as a global"})
    variables["pw"] = variables["pw_password"]
    variables["tpl_pw"] = "{{ pw }}"

    def outcome(templar: tm.Templar, value: Any, bare: bool) -> Any:
        try:
            if bare:
                return _typed(templar.evaluate(value, variables))
            return _typed(templar.template(value, variables, Location("f.yml", 3, 4), "tasks[0].x"))
        except VariableError as exc:
            return ("error", str(exc))

    new, old = tm.Templar(), PreviousTemplar()
    for value in (text, {"k": text, "n": 1}, [text, "plain", 3]):
        for _ in range(2):
            assert outcome(new, value, False) == outcome(old, value, False), value
    if "{" not in text.strip("{} "):
        for _ in range(2):
            assert outcome(new, text, True) == outcome(old, text, True)

    def names(templar: tm.Templar) -> Any:
        try:
            return sorted(templar.undeclared(text))
        except VariableError as exc:
            return ("error", str(exc))

    for _ in range(2):
        assert names(new) == names(old)


def previous_check_names(ast: Any, env: Any) -> None:
    from hvprov.jinja.lookups import GLOBALS, LookupError_, _plugin

    for node in ast.find_all(jinja2.nodes.Filter):
        if node.name not in env.filters:
            raise jinja2.TemplateAssertionError(f"no filter named {node.name!r}", node.lineno)
    for test in ast.find_all(jinja2.nodes.Test):
        if test.name not in env.tests:
            raise jinja2.TemplateAssertionError(f"no test named {test.name!r}", test.lineno)
    for call in ast.find_all(jinja2.nodes.Call):
        fn = call.node
        if isinstance(fn, jinja2.nodes.Name) and fn.name in GLOBALS and call.args \
                and isinstance(call.args[0], jinja2.nodes.Const) and isinstance(call.args[0].value, str):
            try:
                _plugin(call.args[0].value)
            except LookupError_ as exc:
                raise jinja2.TemplateAssertionError(str(exc), call.lineno) from None


@pytest.mark.parametrize("text", [
    "{{ a | nofilter }}{{ b is notest }}{{ lookup('nolookup', 'x') }}",
    "{{ lookup('nolookup', 'x') }}\n{{ b is notest }}\n{{ a | nofilter }}",
    "{{ b is notest }}{{ lookup('nolookup') }}", "{{ lookup('nolookup') | upper }}",
    "{{ a | upper | nofilter2 | nofilter1 }}", "{% for x in y | bad %}{{ x is odd }}{% endfor %}",
    "{{ lookup('env', 'HOME') | default(1) }} {{ x is defined }}", "{{ q('bad1') }}{{ query('bad2') }}",
])
def test_check_names_matches_the_previous(text: str) -> None:
    """One walk of the tree for filters, tests and lookups: the same first error (or none)."""
    from hvprov.jinja import check_names

    env = tm.Templar().text

    def outcome(check: Any) -> Any:
        try:
            check(env.parse(text), env)
        except jinja2.TemplateAssertionError as exc:
            return (str(exc), exc.lineno)
        return None

    assert outcome(check_names) == outcome(previous_check_names)


def previous_walk(obj: Any, found: list[Any]) -> None:
    """secrets._walk_secrets as it was before plain leaves were skipped in its loops."""
    if isinstance(obj, Secret):
        found.append(obj)
    elif isinstance(obj, Mapping):
        for v in obj.values():
            previous_walk(v, found)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            previous_walk(v, found)


def test_secrets_in_skips_plain_leaves_and_finds_every_secret() -> None:
    """secrets_in does not descend into plain leaves (most module arguments): on generated nested
    arguments it finds the same Secrets, in the same order, as the walk that visits everything;
    and no Secret's type is a plain leaf type."""
    from hvprov.secrets import LEAVES, secrets_in

    rng = random.Random(11)
    leaves = ["x", 1, 2.5, True, None, Secret("pw"), tm.UnsafeText("u"), ["y", Secret("pw2")], {"k": Secret("pw3")},
             ("t", Secret("pw4"))]
    plain = with_secret = 0
    for _ in range(3000):
        args = {f"a{i}": rng.choice(leaves) for i in range(rng.randrange(5))}
        if rng.random() < 0.3:
            args["nested"] = [dict(args), list(args.values())]
        expected: list[Any] = []
        previous_walk(args, expected)
        got = secrets_in(args)
        assert [id(x) for x in got] == [id(x) for x in expected]
        if expected:
            with_secret += 1
        else:
            plain += 1
    assert plain and with_secret
    assert not any(issubclass(Secret, t) for t in LEAVES)


def previous_unsafe(value: Any) -> Any:
    if isinstance(value, tm.UnsafeText) or not isinstance(value, (str, Mapping, list, tuple)):
        return value
    if isinstance(value, str):
        return tm.UnsafeText(value)
    if isinstance(value, Mapping):
        if isinstance(value, Secret):
            return value
        return {k: previous_unsafe(v) for k, v in value.items()}
    return [previous_unsafe(v) for v in value]


def test_unsafe_and_materialised_match_the_previous_on_generated_data() -> None:
    """unsafe() and _materialised() with the exact common types first: the same values, types
    and (for a lazy result) the same list as the previous checks give."""
    from types import MappingProxyType

    from hvprov.yamlsrc import LocDict, LocList

    rng = random.Random(5)
    leaves = ["s", tm.UnsafeText("u"), 1, 2.5, True, None, Secret("pw"), b"b", MappingProxyType({"m": "v"})]

    def gen(depth: int) -> Any:
        roll = rng.random()
        if depth > 3 or roll < 0.4:
            return rng.choice(leaves)
        kind = rng.choice([list, tuple, LocList, dict, LocDict])
        if kind in (dict, LocDict):
            return kind({f"k{i}": gen(depth + 1) for i in range(rng.randrange(4))})
        return kind(gen(depth + 1) for _ in range(rng.randrange(4)))

    for _ in range(2000):
        value = gen(0)
        assert _typed(tm.unsafe(value)) == _typed(previous_unsafe(value))
        assert _typed(tm._materialised(value)) == _typed(value)
    assert tm._materialised(iter([1, 2])) == [1, 2] and tm._materialised(map(str, [1])) == ["1"]


SHARED_LISTS_BOOK = """
- hosts: all
  gather_facts: false
  tasks:
    - debug: {msg: "{{ ansible_play_hosts.append('intruder') }}"}
      ignore_errors: true
    - debug: {msg: "{{ ansible_play_batch.pop() }}"}
      ignore_errors: true
    - debug: {msg: "{{ play_hosts.sort(reverse=true) }}"}
      ignore_errors: true
    - set_fact:
        mine: "{{ ansible_play_hosts }}"
        all_of_them: "{{ ansible_play_hosts_all + ['extra'] }}"
    - debug: {var: ansible_play_batch}
      register: shown
    - debug: {msg: "{{ item }} of {{ ansible_loop.allitems | length }}"}
      loop: "{{ ansible_play_batch }}"
      loop_control: {extended: true}
    - set_fact:
        shuffled: "{{ ansible_play_hosts | shuffle(seed=inventory_hostname) }}"
        reversed: "{{ ansible_play_hosts | reverse | list }}"
        sorted_desc: "{{ ansible_play_hosts | sort(reverse=true) }}"
    - debug: {msg: "{{ mine }} {{ shown.ansible_play_batch }} {{ ansible_play_hosts }} {{ ansible_play_batch }} {{ play_hosts }} {{ ansible_play_hosts_all }}"}
"""


def test_shared_host_lists_cannot_be_changed_by_a_task(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The round's host lists are shared by its hosts: a task trying to change one is refused by
    the sandbox, and what keeps a value (set_fact, register, loop items, filters) has its own;
    every host sees the play's hosts in order at the end, with the same output as the previous
    magic(), which made new lists for every host-task."""
    import hvprov.api as api

    (tmp_path / "case").mkdir()
    (tmp_path / "case" / "playbook.yml").write_text(SHARED_LISTS_BOOK)
    (tmp_path / "case" / "inventory.yml").write_text("all:\n  hosts: {h1: {}, h2: {}, h3: {}}\n")
    new = _run_case(tmp_path / "case", tmp_path / "new", "json")
    monkeypatch.setattr(hv, "magic", previous_magic)
    old = _run_case(tmp_path / "case", tmp_path / "old", "json")
    assert new == old
    console = new[2]
    assert console.count("refused by the sandbox") == 9, console  # 3 tasks x 3 hosts
    last = [line for line in console.splitlines() if line.startswith("ok: [") and "mine" not in line][-3:]
    for line in last:
        assert line.endswith("['h1', 'h2', 'h3'] ['h1', 'h2', 'h3'] ['h1', 'h2', 'h3'] ['h1', 'h2', 'h3'] "
                             "['h1', 'h2', 'h3'] ['h1', 'h2', 'h3']"), line
    result = api.apply(tmp_path / "case" / "playbook.yml", [tmp_path / "case" / "inventory.yml"], lab_dir=tmp_path / "l",
                       extra_vars={"ansible_connection": "sim"})
    assert not result.failed
