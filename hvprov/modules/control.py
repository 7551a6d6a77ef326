"""Control modules that run on the controller: debug, set_fact, assert (as Ansible's)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from ..errors import FailedResult, TaskError, VariableError
from .argfront import FastArgs, any_value, exact_bool, one_or_many, str_or_none
from .base import Module, PlanContext, PlanResult

if TYPE_CHECKING:
    from ..facts import HostFacts


# Fronts of the pydantic models in controlargs.py (argfront.py): each field's checker, whether it
# is required and its default must match the model's declaration there.
class DebugArgs(FastArgs):
    MODEL = ("controlargs", "DebugArgs")
    _FIELDS = {"msg": (any_value, False, None), "var": (str_or_none, False, None)}


class Debug(Module):
    name = "debug"
    summary = "Print a message or a variable"
    example = "- debug:\n    msg: \"{{ inventory_hostname }} runs {{ hvprov_facts.os.version }}\"\n"
    ArgsModel = DebugArgs
    needs_facts = False

    def plan(self, args: Any, facts: HostFacts | None, ctx: PlanContext) -> PlanResult:
        if args.var is not None:
            value = _debug_var(args.var, ctx)
            return PlanResult(msg=f"{args.var}: {value}", data={args.var: value})
        # as Ansible's debug action: an explicit msg prints even when it templates to None
        msg = "Hello world!" if "msg" not in args.model_fields_set else args.msg
        return PlanResult(msg=str(msg), data={"msg": msg})


def _debug_var(expr: str, ctx: PlanContext) -> Any:
    """`var=` takes any expression (ansible-core 2.19); an undefined one prints its marker."""
    try:
        value = ctx.evaluate(expr)
    except VariableError as exc:
        if "undefined" not in str(exc).lower():
            raise
        return f"<< error 1 - {_undefined_text(exc.detail)} >>"  # ansible-core's placeholder
    return ctx.variables[expr] if value is None and expr in ctx.variables else value


def _undefined_text(detail: str) -> str:
    """ansible-core 2.19's words for an undefined value (Jinja's, with its object wording)."""
    text = detail.removeprefix("undefined variable: ")
    kinds = {"LocDict": "dict", "LocList": "list"}
    return re.sub(r"'(?:[\w.]*\.)?(\w+) object' has no attribute",
                  lambda m: f"object of type '{kinds.get(m.group(1), m.group(1))}' has no attribute", text)


class SetFactArgs(FastArgs):
    MODEL = ("controlargs", "SetFactArgs")
    _FIELDS = {"cacheable": (exact_bool, False, False)}
    _EXTRA = True


class SetFact(Module):
    name = "set_fact"
    summary = "Set host variables for the rest of the run (any key: value)"
    example = "- set_fact:\n    vm_count: \"{{ vms | length }}\"\n"
    ArgsModel = SetFactArgs
    needs_facts = False

    def plan(self, args: Any, facts: HostFacts | None, ctx: PlanContext) -> PlanResult:
        values = dict(args.model_extra or {})
        return PlanResult(set_vars=values, data={"ansible_facts": values}, msg=", ".join(sorted(values)))


class AssertArgs(FastArgs):
    MODEL = ("controlargs", "AssertArgs")
    _FIELDS = {"that": (one_or_many, True, None), "fail_msg": (str_or_none, False, None),
               "success_msg": (str_or_none, False, None), "quiet": (exact_bool, False, False)}


class Assert(Module):
    name = "assert"
    summary = "Fail unless expressions hold"
    example = "- assert:\n    that:\n      - hvprov_facts.memory_mb >= 4096\n    fail_msg: not enough memory\n"
    ArgsModel = AssertArgs
    needs_facts = False

    def plan(self, args: Any, facts: HostFacts | None, ctx: PlanContext) -> PlanResult:
        for expr in args.that:
            ok = ctx.evaluate(expr) if isinstance(expr, str) else expr
            if not ok:  # ansible.builtin.assert's failed result
                msg = args.fail_msg or "Assertion failed"
                raise FailedResult(args.fail_msg or f"Assertion failed: {expr}", {"failed": True, "evaluated_to": False, "assertion": expr, "msg": msg,
                                         "changed": False})
        return PlanResult(msg=args.success_msg or "All assertions passed")


class FailArgs(FastArgs):
    MODEL = ("controlargs", "FailArgs")
    _FIELDS = {"msg": (any_value, False, "Failed as requested from task")}


class Fail(Module):
    name = "fail"
    summary = "Fail the task with a message (as ansible.builtin.fail)"
    example = "- fail:\n    msg: \"{{ inventory_hostname }} is not supported\"\n  when: hvprov_facts.os.version is match('5\\\\.')\n"
    ArgsModel = FailArgs
    needs_facts = False

    def plan(self, args: Any, facts: HostFacts | None, ctx: PlanContext) -> PlanResult:
        raise TaskError(str(args.msg))
