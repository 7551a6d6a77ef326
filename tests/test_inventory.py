"""Inventory loading: YAML/INI/dirs/host lists, group_vars/host_vars, precedence, errors."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
import yaml

from hvprov.errors import InventoryError, OptionsError
from hvprov.inventory import Group, Host, Inventory, expand_host_pattern
from hvprov.secrets import MASK, Secret
from hvprov.yamlsrc import LocDict, LocList

DATA = Path(__file__).parent / "data" / "inventory"
CASES = DATA / "cases"
BAD = DATA / "bad"


# --------------------------------------------------------------------------- data-driven cases
def _case_loads(case: Path) -> list[list[Path]]:
    spec = case / "case.yml"
    if spec.exists():
        return [[case / p for p in load] for load in yaml.safe_load(spec.read_text())["loads"]]
    return [[p] for p in sorted(case.glob("inventory.*"))]


GOOD = [
    pytest.param(
        case, load, id=f"{case.name}:{'+'.join(p.relative_to(case).as_posix() for p in load)}"
    )
    for case in sorted(CASES.iterdir())
    for load in _case_loads(case)
]


@pytest.mark.parametrize(("case", "paths"), GOOD)
def test_case_gives_expected_ansible_list(case: Path, paths: list[Path]) -> None:
    expected = json.loads((case / "expected.json").read_text())
    got = Inventory.load(paths).to_ansible_list()
    assert json.loads(json.dumps(got)) == expected


@pytest.mark.parametrize(
    "case",
    [c for c in sorted(CASES.iterdir()) if len(list(c.glob("inventory.*"))) > 1],
    ids=lambda c: c.name,
)
def test_yaml_and_ini_versions_are_equivalent(case: Path) -> None:
    yml = Inventory.load([case / "inventory.yml"])
    ini = Inventory.load([case / "inventory.ini"])
    assert yml.to_ansible_list() == ini.to_ansible_list()
    assert {n: h.groups for n, h in yml.hosts.items()} == {
        n: h.groups for n, h in ini.hosts.items()
    }
    assert {n: (g.depth, g.priority, g.parents) for n, g in yml.groups.items()} == {
        n: (g.depth, g.priority, g.parents) for n, g in ini.groups.items()
    }


def _bad_params() -> list[Any]:
    spec = yaml.safe_load((BAD / "cases.yml").read_text())
    return [pytest.param(name, exp, id=name) for name, exp in spec.items()]


def _check_problem(err: InventoryError, file: Path, exp: dict[str, Any]) -> None:
    text = str(err)
    assert f"{file}:{exp['line']}:" in text
    assert err.location is not None
    assert Path(err.location.file) == file
    assert err.location.line == exp["line"]
    assert err.field == exp["field"]
    if exp["field"] is not None:
        assert f": {exp['field']}: " in text
    assert exp["contains"] in text


@pytest.mark.parametrize(("name", "exp"), _bad_params())
def test_bad_inventory_names_file_line_and_field(name: str, exp: dict[str, Any]) -> None:
    with pytest.raises(InventoryError) as info:
        Inventory.load([BAD / name])
    err = info.value
    file = BAD / exp.get("file", name)
    if "problems" in exp:
        assert len(err.problems) == len(exp["problems"])
        for problem, want in zip(err.problems, exp["problems"], strict=True):
            _check_problem(problem, file, want)
            assert str(problem) in str(err)
    else:
        assert err.problems == []
        _check_problem(err, file, exp)


def test_at_least_twelve_bad_inventories_are_covered() -> None:
    spec = yaml.safe_load((BAD / "cases.yml").read_text())
    assert len(spec) >= 12
    for name in spec:
        assert (BAD / name).exists(), name


# --------------------------------------------------------------------------- precedence details
def test_precedence_sources_name_the_winning_definition() -> None:
    case = CASES / "precedence"
    inv = Inventory.load([case / "inventory.yml"])
    h1 = inv.hosts["h1"]
    src = h1.var_sources
    # db (priority 10) beats web although 'db' < 'web' alphabetically
    assert h1.vars["v_level"] == "db-inline"
    assert (Path(src["v_level"].file).name, src["v_level"].line) == ("inventory.yml", 25)
    # any group_vars file beats inline group vars, even of a deeper group
    assert h1.vars["v_inline_vs_file"] == "all-file"
    assert Path(src["v_inline_vs_file"].file) == case / "group_vars" / "all.yml"
    # group_vars/<dir>/ files merge in lexical order
    assert h1.vars["v_webdir"] == "b"
    assert Path(src["v_webdir"].file) == case / "group_vars" / "web" / "b.yml"
    # host_vars file (no extension) beats the inline host var
    assert h1.vars["v_hostfile"] == "h1-file"
    assert Path(src["v_hostfile"].file) == case / "host_vars" / "h1"
    assert src["v_host"].line == 20
    assert set(src) == set(h1.vars)


def test_group_priority_and_depth() -> None:
    inv = Inventory.load([CASES / "precedence" / "inventory.ini"])
    assert inv.groups["db"].priority == 10
    assert inv.groups["web"].priority == 1
    assert "ansible_group_priority" not in inv.groups["db"].vars
    assert [inv.groups[g].depth for g in ("all", "ungrouped", "site", "web", "db")] == [
        0,
        1,
        1,
        2,
        2,
    ]
    assert inv.groups["web"].parents == ("site",)
    assert inv.groups["site"].children == ("web", "db", "app")


def test_group_vars_priority_in_file_is_a_plain_variable() -> None:
    inv = Inventory.load([CASES / "vars_files" / "inventory.yml"])
    assert inv.groups["all"].priority == 1
    assert inv.hosts["hv01"].vars["ansible_group_priority"] == 99
    assert inv.groups["hyperv"].vars["rank"] == "zz-json"


def test_group_vars_of_unknown_groups_are_not_loaded() -> None:
    inv = Inventory.load([CASES / "vars_files" / "inventory.yml"])
    assert all("never" not in h.vars for h in inv.hosts.values())


def test_later_inventory_overrides_earlier_without_conflict_error(tmp_path: Path) -> None:
    (tmp_path / "a.yml").write_text("all:\n  vars: {x: a}\n  hosts:\n    h1: {y: a}\n")
    (tmp_path / "b.ini").write_text("[all:vars]\nx=b\n[web]\nh1 y=b\n")
    inv = Inventory.load([tmp_path / "a.yml", tmp_path / "b.ini"])
    assert inv.hosts["h1"].vars == {"x": "b", "y": "b"}
    assert inv.sources == (str(tmp_path / "a.yml"), str(tmp_path / "b.ini"))
    reverse = Inventory.load([tmp_path / "b.ini", tmp_path / "a.yml"])
    assert reverse.hosts["h1"].vars == {"x": "a", "y": "a"}


def test_same_value_twice_in_one_file_is_not_a_conflict(tmp_path: Path) -> None:
    (tmp_path / "inv.yml").write_text(
        "all:\n  children:\n    a:\n      hosts:\n        h1: {v: 1, w: [1, 2]}\n"
        "    b:\n      hosts:\n        h1: {v: 1, w: [1, 2]}\n"
    )
    inv = Inventory.load([tmp_path / "inv.yml"])
    assert inv.hosts["h1"].vars == {"v": 1, "w": [1, 2]}
    assert inv.hosts["h1"].groups == ("all", "a", "b")


def test_conflict_is_type_sensitive(tmp_path: Path) -> None:
    (tmp_path / "inv.yml").write_text(
        "all:\n  children:\n    a:\n      hosts:\n        h1: {v: 1}\n    b:\n      hosts:\n        h1: {v: true}\n"
    )
    with pytest.raises(InventoryError, match="different value for 'v'"):
        Inventory.load([tmp_path / "inv.yml"])


def test_replace_not_deep_merge(tmp_path: Path) -> None:
    (tmp_path / "inv.yml").write_text(
        "all:\n  vars:\n    sim: {a: 1, b: 2}\n  hosts:\n    h1:\n      sim: {b: 3}\n"
    )
    assert Inventory.load([tmp_path / "inv.yml"]).hosts["h1"].vars["sim"] == {"b": 3}


# --------------------------------------------------------------------------- structure and API
def test_host_and_group_objects() -> None:
    inv = Inventory.load([CASES / "basic" / "inventory.yml"])
    assert list(inv.hosts) == ["mgmt01", "hv01.lab", "hv02.lab", "hv03.lab", "bk01"]
    assert list(inv.groups) == ["all", "ungrouped", "hyperv", "hv_2008", "hv_2019", "backup"]
    hv02 = inv.hosts["hv02.lab"]
    assert isinstance(hv02, Host)
    assert hv02.groups == ("all", "backup", "hv_2008", "hyperv")
    assert inv.group_names("hv02.lab") == ("backup", "hv_2008", "hyperv")
    assert inv.group_names("mgmt01") == ("ungrouped",)
    assert inv.hosts["hv01.lab"].vars["ansible_port"] == 5986
    all_group = inv.groups["all"]
    assert isinstance(all_group, Group)
    assert all_group.hosts == ()
    assert all_group.children == ("ungrouped", "hyperv", "backup")
    assert inv.groups["ungrouped"].hosts == ("mgmt01",)
    assert inv.groups["hyperv"].vars == {"role": "hyperv", "cluster_size": 3}
    assert {hv02, hv02} == {inv.hosts["hv02.lab"]}  # hashable although vars is a dict
    with pytest.raises(OptionsError, match="not in the inventory"):
        inv.group_names("nosuch")


def _assert_plain(value: Any, path: str = "") -> None:
    assert not isinstance(value, (LocDict, LocList)), path
    if isinstance(value, dict):
        assert type(value) is dict, path
        for k, v in value.items():
            _assert_plain(v, f"{path}.{k}")
    elif isinstance(value, list):
        assert type(value) is list, path
        for i, v in enumerate(value):
            _assert_plain(v, f"{path}[{i}]")


@pytest.mark.parametrize("case", ["basic", "precedence", "vars_files", "ini_values"])
def test_vars_are_plain_python(case: str) -> None:
    for load in _case_loads(CASES / case):
        inv = Inventory.load(load)
        for host in inv.hosts.values():
            _assert_plain(host.vars, host.name)
            assert type(host.vars) is dict
        for group in inv.groups.values():
            _assert_plain(group.vars, group.name)


def test_from_dict_matches_yaml_file() -> None:
    path = CASES / "basic" / "inventory.yml"
    data = yaml.safe_load(path.read_text())
    from_api = Inventory.from_dict(data)
    assert from_api.to_ansible_list() == Inventory.load([path]).to_ansible_list()
    assert from_api.sources == ("<api>",)


def test_from_dict_with_base_dir_reads_group_and_host_vars() -> None:
    case = CASES / "precedence"
    data = yaml.safe_load((case / "inventory.yml").read_text())
    inv = Inventory.from_dict(data, source="ci-job", base_dir=case)
    assert inv.to_ansible_list() == json.loads((case / "expected.json").read_text())
    assert inv.hosts["h1"].var_sources["v_level"].file == "ci-job"


def test_from_dict_keeps_secrets_and_masks_them_in_list() -> None:
    password = Secret("S3cr3t!pw")
    nested = Secret("inner-secret")
    inv = Inventory.from_dict(
        {
            "all": {
                "vars": {"ansible_password": password},
                "hosts": {"hv01": {"cfg": {"keys": [nested]}}},
            }
        }
    )
    host = inv.hosts["hv01"]
    assert host.vars["ansible_password"] is password
    assert host.vars["cfg"]["keys"][0] is nested
    listed = inv.to_ansible_list()
    assert listed["_meta"]["hostvars"]["hv01"] == {
        "ansible_password": MASK,
        "cfg": {"keys": [MASK]},
    }
    text = json.dumps(listed)
    assert "S3cr3t" not in text and "inner-secret" not in text


def test_conflict_message_never_shows_values() -> None:
    data = {
        "all": {
            "children": {
                "a": {"hosts": {"hv01": {"ansible_password": "hunter2-one"}}},
                "b": {"hosts": {"hv01": {"ansible_password": "hunter2-two"}}},
            }
        }
    }
    with pytest.raises(InventoryError) as info:
        Inventory.from_dict(data, source="job.py")
    text = str(info.value)
    assert "hunter2" not in text
    assert "job.py: all.children.b.hosts.hv01.ansible_password:" in text


def test_from_dict_does_not_alias_input() -> None:
    data = {"all": {"hosts": {"hv01": {"disks": [1, 2]}}}}
    inv = Inventory.from_dict(data)
    data["all"]["hosts"]["hv01"]["disks"].append(3)
    assert inv.hosts["hv01"].vars["disks"] == [1, 2]


def test_from_dict_errors_name_source_and_field() -> None:
    with pytest.raises(InventoryError) as info:
        Inventory.from_dict(
            {"all": {"children": {"web": {"hosts": ["h"]}}}}, source="pipeline"
        )
    assert info.value.field == "all.children.web.hosts"
    assert str(info.value).startswith("pipeline: all.children.web.hosts: 'hosts' must be a mapping")


def test_unknown_group_key_is_skipped_with_a_warning_as_ansible(caplog: pytest.LogCaptureFixture) -> None:
    """ansible-core's YAML plugin: 'Skipping unexpected key (host) in group (web), only "vars",
    "children" and "hosts" are valid' -- the key and what is under it are ignored."""
    inv = Inventory.load([BAD / "unknown_key.yml"])
    assert "hv01" not in inv.hosts and "web" in inv.groups
    text = caplog.text
    assert f"{BAD / 'unknown_key.yml'}:4:" in text
    assert 'Skipping unexpected key (host) in group (web), only "vars", "children" and "hosts" are valid' in text
    assert "did you mean 'hosts'?" in text


def test_from_dict_accepts_loaded_yaml_with_locations(tmp_path: Path) -> None:
    from hvprov.yamlsrc import load_yaml

    path = tmp_path / "inv.yml"
    path.write_text("all:\n  hosts:\n    hv01:\n      vlan: 10\n")
    inv = Inventory.from_dict(load_yaml(path), source=str(path))
    loc = inv.hosts["hv01"].var_sources["vlan"]
    assert (loc.file, loc.line, loc.column) == (str(path), 4, 7)


# --------------------------------------------------------------------------- sources
def test_empty_inventory_file(tmp_path: Path) -> None:
    for name, text in (("empty.yml", ""), ("comments.ini", "# nothing\n; here\n")):
        (tmp_path / name).write_text(text)
        inv = Inventory.load([tmp_path / name])
        assert inv.hosts == {}
        assert inv.to_ansible_list() == {
            "all": {"children": ["ungrouped"]},
            "_meta": {"hostvars": {}},
        }


def test_missing_inventory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match="inventory not found") as info:
        Inventory.load([tmp_path / "nope.yml"])
    assert info.value.location is not None and info.value.location.file == str(
        tmp_path / "nope.yml"
    )
    with pytest.raises(OptionsError):
        Inventory.load([])


def test_host_list_source() -> None:
    inv = Inventory.load(["hv01, hv02.lab:5986,10.0.0.1,"])
    assert list(inv.hosts) == ["hv01", "hv02.lab", "10.0.0.1"]
    assert inv.hosts["hv02.lab"].vars == {"ansible_port": 5986}
    assert inv.groups["ungrouped"].hosts == ("hv01", "hv02.lab", "10.0.0.1")


@pytest.mark.parametrize(
    ("text", "expect_vars"),
    [
        ("all:\n  hosts:\n    hv01:\n      vlan: 5\n", {"vlan": 5}),
        ("---\nall:\n  hosts: {hv01: {vlan: 5}}\n", {"vlan": 5}),
        ("[web]\nhv01 vlan=5\n", {"vlan": 5}),
        ("# comment\nhv01 vlan=5\n", {"vlan": 5}),
    ],
)
def test_file_without_extension_is_sniffed(
    tmp_path: Path, text: str, expect_vars: dict[str, Any]
) -> None:
    (tmp_path / "hosts").write_text(text)
    assert Inventory.load([tmp_path / "hosts"]).hosts["hv01"].vars == expect_vars


def test_other_extension_is_ini(tmp_path: Path) -> None:
    (tmp_path / "lab.hosts").write_text("[web]\nhv[1:2] vlan=5\n")
    assert list(Inventory.load(tmp_path / "lab.hosts").hosts) == ["hv1", "hv2"]


def test_json_inventory(tmp_path: Path) -> None:
    (tmp_path / "inv.json").write_text(
        json.dumps({"all": {"children": {"web": {"hosts": {"hv01": {"a": [1]}}}}}})
    )
    inv = Inventory.load([tmp_path / "inv.json"])
    assert inv.hosts["hv01"].vars == {"a": [1]}
    assert inv.hosts["hv01"].groups == ("all", "web")


def test_group_and_host_with_same_name_warns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "inv.yml").write_text("all:\n  children:\n    hv01:\n      hosts:\n        hv01:\n")
    with caplog.at_level(logging.WARNING, logger="hvprov.warnings"):
        Inventory.load([tmp_path / "inv.yml"])
    assert "Found both group and host with same name: hv01" in caplog.text  # ansible-core's words


def test_ini_group_declared_by_children_before_its_section(tmp_path: Path) -> None:
    (tmp_path / "inv.ini").write_text("[site:children]\nweb\n\n[web]\nhv01\n\n[web:vars]\nx=1\n")
    inv = Inventory.load([tmp_path / "inv.ini"])
    assert inv.groups["site"].children == ("web",)
    assert inv.hosts["hv01"].groups == ("all", "site", "web")


def test_ini_vars_for_group_defined_in_an_earlier_file(tmp_path: Path) -> None:
    (tmp_path / "a.ini").write_text("[web]\nhv01\n")
    (tmp_path / "b.ini").write_text("[web:vars]\nx=2\n")
    assert Inventory.load([tmp_path / "a.ini", tmp_path / "b.ini"]).hosts["hv01"].vars == {"x": 2}


def test_problems_from_several_vars_files_are_collected(tmp_path: Path) -> None:
    (tmp_path / "inv.yml").write_text("all:\n  hosts:\n    hv01:\n")
    (tmp_path / "group_vars").mkdir()
    (tmp_path / "host_vars").mkdir()
    (tmp_path / "group_vars" / "all.yml").write_text("- 1\n")
    (tmp_path / "host_vars" / "hv01.yml").write_text("a: 1\na: 2\n")
    with pytest.raises(InventoryError) as info:
        Inventory.load([tmp_path / "inv.yml"])
    files = sorted(Path(p.location.file).name for p in info.value.problems if p.location)
    assert files == ["all.yml", "hv01.yml"]
    assert "duplicate key 'a'" in str(info.value)


# --------------------------------------------------------------------------- ranges
@pytest.mark.parametrize(
    ("pattern", "names", "port"),
    [
        ("hv01", ["hv01"], None),
        ("hv01.lab:5986", ["hv01.lab"], 5986),
        ("hv[01:03].lab", ["hv01.lab", "hv02.lab", "hv03.lab"], None),
        ("hv[8:10]", ["hv8", "hv9", "hv10"], None),
        ("hv[008:010]", ["hv008", "hv009", "hv010"], None),
        ("n[0:6:3]", ["n0", "n3", "n6"], None),
        ("[a:c]", ["a", "b", "c"], None),
        ("db-[x:z]-[1:2]", ["db-x-1", "db-x-2", "db-y-1", "db-y-2", "db-z-1", "db-z-2"], None),
        ("p[1:2].lab:2222", ["p1.lab", "p2.lab"], 2222),
        ("10.0.0.[1:3]", ["10.0.0.1", "10.0.0.2", "10.0.0.3"], None),
        ("[fe80::1]:22", ["fe80::1"], 22),
        ("fe80::1", ["fe80::1"], None),
        ("[:2]x", ["0x", "1x", "2x"], None),
    ],
)
def test_expand_host_pattern(pattern: str, names: list[str], port: int | None) -> None:
    assert expand_host_pattern(pattern) == (names, port)


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("hv[01:3]", "equal length"),
        ("hv[3:1]", "begin is greater than end"),
        ("hv[c:a]", "begin is after end"),
        ("hv[1:]", "no end value"),
        ("hv[1:2:0]", "step must be a positive integer"),
        ("hv[1:2:3:4]", "must be [begin:end]"),
        ("hv[1]", "must be [begin:end]"),
        ("hv[a:5]", "must be numeric"),
        ("hv[01:05", "unbalanced"),
        ("hv]1:2[", "unbalanced"),
        ("hv[0:999999]", "at most"),
    ],
)
def test_bad_host_ranges(pattern: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[")):
        expand_host_pattern(pattern)


# --------------------------------------------------------------------------- scale
def _write_big_inventory(root: Path, hosts_per_group: int = 100, groups: int = 10) -> None:
    yml = ["all:", "  vars: {ansible_connection: winrm, ansible_user: admin}", "  children:"]
    ini = ["[all:vars]", "ansible_connection=winrm", "ansible_user=admin"]
    for g in range(groups):
        yml += [f"    g{g}:", f"      vars: {{site: s{g}, vlan: {g}}}", "      hosts:"]
        ini += [f"[g{g}:vars]", f"site=s{g}", f"vlan={g}", f"[g{g}]"]
        for h in range(hosts_per_group):
            yml.append(
                f"        hv{g}-{h:03d}.lab: {{ansible_host: 10.0.{g}.{h}, role: web, idx: {h}}}"
            )
            ini.append(f"hv{g}-{h:03d}.lab ansible_host=10.0.{g}.{h} role=web idx={h}")
    (root / "inv.yml").write_text("\n".join(yml) + "\n")
    (root / "inv.ini").write_text("\n".join(ini) + "\n")
    (root / "group_vars").mkdir()
    (root / "host_vars").mkdir()
    for g in range(groups):
        (root / "group_vars" / f"g{g}.yml").write_text(f"from_file: {g}\n")
    for h in range(0, hosts_per_group, 10):
        (root / "host_vars" / f"hv0-{h:03d}.lab.yml").write_text("special: true\n")


@pytest.mark.parametrize("name", ["inv.yml", "inv.ini"])
def test_thousand_hosts_load(tmp_path: Path, name: str) -> None:
    """What a 1,000-host inventory resolves to; how long it takes is bench/timings.py's."""
    _write_big_inventory(tmp_path)
    inv = Inventory.load([tmp_path / name])
    assert len(inv.hosts) == 1000
    assert inv.hosts["hv3-042.lab"].vars == {
        "ansible_connection": "winrm",
        "ansible_user": "admin",
        "site": "s3",
        "vlan": 3,
        "from_file": 3,
        "ansible_host": "10.0.3.42",
        "role": "web",
        "idx": 42,
    }
    assert inv.hosts["hv0-010.lab"].vars["special"] is True
    assert len(inv.select("g1:g2:!hv1-000.lab")) == 199
