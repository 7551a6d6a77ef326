"""Module plan() as data: tests/data/plan_cases/<module>/<case>.json = {facts, overrides, args, expect}."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from factsdata import facts
from pydantic import ValidationError

from hvprov import modules
from hvprov.errors import TaskError
from hvprov.modules.base import PlanContext

CASES = sorted((Path(__file__).parent / "data" / "plan_cases").glob("*/*.json"))


@pytest.mark.parametrize("path", CASES, ids=[f"{p.parent.name}/{p.stem}" for p in CASES])
def test_plan_case(path: Path) -> None:
    case = json.loads(path.read_text())
    module = modules.MODULES[path.parent.name]
    expect = case["expect"]
    if "args_error" in expect:
        with pytest.raises(ValidationError) as info:
            module.ArgsModel.model_validate(case["args"])
        assert expect["args_error"] in str(info.value)
        return
    args = module.ArgsModel.model_validate(case["args"])
    host_facts = facts(case["facts"], **case.get("overrides", {}))
    ctx = PlanContext(host="h", check_mode=True, variables={})
    if "error" in expect:
        with pytest.raises(TaskError) as err:
            module.plan(args, host_facts, ctx)
        assert expect["error"] in str(err.value)
        return
    result = module.plan(args, host_facts, ctx)
    assert len(result.changes) == len(expect["changes"]), [c.to_dict() for c in result.changes]
    for got, want in zip(result.changes, expect["changes"]):
        full = {**got.to_dict(), "data": got.data}
        for key, value in want.items():
            if isinstance(value, dict):
                for k, v in value.items():
                    assert full[key].get(k) == v, (key, k, full[key])
            else:
                assert full[key] == value, (key, full)
    if "msg" in expect:
        assert expect["msg"] in result.msg


def test_prediction_chains_role_reboot_verify() -> None:
    """A fresh 2008 R2 host plans install -> reboot -> verify, each against the predicted state."""
    f = facts()
    ctx = PlanContext(host="h", check_mode=True, variables={})
    feat = modules.MODULES["windows_feature"]
    fargs = feat.ArgsModel.model_validate({"name": "Hyper-V"})
    changes = feat.plan(fargs, f, ctx).changes
    f2 = feat.predict(f, changes)
    assert "Hyper-V" in f2.features.installed and f2.pending_reboot.cbs
    assert feat.plan(fargs, f2, ctx).changes == ()  # idempotent against its own prediction
    reboot = modules.MODULES["reboot"]
    rargs = reboot.ArgsModel.model_validate({})
    rchanges = reboot.plan(rargs, f2, ctx).changes
    assert [c.action.value for c in rchanges] == ["reboot", "verify"]
    f3 = reboot.predict(f2, rchanges)
    assert not f3.pending_reboot.any and f3.hypervisor.running
    assert reboot.plan(rargs, f3, ctx).changes == ()
    assert {"features.installed", "pending_reboot", "hypervisor"} <= f3.predicted
