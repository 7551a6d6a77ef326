"""ScriptRenderer keeps renders of plain-JSON parameters: what it returns from its cache is what
a fresh renderer (no cache) renders, and it never keeps a render that a secret, a PowerShell
fragment (PsRaw) or a different task environment would change."""

from __future__ import annotations

from hvprov.render import RENDER_CACHE, ScriptRenderer, script_environment
from hvprov.secrets import Secret

FACTS = "facts/host.ps1.j2"


def test_a_repeated_render_is_the_cached_one_and_equals_a_fresh_render() -> None:
    r = ScriptRenderer()
    first = r.render(FACTS, probe_paths=["C:\\VMs", "D:\\x"])
    again = r.render(FACTS, probe_paths=["C:\\VMs", "D:\\x"])
    assert again is first
    assert again == ScriptRenderer().render(FACTS, probe_paths=["C:\\VMs", "D:\\x"])
    other = r.render(FACTS, probe_paths=["E:\\y"])
    assert other is not first and "E:\\y" in other.text and other == ScriptRenderer().render(FACTS, probe_paths=["E:\\y"])


def test_the_environment_is_part_of_the_key() -> None:
    r = ScriptRenderer()
    plain = r.render(FACTS, probe_paths=[])
    with script_environment({"HV_X": "1"}):
        with_env = r.render(FACTS, probe_paths=[])
    assert "HV_X" in with_env.text and "HV_X" not in plain.text
    assert r.render(FACTS, probe_paths=[]) is plain


def test_secrets_are_never_cached() -> None:
    r = ScriptRenderer()
    with script_environment({"HV_PW": Secret("s3cret-env")}):
        a = r.render(FACTS, probe_paths=[])
        b = r.render(FACTS, probe_paths=[])
    assert a is not b and "s3cret-env" in a.text and "s3cret-env" not in a.shown
    assert r._rendered == {}


def test_types_that_render_differently_are_not_keys() -> None:
    from hvprov.render import PsRaw, _cache_key

    for value in (PsRaw("[int]1"), Secret("x"), ("x",), [Secret("x")], {"k": PsRaw("1")}, float("nan")):
        assert _cache_key(FACTS, {"v": value}) is None, value
    keys = {_cache_key(FACTS, {"v": v}) for v in (1, True, "1", 1.0, None, [1], {"a": 1})}
    assert None not in keys and len(keys) == 7
    r = ScriptRenderer()
    r.render(FACTS, probe_paths=("x",))  # a tuple: not kept
    assert r._rendered == {}


def test_the_cache_is_bounded() -> None:
    r = ScriptRenderer()
    for i in range(RENDER_CACHE + 10):
        r.render(FACTS, probe_paths=[f"C:\\d{i}"])
    assert len(r._rendered) == RENDER_CACHE
