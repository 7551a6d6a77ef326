"""Every filter and test ansible-core's ansible.builtin defines exists in hvprov under its short and
FQCN name; every lookup plugin either exists or is refused at load (listed here, with why)."""

from __future__ import annotations

import pytest

from . import oracle

# Lookups hvprov does not provide; a playbook naming them is refused at load (exit 4).
UNSUPPORTED_LOOKUPS = {
    "config": "reads ansible-core's own configuration, which hvprov does not have",
    "csvfile": "not implemented yet",
    "ini": "not implemented yet",
    "inventory_hostnames": "not implemented yet",
    "pipe": "not implemented yet (lines covers the common use)",
    "url": "fetches URLs from the controller: not implemented",
    "varnames": "not implemented yet",
}


@pytest.fixture(scope="module")
def names() -> dict[str, list[str]]:
    return oracle.builtin_names()


def _templar():  # type: ignore[no-untyped-def]
    from hvprov.templating import Templar

    return Templar()


def test_every_builtin_filter_exists(names: dict[str, list[str]]) -> None:
    env = _templar().native
    missing = [n for n in names["filters"] for full in (n, f"ansible.builtin.{n}") if full not in env.filters]
    assert not missing


def test_every_builtin_test_exists(names: dict[str, list[str]]) -> None:
    env = _templar().cond
    missing = [n for n in names["tests"] for full in (n, f"ansible.builtin.{n}") if full not in env.tests]
    assert not missing


def test_lookups_exist_or_are_refused(names: dict[str, list[str]]) -> None:
    from hvprov.jinja import LOOKUPS

    assert set(names["lookups"]) - set(LOOKUPS) == set(UNSUPPORTED_LOOKUPS)
    assert set(LOOKUPS) <= set(names["lookups"])


@pytest.mark.parametrize("template", [
    "{{ x | nosuchfilter }}", "{{ x is nosuchtest }}", "{{ lookup('pipe', 'date') }}",
    "{{ query('ansible.builtin.nosuch') }}", "{{ x | ansible.builtin.nosuch }}",
])
def test_unknown_plugin_refused_at_load(template: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import hvprov.api as api
    from hvprov.errors import InputError

    pb = tmp_path / "pb.yml"
    pb.write_text("- hosts: all\n  gather_facts: false\n  tasks:\n    - debug:\n        msg: \"" + template.replace('"', '\\"') + "\"\n")
    with pytest.raises(InputError) as info:
        api.plan(pb, {"all": {"hosts": {"h1": {"ansible_connection": "sim"}}}}, lab_dir=tmp_path / "lab")
    assert info.value.exit_code == 4
    assert f"{pb}:5" in str(info.value)


@pytest.mark.parametrize(("where", "text"), [
    ("play vars", "- hosts: all\n  gather_facts: false\n  vars:\n    x: \"{{ 1 | nosuch }}\"\n  tasks:\n    - debug:\n        msg: hi\n"),
    ("task vars", "- hosts: all\n  gather_facts: false\n  tasks:\n    - debug:\n        msg: hi\n      vars:\n        x: \"{{ 1 is nosuch }}\"\n"),
    ("when", "- hosts: all\n  gather_facts: false\n  tasks:\n    - debug:\n        msg: hi\n      when: x is nosuch\n"),
])
def test_unknown_plugin_in_vars_and_conditions_refused_at_load(where: str, text: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import hvprov.api as api
    from hvprov.errors import InputError

    pb = tmp_path / "pb.yml"
    pb.write_text(text)
    with pytest.raises(InputError) as info:
        api.plan(pb, {"all": {"hosts": {"h1": {"ansible_connection": "sim"}}}}, lab_dir=tmp_path / "lab")
    assert info.value.exit_code == 4 and "nosuch" in str(info.value)
    assert f"{pb}:" in str(info.value)
